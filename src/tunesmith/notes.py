"""Pieces of music as one flat array of notes (times in quarter notes) with MIDI reading and
writing through symusic; sequence operations are plain functions on this one type."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import numpy as np

from tunesmith.errors import UserError
from tunesmith.media.files import write_atomic

NOTE_DTYPE = np.dtype([
    ("start", "f8"),      # quarter notes from the beginning
    ("end", "f8"),        # quarter notes; end > start
    ("pitch", "i2"),      # MIDI pitch 0-127 (drum instrument for drum notes)
    ("velocity", "i2"),   # 1-127
    ("program", "i2"),    # General MIDI program 0-127
    ("is_drum", "?"),
])

NOTE_BYTES = np.dtype((np.void, NOTE_DTYPE.itemsize))  # a note as plain bytes: copying, taking and
# concatenating notes through this view costs a fraction of doing it field by field

DEFAULT_QPM = 120.0


def in_order(notes: np.ndarray) -> bool:
    """Whether notes are sorted by (start, pitch, end), so that a stable sort by those would leave
    them as they are; False when a start or an end that decides the order is NaN."""
    if len(notes) < 2:
        return True
    start = notes["start"]
    if not (start[:-1] <= start[1:]).all():
        return False
    ties = np.flatnonzero(start[:-1] == start[1:])
    if not len(ties):
        return True
    pitch = notes["pitch"]
    before, after = pitch[ties], pitch[ties + 1]
    if (before < after).all():
        return True
    if (before > after).any():
        return False
    same = ties[before == after]
    end = notes["end"]
    return bool((end[same] <= end[same + 1]).all())


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
        notes = np.asarray(self.notes, dtype=NOTE_DTYPE)
        self.notes = np.empty(len(notes), NOTE_DTYPE)  # the piece's own array, never the caller's
        if in_order(notes):  # as the stable sort would leave them: copied, which costs a tenth of sorting
            self.notes.view(NOTE_BYTES)[:] = notes.view(NOTE_BYTES)
        else:
            np.take(notes.view(NOTE_BYTES), np.lexsort((notes["end"], notes["pitch"], notes["start"])),
                    out=self.notes.view(NOTE_BYTES))

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
    """A MIDI file as a Piece (raises OSError on a file it cannot open, RuntimeError on one symusic
    cannot parse). The first tempo and time signature stand for the whole piece; notes keep their
    metrical position."""
    return pieces_from_scores([parse_midi(Path(path).read_bytes())], [Path(path).name])[0]


def parse_midi(data: bytes) -> Any:
    """The symusic Score (times in ticks) of the bytes of a MIDI file (RuntimeError if malformed)."""
    from symusic import Score

    return Score.from_midi(data)


NOTES_PER_PASS = 16384  # notes handled together by pieces_from_scores and PerformanceCodec.encode_all:
# arrays of this size are reused by the allocator, larger ones are new memory whose page faults cost
# more than the arithmetic (the chorales in one pass took 2.5 times as long; passes of 4096 notes
# lose as much to numpy's per-call cost)


def passes(sizes: list[int]) -> Iterator[slice]:
    """Consecutive slices of items whose sizes add up to at most NOTES_PER_PASS (an item larger
    than that has a slice to itself)."""
    limit, first = NOTES_PER_PASS, 0
    while first < len(sizes):
        last, total = first + 1, sizes[first]
        while last < len(sizes) and total + sizes[last] <= limit:
            total += sizes[last]
            last += 1
        yield slice(first, last)
        first = last


def pieces_from_scores(scores: list[Any], names: list[str]) -> list[Piece]:
    """Pieces of symusic Scores (in ticks), converted together in passes of about NOTES_PER_PASS
    notes: the notes of every track of every score of a pass are gathered in one symusic note list
    and taken out as one set of arrays, as taking them out a track at a time costs about 10 us a
    track, and put in each piece's order in one sort (`score_order`), so that no Piece sorts or
    checks its own: each piece's notes are then its part of the pass's new array. Times are ticks
    / ticks per quarter; a note lasts at least 1/64 quarter note; velocities are 1..127."""
    sizes = [score.note_num() for score in scores]
    return [piece for part in passes(sizes) for piece in convert_scores(scores[part], names[part], sizes[part])]


def convert_scores(scores: list[Any], names: list[str], per_score: list[int]) -> list[Piece]:
    """One pass of pieces_from_scores (per_score: each score's note count)."""
    from symusic.core import NoteTickList

    gathered, per_track, quarters, programs, drums = NoteTickList(), [], [], [], []
    for score in scores:
        ticks_per_quarter = score.ticks_per_quarter
        for track in score.tracks:
            track_notes = track.notes
            gathered.extend(track_notes)
            per_track.append(len(track_notes))
            quarters.append(ticks_per_quarter)
            programs.append(track.program)
            drums.append(track.is_drum)
    columns = gathered.numpy()
    quarters = np.repeat(np.array(quarters, np.int64), per_track)
    ticks_per_quarter = quarters.astype(np.float64)
    starts = columns["time"].astype(np.float64)
    notes = np.empty(len(starts), NOTE_DTYPE)
    notes["start"] = starts / ticks_per_quarter
    notes["end"] = (starts + np.maximum(columns["duration"], ticks_per_quarter / 64)) / ticks_per_quarter
    notes["pitch"] = columns["pitch"]
    notes["velocity"] = np.clip(columns["velocity"], 1, 127)
    notes["program"] = np.repeat(np.array(programs, np.int16), per_track)
    notes["is_drum"] = np.repeat(np.array(drums, bool), per_track)
    order = score_order(columns, per_score, quarters)
    if order is not None:
        notes = notes.view(NOTE_BYTES)[order].view(NOTE_DTYPE)
    pieces, first = [], 0
    for score, name, count in zip(scores, names, per_score):
        tempos, signatures = score.tempos, score.time_signatures  # (each a new list object, taken once)
        qpm = round(float(tempos[0].qpm), 3) if len(tempos) else DEFAULT_QPM
        signature = (int(signatures[0].numerator), int(signatures[0].denominator)) if len(signatures) else (4, 4)
        last = first + count
        if order is None:
            pieces.append(Piece(notes[first:last], qpm, signature, name=name))
        else:  # in order already: its part of the new array, neither checked nor sorted again (20 us a piece)
            pieces.append(Piece(qpm=qpm, time_signature=signature, name=name))
            pieces[-1].notes = notes[first:last]
        first = last
    return pieces


def score_order(columns: dict[str, np.ndarray], per_score: list[int], quarters: np.ndarray) -> np.ndarray | None:
    """The order that puts the gathered notes (symusic columns, in ticks; `quarters`: each note's
    score's ticks per quarter) of each score in the order Piece keeps, (start, pitch, end), each
    score's notes staying together: what a stable sort of each piece's notes gives, found by one
    stable argsort of one int64 key (score, start tick, pitch, 64 * (end - start) in ticks) for all
    scores together. It is the same order: in one score, start = ticks / ticks per quarter, and
    two such doubles of different int32 ticks differ by more than their rounding, so they order as
    the ticks do; so do the ends, (64 * ticks + max(64 * duration, ticks per quarter)) / (64 * ticks
    per quarter). None (each Piece then sorts its own notes) when the key does not fit in 63 bits
    or a score has no ticks per quarter."""
    if not len(quarters) or quarters.min() <= 0:  # no notes, or times that are not numbers
        return None
    tick = columns["time"].astype(np.int64)
    tick -= tick.min()
    end = columns["duration"].astype(np.int64)  # as 64 (end - start) in ticks, as the end is made
    end <<= 6
    np.maximum(end, quarters, out=end)
    end -= end.min()
    tick_bits, end_bits = int(tick.max()).bit_length(), int(end.max()).bit_length()
    if (len(per_score) - 1).bit_length() + tick_bits + 8 + end_bits > 63:
        return None
    key = np.repeat(np.arange(len(per_score), dtype=np.int64), per_score)  # built in place: a new
    key <<= tick_bits  # array of this size costs more than the arithmetic
    key |= tick
    key <<= 8
    tick[:] = columns["pitch"]
    tick += 128  # -128..127 as 0..255
    key |= tick
    key <<= end_bits
    key |= end
    return np.argsort(key, kind="stable")


def to_midi_bytes(piece: Piece, ticks_per_quarter: int = 480) -> bytes:
    """A standard MIDI file: one track per (program, is_drum), with tempo and time signature."""
    from symusic import Note, Score, Tempo, TimeSignature, Track

    score = Score(ticks_per_quarter)
    score.tempos.append(Tempo(0, qpm=float(piece.qpm), ttype="tick"))
    score.time_signatures.append(TimeSignature(0, *piece.time_signature, ttype="tick"))
    notes = piece.notes
    for program, is_drum in np.unique(notes[["program", "is_drum"]]).tolist():
        part = notes[(notes["program"] == program) & (notes["is_drum"] == is_drum)]
        start = np.round(part["start"] * ticks_per_quarter).astype(np.int32)
        end = np.maximum(np.round(part["end"] * ticks_per_quarter).astype(np.int32), start + 1)
        track = Track("drums" if is_drum else f"program {program}", program=program, is_drum=is_drum, ttype="tick")
        track.notes = Note.from_numpy(start, end - start, part["pitch"].astype(np.int8),
                                      part["velocity"].astype(np.int8), ttype="tick")
        score.tracks.append(track)
    return score.dumps_midi()


def write_midi(piece: Piece, path: Path) -> None:
    """Write a piece as a MIDI file, atomically."""
    write_atomic(Path(path), to_midi_bytes(piece))


# -- sequence operations: each takes a Piece and returns a new one -------------------------------


def quantize(piece: Piece, steps_per_quarter: int = 4) -> Piece:
    """Starts and ends snapped to the nearest step of the grid (halves round up); a note keeps at
    least one step, so none vanishes."""
    notes = piece.notes.copy()
    start_steps = np.floor(notes["start"] * steps_per_quarter + 0.5)
    end_steps = np.maximum(np.floor(notes["end"] * steps_per_quarter + 0.5), start_steps + 1)
    notes["start"] = start_steps / steps_per_quarter
    notes["end"] = end_steps / steps_per_quarter
    return piece.with_notes(notes)


def transpose(piece: Piece, semitones: int) -> Piece:
    """Pitched notes moved by `semitones`; drum notes stay; notes pushed outside 0-127 are dropped."""
    notes = piece.notes.copy()
    pitched = ~notes["is_drum"]
    notes["pitch"][pitched] += semitones
    return piece.with_notes(notes[(notes["pitch"] >= 0) & (notes["pitch"] <= 127)])


def trim(piece: Piece, start: float, end: float) -> Piece:
    """The window [start, end) in quarter notes, moved to begin at 0: the notes that start in it,
    their ends cut at `end`."""
    notes = piece.notes[(piece.notes["start"] >= start) & (piece.notes["start"] < end)].copy()
    notes["end"] = np.minimum(notes["end"], end)
    notes["start"] -= start
    notes["end"] -= start
    return piece.with_notes(notes)


def shift(piece: Piece, beats: float) -> Piece:
    """Every note moved by `beats` quarter notes (later if positive); notes that would start
    before 0 are dropped."""
    notes = piece.notes.copy()
    notes["start"] += beats
    notes["end"] += beats
    return piece.with_notes(notes[notes["start"] >= 0])


def repeat(piece: Piece, start: float, end: float, times: int) -> Piece:
    """The section [start, end) played `times` times where it was played once (0 removes it); what
    follows moves later (or earlier) to make room. Notes of the section are cut at its end."""
    if end <= start or times < 0:
        raise UserError(f"cannot repeat [{start}, {end}) {times} times: give start < end and times >= 0")
    length = end - start
    notes = piece.notes
    before = notes[notes["start"] < start]
    section = trim(piece, start, end).notes
    after = notes[notes["start"] >= end].copy()
    after["start"] += (times - 1) * length
    after["end"] += (times - 1) * length
    copies = np.tile(section, times)
    offsets = np.repeat(start + length * np.arange(times), len(section))
    copies["start"] += offsets
    copies["end"] += offsets
    return piece.with_notes(np.concatenate([before, copies, after]))


def stretch(piece: Piece, factor: float) -> Piece:
    """A tempo change for augmentation: the piece lasts `factor` times as long in seconds (1.1 is
    10% longer, 0.9 10% shorter) because its tempo is divided by it; note positions in quarter
    notes, and so the metre and the notes' grid, are unchanged."""
    if factor <= 0:
        raise UserError(f"cannot stretch by {factor}: give a factor above 0 (1.1 is 10% slower)")
    return replace(piece, qpm=piece.qpm / factor)


def skyline(piece: Piece, program: int | None = None) -> Piece:
    """A monophonic melody the way Magenta extracts one: of the pitched notes (of one program, if
    given), the highest note at each onset, each cut short where the next onset begins."""
    notes = piece.notes
    keep = ~notes["is_drum"] if program is None else ~notes["is_drum"] & (notes["program"] == program)
    notes = notes[keep]
    highest = np.ones(len(notes), bool)  # the last note of each onset, as notes sort by (start, pitch)
    highest[:-1] = notes["start"][1:] != notes["start"][:-1]
    line = notes[highest].copy()
    line["end"][:-1] = np.minimum(line["end"][:-1], line["start"][1:])
    return piece.with_notes(line)


def drum_track(piece: Piece) -> Piece:
    """Only the drum notes."""
    return piece.with_notes(piece.notes[piece.notes["is_drum"]])


def split(piece: Piece, beats: float) -> list[Piece]:
    """A long piece cut into consecutive windows of `beats` quarter notes (see `trim`: notes that
    cross a boundary are cut there). Window k is named `name#k`; empty windows are left out."""
    if beats <= 0:
        raise UserError(f"cannot split into windows of {beats} quarter notes: give a length above 0")
    windows = [replace(trim(piece, k * beats, (k + 1) * beats), name=f"{piece.name}#{k}")
               for k in range(int(np.ceil(piece.beats / beats)))]
    return [window for window in windows if len(window)]
