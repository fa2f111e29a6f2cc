"""The shared base of the music codecs: event tokens first, then START and one token per style tag;
and the 16th-note grid that the melody, drums and polyphony codecs quantize notes to."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from tunesmith.codecs.base import Codec
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes

DECODED_VELOCITY = 100  # the velocity of decoded notes where a codec has none (Magenta's default)


@dataclass
class EventCodec(Codec):
    """Token ids 0..event_count-1 are the codec's music events, START follows, then one token per
    style tag seen by `fit`. Every encoded piece begins with START and its style token (if any).
    Subclasses are dataclasses whose fields are their options; they implement `event_count`,
    `encode_events` and `decode_events`."""

    styles: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, pieces: list[Piece], **options: Any) -> EventCodec:
        """A codec with these options whose style tokens are the style tags of `pieces`."""
        names = sorted(f.name for f in fields(cls) if f.name != "styles")
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise UserError(f"the {cls.name} codec has no option {', '.join(unknown)}; "
                            f"its options are {', '.join(names)}")
        return cls(**options, styles=style_tags(pieces))

    @property
    def event_count(self) -> int:
        raise NotImplementedError

    def encode_events(self, piece: Piece) -> list[int]:
        raise NotImplementedError

    def decode_events(self, events: list[int]) -> Piece:
        """The piece of a sequence of event ids; any sequence, sense or not, gives a valid piece."""
        raise NotImplementedError

    @property
    def start_token(self) -> int:
        """The id of START; the style tokens follow it."""
        return self.event_count

    @property
    def vocab_size(self) -> int:
        return self.event_count + 1 + len(self.styles)

    def start_tokens(self, style: str | None = None) -> list[int]:
        if style is None:
            return [self.start_token]
        if style not in self.styles:
            known = ", ".join(self.styles) or "none (the corpus had no style tags)"
            raise UserError(f"unknown style {style!r}; this model knows: {known}")
        return [self.start_token, self.start_token + 1 + self.styles.index(style)]

    def encode(self, piece: Piece) -> list[int]:
        """START, the piece's style token (left out for a style the codec does not know), the events."""
        style = piece.style if piece.style in self.styles else None
        return self.start_tokens(style) + self.encode_events(piece)

    def decode(self, tokens: list[int]) -> Piece:
        """The piece of the event tokens, with the style of the first style token; START and ids
        outside the vocabulary are skipped."""
        tokens = [int(t) for t in tokens]
        piece = self.decode_events([t for t in tokens if 0 <= t < self.event_count])
        styles = [self.styles[t - self.start_token - 1] for t in tokens if self.start_token < t < self.vocab_size]
        piece.style = styles[0] if styles else None
        return piece

    def unknown(self, piece: Piece) -> list[str]:
        return [f"style {piece.style}"] if piece.style and piece.style not in self.styles else []

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventCodec:
        return cls(**data)


@dataclass
class GridCodec(EventCodec):
    """An event codec on a grid of `steps_per_quarter` steps (16th notes by default); decoded
    pieces are at 120 qpm with velocity 100 and program 0, for the sampler to set."""

    unit = "step"
    length_unit = "step"
    steps_per_quarter: int = 4

    def steps(self, token: int) -> int:
        """One step per event token (melody, drums); polyphony counts its STEP_END tokens only."""
        return int(0 <= token < self.event_count)

    def seconds(self, token: int, qpm: float) -> float:
        return self.steps(token) * 60.0 / (qpm * self.steps_per_quarter)

    def step_numbers(self, beats: np.ndarray) -> np.ndarray:
        """Times on the grid (see `notes.quantize`), in quarter notes, as step numbers."""
        return np.rint(beats * self.steps_per_quarter).astype(np.int64)

    def notes_from_steps(self, rows: list[tuple[int, int, int]], is_drum: bool = False) -> Piece:
        """A piece of (start step, end step, pitch) notes."""
        scale = self.steps_per_quarter
        return Piece(make_notes([(start / scale, end / scale, pitch, DECODED_VELOCITY, 0, is_drum)
                                 for start, end, pitch in rows]))


KEYS = 12  # key tokens: the major keys (and their relative minors) by tonic, C = 0
MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1])


