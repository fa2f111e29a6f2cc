"""Pieces of music as one flat array of notes (times in quarter notes) with MIDI reading and
writing through symusic; sequence operations are plain functions on this one type."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

NOTE_DTYPE = np.dtype([
    ("start", "f8"),      # quarter notes from the beginning
    ("end", "f8"),        # quarter notes; end > start
    ("pitch", "i2"),      # MIDI pitch 0-127 (drum instrument for drum notes)
    ("velocity", "i2"),   # 1-127
    ("program", "i2"),    # General MIDI program 0-127
    ("is_drum", "?"),
])

DEFAULT_QPM = 120.0


@dataclass
class Piece:
    """A piece: notes sorted by (start, pitch), a tempo in quarter notes per minute, a time
    signature, a name (the file it came from) and an optional style tag."""

    notes: np.ndarray = field(default_factory=lambda: np.zeros(0, NOTE_DTYPE))
    qpm: float = DEFAULT_QPM
    time_signature: tuple[int, int] = (4, 4)
    name: str = ""
    style: str | None = None

    def __post_init__(self) -> None:
        self.notes = np.sort(np.asarray(self.notes, dtype=NOTE_DTYPE), order=["start", "pitch", "end"])

    def with_notes(self, notes: np.ndarray) -> Piece:
        """The same piece (tempo, metre, name, style) with other notes."""
        return replace(self, notes=notes)

    @property
    def beats(self) -> float:
        """Length in quarter notes (the end of the last note)."""
        return float(self.notes["end"].max()) if len(self.notes) else 0.0

    @property
    def seconds(self) -> float:
        return self.beats * 60.0 / self.qpm

    def __len__(self) -> int:
        return len(self.notes)


def make_notes(rows: list[tuple]) -> np.ndarray:
    """Notes from (start, end, pitch[, velocity[, program[, is_drum]]]) tuples, for tests and codecs."""
    defaults = (0.0, 0.0, 60, 100, 0, False)
    return np.array([tuple(row) + defaults[len(row):] for row in rows], dtype=NOTE_DTYPE)


def read_midi(path: Path) -> Piece:
    """A MIDI file as a Piece (raises on a file symusic cannot parse). The first tempo and time
    signature stand for the whole piece; notes keep their metrical position."""
    from symusic import Score

    score = Score(str(path), ttype="quarter")
    parts = []
    for track in score.tracks:
        arrays = track.notes.numpy()
        if not len(arrays["time"]):
            continue
        part = np.zeros(len(arrays["time"]), NOTE_DTYPE)
        part["start"] = arrays["time"]
        part["end"] = arrays["time"] + np.maximum(arrays["duration"], 1 / 64)
        part["pitch"] = arrays["pitch"]
        part["velocity"] = np.clip(arrays["velocity"], 1, 127)
        part["program"] = track.program
        part["is_drum"] = track.is_drum
        parts.append(part)
    qpm = round(float(score.tempos[0].qpm), 3) if len(score.tempos) else DEFAULT_QPM
    signature = (int(score.time_signatures[0].numerator), int(score.time_signatures[0].denominator)) \
        if len(score.time_signatures) else (4, 4)
    notes = np.concatenate(parts) if parts else np.zeros(0, NOTE_DTYPE)
    return Piece(notes, qpm, signature, name=Path(path).name)


def to_midi_bytes(piece: Piece, ticks_per_quarter: int = 480) -> bytes:
    """A standard MIDI file: one track per (program, is_drum), with tempo and time signature."""
    import tempfile

    from symusic import Note, Score, Tempo, TimeSignature, Track

    score = Score(ticks_per_quarter)
    score.tempos.append(Tempo(0, qpm=float(piece.qpm), ttype="tick"))
    score.time_signatures.append(TimeSignature(0, *piece.time_signature, ttype="tick"))
    notes = piece.notes
    for program, is_drum in sorted({(int(n["program"]), bool(n["is_drum"])) for n in notes}):
        part = notes[(notes["program"] == program) & (notes["is_drum"] == is_drum)]
        start = np.round(part["start"] * ticks_per_quarter).astype(np.int32)
        end = np.maximum(np.round(part["end"] * ticks_per_quarter).astype(np.int32), start + 1)
        track = Track("drums" if is_drum else f"program {program}", program=program, is_drum=is_drum, ttype="tick")
        track.notes = Note.from_numpy(start, end - start, part["pitch"].astype(np.int8),
                                      part["velocity"].astype(np.int8), ttype="tick")
        score.tracks.append(track)
    with tempfile.NamedTemporaryFile(suffix=".mid") as tmp:
        score.dump_midi(tmp.name)
        return Path(tmp.name).read_bytes()


def write_midi(piece: Piece, path: Path) -> None:
    """Write a piece as a MIDI file, atomically."""
    from tunesmith.runs import write_atomic

    write_atomic(Path(path), to_midi_bytes(piece))
