"""End to end for the raw-audio recipes, as a musician types it: a folder of recordings, a few
training steps, then clips generated together and written as WAV files of the asked length."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import run_cli
from tunesmith import runs

RATE = 8000


def recording(seed: int, seconds: float = 2.0) -> np.ndarray:
    """A little tune of sine notes with a touch of noise, stereo at 22.05 kHz."""
    rng = np.random.default_rng(seed)
    rate = 22050
    t = np.arange(int(seconds * rate)) / rate
    pitch = 220 * 2 ** (rng.integers(0, 12, size=8) / 12)
    notes = np.repeat(pitch, len(t) // 8 + 1)[: len(t)]
    mono = 0.5 * np.sin(2 * np.pi * np.cumsum(notes) / rate) + 0.01 * rng.standard_normal(len(t))
    return np.stack([mono, mono * 0.8], axis=1)


@pytest.fixture
def album(tmp_path: Path) -> Path:
    folder = tmp_path / "album"
    folder.mkdir()
    for i in range(4):
        soundfile.write(folder / f"track{i}.wav", recording(i), 22050)
    soundfile.write(folder / "track4.flac", recording(4), 22050)
    return folder


TINY = {
    "wavenet": ["--set", "residual_channels=8", "--set", "dilation_channels=8", "--set", "skip_channels=16",
                "--set", "layers_per_block=4", "--set", "blocks=1"],
    "samplernn": ["--set", "dim=16", "--set", "emb_size=8", "--set", "frame_size=4", "--set", "big_frame_size=16",
                  "--set", "tiers=3"],
}
COMMON = ["--steps", "4", "--set", f"sample_rate={RATE}", "--set", "seq_len=256", "--set", "batch_size=2",
          "--set", "eval_every=2", "--set", "sample_length=400", "--set", "q_levels=64"]


@pytest.mark.parametrize("recipe", list(TINY))
def test_train_and_sample_audio(recipe, album, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", recipe, "--data", str(album), "--run", str(run), *COMMON, *TINY[recipe])
    assert code == 0, err
    assert "finished at step 4" in out
    clips = sorted((run / "samples").glob("*.wav"))
    assert [c.name for c in clips] == ["step-00000002.wav", "step-00000004.wav"]
    info = soundfile.info(clips[-1])
    assert info.samplerate == RATE and info.frames == 400

    primer = tmp_path / "primer.wav"
    soundfile.write(primer, recording(9, 1.0), 22050)
    code, out, err = run_cli(capsys, "sample", str(run), "--seconds", "0.1", "--num-outputs", "3", "--primer",
                             str(primer), "--primer-seconds", "0.05", "--no-primer-in-output", "--seed", "1",
                             "--out", str(tmp_path / "clip.wav"))
    assert code == 0, err
    written = sorted(tmp_path.glob("clip-*.wav"))
    assert len(written) == 3
    for path in written:
        samples, rate = soundfile.read(path)
        assert rate == RATE and len(samples) == int(0.1 * RATE) and np.abs(samples).max() <= 1.0

    code, out, err = run_cli(capsys, "eval", str(run), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["unit"] == "sample" and result["bits_per_unit"] > 0
    assert runs.read_config(run)["hparams"]["q_type"] == "mu-law"


def test_audio_recipes_need_data(capsys):
    code, out, err = run_cli(capsys, "train", "wavenet")
    assert code == 1 and "--data" in err
