"""The recurrent GAN (models.rgan) and the unconditioned side of its WGAN-GP objective
(training.objectives.Adversarial): clips of any length in (-1, 1), streamed generation equal to
whole, the step-by-step LSTM equal to the fused one and twice differentiable, both optimizers
stepping, an exact resume, validation; then the rgan recipe end to end through the CLI on a tiny
corpus (train, test clips, sample, eval) and what it refuses in one line."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from torch import nn

from conftest import assert_adversarial_resumes_exactly, run_cli, update
from tunesmith.codecs.quantize import QuantizeCodec
from tunesmith.models.rgan import BLOCK_FRAMES, RecurrentGAN, lstm_by_steps
from tunesmith.training.objectives import Adversarial, adversarial, spectrum_distance

FRAME = 16
CODEC = QuantizeCodec(q_type="linear", q_levels=4096, sample_rate=8000)


def tiny_model(seed: int = 0, **options) -> RecurrentGAN:
    torch.manual_seed(seed)
    levels = torch.from_numpy(CODEC.decode(list(range(CODEC.vocab_size))))
    settings = {"frame_size": FRAME, "noise_size": 4, "z_size": 4, "hidden": 16, "layers": 1, "critic_hidden": 8,
                **options}
    return RecurrentGAN(levels, **settings)


def level_batch(n: int = 4, samples: int = 8 * FRAME, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of quantized sine clips, as ChunkWindows gives them."""
    draw = torch.Generator().manual_seed(seed)
    hz = 200 + 600 * torch.rand(n, 1, generator=draw)
    t = torch.arange(samples + 1) / CODEC.sample_rate
    levels = torch.from_numpy(CODEC.encode_array((0.5 * torch.sin(2 * math.pi * hz * t)).numpy()))
    return levels[:, :-1], levels[:, 1:]


class Windows:
    """A stand-in for held-out chunk windows: `sequential` yields ((inputs, targets), fresh)."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor):
        self.inputs, self.targets = inputs, targets

    def sequential(self, max_tokens: int, batch_size: int):
        for start in range(0, len(self.inputs), batch_size):
            yield (self.inputs[start:start + batch_size], self.targets[start:start + batch_size]), True


@pytest.mark.parametrize("overlap", [False, True])
def test_clips_of_any_length_lie_in_the_open_interval(overlap):
    model = tiny_model(overlap=overlap)
    for length in (1, FRAME, 5 * FRAME + 3):
        z = model.sample_z(3, None, length)
        assert z.shape == (3, model.frames(length), 8)
        assert torch.equal(z[:, 0, 4:], z[:, -1, 4:])  # one latent per clip, the same at every frame
        audio = model.generator(z * 10)  # large noise: tanh still bounds the samples
        assert audio.shape == (3, model.frames(length) * FRAME)
        assert audio.abs().max() < 1.0
    made = model.generate(2, 5 * FRAME + 3, torch.Generator().manual_seed(0))
    assert made.shape == (2, 5 * FRAME + 3) and made.abs().max() < 1.0
    assert model.discriminator(model.generator(model.sample_z(3, None, 4 * FRAME))).shape == (3,)


@pytest.mark.parametrize("overlap", [False, True])
def test_streamed_blocks_equal_a_whole_clip_and_a_seed_fixes_its_beginning(overlap):
    model = tiny_model(overlap=overlap)
    length = (BLOCK_FRAMES + 10) * FRAME + 5
    blocks = list(model.stream(2, length, torch.Generator().manual_seed(3)))
    assert [b.shape[1] for b in blocks] == [BLOCK_FRAMES * FRAME, 10 * FRAME + 5]
    whole = torch.cat(blocks, 1)
    generator = torch.Generator().manual_seed(3)
    latent = torch.randn(2, 1, 4, generator=generator)
    noise = torch.cat([torch.randn(BLOCK_FRAMES, 2, 4, generator=generator) for _ in blocks]).transpose(0, 1)
    z = torch.cat([noise[:, :model.frames(length)], latent.expand(-1, model.frames(length), -1)], -1)
    with torch.no_grad():
        assert torch.allclose(model.generator(z)[:, :length], whole, atol=1e-5)  # the state carried across blocks
    shorter = model.generate(2, 7 * FRAME, torch.Generator().manual_seed(3))
    assert torch.allclose(whole[:, :7 * FRAME], shorter, atol=1e-6)  # a clip begins alike whatever its length
    other = model.generate(2, 7 * FRAME, torch.Generator().manual_seed(4))
    assert not torch.allclose(other, shorter) and not torch.allclose(shorter[0], shorter[1])


def test_the_step_by_step_lstm_is_the_fused_one_and_twice_differentiable():
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 6, 2, batch_first=True, bidirectional=True)
    x = torch.randn(3, 7, 5, requires_grad=True)
    by_steps = lstm_by_steps(lstm, x)
    assert torch.allclose(by_steps, lstm(x)[0], atol=1e-6)
    (grad,) = torch.autograd.grad(by_steps.square().sum(), x, create_graph=True)
    grad.square().sum().backward()  # a gradient penalty's double backward
    assert lstm.weight_hh_l1_reverse.grad is not None and lstm.weight_hh_l1_reverse.grad.abs().sum() > 0


def test_the_penalty_goes_through_the_step_by_step_lstm_where_the_kernel_cannot(monkeypatch):
    """Off the CPU (cuDNN) the penalty's call runs the critic's LSTM step by step: forced here, a
    training step gives the same numbers as with the CPU's kernel."""
    import tunesmith.models.rgan as rgan

    results, calls, original = [], [], rgan.lstm_by_steps
    monkeypatch.setattr(rgan, "lstm_by_steps", lambda lstm, x: calls.append(len(x)) or original(lstm, x))
    for by_steps in (False, True):
        monkeypatch.setattr(rgan, "fused_lstm_twice_differentiable", lambda device: not by_steps)
        model = tiny_model(critic_layers=2)
        torch.manual_seed(7)
        results.append(Adversarial(model, {"lr": 1e-3}).step(level_batch(), 0, update))
    assert calls == [4]  # once, for the penalty's call in the forced run
    for name in ("loss", "gradient_penalty", "g_loss"):
        assert math.isclose(results[0][name], results[1][name], rel_tol=1e-4), name


