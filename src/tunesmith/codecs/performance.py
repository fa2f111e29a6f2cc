"""The performance codec (PerformanceRNN, Music Transformer): 128 NOTE_ON, 128 NOTE_OFF, 100 TIME_SHIFT
of 10 ms to 1 s and 32 VELOCITY bins, 388 events; time is in seconds, not on a metric grid."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunesmith.codecs.events import DECODED_VELOCITY, EventCodec
from tunesmith.errors import UserError
from tunesmith.notes import NOTE_BYTES, NOTE_DTYPE, Piece, make_notes, passes

NOTE_ON, NOTE_OFF, TIME_SHIFT = 0, 128, 256  # first ids of each kind of event
DECODED_QPM = 120.0


def fitted_max_note_seconds(pieces: list[Piece], default: float) -> float:
    """How long a decoded note may last, from the pitched notes of the pieces (in seconds at each
    piece's tempo): the longest, but at most twice the 99.9th percentile of their lengths, so that
    one note stuck on in a broken file, or a rare very long one, does not set it; rounded up to a
    whole second. `default` when the pieces have no pitched note. (Bach chorales: the longest is
    9.6 s, the 99.9th percentile 2.4 s, so 5 s.)"""
    pitched = [piece.notes[~piece.notes["is_drum"]] for piece in pieces]
    lengths = np.concatenate([(notes["end"] - notes["start"]) * 60.0 / piece.qpm
                              for piece, notes in zip(pieces, pitched)] + [np.zeros(0)])
    if not len(lengths):
        return default
    limit = min(lengths.max(), 2 * np.percentile(lengths, 99.9))
    return float(max(math.ceil(round(limit, 3)), 1))  # rounded first: 1.00000000004 s is 1 s


@dataclass
class PerformanceCodec(EventCodec):
    """Encoding takes the non-drum notes, their times in seconds at the piece's tempo (beats * 60 /
    qpm) rounded to steps of 1/steps_per_second (halves up; a note lasts at least one step) and
    their velocities to `velocity_bins` bins. At each step note-offs come before note-ons, each in
    pitch order; a VELOCITY event comes before a note-on whose bin is not the last one's.

    Decoding gives a piece at 120 qpm, so beats = seconds * 2 (the sampler rescales it to another
    tempo, keeping seconds), velocities at the middle of their bin, program 0. Of overlapping notes
    of one pitch the earliest ends first, as in MIDI. Every note ends: one whose NOTE_OFF never
    comes, or comes later than `max_note_seconds` after its NOTE_ON, ends max_note_seconds after
    it, so a note the model forgot to end does not sound to the end of the piece, and no note lasts
    much longer than the notes it was trained on (a late NOTE_OFF then ends the next note of that
    pitch, if one sounds). `fit` sets max_note_seconds from the pieces (see
    `fitted_max_note_seconds`); a codec saved before it existed gets 4 s."""

    name = "performance"
    unit = "event"
    absolute_time = True
    steps_per_second: int = 100
    max_shift_steps: int = 100
    velocity_bins: int = 32
    max_note_seconds: float = 4.0

    def __post_init__(self) -> None:
        if not 1 <= self.velocity_bins <= 127:
            raise UserError(f"the performance codec needs 1..127 velocity_bins; got {self.velocity_bins}")
        if not self.max_note_seconds > 0:
            raise UserError(f"the performance codec needs max_note_seconds above 0; got {self.max_note_seconds}")

    @classmethod
    def fit(cls, pieces: list[Piece], **options: Any) -> PerformanceCodec:
        """A codec with these options; max_note_seconds, unless given, from the pieces' note lengths."""
        if "max_note_seconds" not in options:
            options["max_note_seconds"] = fitted_max_note_seconds(pieces, cls.max_note_seconds)
        return super().fit(pieces, **options)

    @property
    def first_velocity(self) -> int:
        return TIME_SHIFT + self.max_shift_steps

    @property
    def event_count(self) -> int:
        return self.first_velocity + self.velocity_bins

    def seconds(self, token: int, qpm: float) -> float:
        if TIME_SHIFT <= token < self.first_velocity:
            return (token - TIME_SHIFT + 1) / self.steps_per_second
        return 0.0

    def velocity_bin(self, velocity: int) -> int:
        """Bins of (nearly) equal width over velocities 1..127."""
        return (min(max(velocity, 1), 127) - 1) * self.velocity_bins // 127

    def bin_velocity(self, velocity_bin: int) -> int:
        """The middle velocity of a bin."""
        lowest = -(-velocity_bin * 127 // self.velocity_bins) + 1
        highest = -(-(velocity_bin + 1) * 127 // self.velocity_bins)
        return (lowest + highest) // 2

    def encode_events(self, piece: Piece) -> list[int]:
        return self.event_stream([piece], [[]]).tolist()

    def encode_all(self, pieces: list[Piece]) -> np.ndarray:
        """What `encode` gives each piece, one piece after the other, as one array: the pieces are
        encoded in vectorized passes of about notes.NOTES_PER_PASS notes, not one by one."""
        streams = [np.zeros(0, np.int64)]
        for part in passes([len(piece.notes) for piece in pieces]):
            batch = pieces[part]
            starts = [self.start_tokens(p.style if p.style in self.styles else None) for p in batch]
            streams.append(self.event_stream(batch, starts))
        return np.concatenate(streams)

    def event_stream(self, pieces: list[Piece], prefixes: list[list[int]]) -> np.ndarray:
        """Each piece's prefix tokens, then its events, one piece after the other. Vectorised: every
        note change (a note-off or a note-on) becomes its time shifts since the change before it in
        its piece, a VELOCITY event where the bin changes (note-ons only), and its note event."""
        # the notes of all pieces in one array (concatenated as bytes: field by field costs 5 times more);
        # the arrays below are built in place where they can be, as a new array costs more than the arithmetic
        notes = np.concatenate([np.asarray(piece.notes, NOTE_DTYPE).view(NOTE_BYTES) for piece in pieces])
        notes = notes.view(NOTE_DTYPE)
        owner = np.repeat(np.arange(len(pieces)), [len(piece.notes) for piece in pieces])
        start, end, pitch, velocity = notes["start"], notes["end"], notes["pitch"], notes["velocity"]
        pitched = ~notes["is_drum"]
        if not pitched.all():  # the pitched notes
            owner, start, end, pitch, velocity = (column[pitched] for column in (owner, start, end, pitch, velocity))
        steps_per_beat = (self.steps_per_second * 60.0 / np.array([p.qpm for p in pieces], np.float64))[owner]
        count = len(owner)
        step = np.empty(2 * count, np.int64)  # each note's note-off step (its end), then its note-on step
        for half, times in ((slice(count, None), start), (slice(None, count), end)):
            rounded = times * steps_per_beat
            rounded += 0.5
            step[half] = np.floor(rounded, out=rounded)
        np.maximum(step[:count], step[count:] + 1, out=step[:count])  # a note lasts at least one step

        # the changes, in each piece by step, note-offs before note-ons, by pitch: a stable argsort of one
        # int64 key (piece, step, on, pitch) is several times faster than np.lexsort of the four
        key = step - int(step[count:].min(initial=0))  # from 0, or from the earliest note-on if before it
        key <<= 9
        key[count:] |= 1 << 8
        piece_pitch = owner << 49
        piece_pitch |= pitch & 255
        key[:count] |= piece_pitch
        key[count:] |= piece_pitch
        order = np.argsort(key, kind="stable")
        key, step = key[order], step[order]
        bins = np.clip(velocity, 1, 127).astype(np.int64)
        bins -= 1
        bins *= self.velocity_bins
        bins //= 127
        velocity_bin = np.take(bins, order, mode="wrap") if count else bins  # a change's note's bin
        piece, is_on, pitch = key >> 49, (key >> 8 & 1).astype(bool), key & 255
        new_piece = np.diff(piece, prepend=-1) != 0

        gap = np.diff(step, prepend=0)
        gap[new_piece] = step[new_piece]  # a piece's time starts at 0
        shifts = -(-gap // self.max_shift_steps)  # time-shift events before each change
        new_bin = np.zeros(len(step), bool)
        new_bin[is_on] = np.diff((piece << 8 | velocity_bin)[is_on], prepend=-1) != 0  # or a new piece's first
        sizes = shifts + new_bin + 1
        prefix_sizes = np.array([len(prefix) for prefix in prefixes], np.int64)
        after = np.cumsum(sizes)
        before = np.concatenate([[0], after])[np.searchsorted(piece, np.arange(len(pieces)))]
        prefix_first = before + np.cumsum(prefix_sizes) - prefix_sizes  # where each piece's prefix begins
        first = after - sizes + (prefix_first + prefix_sizes - before)[piece]  # each change's events
        events = np.empty(int(sizes.sum() + prefix_sizes.sum()), np.int64)

        owner = np.repeat(np.arange(len(step)), shifts)
        nth = np.arange(len(owner)) - np.repeat(np.cumsum(shifts) - shifts, shifts)
        last = nth == shifts[owner] - 1
        shift = np.where(last, gap[owner] - self.max_shift_steps * (shifts[owner] - 1), self.max_shift_steps)
        events[first[owner] + nth] = TIME_SHIFT + shift - 1
        events[(first + shifts)[new_bin]] = self.first_velocity + velocity_bin[new_bin]
        events[first + shifts + new_bin] = np.where(is_on, NOTE_ON, NOTE_OFF) + pitch
        owner = np.repeat(np.arange(len(pieces)), prefix_sizes)
        nth = np.arange(len(owner)) - np.repeat(np.cumsum(prefix_sizes) - prefix_sizes, prefix_sizes)
        events[prefix_first[owner] + nth] = [token for prefix in prefixes for token in prefix]
        return events

    def decode_events(self, events: list[int]) -> Piece:
        rows = []
        sounding = defaultdict(list)  # pitch -> [(start step, velocity)], earliest first
        longest = max(round(self.max_note_seconds * self.steps_per_second), 1)  # in steps
        now, velocity = 0, self.bin_velocity(self.velocity_bin(DECODED_VELOCITY))
        for event in events:
            if event < NOTE_OFF:
                sounding[event - NOTE_ON].append((now, velocity))
            elif event < TIME_SHIFT:
                pitch = event - NOTE_OFF
                while sounding[pitch] and now - sounding[pitch][0][0] > longest:  # ended by max_note_seconds
                    start, played = sounding[pitch].pop(0)
                    rows.append((start, start + longest, pitch, played))
                if sounding[pitch]:
                    start, played = sounding[pitch].pop(0)
                    rows.append((start, now, pitch, played))
            elif event < self.first_velocity:
                now += event - TIME_SHIFT + 1
            else:
                velocity = self.bin_velocity(event - self.first_velocity)
        rows += [(start, min(now, start + longest), pitch, played)
                 for pitch, notes in sounding.items() for start, played in notes]
        beats_per_step = DECODED_QPM / 60.0 / self.steps_per_second
        return Piece(make_notes([(start * beats_per_step, end * beats_per_step, pitch, played)
                                 for start, end, pitch, played in rows if end > start]), qpm=DECODED_QPM)
