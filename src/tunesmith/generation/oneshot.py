"""The one-shot generator of a GANSynth: whole notes in one pass of the generator network, each
from a latent vector (its timbre) and a pitch, decoded from spectrograms to waveforms by the codec
(codecs/specgram.py) and written as audio files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith import runs
from tunesmith.errors import UserError, warn
from tunesmith.generation.latent import model_device
from tunesmith.generation.request import SampleRequest, Samples
from tunesmith.generation.strategies import make_generator
from tunesmith.media.audio import write_audio
from tunesmith.media.files import output_paths

PREVIEW_PITCHES = 5  # the trainer's preview: a sweep over this many pitches of the model's range


def notes(codec: Any, model: torch.nn.Module, pitches: list[int], seed: int | None,
          between: int = 0) -> np.ndarray:
    """Waveforms [len(pitches), samples] of notes at these MIDI pitches, each with its own latent
    vector drawn on the CPU from `seed` (the same notes on any device); with `between`, the notes
    instead move in that many steps along the sphere (slerp) from one drawn timbre to another."""
    from tunesmith.models.music_vae import slerp

    index = torch.tensor([codec.pitch_index(p) for p in pitches], device=model_device(model))
    draw = make_generator(torch.device("cpu"), seed)
    if between:
        ends = model.sample_z(2, draw)
        z = slerp(ends[0], ends[1], torch.linspace(0, 1, between))
    else:
        z = model.sample_z(len(pitches), draw)
    with torch.no_grad():
        return codec.decode_specgrams(model.generate(z.to(model_device(model)), index))


def refuse(request: SampleRequest) -> None:
    """The parts of a request that mean nothing to a one-shot note generator, each in one line."""
    options = request.options
    asked = [(request.beam, "beam search"), (request.sample_on_spaces, "sampling on word boundaries"),
             (options.primer, "a primer"), (options.style, "a style"), (request.bars, "bars"),
             (request.similar_to, "a file to vary"), (request.length.amount or request.length.seconds,
                                                       "a length (a note is as long as the model's notes)")]
    for value, what in asked:
        if value:
            raise UserError(f"{what} is not for a GANSynth run: ask for a pitch and a number of notes")


def sample(opened: Any, request: SampleRequest, echo: Any = None) -> Samples:
    """`num_outputs` notes at `request.pitch` (default: the middle of the model's range), each a
    different timbre, or with `request.interpolate` K, K notes moving from one timbre to another,
    written as audio files."""
    refuse(request)
    if request.num_outputs < 1 or request.interpolate < 0 or request.interpolate == 1:
        raise UserError("the number of notes must be 1 or more, an interpolation 2 steps or more")
    if request.interpolate and request.num_outputs > 1:
        raise UserError("an interpolation makes its own number of notes: give it without a number of outputs")
    codec = opened.codec
    pitch = request.pitch if request.pitch is not None else (codec.min_pitch + codec.max_pitch) // 2
    codec.pitch_index(pitch)  # a pitch outside the model's range is one clear line
    count = request.interpolate or request.num_outputs
    suffix = f".{request.options.format}" if request.options.format else ".wav"
    paths = output_paths(request.out, count, suffix)
    waves = notes(codec, opened.model, [pitch] * count, request.seed, request.interpolate)
    for wave, path in zip(waves, paths):
        write_audio(path, peak_normalized(wave), codec.sample_rate)
    return Samples(items=list(waves), paths=paths)


def peak_normalized(wave: np.ndarray, peak: float = 0.9) -> np.ndarray:
    loudest = float(np.abs(wave).max())
    return wave * (peak / loudest) if loudest > 0 else wave


def make_preview(domain: Any, codec: Any, run: Path, seed: int, hp: dict[str, Any]):
    """The trainer's sample at each checkpoint: one note at each of PREVIEW_PITCHES pitches across
    the model's range, one after the other, as samples/step-N.wav."""
    pitches = np.linspace(codec.min_pitch, codec.max_pitch, PREVIEW_PITCHES).round().astype(int).tolist()

    def preview(model: torch.nn.Module, step: int, writer) -> None:
        was_training = model.training
        model.eval()
        sweep = notes(codec, model, pitches, seed)
        model.train(was_training)
        (run / runs.SAMPLES).mkdir(exist_ok=True)
        write_audio(run / runs.SAMPLES / f"step-{step:08d}.wav", peak_normalized(np.concatenate(list(sweep))),
                    codec.sample_rate)

    return preview


class Instrument:
    """A GANSynth played as an instrument (`render --instrument RUN`): every MIDI note generated at
    its pitch (moved by octaves into the model's range, with a warning) with one timbre, the latent
    vector of `timbre_seed`, or a timbre moving over the song along the sphere from the vector of one
    seed to another's (`timbre_path`); shaped like a sampler's notes (media.sampler.shaped)."""

    BATCH = 64

    def __init__(self, opened: Any, timbre_seed: int = 0, timbre_path: tuple[int, int] | None = None):
        self.codec, self.model = opened.codec, opened.model
        self.rate = self.codec.sample_rate
        seeds = timbre_path or (timbre_seed, timbre_seed)
        self.ends = [self.model.sample_z(1, make_generator(torch.device("cpu"), seed))[0] for seed in seeds]

    def in_range(self, pitch: int) -> int:
        while pitch < self.codec.min_pitch:
            pitch += 12
        while pitch > self.codec.max_pitch:
            pitch -= 12
        return pitch

    def play(self, notes_: list[tuple[float, float, int, int]]) -> list[np.ndarray]:
        from tunesmith.media.sampler import shaped
        from tunesmith.models.music_vae import slerp

        pitches = [self.in_range(pitch) for _, _, pitch, _ in notes_]
        moved = sum(p != n[2] for p, n in zip(pitches, notes_))
        if moved:
            warn(f"{moved} notes outside the instrument's pitches {self.codec.min_pitch}-{self.codec.max_pitch} "
                 "were moved by octaves into them")
        length = max(end for _, end, _, _ in notes_)
        where = torch.tensor([start / length for start, _, _, _ in notes_])
        z = slerp(self.ends[0], self.ends[1], where)  # [notes, z_size]
        device = model_device(self.model)
        sounds = []
        with torch.no_grad():
            for first in range(0, len(notes_), self.BATCH):
                index = torch.tensor([self.codec.pitch_index(p) for p in pitches[first: first + self.BATCH]],
                                     device=device)
                sounds += list(self.codec.decode_specgrams(
                    self.model.generate(z[first: first + self.BATCH].to(device), index)))
        return [shaped(peak_normalized(sound), end - start, velocity, self.rate)
                for sound, (start, end, _, velocity) in zip(sounds, notes_)]


CENTS = 50  # a note is at its pitch when its median f0 is this close


def assess(opened: Any, count: int, seed: int) -> dict[str, Any]:
    """What `eval` reports of `count` generated notes, their pitches spread over the model's range:
    the share whose median f0 (librosa's pyin over the voiced frames, no downloaded weights) lies
    within CENTS of the pitch asked for, the share of frames voiced, and the median error in cents."""
    import librosa

    codec = opened.codec
    pitches = np.linspace(codec.min_pitch, codec.max_pitch, count).round().astype(int).tolist()
    waves = notes(codec, opened.model, pitches, seed)
    hits, voiced_share, errors = 0, [], []
    for wave, pitch in zip(waves, pitches):
        # an octave either side (pyin's transitions need that many bins), frames of about 128 ms
        frame = min(1 << int(np.log2(len(wave))), 1 << round(np.log2(0.128 * codec.sample_rate)))
        f0, voiced, _ = librosa.pyin(wave, fmin=librosa.midi_to_hz(max(pitch - 12, 12)),
                                     fmax=min(librosa.midi_to_hz(pitch + 12), codec.sample_rate / 2 - 1),
                                     sr=codec.sample_rate, frame_length=frame, n_thresholds=50)
        voiced_share.append(float(voiced.mean()) if len(voiced) else 0.0)
        if voiced.any():
            cents = 1200 * np.log2(np.nanmedian(f0[voiced]) / librosa.midi_to_hz(pitch))
            errors.append(abs(float(cents)))
            hits += abs(cents) <= CENTS
    return {"notes": count, "pitch_accuracy": hits / count, "voiced_frames": float(np.mean(voiced_share)),
            "median_cents_off": float(np.median(errors)) if errors else None}


class OneShot:
    """The generator of GANSynth: `sample` (notes at a pitch), `preview` and `assess` (eval)."""

    sample = staticmethod(sample)
    preview = staticmethod(make_preview)
    assess = staticmethod(assess)


ONE_SHOT = OneShot()
