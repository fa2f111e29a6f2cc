"""The fft-lstm recipe: Hann STFT frames as log magnitude and instantaneous frequency and back by
overlap-add, training windows that follow on frame by frame, its loss, and train / sample / eval
end to end through the CLI (lengths, rates, a primer continued, what eval calls the loss)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from conftest import run_cli
from tunesmith.cli import main
from tunesmith.codecs.quantize import QuantizeCodec
from tunesmith.corpus.audio import Recording, prepare_audio
from tunesmith.models.fft_lstm import FFTLSTM, FLOOR, Frames, Synthesis
from tunesmith.recipes import fft_lstm_windows, get_recipe

RATE = 8000
TINY = ["sample_rate=8000", "hidden_size=16", "layers=1", "context=4", "chunk_seconds=0.5", "chunk_overlap=0.1",
        "batch_size=2", "eval_every=3", "sample_length=800", "test_clips=2", "warmup_steps=1"]
FFT, HOP = 256, 64  # the defaults at 8 kHz: 32 ms, a quarter of it


def settings(*extra: str) -> list[str]:
    return [arg for setting in [*TINY, *extra] for arg in ("--set", setting)]


def test_analysis_then_resynthesis_returns_the_input():
    rate = 16000
    t = torch.arange(2 * rate) / rate
    chirp = 0.5 * torch.sin(2 * math.pi * (100 * t + 1000 * t ** 2))  # 100 Hz to 4.1 kHz in 2 s
    sines = 0.2 * torch.sin(2 * math.pi * 440 * t) + 0.1 * torch.sin(2 * math.pi * 3001.7 * t + 1.0)
    wave = torch.stack([chirp, chirp + sines])
    for fft_size, hop in ((512, 128), (512, 256), (256, 64)):
        frames = Frames(fft_size, hop)
        features = frames.analyse(wave)
        count = features.shape[1]
        assert count == frames.count(wave.shape[1]) and features.shape[2] == 2 * (fft_size // 2 + 1)
        synthesis = Synthesis(frames, 2, torch.device("cpu"))
        # in uneven blocks, as generation pushes them: the phase and the overlap carry over
        made = torch.cat([synthesis.push(block) for block in features.split([1, 37, 50, count - 88], 1)], 1)
        assert made.shape == (2, count * hop)
        inner = slice(fft_size - hop, count * hop)  # the first fft_size - hop samples fade in
        assert float((made[:, inner] - wave[:, inner]).abs().max()) < 1e-3
        assert float(made[:, :fft_size - hop].abs().max()) <= 0.8  # a fade-in, not a blow-up at the edge


def test_a_steady_tone_reads_as_its_level_and_no_frequency_deviation():
    frames = Frames(FFT, HOP)
    bin_ = 20  # a sine at bin 20's centre frequency, amplitude 0.6
    t = torch.arange(RATE, dtype=torch.float64) / RATE
    wave = (0.6 * torch.sin(2 * math.pi * bin_ * RATE / FFT * t + 0.3)).float()[None]
    log_magnitude, deviation = frames.split(frames.analyse(wave))
    assert torch.allclose(log_magnitude[0, :, bin_], torch.full_like(log_magnitude[0, :, bin_], math.log(0.3)),
                          atol=1e-3)  # half the amplitude, relative to the window's sum
    assert float(deviation[0, 1:, bin_].abs().max()) < 1e-3  # steady at the bin's centre: 0 in any bin
    assert float(log_magnitude[0, :, 100].max()) < math.log(1e-3)  # far from the tone: near the floor


def test_loss_wraps_the_frequency_error_and_ignores_phase_where_there_is_no_energy():
    codec = QuantizeCodec(q_type="linear", q_levels=32768, sample_rate=RATE)
    model = FFTLSTM(codec.decode_array(np.arange(32768)), FFT, HOP, hidden_size=8, layers=1)
    bins = model.frames.bins
    target = torch.zeros(1, 3, 2 * bins)
    target[..., :bins] = math.log(FLOOR)  # silence ...
    target[..., 5] = math.log(0.3)  # ... but for one loud bin
    target[..., bins + 5] = 0.99
    assert float(model.loss_terms(target, target)["loss"]) == 0.0
    wrapped = target.clone()
    wrapped[..., bins + 5] = -0.99  # 0.02 away round the circle, not 1.98
    assert float(model.loss_terms(wrapped, target)["phase"]) < 0.01
    silent_bin = target.clone()
    silent_bin[..., bins + 50] = 0.5  # a wrong frequency where there is no energy
    assert float(model.loss_terms(silent_bin, target)["phase"]) < 1e-4
    loud_bin = target.clone()
    loud_bin[..., bins + 5] = -0.5
    assert float(model.loss_terms(loud_bin, target)["phase"]) > 1.0


def test_carried_windows_follow_on_frame_by_frame():
    recipe = get_recipe("fft-lstm")
    hp = recipe.hparams(TINY)
    rng = np.random.default_rng(0)
    recordings = [Recording((0.3 * rng.standard_normal(RATE)).astype(np.float32), "") for _ in range(3)]
    codec = recipe.make_codec(recordings, hp)
    windows = fft_lstm_windows(codec, recordings, hp, True)
    assert windows.seq_len + 1 == FFT + 5 * HOP and windows.carry and windows.fresh(0) and not windows.fresh(1)
    model = recipe.build_model(hp, codec)
    first, second = (model.window_frames(windows.batch(step, 2, seed=1)) for step in (0, 1))
    assert first.shape[1] == hp["context"] + 1  # context inputs, each with the frame after it as its target
    # the next window's first input is this window's last target (its phase reference included)
    assert torch.allclose(second[:, 0], first[:, -1], atol=1e-5)
    loose = fft_lstm_windows(codec, recordings, {**hp, "carry_state": False}, True)
    assert not loose.carry and loose.fresh(1)


def test_an_untrained_model_repeats_the_last_frame():
    recipe = get_recipe("fft-lstm")
    hp = recipe.hparams(TINY)
    codec = recipe.make_codec([], hp)
    model = recipe.build_model(hp, codec)
    frames = torch.randn(2, 5, model.frames.size)
    predicted, _ = model(frames)
    assert torch.allclose(predicted, frames, atol=1e-5)


def test_rollout_feeds_the_last_predictions_of_a_training_window_back():
    recipe = get_recipe("fft-lstm")
    hp = recipe.hparams([*TINY, "rollout=3"])
    model = recipe.build_model(hp, recipe.make_codec([], hp))
    frames = model.clean(torch.randn(2, 5, model.frames.size))  # context 4: 4 inputs, 4 targets
    predicted, _ = model.predict_window(frames)  # untrained: each prediction repeats what it read
    assert torch.allclose(predicted[:, 0], frames[:, 0], atol=1e-5)
    assert all(torch.allclose(predicted[:, k], frames[:, 0], atol=1e-5) for k in (1, 2, 3))  # its own, fed back
    model.eval()  # validation and generation read the true frames
    assert torch.allclose(model.predict_window(frames)[0], frames[:, :-1], atol=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny run trained for 6 steps (checkpoints at 3 and 6) on 10 one-second tones."""
    folder = tmp_path_factory.mktemp("fft-lstm")
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    (folder / "tones").mkdir()
    for k in range(10):
        wave = 0.5 * np.sin(2 * np.pi * 220 * (1 + 0.05 * k) * t) + 0.02 * rng.standard_normal(RATE)
        soundfile.write(folder / "tones" / f"take{k}.wav", wave, RATE)
    run = folder / "run"
    assert main(["train", "fft-lstm", "--data", str(folder / "tones"), "--run", str(run), "--steps", "6",
                 *settings()]) == 0
    return run


