"""A one-shot sound played as a sampler by `tunesmith render --instrument`: repitched per note (a
note at pitch 69 measures 440 Hz), timed and sized by the MIDI file, and bad input in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from conftest import run_cli

from tunesmith.notes import NOTE_DTYPE, Piece, write_midi

RATE = 22050


def tone(path: Path, hz: float, seconds: float = 1.5) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    soundfile.write(path, (0.5 * np.exp(-t) * np.sin(2 * np.pi * hz * t)).astype(np.float32), RATE)
    return path


def midi(path: Path, notes: list[tuple[float, float, int]]) -> Path:
    """A MIDI file at 120 qpm of (start, end) in seconds and pitch."""
    array = np.array([(start * 2, end * 2, pitch, 100, 0, False) for start, end, pitch in notes], NOTE_DTYPE)
    write_midi(Piece(array, 120.0), path)
    return path


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), 8 * len(samples)))
    return float(np.argmax(spectrum) * RATE / (8 * len(samples)))


def test_a_note_is_the_sound_repitched(tmp_path, capsys):
    sound = tone(tmp_path / "c4.wav", 261.63)  # middle C: its pitch is found
    song = midi(tmp_path / "a.mid", [(0.0, 1.0, 69), (1.5, 2.0, 57)])
    code, _, err = run_cli(capsys, "render", str(song), "--instrument", str(sound), "--sample-rate", str(RATE),
                           "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "its pitch: 60.0" in err
    audio, rate = soundfile.read(tmp_path / "out" / "a.wav", dtype="float32")
    assert rate == RATE
    assert abs(peak_hz(audio[int(0.1 * RATE): int(0.9 * RATE)]) - 440.0) < 2.0  # A4
    assert abs(peak_hz(audio[int(1.6 * RATE): int(1.95 * RATE)]) - 220.0) < 2.0  # A3
    # the notes sound where the MIDI file puts them, and stop after their release
    assert np.abs(audio[int(1.25 * RATE): int(1.45 * RATE)]).max() < 0.01
    assert np.abs(audio[int(1.55 * RATE): int(1.6 * RATE)]).max() > 0.1
    assert abs(len(audio) / RATE - 2.15) < 0.05 and np.abs(audio).max() <= 0.951


def test_a_sound_without_pitch_is_middle_c_with_a_warning_or_the_root_given(tmp_path, capsys):
    noise = tmp_path / "noise.wav"
    soundfile.write(noise, np.random.default_rng(0).normal(0, 0.2, RATE).astype(np.float32), RATE)
    song = midi(tmp_path / "s.mid", [(0.0, 0.5, 60)])
    code, _, err = run_cli(capsys, "render", str(song), "--instrument", str(noise), "--out", str(tmp_path))
    assert code == 0 and "no pitch found in" in err and "middle C" in err
    sound = tone(tmp_path / "c4.wav", 261.63)
    code, _, err = run_cli(capsys, "render", str(song), "--instrument", str(sound), "--root", "48",
                           "--sample-rate", str(RATE), "--out", str(tmp_path / "root"))
    assert code == 0, err
    audio, _ = soundfile.read(tmp_path / "root" / "s.wav", dtype="float32")
    assert abs(peak_hz(audio[int(0.05 * RATE): int(0.45 * RATE)]) - 523.25) < 3.0  # C4 taken as C3 plays C5


def test_bad_instrument_input_is_one_line(tmp_path, capsys):
    sound = tone(tmp_path / "c4.wav", 261.63)
    song = midi(tmp_path / "s.mid", [(0.0, 0.5, 60)])
    empty = tmp_path / "empty.mid"
    empty.write_bytes(bytes.fromhex("4d546864000000060000000101e04d54726b0000000400ff2f00"))
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(RATE, np.float32), RATE)
    cases = [
        (["render", str(song), "--instrument", str(sound), "--program", "1"], "without a SoundFont or a program"),
        (["render", str(song), "--instrument", str(tmp_path / "none.wav")], "give a one-shot sound file"),
        (["render", str(empty), "--instrument", str(sound)], "has no notes to play"),
        (["render", str(song), "--instrument", str(silent)], "is silent"),
        (["render", str(song), "--root", "60"], "--root goes with --instrument"),
    ]
    for argv, expected in cases:
        code, _, err = run_cli(capsys, *argv, "--out", str(tmp_path / "bad"))
        lines = [line for line in err.splitlines() if line.startswith("tunesmith: error")]
        assert code == 1 and expected in err and len(lines) == 1 and "Traceback" not in err, (argv, err)
