"""The sample-level LSTM (musicrgan's regressor, done honestly): the stepper gives the training
forward's logits and never reads ahead; both heads learn a sine; the mse head reports the
discretized Gaussian's NLL while following the MSE's gradient; the state is carried across the
windows of a chunk; and end to end through the CLI, train, sample and eval write and print what
they should, at the sample rate asked for."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torch.nn.functional as F

from conftest import run_cli
from tunesmith.models.sample_lstm import SampleLSTM, SampleLSTMStepper
from tunesmith.training.trainer import Budget, train_recipe

Q = 16


def tiny(head="mu-law", q_levels=Q, **options):
    torch.manual_seed(0)
    options = {"window": 5, "conv_channels": 8, "hidden_size": 12, "layers": 2, "mse_std": 0.2, **options}
    return SampleLSTM(q_levels, head=head, **options)


def forward_logits(model, music):
    """The training forward's logits of music[0:] after `window` samples of silence (the stepper's start)."""
    silence = torch.full((music.size(0), model.window), model.q_levels // 2)
    with torch.no_grad():
        out, _ = model(torch.cat([silence, music], 1)[:, :-1])
    return out if model.head_kind == "mu-law" else model.gaussian_logits(out)


def stepped(stepper, music, primer):
    """The stepper's logits: a primer of `primer` samples at once, then single samples."""
    got = [stepper.feed(music[:, :primer])]
    for t in range(primer, music.size(1) - 1):
        got.append(stepper.feed(music[:, t:t + 1]))
    return torch.stack(got, 1)


@pytest.mark.parametrize("head", ["mu-law", "mse"])
@pytest.mark.parametrize("primer", [1, 3, 12])
def test_stepper_matches_training_forward(head, primer):
    """Primers shorter and longer than the window, then one sample at a time."""
    model = tiny(head).eval()
    music = torch.randint(0, Q, (3, 30), generator=torch.Generator().manual_seed(1))
    expected = forward_logits(model, music)
    assert expected.shape == (3, 30, Q)
    torch.testing.assert_close(stepped(model.stepper(3), music, primer), expected[:, primer:], atol=1e-4, rtol=1e-5)


