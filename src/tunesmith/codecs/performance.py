"""The performance codec (PerformanceRNN, Music Transformer): 128 NOTE_ON, 128 NOTE_OFF, 100 TIME_SHIFT
of 10 ms to 1 s and 32 VELOCITY bins, 388 events; time is in seconds, not on a metric grid."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from tunesmith.codecs.events import DECODED_VELOCITY, EventCodec
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes

NOTE_ON, NOTE_OFF, TIME_SHIFT = 0, 128, 256  # first ids of each kind of event
DECODED_QPM = 120.0


@dataclass
class PerformanceCodec(EventCodec):
    """Encoding takes the non-drum notes, their times in seconds at the piece's tempo (beats * 60 /
    qpm) rounded to steps of 1/steps_per_second (halves up; a note lasts at least one step) and
    their velocities to `velocity_bins` bins. At each step note-offs come before note-ons, each in
    pitch order; a VELOCITY event comes before a note-on whose bin is not the last one's.

    Decoding gives a piece at 120 qpm, so beats = seconds * 2 (the sampler rescales it to another
    tempo, keeping seconds), velocities at the middle of their bin, program 0. Of overlapping notes
    of one pitch the earliest ends first, as in MIDI."""

    name = "performance"
    unit = "event"
    absolute_time = True
    steps_per_second: int = 100
    max_shift_steps: int = 100
    velocity_bins: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.velocity_bins <= 127:
            raise UserError(f"the performance codec needs 1..127 velocity_bins; got {self.velocity_bins}")

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
        """Vectorised: every note change (a note-off or a note-on) becomes its time shifts since the
        change before it, a VELOCITY event where the bin changes (note-ons only), and its note event."""
        notes = piece.notes[~piece.notes["is_drum"]]
        steps_per_beat = self.steps_per_second * 60.0 / piece.qpm
        starts = np.floor(notes["start"] * steps_per_beat + 0.5).astype(np.int64)
        ends = np.maximum(np.floor(notes["end"] * steps_per_beat + 0.5).astype(np.int64), starts + 1)
        pitches = notes["pitch"].astype(np.int64)
        bins = (np.clip(notes["velocity"].astype(np.int64), 1, 127) - 1) * self.velocity_bins // 127
        step = np.concatenate([ends, starts])
        is_on = np.repeat([False, True], len(notes))
        pitch = np.concatenate([pitches, pitches])
        velocity_bin = np.concatenate([bins, bins])
        order = np.lexsort((pitch, is_on, step))  # at each step note-offs, then note-ons, by pitch
        step, is_on, pitch, velocity_bin = step[order], is_on[order], pitch[order], velocity_bin[order]

        gap = np.diff(step, prepend=0)
        shifts = -(-gap // self.max_shift_steps)  # time-shift events before each change
        on_bins = velocity_bin[is_on]
        new_bin = np.zeros(len(step), bool)
        new_bin[is_on] = np.diff(on_bins, prepend=-1) != 0
        sizes = shifts + new_bin + 1
        first = np.cumsum(sizes) - sizes  # where each change's events begin
        events = np.empty(int(sizes.sum()), np.int64)

        owner = np.repeat(np.arange(len(step)), shifts)
        nth = np.arange(len(owner)) - np.repeat(np.cumsum(shifts) - shifts, shifts)
        last = nth == shifts[owner] - 1
        shift = np.where(last, gap[owner] - self.max_shift_steps * (shifts[owner] - 1), self.max_shift_steps)
        events[first[owner] + nth] = TIME_SHIFT + shift - 1
        events[(first + shifts)[new_bin]] = self.first_velocity + velocity_bin[new_bin]
        events[first + shifts + new_bin] = np.where(is_on, NOTE_ON, NOTE_OFF) + pitch
        return events.tolist()

    def decode_events(self, events: list[int]) -> Piece:
        rows = []
        sounding = defaultdict(list)  # pitch -> [(start step, velocity)], earliest first
        now, velocity = 0, self.bin_velocity(self.velocity_bin(DECODED_VELOCITY))
        for event in events:
            if event < NOTE_OFF:
                sounding[event - NOTE_ON].append((now, velocity))
            elif event < TIME_SHIFT:
                if sounding[event - NOTE_OFF]:
                    start, played = sounding[event - NOTE_OFF].pop(0)
                    rows.append((start, now, event - NOTE_OFF, played))
            elif event < self.first_velocity:
                now += event - TIME_SHIFT + 1
            else:
                velocity = self.bin_velocity(event - self.first_velocity)
        rows += [(start, now, pitch, played) for pitch, notes in sounding.items() for start, played in notes]
        beats_per_step = DECODED_QPM / 60.0 / self.steps_per_second
        return Piece(make_notes([(start * beats_per_step, end * beats_per_step, pitch, played)
                                 for start, end, pitch, played in rows if end > start]), qpm=DECODED_QPM)