def test_training_writes_a_run_with_checkpoints_metrics_and_clips(trained):
    assert [p.name for p in sorted((trained / "checkpoints").iterdir())] == ["step-00000003", "step-00000006"]
    assert list(trained.glob("events.out.tfevents.*"))
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    assert all(math.isfinite(r["val_loss"]) and "val_bits" not in r and r["val_frames"] > 0 for r in records)
    assert records[-1]["val_persistence_loss"] > 0
    clips = sorted(p.name for p in (trained / "samples").iterdir())
    assert clips == [f"step-0000000{s}-{k}.wav" for s in (3, 6) for k in (1, 2)]
    data, rate = soundfile.read(trained / "samples" / clips[-1])
    assert rate == RATE and len(data) == 800 and np.isfinite(data).all()


def test_sample_writes_k_clips_of_the_length_and_rate_asked_in_one_batch(trained, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", str(trained), "--seconds", "0.3", "--num-outputs", "3", "--seed", "1",
                           "--out", str(tmp_path / "a/"))
    assert code == 0, err
    clips = sorted((tmp_path / "a").iterdir())
    assert [c.name for c in clips] == ["sample-1.wav", "sample-2.wav", "sample-3.wav"]
    waves = []
    for clip in clips:
        data, rate = soundfile.read(clip, dtype="float32")
        assert rate == RATE and len(data) == round(0.3 * RATE)
        waves.append(data)
    assert not np.array_equal(waves[0], waves[1])  # each output starts from its own seeded noise
    code, _, err = run_cli(capsys, "sample", str(trained), "--seconds", "0.3", "--seed", "1",
                           "--out", str(tmp_path / "again.wav"))
    assert code == 0, err
    again, _ = soundfile.read(tmp_path / "again.wav", dtype="float32")
    assert np.array_equal(again, waves[0])  # the same seed, the same clip


