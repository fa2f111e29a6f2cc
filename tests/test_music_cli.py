"""End to end per music recipe, as a musician types it: train a few steps on a tiny MIDI corpus,
sample with a primer, open the MIDI files and check notes, program, tempo and the piano roll."""

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import run_cli
from tunesmith import notes, runs
from tunesmith.notes import Piece, make_notes, read_midi, write_midi

SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def tune(shift: int, bars: int = 4, drums: bool = True) -> Piece:
    """A melody over held chords, with a kick/snare/hi-hat groove: four parts of real music."""
    rows = []
    for beat in range(bars * 4):
        pitch = SCALE[(beat * 3 + shift) % len(SCALE)] + (shift % 3)
        rows.append((beat, beat + 0.75, pitch, 90, 0))
        if beat % 4 == 0:
            rows += [(beat, beat + 4, root + shift % 3, 60, 0) for root in (48, 52, 55)]
        if drums:
            rows.append((beat, beat + 0.1, 36 if beat % 2 == 0 else 38, 100, 0, True))
            rows += [(beat + half, beat + half + 0.1, 42, 70, 0, True) for half in (0, 0.5)]
    return Piece(make_notes(rows), qpm=100, name=f"tune{shift}.mid")


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "midi"
    for style, shifts in (("jigs", range(0, 6)), ("reels", range(6, 12))):
        (folder / style).mkdir(parents=True)
        for shift in shifts:
            write_midi(tune(shift), folder / style / f"tune{shift}.mid")
    return folder


RECIPES = {
    "melody-rnn": ["--set", "hidden_size=32", "--set", "embedding_size=16", "--set", "layers=1"],
    "drums-rnn": ["--set", "hidden_size=32", "--set", "embedding_size=16", "--set", "layers=1"],
    "polyphony-rnn": ["--set", "hidden_size=32", "--set", "embedding_size=16", "--set", "layers=1"],
    "performance-rnn": ["--set", "hidden_size=32", "--set", "embedding_size=16", "--set", "layers=1"],
    "music-transformer": ["--set", "d_model=32", "--set", "layers=1", "--set", "heads=2", "--set", "d_ff=64"],
}
COMMON = ["--steps", "6", "--set", "batch_size=4", "--set", "seq_len=32", "--set", "eval_every=3",
          "--set", "sample_length=16", "--set", "transpose=1"]


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_train_and_sample_each_music_recipe(recipe, midi_folder, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", recipe, "--data", str(midi_folder), "--run", str(run),
                             *COMMON, *RECIPES[recipe])
    assert code == 0, err
    assert "finished at step 6" in out
    assert sorted(p.name for p in (run / "samples").glob("*.mid")) == ["step-00000003.mid", "step-00000006.mid"]

    primer = tmp_path / "primer.mid"
    write_midi(tune(3), primer)
    out_file = tmp_path / "new.mid"
    code, out, err = run_cli(capsys, "sample", str(run), "--primer", str(primer), "--primer-steps", "16",
                             "--length", "24", "--num-outputs", "2", "--program", "40", "--bpm", "90",
                             "--plot", "--seed", "1", "--out", str(out_file))
    assert code == 0, err
    written = sorted(tmp_path.glob("new-*.mid"))
    assert [p.name for p in written] == ["new-1.mid", "new-2.mid"]
    for path in written:
        piece = read_midi(path)
        assert abs(piece.qpm - 90) < 0.01 and piece.time_signature == (4, 4)
        assert path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
        kept = piece.notes[piece.notes["start"] < 3.75]  # the primer's first bar is in the output
        if recipe == "drums-rnn":
            assert kept["is_drum"].all() and {36, 38, 42} <= set(kept["pitch"].tolist())
        else:
            pitched = piece.notes[~piece.notes["is_drum"]]
            assert len(pitched) and (pitched["program"] == 40).all()
            primer_pitches = set(notes.trim(tune(3), 0, 4).notes["pitch"].tolist())
            assert set(kept["pitch"].tolist()) & primer_pitches


def test_primer_left_out_seconds_beam_and_style(midi_folder, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "performance-rnn", "--data", str(midi_folder), "--run", str(run),
                             *COMMON, *RECIPES["performance-rnn"])
    assert code == 0, err
    primer = tmp_path / "primer.mid"
    write_midi(replace(tune(5), time_signature=(3, 4)), primer)
    code, out, err = run_cli(capsys, "sample", str(run), "--primer", str(primer), "--no-primer-in-output",
                             "--seconds", "3", "--style", "reels", "--beam", "2", "--seed", "2",
                             "--out", str(tmp_path / "cont.mid"))
    assert code == 0, err
    piece = read_midi(tmp_path / "cont.mid")
    assert piece.seconds <= 3.0 + 1.0  # the length asked for, not the primer's 9.6 s plus more
    assert piece.time_signature == (3, 4)  # the primer's metre
    code, out, err = run_cli(capsys, "sample", str(run), "--style", "polkas", "--out", str(tmp_path / "x.mid"))
    assert code != 0 and "polkas" in err and "reels" in err
    codec = runs.read_config(run)
    assert codec["data"] == str(midi_folder)


def test_music_eval_reports_per_second_and_statistics(midi_folder, tmp_path, capsys):
    import json

    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "melody-rnn", "--data", str(midi_folder), "--run", str(run),
                             *COMMON, *RECIPES["melody-rnn"])
    assert code == 0, err
    code, out, err = run_cli(capsys, "eval", str(run), "--samples", "3", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["nats_per_second"] > 0 and result["loss_nats"] > 0
    stats = result["music"]["statistics"]
    assert {"pitch_class_histogram", "pitch_range", "note_density", "mean_ioi", "polyphony",
            "in_scale_rate"} <= set(stats)
    assert 0 <= result["music"]["mean_overlap"] <= 1
    assert Path(result["saved"]).is_file()
    code, out, err = run_cli(capsys, "eval", str(run), "--samples", "2")
    assert code == 0, err
    assert "musical statistics" in out and "mean overlap" in out.lower()


def test_drums_rnn_needs_data(capsys):
    code, out, err = run_cli(capsys, "train", "drums-rnn")
    assert code == 1 and "--data" in err


def test_bad_midi_primer(midi_folder, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "melody-rnn", "--data", str(midi_folder), "--run", str(run),
                             *COMMON, *RECIPES["melody-rnn"])
    assert code == 0, err
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    code, out, err = run_cli(capsys, "sample", str(run), "--primer", str(broken))
    assert code == 1 and "not a readable MIDI file" in err and err.count("\n") == 1
    code, out, err = run_cli(capsys, "sample", str(run), "--primer", str(tmp_path / "none.mid"))
    assert code == 1 and "no such MIDI file" in err