def test_real_decodes_the_windows_levels():
    model = tiny_model()
    inputs, targets = level_batch(samples=8 * FRAME + 3)
    real = model.real((inputs, targets))
    assert real.shape == (4, 8 * FRAME)  # whole frames
    assert torch.allclose(real, torch.from_numpy(CODEC.decode_array(inputs[:, :8 * FRAME].numpy())))


def test_both_optimizers_step_and_metrics_are_finite():
    model = tiny_model()
    objective = adversarial(model, {"lr": 1e-3, "stft_weight": 1.0, "sample_rate": 8000}, None)
    assert set(objective.optimizers) == {"generator", "discriminator"} and objective.best_metric == "frechet_log_mel"
    g_before = copy.deepcopy(model.generator.state_dict())
    d_before = copy.deepcopy(model.discriminator.state_dict())
    metrics = objective.step(level_batch(), 0, update)
    for name in ("loss", "g_loss", "wasserstein", "gradient_penalty", "spectrum_distance", "rms_db_fake",
                 "grad_norm_d", "grad_norm_g"):
        assert math.isfinite(metrics[name]), name
    assert "pitch_accuracy_real" not in metrics
    assert all(not torch.equal(g_before[k], v) for k, v in model.generator.state_dict().items())
    assert all(not torch.equal(d_before[k], v) for k, v in model.discriminator.state_dict().items())


def test_the_spectrum_distance_compares_average_spectra():
    t = torch.arange(4096) / 8000
    tone = lambda hz: 0.5 * torch.sin(2 * math.pi * hz * t)[None].repeat(2, 1)  # noqa: E731
    assert spectrum_distance(tone(440), tone(440)).item() == 0.0
    assert spectrum_distance(tone(440), tone(880)).item() > 1.0
    noise = (0.01 * torch.randn(2, 4096)).requires_grad_(True)
    spectrum_distance(noise, tone(440)).backward()
    assert noise.grad is not None and noise.grad.abs().sum() > 0


def test_resume_is_exact():
    """Restored from a checkpoint mid-run, two more steps give the same weights."""
    assert_adversarial_resumes_exactly(tiny_model, {"lr": 1e-3, "stft_weight": 0.5},
                                       [level_batch(seed=s) for s in range(5)])


def test_validate_reports_the_critic_and_the_generated_audio():
    model = tiny_model()
    objective = adversarial(model, {"sample_rate": 8000}, None)
    inputs, targets = level_batch(n=6, samples=1024)
    state = torch.get_rng_state()
    metrics, count = objective.validate(Windows(inputs, targets), 10_000, 4, torch.device("cpu"))
    assert count == 6 * 1024  # samples
    assert all(math.isfinite(value) for value in metrics.values())
    assert metrics["frechet_log_mel"] > 0 and objective.best_metric in metrics
    assert -10 < metrics["rms_db_real"] < -5  # sines of amplitude 0.5: -9 dB
    assert 150 < metrics["centroid_hz_real"] < 900
    assert torch.equal(torch.get_rng_state(), state)  # validation leaves the global RNG alone
    again, _ = objective.validate(Windows(inputs, targets), 10_000, 4, torch.device("cpu"))
    assert again == metrics  # the same noise at every validation
    assert model.training


# -- the recipe, end to end -----------------------------------------------------------------------

