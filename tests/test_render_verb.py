"""`tunesmith render` as a musician uses it: an instrument by General MIDI name or number, an
effects preset whose reverb tail is kept, a normalized level, and `sample --render`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from symusic import Score

from conftest import run_cli
from tunesmith.errors import UserError
from tunesmith.media.render import GM_PROGRAMS, PEAK, prepared_midi, program_number
from tunesmith.notes import Piece, make_notes, write_midi


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """Four seconds at 120 qpm: a piano line over a drum beat, ending with a chord at beat 6."""
    rows = [(beat, beat + 0.5, 60 + 2 * (int(beat) % 5), 100, 0, False) for beat in np.arange(0, 6, 0.5)]
    rows += [(6, 8, pitch, 100, 0, False) for pitch in (60, 64, 67)]
    rows += [(beat, beat + 0.25, 36, 100, 0, True) for beat in range(8)]
    path = tmp_path / "song.mid"
    write_midi(Piece(make_notes(rows), qpm=120), path)
    return path


def read_notes(path: Path) -> np.ndarray:
    from tunesmith.notes import read_midi

    notes = read_midi(path).notes
    return notes[~notes["is_drum"]]


def read(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(path, dtype="float32")
    return samples, rate


def centroid(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float((np.fft.rfftfreq(len(samples), 1 / rate) * spectrum).sum() / spectrum.sum())


def test_program_names_and_numbers():
    assert len(GM_PROGRAMS) == 128 and GM_PROGRAMS[89] == "Pad 2 (warm)"
    assert program_number("Pad 2 (warm)") == 89 == program_number("pad 2") == program_number("89")
    assert program_number("flute") == 73
    for bad, words in (("200", "0 to 127"), ("pad", "no single General MIDI program"), ("kazoo", "no single")):
        with pytest.raises(UserError, match=words):
            program_number(bad)


def test_program_override_leaves_drums_alone(song):
    score = Score.from_midi(prepared_midi(song, 89, 2.0))
    assert {t.program for t in score.tracks if not t.is_drum} == {89}
    assert any(t.is_drum for t in score.tracks)
    assert score.end() > Score(str(song)).end()  # the tail is rendered too


def test_render_length_level_tail_and_instrument(song, tmp_path, capsys):
    out = tmp_path / "audio"
    line = tmp_path / "line.mid"  # the song without its drums, to hear the instrument
    write_midi(Piece(read_notes(song), qpm=120), line)
    for source, effects, program in ((song, "none", "0"), (song, "ambient", "0"), (line, "none", "0"),
                                     (line, "none", "Pad 2 (warm)")):
        folder = out / f"{effects}-{program[:3]}"
        code, _, err = run_cli(capsys, "render", str(source), "--effects", effects, "--program", program,
                               "--out", str(folder), "--sample-rate", "22050")
        assert code == 0, err
    plain, rate = read(out / "none-0/song.wav")
    ambient, _ = read(out / "ambient-0/song.wav")
    piano, _ = read(out / "none-0/line.wav")
    pad, _ = read(out / "none-Pad/line.wav")
    assert rate == 22050
    for samples in (plain, ambient, piano, pad):
        assert abs(float(np.abs(samples).max()) - PEAK) < 0.01  # normalized, never clipped
    music = 4.0 * rate  # the MIDI lasts 4 seconds
    assert music <= len(plain) <= music + 1.0 * rate  # a short release only
    assert len(ambient) >= music + 3 * rate  # the reverb's tail is kept ...
    tail = ambient[int(music + 0.5 * rate): int(music + 2.5 * rate)]
    assert np.sqrt(np.mean(tail ** 2)) > 0.003  # ... and it sounds
    assert centroid(piano, rate) - centroid(pad, rate) > 150  # the warm pad is darker than the piano (966 / 679 Hz)


def test_render_refuses_bad_requests_in_one_line(song, tmp_path, capsys, monkeypatch):
    cases = [(["render", str(song), "--soundfont", str(tmp_path / "none.sf2")], "no such SoundFont"),
             (["render", str(song), "--program", "kazoo"], "no single General MIDI program"),
             (["render", str(tmp_path / "missing.mid")], "no such MIDI file"),
             (["render"], "name the MIDI files")]
    for argv, words in cases:
        code, _, err = run_cli(capsys, *argv, "--out", str(tmp_path / "o"))
        assert code == 1 and words in err and "Traceback" not in err, (argv, err)
    monkeypatch.setenv("TUNESMITH_SOUNDFONT", str(tmp_path / "gone.sf2"))
    code, _, err = run_cli(capsys, "render", str(song), "--out", str(tmp_path / "o"))
    assert code == 1 and "TUNESMITH_SOUNDFONT" in err and "General MIDI" in err


def test_list_programs(capsys):
    code, out, _ = run_cli(capsys, "render", "--list-programs")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 128 and lines[89].split(None, 1) == ["89", "Pad 2 (warm)"]


def test_sample_renders_what_it_generates(tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", "melody-folk", "--num-outputs", "2", "--length", "32", "--seed", "1",
                           "--program", "pad 2", "--render", "--effects", "room", "--out", str(tmp_path / "songs/"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "songs").iterdir()) == ["sample-1.mid", "sample-1.wav",
                                                                       "sample-2.mid", "sample-2.wav"]
    assert {t.program for t in Score(str(tmp_path / "songs" / "sample-1.mid")).tracks} == {89}
    code, _, err = run_cli(capsys, "sample", "char-rnn-lyrics", "--length", "10", "--render")
    assert code == 1 and "--render is for MIDI runs" in err
