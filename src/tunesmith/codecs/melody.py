"""The melody codec (Magenta's MelodyRNN): the top line of a piece on a 16th-note grid, one event per
step: NO_EVENT (hold or rest), NOTE_OFF, or NOTE_ON of a pitch in min_pitch..max_pitch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunesmith.codecs.events import PitchedGridCodec, fold_into_range
from tunesmith.notes import Piece, quantize, skyline

NO_EVENT, NOTE_OFF, FIRST_NOTE_ON = 0, 1, 2


@dataclass
class MelodyCodec(PitchedGridCodec):
    """Encoding rounds the notes to the grid, takes their skyline (`notes.skyline`: the highest
    non-drum note at each onset, cut short where the next begins) and moves pitches out of range
    by octaves into it. `fit` takes the range from the corpus's melodies; constructed without
    one, it is Magenta's. Decoded notes have velocity 100 and program 0."""

    name = "melody"
    min_pitch: int = 48  # Magenta's melody range: C3..B5
    max_pitch: int = 83

    @classmethod
    def range_notes(cls, piece: Piece) -> np.ndarray:
        return skyline(piece).notes

    @property
    def music_event_count(self) -> int:
        return FIRST_NOTE_ON + self.max_pitch - self.min_pitch + 1

    def encode_music(self, piece: Piece) -> list[int]:
        melody = skyline(quantize(piece, self.steps_per_quarter)).notes
        starts, ends = self.step_numbers(melody["start"]), self.step_numbers(melody["end"])
        pitches = fold_into_range(melody["pitch"].astype(np.int64), self.min_pitch, self.max_pitch)
        events: list[int] = []
        for start, end, pitch in zip(starts.tolist(), ends.tolist(), pitches.tolist()):
            del events[start:]  # a NOTE_OFF where this note begins
            events += [NO_EVENT] * (start - len(events))
            events += [FIRST_NOTE_ON + pitch - self.min_pitch] + [NO_EVENT] * (end - start - 1) + [NOTE_OFF]
        return events

    def decode_music(self, events: list[int]) -> Piece:
        rows, sounding = [], None  # sounding: (start step, pitch) of the note being held
        for step, event in enumerate(events):
            if event != NO_EVENT and sounding:
                rows.append((sounding[0], step, sounding[1]))
                sounding = None
            if event >= FIRST_NOTE_ON:
                sounding = (step, self.min_pitch + event - FIRST_NOTE_ON)
        if sounding:
            rows.append((sounding[0], len(events), sounding[1]))
        return self.notes_from_steps(rows)

