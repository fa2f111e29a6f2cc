"""A model gives back the register it was trained on: the melody and polyphony codecs take their
pitch range from the corpus (widened by the transposition augmentation), so a bass line stays a
bass line and a soprano line a soprano line; Magenta's fixed 48..83 stays available as a setting."""

import numpy as np
import pytest

from conftest import run_cli
from tunesmith import runs
from tunesmith.codecs import load_codec
from tunesmith.notes import Piece, make_notes, read_midi, write_midi

TINY = ["--steps", "30", "--set", "hidden_size=32", "--set", "embedding_size=16", "--set", "layers=1",
        "--set", "batch_size=8", "--set", "seq_len=32", "--set", "eval_every=15", "--set", "sample_length=16"]


def line(center: int, seed: int, bars: int = 8) -> Piece:
    """A monophonic tune: a random walk on the C major scale around `center`, in eighth notes."""
    rng = np.random.default_rng(seed)
    scale = [p for p in range(center - 12, center + 13) if p % 12 in (0, 2, 4, 5, 7, 9, 11)]
    position, rows = len(scale) // 2, []
    for k in range(bars * 8):
        position = int(np.clip(position + rng.integers(-2, 3), 0, len(scale) - 1))
        rows.append((k / 2, k / 2 + 0.5, scale[position]))
    return Piece(make_notes(rows), name=f"line{seed}.mid")


def corpus(folder, center: int):
    folder.mkdir()
    pieces = [line(center, seed) for seed in range(8)]
    for piece in pieces:
        write_midi(piece, folder / piece.name)
    return pieces


@pytest.mark.parametrize("recipe", ["melody-rnn", "polyphony-rnn"])
@pytest.mark.parametrize("center", [40, 79], ids=["bass", "soprano"])
def test_a_corpus_keeps_its_register(recipe, center, tmp_path, capsys):
    pieces = corpus(tmp_path / "tunes", center)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", recipe, "--data", str(tmp_path / "tunes"), "--run", str(run), *TINY)
    assert code == 0, err
    codec = load_codec(run / runs.CODEC)
    pitches = np.concatenate([p.notes["pitch"] for p in pieces])
    # the lines are in C: normalize_key (the default) moves them nowhere, and adds no transposed copies
    assert (codec.min_pitch, codec.max_pitch) == (pitches.min(), pitches.max())
    assert "no transposed copies (transpose=3)" in err
    for piece in pieces:  # the round trip of the training data moves no pitch
        decoded = codec.decode(codec.encode(piece))
        assert decoded.notes["pitch"].mean() == pytest.approx(piece.notes["pitch"].mean())

    code, _, err = run_cli(capsys, "sample", str(run), "--num-outputs", "4", "--length", "64", "--seed", "3",
                           "--out", str(tmp_path / "new.mid"))
    assert code == 0, err
    generated = np.concatenate([read_midi(tmp_path / f"new-{k}.mid").notes["pitch"] for k in range(1, 5)])
    assert len(generated) and abs(generated.mean() - pitches.mean()) <= 3


def test_without_key_normalization_the_range_is_widened_by_the_transpositions(tmp_path, capsys):
    pieces = corpus(tmp_path / "tunes", 60)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "melody-rnn", "--data", str(tmp_path / "tunes"), "--run", str(run),
                           *TINY, "--set", "normalize_key=false")
    assert code == 0, err
    codec = load_codec(run / runs.CODEC)
    pitches = np.concatenate([p.notes["pitch"] for p in pieces])
    assert (codec.min_pitch, codec.max_pitch) == (pitches.min() - 3, pitches.max() + 3)  # transpose=3
    assert "no transposed copies" not in err


def test_magentas_range_is_a_setting_and_folds_by_octaves(tmp_path, capsys):
    pieces = corpus(tmp_path / "tunes", 40)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "melody-rnn", "--data", str(tmp_path / "tunes"), "--run", str(run),
                           *TINY, "--set", "pitch_range=48-83")
    assert code == 0, err
    codec = load_codec(run / runs.CODEC)
    assert (codec.min_pitch, codec.max_pitch) == (48, 83)
    decoded = codec.decode(codec.encode(pieces[0])).notes["pitch"]
    original = pieces[0].notes["pitch"]
    assert ((decoded - original) % 12 == 0).all() and decoded.min() >= 48 and (decoded != original).any()


@pytest.mark.parametrize("value", ["low", "48", "60-65", "40-200"])
def test_a_bad_pitch_range_is_one_line(value, tmp_path, capsys):
    corpus(tmp_path / "tunes", 60)
    code, out, err = run_cli(capsys, "train", "melody-rnn", "--data", str(tmp_path / "tunes"),
                             "--run", str(tmp_path / "run"), *TINY, "--set", f"pitch_range={value}")
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "pitch" in err
