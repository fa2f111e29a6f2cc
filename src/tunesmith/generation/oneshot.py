"""The one-shot generator of a GANSynth: whole notes in one pass of the generator network, each
from a latent vector (its timbre) and a pitch, decoded from spectrograms to waveforms by the codec
(codecs/specgram.py) and written as audio files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith import runs
from tunesmith.audio_stats import NDB_BINS, PITCH_CENTS, cents_off, f0_track, log_mel_features, ndb
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


NDB_NOTES = 500  # at most this many held-out notes (and as many generated) in the NDB, twice as many training ones


def assess(opened: Any, count: int, seed: int, held_out: list[Any], training: list[Any]) -> dict[str, Any]:
    """What `eval` reports of generated notes: of `count` notes, their pitches spread over the
    model's range, the share whose median f0 (pitch_accuracy) lies within PITCH_CENTS of the pitch
    asked for, the share of frames voiced and the median
    error in cents, and the same share of as many held-out notes (the measure's ceiling); then the NDB (audio_stats.ndb, k = 50 on log-mel features) of as many generated
    notes as held-out ones, at the held-out notes' pitches, against the training notes, next to
    the held-out notes' own NDB (what a perfect generator would score), and the generation speed."""
    codec = opened.codec
    pitches = np.linspace(codec.min_pitch, codec.max_pitch, count).round().astype(int).tolist()
    result = {"notes": count, **pitch_accuracy(notes(codec, opened.model, pitches, seed), pitches, codec.sample_rate)}
    held_out = [note for note in held_out if codec.usable(note)][:NDB_NOTES]
    if held_out:  # the measure's own ceiling: the held-out notes measured alike
        real = [held_out[i] for i in np.linspace(0, len(held_out) - 1, min(count, len(held_out))).astype(int)]
        result["pitch_accuracy_held_out"] = pitch_accuracy(codec.waves(real).numpy(), [note.pitch for note in real],
                                                           codec.sample_rate)["pitch_accuracy"]
        result["held_out_notes"] = len(real)
        started = time.perf_counter()
        generated = notes(codec, opened.model, [note.pitch for note in held_out], seed + 1)
        seconds = time.perf_counter() - started
        training = [note for note in training if codec.usable(note)]
        training = [training[i] for i in np.linspace(0, len(training) - 1, min(NDB_NOTES * 2, len(training))).astype(int)]
        features = log_mel_features(codec.waves(training).numpy(), codec.sample_rate)
        result["ndb"] = ndb(features, log_mel_features(generated, codec.sample_rate), seed=seed)["different"]
        result["ndb_held_out"] = ndb(features, log_mel_features(codec.waves(held_out).numpy(), codec.sample_rate),
                                     seed=seed)["different"]
        result["ndb_bins"], result["ndb_notes"] = NDB_BINS, len(held_out)
        result["notes_per_second"] = len(generated) / seconds
        result["times_real_time"] = len(generated) * codec.samples / codec.sample_rate / seconds
    return result


def pitch_accuracy(waves: np.ndarray, pitches: list[int], sample_rate: int) -> dict[str, Any]:
    """The share of notes whose median f0 over their voiced frames (audio_stats.f0_track: pyin)
    lies within PITCH_CENTS of their pitch, the mean share of frames voiced, and the median error
    in cents."""
    hits, voiced_share, errors = 0, [], []
    for wave, pitch in zip(waves, pitches):
        f0, voiced = f0_track(wave, pitch, sample_rate)
        voiced_share.append(float(voiced.mean()) if len(voiced) else 0.0)
        if voiced.any():
            cents = float(cents_off(np.nanmedian(f0[voiced]), pitch))
            errors.append(abs(cents))
            hits += abs(cents) <= PITCH_CENTS
    return {"pitch_accuracy": hits / len(pitches), "voiced_frames": float(np.mean(voiced_share)),
            "median_cents_off": float(np.median(errors)) if errors else None}


def format_assessment(generated: dict[str, Any]) -> str:
    """`assess`'s figures as lines for `tunesmith eval`."""
    cents = generated["median_cents_off"]
    lines = [f"{generated['notes']} generated notes across the pitch range (pyin):",
             f"{'at their pitch (50 c)':<22} {generated['pitch_accuracy']:.3f}",
             f"{'voiced frames':<22} {generated['voiced_frames']:.3f}",
             f"{'median cents off':<22} {'-' if cents is None else f'{cents:.1f}'}"]
    if "pitch_accuracy_held_out" in generated:
        lines.append(f"{'held-out notes alike':<22} {generated['pitch_accuracy_held_out']:.3f} "
                     f"(of {generated['held_out_notes']}: the measure's ceiling)")
    if generated.get("ndb") is not None:
        lines += ["", f"NDB (k = {generated['ndb_bins']}, log-mel) against training notes, of {generated['ndb_notes']} notes:",
                  f"{'generated':<22} {generated['ndb']}", f"{'held-out (the floor)':<22} {generated['ndb_held_out']}"]
    if "notes_per_second" in generated:
        lines.append(f"generation: {generated['notes_per_second']:.0f} notes/s, {generated['times_real_time']:.0f}x real time")
    return "\n".join(lines)


class OneShot:
    """The generator of GANSynth: `sample` (notes at a pitch), `preview` and `assess` (eval)."""

    sample = staticmethod(sample)
    preview = staticmethod(make_preview)
    assess = staticmethod(assess)
    format_assessment = staticmethod(format_assessment)
    instrument = Instrument  # render --instrument RUN


ONE_SHOT = OneShot()
