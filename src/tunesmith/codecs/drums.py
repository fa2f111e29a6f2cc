"""The drums codec (Magenta's DrumsRNN): one token per 16th-note step, the set of drum classes struck
on it as a 9-bit number (512 tokens); every General MIDI drum sound belongs to one of 9 classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunesmith.codecs.events import GridCodec
from tunesmith.notes import Piece, drum_track, quantize

# Magenta's DEFAULT_DRUM_TYPE_PITCHES (note-seq): the drum sounds of each class; the first is the
# one a class decodes to.
DRUM_CLASSES = {
    "kick": (36, 35),
    "snare": (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
    "closed hi-hat": (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),
    "open hi-hat": (46, 67, 72, 74, 79, 81, 26),
    "low tom": (45, 29, 41, 43, 61, 64, 84),
    "mid tom": (48, 47, 60, 63, 77, 86, 87),
    "high tom": (50, 30, 62, 76, 83),
    "crash": (49, 52, 55, 57, 58),
    "ride": (51, 53, 59, 82),
}
CLASS_OF_PITCH = {pitch: i for i, pitches in enumerate(DRUM_CLASSES.values()) for pitch in pitches}
CLASS_PITCHES = [pitches[0] for pitches in DRUM_CLASSES.values()]


@dataclass
class DrumsCodec(GridCodec):
    """Encoding takes the drum notes (`is_drum`) whose pitch has a class and rounds their onsets to
    the grid; the piece ends with the step of its last onset. Decoded notes are one step long, at
    the first pitch of their class, velocity 100."""

    name = "drums"

    @property
    def event_count(self) -> int:
        return 2 ** len(DRUM_CLASSES)

    def unknown(self, piece: Piece) -> list[str]:
        pitches = sorted({int(p) for p in piece.notes["pitch"][piece.notes["is_drum"]]} - set(CLASS_OF_PITCH))
        return super().unknown(piece) + [f"drum pitch {p}" for p in pitches]

    def encode_events(self, piece: Piece) -> list[int]:
        drums = quantize(drum_track(piece), self.steps_per_quarter).notes
        drums = drums[np.isin(drums["pitch"], list(CLASS_OF_PITCH))]
        if not len(drums):
            return []
        starts = self.step_numbers(drums["start"])
        events = [0] * (int(starts.max()) + 1)
        for step, pitch in zip(starts.tolist(), drums["pitch"].tolist()):
            events[step] |= 1 << CLASS_OF_PITCH[pitch]
        return events

    def decode_events(self, events: list[int]) -> Piece:
        rows = [(step, step + 1, pitch) for step, event in enumerate(events)
                for drum_class, pitch in enumerate(CLASS_PITCHES) if event >> drum_class & 1]
        return self.notes_from_steps(rows, is_drum=True)
