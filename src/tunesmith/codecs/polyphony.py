"""The polyphony codec (Magenta's PolyphonyRNN): on a 16th-note grid, each step lists its sounding
notes, highest first, as NEW_NOTE(pitch) or CONTINUED_NOTE(pitch), and closes with STEP_END."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from tunesmith.codecs.events import PitchedGridCodec, fold_into_range
from tunesmith.notes import Piece, quantize


@dataclass
class PolyphonyCodec(PitchedGridCodec):
    """Encoding rounds the non-drum notes to the grid and moves pitches out of range by octaves
    into it (`fit` takes the range from the corpus); the piece ends with the step where its last note ends. A note that is not continued
    ends at its step; of overlapping notes of one pitch the earliest ends first, as in MIDI.
    Decoded notes have velocity 100 and program 0."""

    name = "polyphony"
    unit = "event"

    @property
    def pitch_count(self) -> int:
        return self.max_pitch - self.min_pitch + 1

    @property
    def step_end(self) -> int:
        """Ids: NEW_NOTE 0..pitch_count-1, CONTINUED_NOTE pitch_count..2*pitch_count-1, STEP_END."""
        return 2 * self.pitch_count

    @property
    def music_event_count(self) -> int:
        return self.step_end + 1

    def steps(self, token: int) -> int:
        return int(token == self.step_end)

    def encode_music(self, piece: Piece) -> list[int]:
        notes = quantize(piece, self.steps_per_quarter).notes
        notes = notes[~notes["is_drum"]]
        starts, ends = self.step_numbers(notes["start"]), self.step_numbers(notes["end"])
        pitches = fold_into_range(notes["pitch"].astype(np.int64), self.min_pitch, self.max_pitch)
        sounding: list[list[tuple[int, bool]]] = [[] for _ in range(int(ends.max(initial=0)))]
        for start, end, pitch in zip(starts.tolist(), ends.tolist(), pitches.tolist()):
            for step in range(start, end):
                sounding[step].append((pitch, step > start))
        events = []
        for notes_of_step in sounding:
            for pitch, continued in sorted(notes_of_step, key=lambda n: (-n[0], not n[1])):
                events.append(continued * self.pitch_count + pitch - self.min_pitch)
            events.append(self.step_end)
        return events

    def decode_music(self, events: list[int]) -> Piece:
        rows = []
        sounding: list[tuple[int, int]] = []  # (start step, pitch) of notes sounding into this step, earliest first
        started: list[tuple[int, int]] = []
        continued: list[int] = []
        step = 0
        for event in events + [self.step_end]:  # a final STEP_END completes an unfinished step
            if event < self.pitch_count:
                started.append((step, self.min_pitch + event))
            elif event < self.step_end:
                continued.append(self.min_pitch + event - self.pitch_count)
            else:
                ending = Counter(pitch for _, pitch in sounding) - Counter(continued)
                still = []
                for start, pitch in sounding:
                    if ending[pitch]:
                        ending[pitch] -= 1
                        rows.append((start, step, pitch))
                    else:
                        still.append((start, pitch))
                sounding, started, continued = still + started, [], []
                step += 1
        rows += [(start, step, pitch) for start, pitch in sounding]
        return self.notes_from_steps(rows)
