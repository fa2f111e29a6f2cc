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
COMMON = ["--steps", "4", "--set", f"sample_rate={RATE}", "--set", "seq_len=255", "--set", "batch_size=2",
          "--set", "eval_every=2", "--set", "sample_length=400", "--set", "q_levels=64",
          "--set", "chunk_seconds=1", "--set", "chunk_overlap=0.25"]


@pytest.mark.parametrize("recipe", list(TINY))
def test_train_and_sample_audio(recipe, album, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", recipe, "--data", str(album), "--run", str(run), *COMMON, *TINY[recipe])
    assert code == 0, err
    assert "finished at step 4" in out
    clips = sorted((run / "samples").glob("*.wav"))  # test clips at every checkpoint, the last one included
    assert [c.name for c in clips] == [f"step-0000000{s}-{k}.wav" for s in (2, 4) for k in (1, 2, 3)]
    info = soundfile.info(clips[-1])
    assert info.samplerate == RATE and info.frames == 400

    primer = tmp_path / "primer.wav"
    soundfile.write(primer, recording(9, 1.0), 22050)
    code, out, err = run_cli(capsys, "sample", str(run), "--seconds", "0.1", "--num-outputs", "3", "--primer",
                             str(primer), "--primer-seconds", "0.05", "--no-primer-in-output", "--seed", "1",
                             "--checkpoint", "2", "--out", str(tmp_path / "clip.wav"))
    assert code == 0, err
    written = sorted(tmp_path.glob("clip-*.wav"))
    assert len(written) == 3
    for path in written:
        samples, rate = soundfile.read(path)
        assert rate == RATE and len(samples) == int(0.1 * RATE) and np.abs(samples).max() <= 1.0

    code, out, err = run_cli(capsys, "eval", str(run), "--json", "--samples", "2", "--seconds", "1")
    assert code == 0, err
    result = json.loads(out)
    assert result["unit"] == "sample" and result["split"] == "validation" and result["bits_per_unit"] > 0
    assert result["test"]["bits_per_unit"] > 0 and result["test"]["tokens"] > 0  # the held-out test recording
    stats = result["audio"]["statistics"]
    assert stats["rms_db"]["generated"]["n"] == 2 and stats["rms_db"]["reference"]["n"] == 2
    assert runs.read_config(run)["hparams"]["q_type"] == "mu-law"
    code, out, err = run_cli(capsys, "eval", str(run), "--samples", "0")
    assert code == 0 and "test bits/sample" in out, err


def test_audio_recipes_default_to_the_bundled_chorales_audio(tmp_path, monkeypatch, capsys):
    from tunesmith.corpus import audio
    from tunesmith.notes import Piece, make_notes, write_midi

    folder = tmp_path / "chorales-midi"  # three short stand-ins for the bundled chorales (music21 takes 40 s)
    folder.mkdir()
    for k, pitch in enumerate((60, 64, 67)):
        notes = [(2 * i, 2 * i + 2, pitch + i % 5, 90, 52) for i in range(4)]
        write_midi(Piece(make_notes(notes), qpm=120), folder / f"{k}.mid")
    monkeypatch.setattr(audio, "bundled_midi_folder", lambda name: folder)
    monkeypatch.setattr(audio, "AUDIO_CHORALES", 3)
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "train", "samplernn", "--run", "run", *COMMON, *TINY["samplernn"])
    assert code == 0, err
    assert runs.read_config(tmp_path / "run")["data"] == "chorales-audio"
    assert "read 3 audio files" in err and (tmp_path / "cache" / "corpora" / "chorales-audio-v1" / "0.flac").is_file()