RATE = 8000
TINY = ["--set", f"sample_rate={RATE}", "--set", "frame_size=32", "--set", "seq_len=1024", "--set", "batch_size=4",
        "--set", "hidden_size=16", "--set", "layers=1", "--set", "critic_hidden=8", "--set", "noise_size=4",
        "--set", "z_size=4", "--set", "chunk_seconds=0.5", "--set", "chunk_overlap=0.1", "--set", "eval_every=3",
        "--set", "eval_tokens=4096", "--set", "sample_length=800", "--set", "test_clips=2",
        "--set", "stft_weight=0.5"]


@pytest.fixture(scope="module")
def rgan_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rgan")
    album = folder / "album"
    album.mkdir()
    for i in range(5):  # little tunes of sine notes, at 22.05 kHz: the reader resamples them
        rng = np.random.default_rng(i)
        t = np.arange(2 * 22050) / 22050
        notes = np.repeat(220 * 2 ** (rng.integers(0, 12, size=8) / 12), len(t) // 8 + 1)[:len(t)]
        wave = 0.5 * np.sin(2 * np.pi * np.cumsum(notes) / 22050) + 0.01 * rng.standard_normal(len(t))
        soundfile.write(album / f"track{i}.wav", wave, 22050)
    from tunesmith.cli import main

    run = folder / "run"
    assert main(["train", "rgan", "--data", str(album), "--steps", "6", "--run", str(run), *TINY]) == 0
    return run


def test_training_writes_checkpoints_metrics_and_test_clips(rgan_run):
    clips = sorted((rgan_run / "samples").glob("*.wav"))
    assert [c.name for c in clips] == [f"step-0000000{s}-{k}.wav" for s in (3, 6) for k in (1, 2)]
    audio, rate = soundfile.read(clips[-1])
    assert rate == RATE and len(audio) == 800 and np.abs(audio).max() < 1.0 and np.abs(audio).max() > 0
    records = [json.loads(line) for line in (rgan_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    for name in ("val_loss", "val_frechet_log_mel", "val_rms_db_fake", "val_rms_db_real", "val_centroid_hz_fake"):
        assert math.isfinite(records[-1][name]), name
    assert list(rgan_run.glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (rgan_run / "checkpoints").iterdir()) == ["step-00000003", "step-00000006"]


def test_sample_writes_clips_of_the_length_asked_in_one_batch(rgan_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", str(rgan_run), "--seconds", "0.3", "--num-outputs", "3", "--seed", "1",
                           "--out", str(tmp_path / "clips/"))
    assert code == 0, err
    made = sorted((tmp_path / "clips").iterdir())
    assert [p.name for p in made] == ["sample-1.wav", "sample-2.wav", "sample-3.wav"]
    waves = [soundfile.read(p) for p in made]
    assert all(rate == RATE and len(wave) == round(0.3 * RATE) for wave, rate in waves)
    assert not np.array_equal(waves[0][0], waves[1][0])  # each clip its own noise
    code, _, err = run_cli(capsys, "sample", str(rgan_run), "--seconds", "0.3", "--num-outputs", "3", "--seed", "1",
                           "--out", str(tmp_path / "again/"))
    assert code == 0, err
    assert np.array_equal(soundfile.read(tmp_path / "again" / "sample-1.wav")[0], waves[0][0])  # the seed repeats them


def test_eval_prints_the_critic_and_the_audio_statistics(rgan_run, capsys):
    code, out, err = run_cli(capsys, "eval", str(rgan_run), "--samples", "2", "--seconds", "0.5")
    assert code == 0, err
    assert "frechet log mel" in out and "rms db fake" in out and "test loss" in out and "bits" not in out
    assert "audio statistics, generated clips vs training audio" in out and "RMS level (dBFS)" in out
    code, out, err = run_cli(capsys, "eval", str(rgan_run), "--samples", "2", "--seconds", "0.5", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["unit"] == "sample" and result["bits_per_unit"] is None and result["tokens"] > 0
    assert result["audio"]["statistics"]["rms_db"]["generated"]["n"] == 2


def test_what_an_rgan_run_refuses_in_one_line(rgan_run, tmp_path, capsys):
    primer = tmp_path / "primer.wav"
    soundfile.write(primer, np.zeros(800), RATE)
    cases = [(["--primer", str(primer)], "a primer is not for an rgan run"),
             (["--temperature", "0.5"], "a decoding strategy"),
             (["--style", "live"], "a style is not for an rgan run"),
             (["--pitch", "60"], "a pitch or an interpolation is not for an rgan run")]
    for extra, expected in cases:
        code, _, err = run_cli(capsys, "sample", str(rgan_run), "--out", str(tmp_path / "no/"), *extra)
        assert code == 1 and expected in err and "Traceback" not in err, (extra, err)
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists() or not any((tmp_path / "no").iterdir())


def test_clips_of_part_frames_are_refused_in_one_line(rgan_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "rgan", "--data", str(rgan_run.parent / "album"), "--steps", "1",
                           "--run", str(tmp_path / "r"), *TINY, "--set", "seq_len=1000")
    assert code == 1 and "seq_len=1000" in err and "whole frames of frame_size=32" in err and "Traceback" not in err