def test_stepper_window_moves_back_and_never_reads_ahead(monkeypatch):
    """The queue lives in a buffer that moves back when full (a small one moves often); the
    logits of sample t depend only on samples before t: changing later samples changes nothing."""
    monkeypatch.setattr(SampleLSTMStepper, "ROWS", 3)
    model = tiny(window=4, layers=1).eval()
    music = torch.randint(0, Q, (2, 40), generator=torch.Generator().manual_seed(2))
    expected = forward_logits(model, music)
    torch.testing.assert_close(stepped(model.stepper(2), music, 1), expected[:, 1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(stepped(model.stepper(2), music, 9), expected[:, 9:], atol=1e-5, rtol=0)
    changed = music.clone()
    changed[:, 20:] = (changed[:, 20:] + 5) % Q
    torch.testing.assert_close(forward_logits(model, changed)[:, :21], expected[:, :21])
    assert not torch.allclose(forward_logits(model, changed)[:, 21:], expected[:, 21:])


def test_stepper_keeps_its_own_copy_and_reorders_rows():
    model = tiny().eval()
    g = torch.Generator().manual_seed(3)
    primer, following = torch.randint(0, Q, (3, 7), generator=g), torch.randint(0, Q, (3, 6), generator=g)
    stepper = model.stepper(3)
    tokens = primer.clone()
    stepper.feed(tokens)
    tokens.fill_(0)                                  # the caller's buffer, refilled: the stepper copied it
    stepper.reorder(torch.tensor([2, 2, 0]))
    got = torch.stack([stepper.feed(following[:, t:t + 1]) for t in range(6)])
    reference = model.stepper(3)
    reference.feed(primer[[2, 2, 0]])
    expected = torch.stack([reference.feed(following[:, t:t + 1]) for t in range(6)])
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def sine_levels(q_levels: int, length: int, rows: int = 4) -> torch.Tensor:
    """Mu-law levels of a 440 Hz sine at 8 kHz, each row from its own phase."""
    from tunesmith.codecs.quantize import mu_law_encode

    t = np.arange(length)[None] / 8000 + np.arange(rows)[:, None] * 0.37e-3
    return torch.from_numpy(mu_law_encode(0.6 * np.sin(2 * np.pi * 440 * t), q_levels))


@pytest.mark.parametrize("head", ["mu-law", "mse"])
def test_each_head_learns_a_sine_and_samples_it(head):
    model = tiny(head, q_levels=64, window=16, conv_channels=16, hidden_size=32, layers=1, mse_std=0.05)
    wave = sine_levels(64, 16 + 64)
    batch = wave[:, :-1], wave[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first
    model.eval()
    from tunesmith.generation.autoregressive import generate

    rows = generate(model, [32], 200, 2, seed=1)
    assert [len(r) for r in rows] == [200, 200] and all(0 <= x < 64 for r in rows for x in r)
    assert len(set(rows[0][-100:])) > 4     # it swings (a learned sine), not a stuck level


def test_mse_head_reports_the_discretized_nll_and_follows_the_mse():
    model = tiny("mse", window=4, layers=1, mse_std=0.1)
    music = torch.randint(0, Q, (2, 20), generator=torch.Generator().manual_seed(4))
    batch = music[:, :-1], music[:, 1:]
    loss = model.loss(batch)
    mean, _ = model(batch[0])
    scored = batch[1][:, 3:]
    centres = scored.float() * 2 / (Q - 1) - 1
    grid = torch.linspace(-1, 1, Q)
    logits = -(grid - mean[..., None]) ** 2 / (2 * 0.1 ** 2)
    nll = F.cross_entropy(logits.reshape(-1, Q), scored.reshape(-1))
    torch.testing.assert_close(loss, nll)                           # the value: nats per sample over the levels
    mse = (mean - centres).square().mean()
    expected = torch.autograd.grad(mse, model.head[-1].weight, retain_graph=True)[0]
    got = torch.autograd.grad(loss, model.head[-1].weight)[0]
    torch.testing.assert_close(got, expected)                       # the gradient: the MSE's
    # argmax of the stepper's logits is the level nearest the regressed value
    model.eval()
    stepper = model.stepper(2)
    logits = stepper.feed(music[:, :6])
    silence = torch.full((2, 4), Q // 2)
    with torch.no_grad():
        value, _ = model(torch.cat([silence, music[:, :6]], 1))
    assert torch.equal(logits.argmax(-1), (grid - value[:, -1:]).abs().argmin(-1))


def test_state_carries_across_truncated_bptt_windows():
    model = tiny(window=4).eval()
    music = torch.randint(0, Q, (2, 4 + 24), generator=torch.Generator().manual_seed(5))
    inputs, targets = music[:, :-1], music[:, 1:]
    whole, _ = model.loss_with_state((inputs, targets), None)
    n = 12                                                   # each half predicts 12 samples
    first = inputs[:, :4 + n - 1], targets[:, :4 + n - 1]
    second = inputs[:, n:], targets[:, n:]                   # repeats the last 4 samples as history
    loss_a, state = model.loss_with_state(first, None)
    loss_b, state = model.loss_with_state(second, state)
    assert not any(part.requires_grad for part in state)
    torch.testing.assert_close((loss_a + loss_b) / 2, whole, atol=1e-5, rtol=0)
    fresh, _ = model.loss_with_state(second, None)
    assert abs(fresh.item() - loss_b.item()) > 1e-6          # the state mattered


# -- end to end ----------------------------------------------------------------------------------

def recording(seed: int, seconds: float = 2.0) -> np.ndarray:
    """A little tune of sine notes with a touch of noise, at 22.05 kHz."""
    rng = np.random.default_rng(seed)
    rate = 22050
    t = np.arange(int(seconds * rate)) / rate
    pitch = 220 * 2 ** (rng.integers(0, 12, size=8) / 12)
    notes = np.repeat(pitch, len(t) // 8 + 1)[: len(t)]
    return 0.5 * np.sin(2 * np.pi * np.cumsum(notes) / rate) + 0.01 * rng.standard_normal(len(t))


@pytest.fixture
def album(tmp_path: Path) -> Path:
    folder = tmp_path / "album"
    folder.mkdir()
    for i in range(5):
        soundfile.write(folder / f"track{i}.wav", recording(i), 22050)
    return folder


RATE = 16000
TINY = ["--set", f"sample_rate={RATE}", "--set", "window=16", "--set", "conv_channels=8", "--set", "hidden_size=16",
        "--set", "seq_len=271", "--set", "batch_size=2", "--set", "eval_every=2", "--set", "sample_length=200",
        "--set", "q_levels=64", "--set", "chunk_seconds=0.5", "--set", "chunk_overlap=0.1", "--set", "test_clips=2",
        "--set", "eval_tokens=4096"]


@pytest.mark.parametrize("head", ["mu-law", "mse"])
def test_train_sample_and_eval_through_the_cli(head, album, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "sample-lstm", "--data", str(album), "--run", str(run), "--steps", "4",
                             *TINY, "--set", f"head={head}")
    assert code == 0, err
    assert "finished at step 4" in out
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4] and all(r["val_bits"] > 0 for r in records)
    assert list(run.glob("events.out.tfevents.*"))
    clips = sorted((run / "samples").glob("*.wav"))
    assert [c.name for c in clips] == [f"step-0000000{s}-{k}.wav" for s in (2, 4) for k in (1, 2)]
    info = soundfile.info(clips[-1])
    assert info.samplerate == RATE and info.frames == 200

    code, out, err = run_cli(capsys, "sample", str(run), "--seconds", "0.1", "--num-outputs", "2", "--seed", "1",
                             "--out", str(tmp_path / "clips") + "/")
    assert code == 0, err
    written = sorted((tmp_path / "clips").glob("*.wav"))
    assert len(written) == 2
    for path in written:
        info = soundfile.info(path)
        assert info.samplerate == RATE and info.frames == int(0.1 * RATE) and info.channels == 1

    code, out, err = run_cli(capsys, "eval", str(run), "--json", "--samples", "2", "--seconds", "0.1")
    assert code == 0, err
    result = json.loads(out)
    assert result["unit"] == "sample" and result["bits_per_unit"] > 0 and result["test"]["bits_per_unit"] > 0
    stats = result["audio"]["statistics"]
    assert stats["rms_db"]["generated"]["n"] == 2 and stats["rms_db"]["reference"]["n"] == 2
    code, out, err = run_cli(capsys, "eval", str(run), "--samples", "0")
    assert code == 0 and "test bits/sample" in out, err


def test_primed_sample_continues_a_recording(album, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "sample-lstm", "--data", str(album), "--run", str(run), "--steps", "2",
                           *TINY)
    assert code == 0, err
    primer = tmp_path / "primer.wav"
    soundfile.write(primer, recording(9, 0.5), 22050)
    code, _, err = run_cli(capsys, "sample", str(run), "--seconds", "0.1", "--primer", str(primer),
                           "--primer-seconds", "0.05", "--out", str(tmp_path / "more.wav"))
    assert code == 0, err
    samples, rate = soundfile.read(tmp_path / "more.wav")
    assert rate == RATE and len(samples) == int(0.15 * RATE)       # the primer's 0.05 s, then 0.1 s new
    from tunesmith.media.audio import resample

    expected = resample(soundfile.read(primer)[0], 22050, RATE)[:800]
    assert np.corrcoef(samples[:800], expected)[0, 1] > 0.95        # the primer, quantized, at 16 kHz


def test_trainer_carries_the_state_within_chunks(album, tmp_path, monkeypatch):
    seen = []
    original = SampleLSTM.loss_with_state

    def spy(self, batch, state):
        if self.training:
            seen.append(state is None)
        return original(self, batch, state)

    monkeypatch.setattr(SampleLSTM, "loss_with_state", spy)
    settings = [s for s in TINY if s != "--set"] + ["eval_every=10"]
    result = train_recipe("sample-lstm", str(album), tmp_path / "run", settings=settings, budget=Budget(steps=6))
    # 0.5 s chunks of 8000 samples, windows of 272 with hop 256: 31 windows per chunk, so all six
    # steps read the same chunks and only the first starts from a zero state
    assert result["step"] == 6 and seen == [True] + [False] * 5
    seen.clear()
    train_recipe("sample-lstm", str(album), tmp_path / "random", settings=settings + ["carry_state=false"],
                 budget=Budget(steps=3))
    assert seen == [True] * 3          # random windows, each from a zero state


def test_a_window_too_short_for_its_history_is_one_clear_line(album, tmp_path, capsys):
    code, out, err = run_cli(capsys, "train", "sample-lstm", "--data", str(album), "--run", str(tmp_path / "run"),
                             "--steps", "2", *TINY, "--set", "seq_len=10")
    assert code != 0 and "seq_len=10" in err and "window=16" in err and "Traceback" not in err
