"""MusicVAE's phrases: a piece cut on its bar lines into windows of `bars` bars, each step of each
track (melody, drums, or melody + bass + drums for a trio) one class of Magenta's one-hot encodings.

Encodings, on a grid of `steps_per_quarter` steps (16th notes by default), one class per step and track:

    melody, bass   90 classes: 0 hold (nothing new happens: a sounding note goes on, a silence stays),
                   1 rest (the sounding note ends), 2..89 note-on of pitch 21..108 (the piano's range;
                   a pitch outside it is moved by octaves into it). The line is the skyline of the
                   notes (`notes.skyline`: the highest note at each onset, cut where the next begins).
    drums          512 classes: the set of the 9 drum classes struck on the step, as a 9-bit number
                   (`codecs.drums`); drum sounds outside the classes are left out.

A phrase is an int array [steps, tracks], steps = bars * steps_per_bar (`phrase_steps`), tracks = 1
(melody, drums) or 3 (trio: melody, bass, drums). `class_counts` gives the classes of each track.

Extraction (`phrases`), after Magenta's MusicVAE data converters:
  * the codec is fitted to one metre, the corpus's most common; a piece in another metre gives no
    phrases (Magenta compares only the bar's length in steps, so it reads 2/2 as 4/4; here the
    metre itself must match, so that a decoded phrase has the bar lines it was learned with);
  * the piece is quantized and its tracks taken (melody: the skyline of every pitched note;
    drums: the drum notes; trio: see `trio_parts`);
  * a window of `bars` bars slides along the bar lines one bar at a time (Magenta's slicing);
  * a window is kept only if every bar of it holds notes in every track: a note begins in the bar
    or sounds on into it (drums: a hit in the bar). This stands for Magenta's gap rule, which ends
    a melody or drum track at a silence of a bar or more (`gap_bars=1`), so that no slice spans
    one. Magenta's trio converter is more lenient: a track silent for up to 2 bars inside a slice
    still counts (`gap_bars=2`); here a trio's three tracks must all play in every bar;
  * identical windows of one piece are kept once (Magenta's `dedupe_event_lists`). Magenta's
    melody converter asks for a single distinct pitch (`min_unique_pitches=1`), which a window
    with notes in every bar always has; its random choice of at most 5 windows per piece in
    training is left to the caller.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tunesmith.codecs.base import Codec
from tunesmith.codecs.drums import CLASS_OF_PITCH, DRUM_CLASSES, DrumsCodec
from tunesmith.codecs.melody import FIRST_NOTE_ON, NO_EVENT, MelodyCodec
from tunesmith.errors import UserError
from tunesmith.notes import Piece, quantize

KINDS = ("melody", "drums", "trio")
LOWEST_PITCH, HIGHEST_PITCH = 21, 108  # the piano's range (Magenta's PIANO_MIN/MAX_MIDI_PITCH)
MELODY_CLASSES = FIRST_NOTE_ON + HIGHEST_PITCH - LOWEST_PITCH + 1  # 90
DRUM_SET_CLASSES = 2 ** len(DRUM_CLASSES)  # 512
BASS_PROGRAMS = range(32, 40)  # General MIDI's basses
BASS_PROGRAM = 33  # the program a decoded bass plays (Magenta's ELECTRIC_BASS_PROGRAM)


@dataclass
class BarsCodec(Codec):
    """Phrases of `bars` bars of `kind` ("melody", "drums" or "trio") in the metre `metre`
    (numerator, denominator), on a grid of `steps_per_quarter` steps; `steps_per_bar` follows from
    the metre. `fit` takes the metre from a corpus; constructed without one, it is 4/4.

    The important API is `phrases(piece)` (the training examples) and `decode(phrase)`;
    `encode`/`decode` of token lists keep the Codec contract (see `encode`)."""

    name = "bars"
    unit = "step"
    length_unit = "step"

    kind: str = "melody"
    bars: int = 2
    steps_per_quarter: int = 4
    metre: tuple[int, int] = (4, 4)
    steps_per_bar: int | None = None  # set from the metre

    def __post_init__(self) -> None:
        self.metre = (int(self.metre[0]), int(self.metre[1]))
        self.bars, self.steps_per_quarter = int(self.bars), int(self.steps_per_quarter)
        if self.kind not in KINDS:
            raise UserError(f"the bars codec has no kind {self.kind!r}; give one of {', '.join(KINDS)}")
        if self.bars < 1 or self.steps_per_quarter < 1:
            raise UserError(f"the bars codec needs bars >= 1 and steps_per_quarter >= 1; "
                            f"got bars={self.bars}, steps_per_quarter={self.steps_per_quarter}")
        steps = bar_steps(self.metre, self.steps_per_quarter)
        if steps is None:
            raise UserError(f"a bar of {metre_name(self.metre)} is not a whole number of steps at "
                            f"{self.steps_per_quarter} steps per quarter note; give a finer grid")
        if self.steps_per_bar is not None and int(self.steps_per_bar) != steps:
            raise UserError(f"the bars codec has steps_per_bar={self.steps_per_bar}, but a bar of "
                            f"{metre_name(self.metre)} at {self.steps_per_quarter} steps per quarter note has {steps}")
        self.steps_per_bar = steps
        self.melody_line = MelodyCodec(min_pitch=LOWEST_PITCH, max_pitch=HIGHEST_PITCH,
                                       steps_per_quarter=self.steps_per_quarter)
        self.drum_sets = DrumsCodec(steps_per_quarter=self.steps_per_quarter)

    @classmethod
    def fit(cls, pieces: list[Piece], **options: Any) -> BarsCodec:
        """A codec with these options (kind, bars, steps_per_quarter) in the corpus's most common
        metre (ties: the one met first); 4/4 for no pieces. The caller reports the pieces in other
        metres (`in_metre` tells them)."""
        allowed = {"kind", "bars", "steps_per_quarter"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise UserError(f"the bars codec has no option {', '.join(unknown)}; its options are "
                            f"{', '.join(sorted(allowed))}")
        metres = Counter(tuple(piece.time_signature) for piece in pieces)
        metre = metres.most_common(1)[0][0] if metres else (4, 4)
        return cls(**options, metre=metre)

    # -- what the model sees -----------------------------------------------------------------------

    @property
    def class_counts(self) -> list[int]:
        """The classes of each track: [90], [512] or [90, 90, 512]; the model's softmax sizes."""
        return {"melody": [MELODY_CLASSES], "drums": [DRUM_SET_CLASSES],
                "trio": [MELODY_CLASSES, MELODY_CLASSES, DRUM_SET_CLASSES]}[self.kind]

    @property
    def tracks(self) -> int:
        return len(self.class_counts)

    @property
    def phrase_steps(self) -> int:
        """Steps in a phrase: bars * steps_per_bar (the model's `steps`)."""
        return self.bars * self.steps_per_bar

    @property
    def vocab_size(self) -> int:
        """The largest track's class count (a token list interleaves the tracks)."""
        return max(self.class_counts)

    # -- phrases -----------------------------------------------------------------------------------

    def in_metre(self, piece: Piece) -> bool:
        """Whether the piece is in the codec's metre (a piece in another gives no phrases)."""
        return tuple(piece.time_signature) == self.metre

    def usable(self, piece: Piece) -> bool:
        return self.in_metre(piece)

    def grid(self, piece: Piece) -> tuple[np.ndarray, np.ndarray]:
        """The whole piece on the grid, padded to whole bars: classes [steps, tracks] and whether
        each track sounds on each step [steps, tracks] (melody: a note begins or is held; drums:
        a hit). Bar lines are counted from the piece's beginning."""
        grid_piece = quantize(piece, self.steps_per_quarter)
        end_step = round(grid_piece.beats * self.steps_per_quarter)
        steps = -(-end_step // self.steps_per_bar) * self.steps_per_bar
        if self.kind == "melody":
            columns = [self.melody_events(grid_piece, steps)]
        elif self.kind == "drums":
            columns = [self.drum_events(grid_piece, steps)]
        else:
            melody, bass = trio_parts(grid_piece)
            columns = [self.melody_events(melody, steps), self.melody_events(bass, steps),
                       self.drum_events(grid_piece, steps)]
        classes = np.stack(columns, axis=1) if columns else np.zeros((steps, 0), np.int64)
        return classes, self.sounding(classes)

    def sounding(self, classes: np.ndarray) -> np.ndarray:
        """For classes [steps, tracks]: whether each track sounds on each step. A melody track
        sounds from a note-on until a rest (holds continue what was there); drums on a hit."""
        playing = np.zeros(classes.shape, bool)
        for track, count in enumerate(self.class_counts):
            column = classes[:, track]
            if count == DRUM_SET_CLASSES:
                playing[:, track] = column != 0
                continue
            changes = np.where(column != NO_EVENT, np.arange(len(column)), -1)
            last_change = np.maximum.accumulate(changes) if len(column) else changes
            playing[:, track] = (last_change >= 0) & (column[np.maximum(last_change, 0)] >= FIRST_NOTE_ON)
        return playing

    def windows(self, piece: Piece) -> tuple[np.ndarray, list[int]]:
        """The piece's grid (classes [steps, tracks]) and the bars (counted from 0) at which a
        phrase may begin: every window of `bars` bars whose bars all hold notes in every track;
        none for a piece in another metre."""
        if not self.in_metre(piece) or not len(piece):
            return np.zeros((0, self.tracks), np.int64), []
        classes, playing = self.grid(piece)
        bars_playing = playing.reshape(-1, self.steps_per_bar, self.tracks).any(axis=1).all(axis=1)
        if len(bars_playing) < self.bars:
            return classes, []
        full = np.lib.stride_tricks.sliding_window_view(bars_playing, self.bars).all(axis=1)
        return classes, np.flatnonzero(full).tolist()

    def phrase_starts(self, piece: Piece) -> list[int]:
        """The bars (counted from 0) at which the piece's phrases begin (see `windows`)."""
        return self.windows(piece)[1]

    def phrase_at(self, classes: np.ndarray, bar: int) -> np.ndarray:
        return classes[bar * self.steps_per_bar:(bar + self.bars) * self.steps_per_bar]

    def phrases(self, piece: Piece) -> list[np.ndarray]:
        """The piece's phrases, int64 arrays [steps, tracks], in order of their first bar;
        identical windows are kept once. No phrases for a piece in another metre (see the module
        docstring for the rules)."""
        classes, starts = self.windows(piece)
        seen, phrases = set(), []
        for bar in starts:
            phrase = self.phrase_at(classes, bar)
            key = phrase.tobytes()
            if key not in seen:
                seen.add(key)
                phrases.append(phrase)
        return phrases

    def first_phrase(self, piece: Piece, start_bar: int | None = None) -> tuple[np.ndarray, int]:
        """The first phrase of the piece beginning at bar `start_bar` or later (bars counted from
        0; from the beginning if None), and the bar it begins at: the input of an interpolation or
        a reconstruction. Raises UserError when there is none."""
        first = max(start_bar or 0, 0)
        classes, starts = self.windows(piece)
        starts = [bar for bar in starts if bar >= first]
        if not starts:
            where = f" from bar {first} (counting from 0)" if first else ""
            advice = "choose another piece or an earlier start bar" if first else "choose another piece"
            raise UserError(f"{piece.name or 'the piece'}: no {self.bars}-bar {self.kind} phrase{where}: "
                            f"{self.why_no_phrases(piece, first)}; {advice}")
        return self.phrase_at(classes, starts[0]), starts[0]

    def why_no_phrases(self, piece: Piece, start_bar: int = 0) -> str:
        """A short reason why the piece gives no phrase (from bar `start_bar` on), such as "it has
        only drum notes"; "" when it gives one."""
        if not self.in_metre(piece):
            return f"it is in {metre_name(piece.time_signature)} and the phrases are in {metre_name(self.metre)}"
        notes = piece.notes
        pitched, drums = notes[~notes["is_drum"]], notes[notes["is_drum"]]
        classed = np.isin(drums["pitch"], list(CLASS_OF_PITCH))
        if not len(notes):
            return "it has no notes"
        if self.kind == "melody" and not len(pitched):
            return "it has only drum notes"
        if self.kind in ("drums", "trio") and not len(drums):
            return "it has no drum notes"
        if self.kind in ("drums", "trio") and not classed.any():
            return "none of its drum notes is a kick, snare, hi-hat, tom or cymbal"
        if self.kind == "trio":
            melody, bass = trio_parts(piece)
            if not len(melody) or not len(bass):
                programs = len(np.unique(pitched["program"]))
                return (f"a trio needs a melody and a bass on two programs (or a bass program 32-39), "
                        f"and it has {programs} pitched program{'s' if programs != 1 else ''}")
        if any(bar >= start_bar for bar in self.phrase_starts(piece)):
            return ""
        held = {"melody": "with notes in every bar", "drums": "with drum hits in every bar",
                "trio": "where the melody, the bass and the drums play in every bar"}[self.kind]
        return f"it has no {self.bars} bars of {metre_name(self.metre)} in a row {held}"

    # -- tracks ------------------------------------------------------------------------------------

    def melody_events(self, piece: Piece, steps: int) -> np.ndarray:
        """The 90-class line of a quantized piece's pitched notes, cut or padded (holds) to `steps`."""
        return fit_length(self.melody_line.encode_music(piece), steps)

    def drum_events(self, piece: Piece, steps: int) -> np.ndarray:
        """The 512-class drum sets of a quantized piece's drum notes, cut or padded (none) to `steps`."""
        return fit_length(self.drum_sets.encode_events(piece), steps)

    # -- decoding ----------------------------------------------------------------------------------

    def decode(self, phrase: Any, qpm: float = 120.0, program: int = 0) -> Piece:
        """The piece of a phrase [steps, tracks] (any number of steps; or a flat token list as
        `encode` makes them, see `as_phrase`): a hold extends the
        sounding note, a rest ends it, a note still sounding at the end ends there; drums are
        one-step hits at their class's first pitch on the drum channel; a trio's bass plays program
        33. Classes outside a track's range are read as holds (no hit). The piece is in the
        codec's metre at `qpm`, its melody played by `program`."""
        phrase = self.as_phrase(phrase)
        parts = []
        for track, count in enumerate(self.class_counts):
            column = phrase[:, track]
            column = np.where((column >= 0) & (column < count), column, 0).tolist()
            if count == DRUM_SET_CLASSES:
                notes = self.drum_sets.decode_events(column).notes
            else:
                notes = self.melody_line.decode_music(column).notes
                notes["program"] = BASS_PROGRAM if track == 1 else program
            parts.append(notes)
        return Piece(np.concatenate(parts), qpm=qpm, time_signature=self.metre)

    def as_phrase(self, tokens: Any) -> np.ndarray:
        """Classes as an int64 array [steps, tracks]: a phrase, or a flat token list of steps one
        after the other (tracks interleaved); an unfinished last step is dropped."""
        classes = np.asarray(tokens, dtype=np.int64)
        if classes.ndim == 2 and classes.shape[1] == self.tracks:
            return classes
        flat = classes.reshape(-1)
        return flat[:len(flat) - len(flat) % self.tracks].reshape(-1, self.tracks)

    def encode(self, piece: Piece) -> list[int]:
        """The whole piece on the grid (every bar from the first, not cut into windows), as one
        token list: step after step, a trio's three tracks interleaved (melody, bass, drums).
        `decode` gives the piece back on the grid. Works in any metre (bars only matter to
        `phrases`)."""
        classes, _ = self.grid(piece)
        return classes.reshape(-1).tolist()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["metre"] = list(self.metre)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BarsCodec:
        return cls(**data)


def trio_parts(piece: Piece) -> tuple[Piece, Piece]:
    """A trio's melody and bass (the drums are every drum note). The bass is every note of the
    General MIDI bass programs (32-39) if the piece has any, else the pitched program of the lowest
    mean pitch; the melody is the pitched program of the highest mean pitch among the others. An
    empty part (one pitched program and no bass program) means no trio. Each part is later reduced
    to its skyline, as Magenta's converter reads each melody and bass instrument as a melody."""
    notes = piece.notes[~piece.notes["is_drum"]]
    programs = np.unique(notes["program"])
    means = {int(p): float(notes["pitch"][notes["program"] == p].mean()) for p in programs}
    bass_programs = [p for p in means if p in BASS_PROGRAMS]
    if not bass_programs and len(means) >= 2:
        bass_programs = [min(means, key=lambda p: (means[p], p))]
    others = [p for p in means if p not in bass_programs]
    melody_programs = [max(others, key=lambda p: (means[p], -p))] if others and bass_programs else []
    return (piece.with_notes(notes[np.isin(notes["program"], melody_programs)]),
            piece.with_notes(notes[np.isin(notes["program"], bass_programs)]))


def fit_length(events: list[int], steps: int) -> np.ndarray:
    """Events as int64, cut to `steps` or padded with 0 (a hold; no drum hit)."""
    column = np.zeros(steps, np.int64)
    kept = events[:steps]
    column[:len(kept)] = kept
    return column


def bar_steps(metre: tuple[int, int], steps_per_quarter: int) -> int | None:
    """Grid steps in a bar: numerator * (4 / denominator) quarter notes * steps_per_quarter (4/4 at
    4 steps per quarter: 16; 3/4 and 6/8: 12); None if that is not a whole number."""
    numerator, denominator = metre
    if numerator < 1 or denominator < 1:
        return None
    steps = numerator * 4 * steps_per_quarter
    return steps // denominator if steps % denominator == 0 else None


def metre_name(metre: tuple[int, int]) -> str:
    return f"{metre[0]}/{metre[1]}"
