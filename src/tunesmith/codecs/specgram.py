"""The codec of the `gansynth` recipe's notes: a note of a fixed length as
a [2, frames, bins] spectrogram (media.spectral: log magnitude and instantaneous frequency, on mel
bands by default) with its pitch as a class index, and back to a waveform. The log magnitude is
scaled into about [-1, 1] with the corpus's own centre and spread (GANSynth normalizes its inputs
likewise); the instantaneous frequency is already in [-1, 1]."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from tunesmith.codecs.base import Codec
from tunesmith.errors import UserError
from tunesmith.media.spectral import Specgrams

FIT_NOTES = 256  # notes the magnitude scaling is measured on (spread evenly over the corpus)


@dataclass
class SpecgramCodec(Codec):
    name = "specgram"
    unit = "note"

    sample_rate: int = 8000
    samples: int = 8000  # the length of every note
    bins: int = 128
    mel: bool = True
    min_pitch: int = 24
    max_pitch: int = 84
    centre: float = 0.0  # log magnitude = centre + spread * the model's channel 0
    spread: float = 1.0

    @classmethod
    def fit(cls, items: list[Any], sample_rate: int = 8000, seconds: float = 1.0, bins: int = 128,
            mel: bool = True, min_pitch: int = 0, max_pitch: int = 127) -> SpecgramCodec:
        """The codec of notes (corpus.notes.Note, read at sample_rate and cut to `seconds`): their
        pitch range within min_pitch-max_pitch, and the log magnitude's midpoint and half-range (1st
        to 99th percentile) over those notes."""
        items = [note for note in items if min_pitch <= note.pitch <= max_pitch]
        if not items:
            raise UserError(f"no notes with pitches {min_pitch}-{max_pitch} to fit the spectrogram codec on; "
                            "give notes in that range or change the settings min_pitch and max_pitch")
        pitches = [note.pitch for note in items]
        codec = cls(sample_rate, round(seconds * sample_rate), bins, mel, min(pitches), max(pitches))
        chosen = [items[i] for i in np.linspace(0, len(items) - 1, min(FIT_NOTES, len(items))).astype(int)]
        log_magnitude = codec.helper.from_waves(codec.waves(chosen))[:, 0].flatten().numpy()
        low, high = np.percentile(log_magnitude, [1, 99])
        codec.centre, codec.spread = float((low + high) / 2), float(max((high - low) / 2, 1e-3))
        return codec

    @property
    def helper(self) -> Specgrams:
        return Specgrams(self.samples, self.bins, self.sample_rate, self.mel)

    @property
    def frames(self) -> int:
        return self.helper.frames

    @property
    def pitches(self) -> int:
        return self.max_pitch - self.min_pitch + 1

    @property
    def vocab_size(self) -> int:
        return self.pitches  # the classes the model conditions on

    def waves(self, notes: list[Any]) -> torch.Tensor:
        """[N, samples]: each note's samples cut or padded to the codec's length."""
        out = torch.zeros(len(notes), self.samples)
        for row, note in enumerate(notes):
            samples = torch.as_tensor(np.asarray(note.samples, dtype=np.float32)[: self.samples])
            out[row, : len(samples)] = samples
        return out

    def pitch_index(self, pitch: int) -> int:
        if not self.min_pitch <= pitch <= self.max_pitch:
            raise UserError(f"pitch {pitch} is outside the pitches this model knows, {self.min_pitch}-{self.max_pitch}")
        return pitch - self.min_pitch

    def pitch_templates(self) -> torch.Tensor:
        """[pitches, 2, bins]: per pitch of the range, the two channels (scaled like encode_notes')
        of a steady harmonic tone at it (every harmonic under 90% of Nyquist at amplitude 1/k; the
        log magnitude clamped to [-1, 1], the span of the corpus's 1st to 99th percentiles),
        averaged over its middle frames: where that pitch's harmonics lie and what instantaneous
        frequency they carry (the GANSynth generator's conditioning, models/gansynth.py)."""
        t = np.arange(self.samples) / self.sample_rate
        waves = []
        for pitch in range(self.min_pitch, self.max_pitch + 1):
            f0 = 440.0 * 2 ** ((pitch - 69) / 12)
            ks = np.arange(1, max(1, int(0.45 * self.sample_rate / f0)) + 1)
            waves.append((np.sin(2 * np.pi * f0 * np.outer(ks, t)) / ks[:, None]).sum(0) * 0.3 / np.log(len(ks) + 1))
        specgrams = self.helper.from_waves(torch.tensor(np.stack(waves), dtype=torch.float32))
        specgrams[:, 0] = ((specgrams[:, 0] - self.centre) / self.spread).clamp(-1.0, 1.0)  # the notes' range
        frames = specgrams.shape[2]
        return specgrams[:, :, frames // 4: 3 * frames // 4].mean(2)

    def usable(self, item: Any) -> bool:
        return self.min_pitch <= item.pitch <= self.max_pitch

    def encode_notes(self, notes: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(the notes' spectrograms [N, 2, frames, bins], scaled; their pitch indices [N]) of the
        notes in the codec's pitch range (the others are left out)."""
        kept = [note for note in notes if self.usable(note)]
        if not kept:
            return torch.zeros(0, 2, self.frames, self.bins), torch.zeros(0, dtype=torch.long)
        specgrams = self.helper.from_waves(self.waves(kept))
        specgrams[:, 0] = (specgrams[:, 0] - self.centre) / self.spread
        return specgrams, torch.tensor([self.pitch_index(note.pitch) for note in kept], dtype=torch.long)

    def decode_specgrams(self, specgrams: torch.Tensor) -> np.ndarray:
        """Waveforms [N, samples] (float32) of scaled spectrograms [N, 2, frames, bins]."""
        unscaled = specgrams.detach().float().cpu().clone()
        unscaled[:, 0] = unscaled[:, 0] * self.spread + self.centre
        return self.helper.to_waves(unscaled).numpy().astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpecgramCodec:
        return cls(**data)