def test_a_primer_is_continued_seamlessly(trained, tmp_path, capsys):
    t = np.arange(int(0.4 * RATE)) / RATE
    primer = tmp_path / "primer.wav"
    soundfile.write(primer, 0.5 * np.sin(2 * np.pi * 330 * t) + 0.2 * np.sin(2 * np.pi * 1234 * t), RATE)
    code, _, err = run_cli(capsys, "sample", str(trained), "--primer", str(primer), "--seconds", "0.25",
                           "--out", str(tmp_path / "with.wav"))
    assert code == 0, err
    code, _, err = run_cli(capsys, "sample", str(trained), "--primer", str(primer), "--seconds", "0.25",
                           "--no-primer-in-output", "--out", str(tmp_path / "without.wav"))
    assert code == 0, err
    with_primer, rate = soundfile.read(tmp_path / "with.wav", dtype="float32")
    without, _ = soundfile.read(tmp_path / "without.wav", dtype="float32")
    expected = prepare_audio(primer, RATE, silence_threshold=0.0)  # how the domain reads a primer
    kept = ((len(expected) - FFT) // HOP + 1) * HOP  # the samples the primer's whole frames decide alone
    assert rate == RATE and len(with_primer) == kept + 2000 and len(without) == 2000
    assert np.abs(with_primer[FFT - HOP:kept] - expected[FFT - HOP:kept]).max() < 1e-3  # the primer itself
    assert np.abs(with_primer[kept:] - without).max() < 1e-4  # the same continuation either way
    assert np.abs(without[:HOP]).max() > 0.05  # which picks up where the primer's sound left off


def test_eval_reports_the_loss_as_a_loss_and_the_audio_statistics(trained, capsys):
    code, out, err = run_cli(capsys, "eval", str(trained), "--samples", "2", "--seconds", "0.5")
    assert code == 0, err
    assert "bits/sample" not in out and "nats" not in out
    lines = {line[:22].strip(): line[22:].strip() for line in out.splitlines() if line.strip()}
    assert float(lines["loss"]) > 0 and float(lines["test loss"]) > 0 and float(lines["persistence loss"]) > 0
    assert "audio statistics, generated clips vs training audio:" in out and "RMS level (dBFS)" in out
    saved = json.loads(next(trained.glob("eval-step-*.json")).read_text())
    assert saved["bits_per_unit"] is None and saved["audio"]["clips"] == {"generated": 2, "reference": 2}


def test_bad_requests_are_one_line_each(trained, tmp_path, capsys):
    short = tmp_path / "short.wav"
    soundfile.write(short, 0.5 * np.sin(np.arange(100) / 3), RATE)
    code, _, err = run_cli(capsys, "sample", str(trained), "--primer", str(short), "--out", str(tmp_path / "x.wav"))
    assert code == 1 and "less than one frame (32 ms)" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "sample", str(trained), "--temperature", "0.5", "--out", str(tmp_path / "y.wav"))
    assert code == 1 and "not for an fft-lstm run" in err
    code, _, err = run_cli(capsys, "train", "fft-lstm", "--data", str(tmp_path), "--run", str(tmp_path / "r"),
                           "--steps", "1", "--set", "seq_len=100")
    assert code == 1 and "set context" in err
    code, _, err = run_cli(capsys, "train", "fft-lstm", "--data", str(tmp_path), "--run", str(tmp_path / "r"),
                           "--steps", "1", *settings("hop=96"))
    assert code == 1 and "hop must divide fft_size=256" in err
    assert not [p for p in tmp_path.iterdir() if p.name != "short.wav" and p.suffix != ""]  # no clip, no temporary
