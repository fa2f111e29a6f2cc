"""The NSynth WaveNet autoencoder: the code's shape and rate (one frame per 32 ms), the fast
decoder (conv queues with a local condition per step) equal to the full forward, and the recipe
end to end on tiny synthetic notes: train, eval, encode, synthesize, mix, and bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from conftest import run_cli

from tunesmith.models.nsynth import NSynth
from tunesmith.models.wavenet import WaveNetStepper

RATE = 4000  # the tiny runs' rate: frame_ms 32 -> 128 samples a frame
HOP = 128
NOTE = 1000  # samples of each tiny note (0.25 s): 8 frames, the last one padded
TINY = ["--set", "sample_rate=4000", "--set", "seconds=0.25", "--set", "q_levels=64", "--set", "encoder_channels=8",
        "--set", "encoder_layers=3", "--set", "residual_channels=8", "--set", "dilation_channels=8",
        "--set", "skip_channels=16", "--set", "layers_per_block=4", "--set", "blocks=1", "--set", "seq_len=256",
        "--set", "batch_size=4", "--set", "eval_every=3", "--set", "val_fraction=0.3", "--set", "eval_seconds=0.25"]


def tiny_model(**settings) -> NSynth:
    torch.manual_seed(0)
    config = dict(code_size=4, encoder_channels=8, encoder_layers=3, residual_channels=8, dilation_channels=8,
                  skip_channels=16, layers_per_block=3, blocks=2) | settings
    return NSynth(32, hop=16, **config).eval()


def wave(kind: str, pitch: int, seconds: float = NOTE / RATE, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    phase = 440 * 2 ** ((pitch - 69) / 12) * t
    shape = np.sin(2 * np.pi * phase) if kind == "sine" else 2 * (phase % 1.0) - 1
    return (0.5 * np.exp(-3 * t) * shape).astype(np.float32)


def test_code_shape_and_rate():
    from tunesmith.recipes import get_recipe
    from tunesmith.training.data import frame_hop

    hp = get_recipe("nsynth").hparams([])
    assert frame_hop(hp) == 256 and hp["sample_rate"] == 8000 and hp["code_size"] == 16  # 16 numbers every 32 ms
    model = NSynth(256, hop=256)
    one_second = torch.full((2, model.frames(8000) * 256), 128)
    assert model.frames(8000) == 32  # 1 s = 31.25 frames of 32 ms: the last one padded
    code = model.encode(one_second)
    assert code.shape == (2, 16, 32)
    assert model.upsample(code).shape == (2, 16, 32 * 256)
    assert torch.equal(model.upsample(code)[:, :, 256:512], code[:, :, 1:2].expand(-1, -1, 256))  # a frame held
    with pytest.raises(ValueError):
        model.encode(one_second[:, :1000])  # not whole frames
    inputs = model.decoder_inputs(one_second[:, :300])
    assert inputs.shape == (2, 300) and int(inputs[0, 0]) == model.silence
    logits = model(inputs, one_second, torch.tensor([0, 5000]))
    assert logits.shape == (2, 300, 256)


def test_encoder_sees_both_sides():
    model = tiny_model()
    notes = torch.randint(0, 32, (1, 64), generator=torch.Generator().manual_seed(1))
    changed = notes.clone()
    changed[0, 34] = (changed[0, 34] + 7) % 32  # in frame 2 (samples 32..47); the encoder sees +-8 samples
    before, after = model.encode(notes), model.encode(changed)
    assert not torch.allclose(before[:, :, 1], after[:, :, 1])  # a frame before it hears it (non-causal)
    assert not torch.allclose(before[:, :, 2], after[:, :, 2])


@pytest.mark.parametrize("backend,mixtures", [("numpy", 0), ("torch", 0), ("numpy", 3), ("torch", 3)])
def test_fast_decoder_equals_forward_with_local_conditioning(backend, mixtures):
    model = tiny_model(mixtures=mixtures, input_noise=0.1)  # eval mode: no noise
    notes = torch.randint(0, 32, (3, 80), generator=torch.Generator().manual_seed(2))  # past the receptive field (16)
    local = model.upsample(model.encode(notes))
    inputs = model.decoder_inputs(notes)
    expected = model.decoder(inputs, local=local)
    stepper = WaveNetStepper(model.decoder, 3, backend=backend)
    stepped = [stepper.feed(inputs[:, :7], local[:, :, :7])]  # a primer at once, then sample by sample
    for t in range(7, 80):
        stepped.append(stepper.feed(inputs[:, t:t + 1], local[:, :, t:t + 1]))
    assert torch.allclose(torch.stack(stepped, 1), expected[:, 6:], atol=1e-5)
    # the condition matters, and a locally conditioned stepper refuses to step without one
    assert not torch.allclose(model.decoder(inputs, local=torch.zeros_like(local)), expected, atol=1e-3)
    with pytest.raises(ValueError):
        stepper.feed(inputs[:, :1])


def test_mixture_of_logistics_is_a_distribution_over_the_levels():
    from tunesmith.models.nsynth import mixture_level_logits, mixture_log_prob

    out = torch.randn(4, 7, 3 * 5, generator=torch.Generator().manual_seed(0))
    out[..., 10:] -= 3.0  # small scales too, where a bin's mass comes from the density at its centre
    logits = mixture_level_logits(out, 32)
    assert logits.shape == (4, 7, 32)
    assert torch.allclose(logits.exp().sum(-1), torch.ones(4, 7), atol=1e-4)
    levels = torch.randint(0, 32, (4, 7), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(mixture_log_prob(out, levels, 32), logits.gather(-1, levels[..., None])[..., 0], atol=1e-5)
    # one sharp logistic at a level's value puts nearly all its mass on that level
    sharp = torch.tensor([[0.0, 2 * 20 / 31 - 1, -7.0]])
    assert mixture_level_logits(sharp, 32)[0].argmax() == 20 and mixture_level_logits(sharp, 32)[0, 20].exp() > 0.99


def test_input_noise_only_in_training():
    model = tiny_model(mixtures=3, input_noise=0.5)
    tokens = torch.randint(0, 32, (2, 20), generator=torch.Generator().manual_seed(3))
    assert torch.equal(model.decoder.embedding(tokens), model.decoder.embedding(tokens))
    model.train()
    assert not torch.allclose(model.decoder.embedding(tokens), model.decoder.embedding(tokens))


@pytest.mark.parametrize("mixtures", [0, 3])
def test_loss_falls_and_every_parameter_learns(mixtures):
    """Notes of two pitches, one batch, a few steps: the loss falls, and the gradient reaches the
    encoder through the code as well as the decoder (a softmax over the levels, or a mixture of
    logistics)."""
    torch.manual_seed(0)
    model = tiny_model(mixtures=mixtures).train()
    rate = 512
    levels = []
    for pitch in (60, 72):
        sound = wave("sine", pitch, 0.125, rate)
        levels.append(np.clip(np.round((sound + 1) * 15.5), 0, 31))
    notes = torch.tensor(np.stack(levels), dtype=torch.long)
    batch = (model.decoder_inputs(notes), notes, notes, torch.zeros(2, dtype=torch.long))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    first = model.loss(batch).item()
    for _ in range(30):
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.6 * first
    assert all(p.grad is not None for p in model.parameters())  # every parameter is used (DDP needs it)


# -- the recipe end to end -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nsynth_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nsynth")
    notes = folder / "notes"
    notes.mkdir()
    for kind in ("sine", "saw"):
        for pitch in range(60, 66):
            for velocity in (80, 110):
                sound = velocity / 127 * wave(kind, pitch)
                soundfile.write(notes / f"{kind}-{pitch:03d}-{velocity:03d}.wav", sound, RATE)
    from tunesmith.cli import main

    run = folder / "run"
    assert main(["train", "nsynth", "--data", str(notes), "--steps", "6", "--run", str(run), *TINY]) == 0
    return run


def test_training_ends_by_saying_how_to_use_the_run(tmp_path, capsys):
    """The line after training names the verbs of this generator, not `sample`."""
    notes = tmp_path / "notes"
    notes.mkdir()
    for pitch in range(60, 64):
        for velocity in (50, 80, 110):
            soundfile.write(notes / f"saw-{pitch:03d}-{velocity:03d}.wav", velocity / 127 * wave("saw", pitch), RATE)
    code, out, err = run_cli(capsys, "train", "nsynth", "--data", str(notes), "--steps", "1", "--run",
                             str(tmp_path / "run"), *TINY)
    assert code == 0, err
    assert "tunesmith mix" in out and "tunesmith sample" not in out


def test_training_writes_checkpoints_and_reconstructed_previews(nsynth_run):
    assert sorted(p.name for p in (nsynth_run / "samples").glob("step-*.wav")) == ["step-00000003.wav",
                                                                                   "step-00000006.wav"]
    audio, rate = soundfile.read(nsynth_run / "samples" / "step-00000006.wav")
    assert rate == RATE and len(audio) == 8 * HOP and np.isfinite(audio).all()
    metrics = [json.loads(line) for line in (nsynth_run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 6 and np.isfinite(metrics[-1]["val_loss"])


def test_eval_reports_reconstruction_pitch_and_mix(nsynth_run, capsys):
    code, out, err = run_cli(capsys, "eval", str(nsynth_run), "--samples", "4")
    assert code == 0, err
    assert "MR-STFT distance" in out and "Griffin-Lim's" in out and "mix centroid between" in out
    saved = json.loads(next(nsynth_run.glob("eval-step-*.json")).read_text())
    assessed = saved["generated"]
    assert assessed["notes"] == 4 and assessed["mixes"] == 2
    assert assessed["mr_stft"] > 0 and assessed["mr_stft_griffin_lim"] > 0
    assert 0 <= assessed["pitch_within_cents"] <= 1 and assessed["pitch_within_cents_of_notes"] > 0.5
    assert np.isfinite(saved["loss_nats"]) and saved["unit"] == "sample"


def test_encode_synthesize_and_mix(nsynth_run, tmp_path, capsys):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    soundfile.write(a, wave("saw", 62, 0.3), RATE)  # 1200 samples: 9.4 frames -> 10
    soundfile.write(b, wave("sine", 62, 0.3), RATE)
    code, _, err = run_cli(capsys, "encode", str(nsynth_run), str(a), str(b), "--out", str(tmp_path / "codes/"))
    assert code == 0, err
    codes = sorted((tmp_path / "codes").iterdir())
    assert [p.name for p in codes] == ["code-1.npy", "code-2.npy"]
    assert np.load(codes[0]).shape == (10, 16) and np.load(codes[0]).dtype == np.float32

    code, _, err = run_cli(capsys, "synthesize", str(nsynth_run), *map(str, codes), "--out", str(tmp_path / "synth/"),
                           "--seed", "1")
    assert code == 0, err
    made = sorted((tmp_path / "synth").iterdir())
    assert [p.name for p in made] == ["synth-1.wav", "synth-2.wav"]
    audio, rate = soundfile.read(made[0])
    assert rate == RATE and len(audio) == 10 * HOP and np.isfinite(audio).all()

    code, _, err = run_cli(capsys, "mix", str(nsynth_run), str(a), str(b), "--weight", "0.25", "0.75",
                           "--out", str(tmp_path / "mixes/"), "--seed", "1")
    assert code == 0, err
    mixes = sorted((tmp_path / "mixes").iterdir())
    assert [p.name for p in mixes] == ["mix-1.wav", "mix-2.wav"]
    audio, rate = soundfile.read(mixes[0])
    assert rate == RATE and len(audio) == 1200  # the sounds' length

    code, _, err = run_cli(capsys, "encode", str(nsynth_run), str(a), "--out", str(codes[0]))
    assert code == 0 and (tmp_path / "codes" / "code-1-2.npy").is_file()  # never over the user's file


def test_the_library_api_returns_the_files(nsynth_run, tmp_path):
    from tunesmith import api

    sound = tmp_path / "note.wav"
    soundfile.write(sound, wave("saw", 63), RATE)
    opened = api.open_model(nsynth_run)
    (code,) = api.encode(opened, [sound], tmp_path / "note.npy")
    first = api.synthesize(opened, [code], tmp_path / "one.wav", seed=5)
    again = api.synthesize(opened, [code], tmp_path / "two.wav", seed=5)
    assert np.array_equal(soundfile.read(first[0])[0], soundfile.read(again[0])[0])  # the seed repeats it
    from tunesmith.generation.autoencoder import synthesis_speed

    speed = synthesis_speed(opened, 2, seconds=0.1)
    assert speed["batch"] == 2 and speed["samples_per_second"] > 0 and speed["notes_per_second"] > 0


def test_bad_input_is_one_line(nsynth_run, tmp_path, capsys):
    short = tmp_path / "click.wav"
    soundfile.write(short, wave("saw", 60, 0.02), RATE)  # 80 samples, under one frame of 128
    code, _, err = run_cli(capsys, "encode", str(nsynth_run), str(short), "--out", str(tmp_path / "x.npy"))
    assert code == 1 and "shorter than one code frame" in err and "Traceback" not in err
    assert not (tmp_path / "x.npy").exists()

    wide = tmp_path / "stereo.wav"
    left = wave("saw", 60, 0.3, 48000)
    soundfile.write(wide, np.stack([left, left], 1), 48000)
    code, _, err = run_cli(capsys, "encode", str(nsynth_run), str(wide), "--out", str(tmp_path / "wide.npy"))
    assert code == 0, err
    assert "2 channels, mixed down to mono" in err and "resampled from 48000 Hz to the model's 4000 Hz" in err
    assert np.load(tmp_path / "wide.npy").shape == (10, 16)

    long_, brief = tmp_path / "long.wav", tmp_path / "brief.wav"
    soundfile.write(long_, wave("saw", 60, 0.3), RATE)
    soundfile.write(brief, wave("sine", 60, 0.2), RATE)
    code, _, err = run_cli(capsys, "mix", str(nsynth_run), str(long_), str(brief), "--out", str(tmp_path / "m.wav"))
    assert code == 0, err
    assert "brief.wav is 0.10 s shorter than long.wav: padded with silence" in err
    assert len(soundfile.read(tmp_path / "m.wav")[0]) == 1200

    np.save(tmp_path / "wrong.npy", np.zeros((10, 8), dtype=np.float32))
    code, _, err = run_cli(capsys, "synthesize", str(nsynth_run), str(tmp_path / "wrong.npy"))
    assert code == 1 and "shape (10, 8)" in err and "[frames, 16]" in err and "Traceback" not in err
    (tmp_path / "text.npy").write_text("not an array")
    code, _, err = run_cli(capsys, "synthesize", str(nsynth_run), str(tmp_path / "text.npy"))
    assert code == 1 and "not a code (.npy) file" in err

    code, _, err = run_cli(capsys, "mix", str(nsynth_run), str(long_), str(brief), "--weight", "1.5")
    assert code == 1 and "from 0 (A) to 1 (B)" in err
    code, _, err = run_cli(capsys, "sample", str(nsynth_run))
    assert code == 1 and "is an NSynth run" in err and "Traceback" not in err


def test_other_runs_are_refused(tmp_path, capsys):
    sound = tmp_path / "a.wav"
    soundfile.write(sound, wave("saw", 60), RATE)
    np.save(tmp_path / "a.npy", np.zeros((4, 16), dtype=np.float32))
    for argv in (["encode", "char-rnn-lyrics", str(sound)], ["synthesize", "char-rnn-lyrics", str(tmp_path / "a.npy")],
                 ["mix", "char-rnn-lyrics", str(sound), str(sound)]):  # a bundled model: no training needed
        code, _, err = run_cli(capsys, *argv)
        assert code == 1 and "is a char-rnn run" in err and "needs an NSynth run (recipe nsynth)" in err
