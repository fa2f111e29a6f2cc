"""MIDI rendered to audio as a user meets it: a tiny piece through FluidSynth and the General MIDI
SoundFont installed by `make install`, and the one-line errors when FluidSynth or a SoundFont is missing."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tunesmith.media import render
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes, write_midi
from tunesmith.media.render import find_soundfont, render_midi

FLUTE = 73


@pytest.fixture
def flute_a4(tmp_path: Path) -> tuple[Path, Piece]:
    """Two seconds of a flute playing A4 (440 Hz): four beats at 120 qpm."""
    piece = Piece(make_notes([(0, 4, 69, 100, FLUTE)]), qpm=120)
    path = tmp_path / "flute.mid"
    write_midi(piece, path)
    return path, piece


@pytest.fixture
def installed_soundfont() -> Path:
    """The General MIDI SoundFont `make install` put on this machine."""
    return find_soundfont()


@pytest.mark.parametrize("name, rate", [("flute.wav", 22050), ("flute.flac", 16000)])
def test_a_tiny_piece_renders_as_the_notes_it_plays(flute_a4, tmp_path, name, rate):
    midi, piece = flute_a4
    out = render_midi(midi, tmp_path / name, sample_rate=rate)
    assert out == tmp_path / name
    samples, file_rate = soundfile.read(out, dtype="float32")
    assert file_rate == rate and samples.ndim == 1  # mono, at the asked rate
    assert piece.seconds <= len(samples) / rate <= piece.seconds + 2  # the piece and its release, not 3 s of padding
    playing = samples[: int(piece.seconds * rate)]
    assert np.sqrt(np.mean(playing ** 2)) > 0.01 and np.abs(samples).max() <= 0.95 + 1e-3
    spectrum = np.abs(np.fft.rfft(playing * np.hanning(len(playing))))
    assert abs(np.fft.rfftfreq(len(playing), 1 / rate)[spectrum.argmax()] - 440) < 10
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_rendering_never_overwrites_and_names_a_bad_midi(flute_a4, tmp_path):
    midi, _ = flute_a4
    mine = tmp_path / "mine.wav"
    mine.write_bytes(b"my own recording")
    with pytest.raises(UserError, match="already exists"):
        render_midi(midi, mine)
    assert mine.read_bytes() == b"my own recording"
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06 not a MIDI file")
    with pytest.raises(UserError, match="broken.mid is not a readable MIDI file"):
        render_midi(broken, tmp_path / "broken.wav")
    assert not (tmp_path / "broken.wav").exists()


def test_a_missing_fluidsynth_says_how_to_install_it(flute_a4, tmp_path, monkeypatch):
    midi, _ = flute_a4
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth on this PATH
    with pytest.raises(UserError) as err:
        render_midi(midi, tmp_path / "out.wav")
    message = str(err.value)
    assert "FluidSynth is not installed" in message and "make install" in message
    assert "apt-get install fluidsynth timgm6mb-soundfont" in message and "\n" not in message
    assert not (tmp_path / "out.wav").exists()


def test_a_missing_soundfont_says_how_to_get_one(flute_a4, installed_soundfont, tmp_path, monkeypatch):
    midi, _ = flute_a4
    monkeypatch.delenv("TUNESMITH_SOUNDFONT", raising=False)
    monkeypatch.setattr(render, "SOUNDFONT_PATHS", (str(tmp_path / "sf2" / "default-GM.sf2"),))
    monkeypatch.setattr(render, "SOUNDFONT_FOLDER", str(tmp_path / "soundfonts"))
    with pytest.raises(UserError) as err:
        render_midi(midi, tmp_path / "out.wav")
    message = str(err.value)
    assert "no General MIDI SoundFont" in message and "make install" in message and "timgm6mb-soundfont" in message
    assert "TUNESMITH_SOUNDFONT=/path/to/GM.sf2" in message and "\n" not in message
    (tmp_path / "soundfonts").mkdir()  # any .sf2 in /usr/share/soundfonts is found
    (tmp_path / "soundfonts" / "Other.sf2").symlink_to(installed_soundfont)
    assert find_soundfont() == tmp_path / "soundfonts" / "Other.sf2"


def test_tunesmith_soundfont_comes_first(flute_a4, installed_soundfont, tmp_path, monkeypatch):
    midi, _ = flute_a4
    mine = tmp_path / "mine.sf2"
    mine.symlink_to(installed_soundfont)
    monkeypatch.setenv("TUNESMITH_SOUNDFONT", str(mine))
    monkeypatch.setattr(render, "SOUNDFONT_PATHS", ())  # so only the variable can name it
    assert find_soundfont() == mine
    assert len(soundfile.read(render_midi(midi, tmp_path / "out.wav"))[0]) > 0
    monkeypatch.setenv("TUNESMITH_SOUNDFONT", str(tmp_path / "nowhere.sf2"))
    with pytest.raises(UserError, match="TUNESMITH_SOUNDFONT=.*nowhere.sf2 is not a file"):
        find_soundfont()