@dataclass
class PitchedGridCodec(GridCodec):
    """A grid codec over the pitches min_pitch..max_pitch. `fit` takes that range from the notes
    the codec encodes (`range_notes`), widened by `transpose` semitones each way for the
    transposition augmentation, unless min_pitch and max_pitch are given; encoding moves pitches
    outside it (another corpus's, a primer's) by octaves into it.

    With `key_tokens`, every piece is moved by at most 6 semitones into C major (or A minor), as
    Magenta's transpose_to_key does, so that the model learns one key; a key token before the
    music events says where it came from, and decoding moves the notes back into that key. A
    generation samples that token first, so its outputs come in the corpus's keys and register.
    Subclasses implement `music_event_count`, `encode_music` and `decode_music`."""

    min_pitch: int = 0
    max_pitch: int = 127
    key_tokens: bool = False

    def __post_init__(self) -> None:
        check_pitch_range(self.name, self.min_pitch, self.max_pitch)

    @classmethod
    def fit(cls, pieces: list[Piece], transpose: int = 0, **options: Any) -> EventCodec:
        if "min_pitch" not in options and "max_pitch" not in options:
            lines = [cls.range_notes(p)["pitch"].astype(np.int64) for p in pieces]
            if options.get("key_tokens"):
                lines = [line - key_shift(line) for line in lines]
            pitches = np.concatenate(lines or [np.zeros(0, np.int64)])
            if len(pitches):
                options["min_pitch"], options["max_pitch"] = pitch_range_of(pitches, transpose)
        return super().fit(pieces, **options)

    @classmethod
    def range_notes(cls, piece: Piece) -> np.ndarray:
        """The notes of a piece that this codec encodes (the pitched notes; the melody codec: its top line)."""
        return piece.notes[~piece.notes["is_drum"]]

    @property
    def music_event_count(self) -> int:
        raise NotImplementedError

    @property
    def event_count(self) -> int:
        return self.music_event_count + (KEYS if self.key_tokens else 0)

    def steps(self, token: int) -> int:
        return int(0 <= token < self.music_event_count)

    def encode_music(self, piece: Piece) -> list[int]:
        raise NotImplementedError

    def decode_music(self, events: list[int]) -> Piece:
        raise NotImplementedError

    def encode_events(self, piece: Piece) -> list[int]:
        if not self.key_tokens:
            return self.encode_music(piece)
        shift = key_shift(self.range_notes(piece)["pitch"])
        notes = piece.notes.copy()
        notes["pitch"][~notes["is_drum"]] -= shift
        return [self.music_event_count + shift % KEYS] + self.encode_music(piece.with_notes(notes))

    def carried(self, tokens: list[int]) -> list[int]:
        """A primer's first key token: a continuation of the primer is in the primer's key."""
        return [token for token in tokens if self.music_event_count <= token < self.event_count][:1]

    def decode_events(self, events: list[int]) -> Piece:
        """The music events' piece, moved into the key of its first key token. A piece that follows
        (a generation that ended one tune and began another) stays in that key, in the octave
        nearest its own register."""
        piece = self.decode_music([e for e in events if e < self.music_event_count])
        keys, step = [], 0  # (the step from which a key token applies, its shift)
        for event in events:
            if event >= self.music_event_count:
                key = event - self.music_event_count
                keys.append((step, key if key <= KEYS // 2 else key - KEYS))
            else:
                step += self.steps(event)
        if not keys:
            return piece
        notes = piece.notes.copy()
        first = keys[0][1]
        shifts = np.full(len(notes), first)
        for start, own in keys[1:]:
            shifts[self.step_numbers(notes["start"]) >= start] = first + KEYS * round((own - first) / KEYS)
        notes["pitch"] = fold_into_range(notes["pitch"].astype(np.int64) + shifts, 0, 127)
        return piece.with_notes(notes)


def key_shift(pitches: np.ndarray) -> int:
    """Semitones (-5..6) from C major up to the major key (or its relative minor) whose scale holds
    the most of these pitches; ties go to the lowest tonic, no pitches to C."""
    counts = np.bincount(np.asarray(pitches, dtype=np.int64) % KEYS, minlength=KEYS)
    tonic = int(np.argmax([counts[(np.arange(KEYS) + tonic) % KEYS] @ MAJOR_SCALE for tonic in range(KEYS)]))
    return tonic if tonic <= KEYS // 2 else tonic - KEYS


def pitch_range_of(pitches: np.ndarray, transpose: int) -> tuple[int, int]:
    """The lowest and highest pitch, widened by `transpose` each way and then to at least an
    octave (upwards first), within 0..127."""
    low, high = max(0, int(pitches.min()) - transpose), min(127, int(pitches.max()) + transpose)
    high = min(127, max(high, low + 11))
    return min(low, high - 11), high


def style_tags(pieces: list[Piece]) -> list[str]:
    return sorted({piece.style for piece in pieces if piece.style})


def fold_into_range(pitches: np.ndarray, low: int, high: int) -> np.ndarray:
    """Pitches moved by whole octaves into low..high (a range of at least an octave)."""
    below, above = pitches < low, pitches > high
    pitches = pitches.copy()
    pitches[below] += 12 * ((low - pitches[below] + 11) // 12)
    pitches[above] -= 12 * ((pitches[above] - high + 11) // 12)
    return pitches


def check_pitch_range(codec: str, low: int, high: int) -> None:
    if not (0 <= low and high <= 127 and high - low >= 11):
        raise UserError(f"the {codec} codec needs 0 <= min_pitch, max_pitch <= 127 and at least an "
                        f"octave between them; got {low}..{high}")
