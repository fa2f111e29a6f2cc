"""The generator of an NSynth autoencoder (models/nsynth.py): sounds to codes (`encode_files`),
codes to sounds (`synthesize_files`: the WaveNet decoder's fast stepper, all outputs in one
batch) and the blend of two sounds (`mix_files`: both encoded, the codes averaged, synthesized);
the trainer's preview, `assess` (eval: reconstructions of held-out notes against Griffin-Lim,
their pitch, and whether a mix's brightness lies between its sources') and `synthesis_speed`.

A code is a float32 array [frames, code_size] in a .npy file: one row of `code_size` numbers
(16) per frame of `hop` samples (32 ms)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith import runs
from tunesmith.audio_stats import PITCH_CENTS, cents_off, f0_track, spectral_centroid
from tunesmith.errors import UserError, info, warn
from tunesmith.generation.latent import model_device
from tunesmith.generation.request import SampleRequest, Samples
from tunesmith.generation.strategies import draw, make_generator
from tunesmith.media.audio import decode_audio, resample, to_mono, write_audio
from tunesmith.media.files import free_path, output_paths, write_atomic
from tunesmith.progress import Bar

PREVIEW_PITCH = 60  # the trainer's preview: a decaying sawtooth at middle C, reconstructed
MR_STFT_SIZES = (1024, 512, 256, 128, 64)  # FFT sizes of the multi-resolution STFT distance
GRIFFIN_LIM_FFT, GRIFFIN_LIM_ITERATIONS = 512, 32  # the spectral baseline (librosa's default iterations)


# -- sounds and codes -----------------------------------------------------------------------------

def read_sound(path: str | Path, sample_rate: int, hop: int) -> np.ndarray:
    """A sound file as float32 mono at the model's rate (the one audio reader), with a line saying
    when it was downmixed or resampled; a UserError when it is shorter than one code frame."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"no such sound file: {path}")
    samples, rate = decode_audio(path)
    if samples.ndim == 2 and samples.shape[1] > 1:
        info(f"{path.name}: {samples.shape[1]} channels, mixed down to mono")
    wave = to_mono(samples)
    if rate != sample_rate:
        info(f"{path.name}: resampled from {rate} Hz to the model's {sample_rate} Hz")
        wave = resample(wave, rate, sample_rate)
    if len(wave) < hop:
        raise UserError(f"{path.name} is {len(wave) / sample_rate * 1000:.0f} ms long, shorter than one code frame "
                        f"({hop / sample_rate * 1000:.0f} ms); give a longer sound")
    return wave


def encode_waves(codec: Any, model: torch.nn.Module, waves: list[np.ndarray]) -> list[np.ndarray]:
    """The code [frames, code_size] of each wave (float mono at the model's rate), padded with
    silence to whole frames."""
    codes = []
    with torch.no_grad():
        for wave in waves:
            padded = np.pad(wave, (0, model.frames(len(wave)) * model.hop - len(wave)))
            levels = torch.from_numpy(codec.encode_array(padded))[None].to(model_device(model))
            codes.append(model.encode(levels)[0].T.float().cpu().numpy())
    return codes


def synthesize(codec: Any, model: torch.nn.Module, codes: list[np.ndarray], seed: int | None,
               temperature: float = 1.0, show: bool = True) -> list[np.ndarray]:
    """Waveforms of codes [frames, code_size] (any frame counts), all in one batch through the
    decoder's fast stepper: each sample drawn from the decoder's distribution (at `temperature`)
    given the samples before it and its frame's code; each wave frames * hop samples. A progress
    bar in samples (per output) unless `show` is off. With the stepper's numpy backend (a model
    on the CPU) the draw is numpy's too: a torch op on a tiny tensor may wait milliseconds for a
    thread of its pool when other processes hold the cores, which at 8,000 draws a second is most
    of the time."""
    frames = max(len(code) for code in codes)
    stacked = np.zeros((len(codes), frames, model.code_size), dtype=np.float32)
    for row, code in enumerate(codes):
        stacked[row, :len(code)] = code
    device, hop, batch = model_device(model), model.hop, len(codes)
    local = torch.from_numpy(stacked).transpose(1, 2).contiguous().to(device)  # [batch, code_size, frames]
    stepper = model.stepper(batch)
    on_numpy = stepper.backend == "numpy"
    generator = np.random.default_rng(seed) if on_numpy else make_generator(device, seed)
    token = torch.full((batch, 1), model.silence, dtype=torch.long, device=device)
    levels = np.empty((batch, frames * hop), dtype=np.int64) if on_numpy \
        else torch.empty(batch, frames * hop, dtype=torch.long, device=device)
    with torch.no_grad(), Bar("synthesizing", frames * hop, "sample", silent=not show) as bar:
        for frame in range(frames):
            condition = local[:, :, frame:frame + 1]
            for t in range(frame * hop, (frame + 1) * hop):
                logits = model.level_logits(stepper.feed(token, condition))
                if on_numpy:
                    drawn = draw_numpy(logits.numpy(), temperature, generator)
                    levels[:, t] = drawn
                    token = torch.from_numpy(drawn[:, None])
                else:
                    token = draw((logits.float() / temperature).softmax(-1), generator)[:, None]
                    levels[:, t] = token[:, 0]
            bar.update(hop)
    waves = codec.decode_array(levels if on_numpy else levels.cpu().numpy())
    return [wave[:len(code) * hop] for wave, code in zip(waves, codes)]


def draw_numpy(logits: np.ndarray, temperature: float, generator: np.random.Generator) -> np.ndarray:
    """One level per row of logits [batch, levels], as strategies.draw does it (one uniform number
    per row against the cumulative distribution), in numpy."""
    scaled = logits / temperature
    weights = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    cdf = np.cumsum(weights, axis=1)
    threshold = generator.random(len(cdf)) * cdf[:, -1]
    return np.minimum((cdf <= threshold[:, None]).sum(axis=1), cdf.shape[1] - 1)


def load_code(path: str | Path, code_size: int, hop: int, sample_rate: int) -> np.ndarray:
    """A code file written by encode: float32 [frames, code_size]; a UserError for anything else."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"no such code file: {path}")
    try:
        code = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        raise UserError(f"{path.name} is not a code (.npy) file written by encode") from None
    ms = hop / sample_rate * 1000
    if code.ndim != 2 or code.shape[1] != code_size or code.shape[0] < 1 or code.dtype.kind not in "fiu":
        raise UserError(f"{path.name} holds an array of shape {code.shape}; this run's codes are [frames, "
                        f"{code_size}] ({code_size} numbers every {ms:g} ms): encode a sound with this run")
    if not np.isfinite(code).all():
        raise UserError(f"{path.name} holds values that are not finite numbers")
    return code.astype(np.float32)


def write_code(path: Path, code: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, code.astype(np.float32), allow_pickle=False)
    path = free_path(path)  # chosen again now: a file may have appeared meanwhile
    write_atomic(path, buffer.getvalue())
    info(f"wrote {path}")
    return path


def write_sounds(paths: list[Path], waves: list[np.ndarray], sample_rate: int) -> list[Path]:
    written = []
    for path, wave in zip(paths, waves):
        written.append(free_path(path))
        write_audio(written[-1], np.clip(wave, -1.0, 1.0), sample_rate)
        info(f"wrote {written[-1]}")
    return written


# -- what the verbs do (api.encode, api.synthesize, api.mix) ---------------------------------------

def encode_files(opened: Any, sounds: list[str | Path], out: str | Path | None = None) -> list[Path]:
    """Each sound's code as a .npy file (code.npy, or code-1.npy ... for several; `out` a file or
    a folder, as media.files.output_paths says); never over an existing file."""
    if not sounds:
        raise UserError("give one or more sound files to encode")
    codec, model = opened.codec, opened.model
    waves = [read_sound(sound, codec.sample_rate, model.hop) for sound in sounds]
    codes = encode_waves(codec, model, waves)
    paths = output_paths(out, len(codes), ".npy", "code")
    return [write_code(path, code) for path, code in zip(paths, codes)]


def synthesize_files(opened: Any, codes: list[str | Path], out: str | Path | None = None,
                     seed: int | None = None) -> list[Path]:
    """Each code file as a sound (synth.wav, or synth-1.wav ...), all generated in one batch."""
    if not codes:
        raise UserError("give one or more code files (.npy, written by encode) to synthesize")
    codec, model = opened.codec, opened.model
    loaded = [load_code(code, model.code_size, model.hop, codec.sample_rate) for code in codes]
    paths = output_paths(out, len(loaded), ".wav", "synth")
    return write_sounds(paths, synthesize(codec, model, loaded, seed), codec.sample_rate)


def mix_files(opened: Any, first: str | Path, second: str | Path, weights: list[float] | None = None,
              out: str | Path | None = None, seed: int | None = None) -> list[Path]:
    """The blend of two sounds for each weight (B's share of the code: 0 is A, 0.5 halfway, 1 is
    B): both encoded, their codes averaged with the weight, all blends synthesized in one batch
    (mix.wav, or mix-1.wav ...). Sounds of different lengths: the shorter is padded with silence."""
    weights = [0.5] if not weights else list(weights)
    if not all(0.0 <= weight <= 1.0 for weight in weights):
        raise UserError(f"mix weights {', '.join(f'{w:g}' for w in weights)}: give B's share from 0 (A) to 1 (B)")
    codec, model = opened.codec, opened.model
    a, b = (read_sound(sound, codec.sample_rate, model.hop) for sound in (first, second))
    if len(a) != len(b):
        shorter, longer = (Path(first), Path(second)) if len(a) < len(b) else (Path(second), Path(first))
        warn(f"{shorter.name} is {abs(len(a) - len(b)) / codec.sample_rate:.2f} s shorter than {longer.name}: "
             "padded with silence to its length")
        length = max(len(a), len(b))
        a, b = np.pad(a, (0, length - len(a))), np.pad(b, (0, length - len(b)))
    code_a, code_b = encode_waves(codec, model, [a, b])
    blends = [(1.0 - weight) * code_a + weight * code_b for weight in weights]
    paths = output_paths(out, len(blends), ".wav", "mix")
    waves = [wave[:len(a)] for wave in synthesize(codec, model, blends, seed)]
    return write_sounds(paths, waves, codec.sample_rate)


# -- the generator seam ----------------------------------------------------------------------------

def sample(opened: Any, request: SampleRequest, echo: Any = None) -> Samples:
    raise UserError(f"{opened.run.name} is an NSynth run: it remakes sounds rather than sampling new ones; "
                    "encode a sound, synthesize a code, or mix two sounds")


def tone(pitch: int, samples: int, sample_rate: int) -> np.ndarray:
    """A decaying sawtooth at a MIDI pitch: a bright test note."""
    t = np.arange(samples) / sample_rate
    phase = (440.0 * 2 ** ((pitch - 69) / 12) * t) % 1.0
    return (0.5 * (2 * phase - 1) * np.exp(-3 * t)).astype(np.float32)


def make_preview(domain: Any, codec: Any, run: Path, seed: int, hp: dict[str, Any]):
    """At each checkpoint: a sawtooth at middle C reconstructed (encoded, then synthesized), as
    samples/step-N.wav."""
    def preview(model: torch.nn.Module, step: int, writer) -> None:
        was_training = model.training
        model.eval()
        wave = tone(PREVIEW_PITCH, round(hp["seconds"] * codec.sample_rate), codec.sample_rate)
        made = synthesize(codec, model, encode_waves(codec, model, [wave]), seed, show=False)[0]
        model.train(was_training)
        (run / runs.SAMPLES).mkdir(exist_ok=True)
        write_audio(run / runs.SAMPLES / f"step-{step:08d}.wav", np.clip(made, -1.0, 1.0), codec.sample_rate)

    return preview


# -- eval ------------------------------------------------------------------------------------------

def mr_stft_distance(made: np.ndarray, reference: np.ndarray, sizes: tuple[int, ...] = MR_STFT_SIZES) -> float:
    """The multi-resolution STFT distance (Yamamoto et al. 2020, as DDSP's loss): over FFT sizes
    (Hann windows, hop a quarter), the mean of the spectral convergence |S - R|_F / |R|_F and the
    mean absolute difference of log magnitudes. 0 for the same sound; phase does not count."""
    made_t, reference_t = (torch.from_numpy(np.asarray(x, dtype=np.float32)) for x in (made, reference))
    total = 0.0
    for size in sizes:
        window = torch.hann_window(size)
        spectra = [torch.stft(x, size, size // 4, window=window, return_complex=True).abs() for x in (made_t, reference_t)]
        s, r = spectra
        convergence = torch.linalg.norm(s - r) / torch.linalg.norm(r).clamp(min=1e-7)
        log_distance = (torch.log(s.clamp(min=1e-7)) - torch.log(r.clamp(min=1e-7))).abs().mean()
        total += float(convergence + log_distance)
    return total / len(sizes)


def griffin_lim(wave: np.ndarray, seed: int) -> np.ndarray:
    """The spectral baseline: the wave's magnitude spectrogram turned back into a wave by
    Griffin-Lim (librosa; phases from random, GRIFFIN_LIM_ITERATIONS iterations)."""
    import librosa

    hop = GRIFFIN_LIM_FFT // 4
    magnitude = np.abs(librosa.stft(wave, n_fft=GRIFFIN_LIM_FFT, hop_length=hop))
    return librosa.griffinlim(magnitude, n_iter=GRIFFIN_LIM_ITERATIONS, hop_length=hop, n_fft=GRIFFIN_LIM_FFT,
                              length=len(wave), random_state=seed).astype(np.float32)


def pitch_frames(wave: np.ndarray, pitch: int, sample_rate: int) -> tuple[int, int]:
    """(voiced frames, voiced frames within PITCH_CENTS of the MIDI pitch) by audio_stats.f0_track
    (pyin); a reconstruction an octave off reads as unvoiced or off pitch."""
    f0, voiced = f0_track(wave, pitch, sample_rate)
    return int(voiced.sum()), int((np.abs(cents_off(f0[voiced], pitch)) <= PITCH_CENTS).sum())


def note_pairs(notes: list[Any], pairs: int, seed: int, low: int = 36, high: int = 96) -> list[tuple[Any, Any]]:
    """Up to `pairs` pairs of notes at the same pitch (in low..high) played by different
    instruments, from different families where possible, chosen at random by the seed."""
    rng = np.random.default_rng(seed)
    by_pitch: dict[int, list[Any]] = {}
    for note in notes:
        if low <= note.pitch <= high and np.abs(note.samples).max() > 1e-3:
            by_pitch.setdefault(note.pitch, []).append(note)
    candidates = []
    for group in by_pitch.values():
        for i, first in enumerate(group):
            for second in group[i + 1:]:
                if first.instrument != second.instrument:
                    candidates.append((first.family == second.family, first, second))
    order = rng.permutation(len(candidates))
    chosen, used = [], set()
    for same_family in (False, True):  # pairs of different families first
        for index in order:
            alike, first, second = candidates[index]
            if alike == same_family and id(first) not in used and id(second) not in used and len(chosen) < pairs:
                chosen.append((first, second))
                used |= {id(first), id(second)}
    return chosen


def assess(opened: Any, count: int, seed: int, held_out: list[Any], training: list[Any]) -> dict[str, Any]:
    """What `eval` reports of an NSynth run: `count` held-out notes (pairs at the same pitch played
    by different instruments, from the held-out notes, else from all of them), cut to the
    setting eval_seconds, reconstructed (encoded, then synthesized), and the mix of each pair
    (their codes averaged), all in one batch. Reported: the multi-resolution STFT distance of the
    reconstructions to the notes beside that of Griffin-Lim from the notes' magnitude
    spectrograms; the share of the reconstructions' voiced frames (pyin) within PITCH_CENTS of the
    note's pitch, beside the same share of the notes themselves; whether each mix's spectral
    centroid lies between its two notes' (and between their reconstructions'); and the decoder's
    speed in samples per second."""

    config, codec, model = opened.config, opened.codec, opened.model
    hp = config["hparams"]
    wanted = max(1, count // 2)
    pairs, source = note_pairs(held_out, wanted, seed), "held out"
    if len(pairs) < wanted:
        pairs, source = note_pairs(held_out + training, wanted, seed), "held out and training"
    if not pairs:
        raise UserError(f"{config['data']}: no two notes at the same pitch by different instruments to assess")
    length = min(len(pairs[0][0].samples), max(model.hop, round(hp["eval_seconds"] * codec.sample_rate)))
    notes = [note for pair in pairs for note in pair]
    waves = [note.samples[:length].astype(np.float32) for note in notes]
    codes = encode_waves(codec, model, waves)
    mixes = [(codes[2 * i] + codes[2 * i + 1]) / 2 for i in range(len(pairs))]
    began = time.perf_counter()
    made = [wave[:length] for wave in synthesize(codec, model, codes + mixes, seed)]
    seconds = time.perf_counter() - began
    rate = codec.sample_rate
    reconstructions, blends = made[:len(notes)], made[len(notes):]
    ours = [mr_stft_distance(r, w) for r, w in zip(reconstructions, waves)]
    baseline = [mr_stft_distance(griffin_lim(w, seed), w) for w in waves]
    voiced = near = voiced_original = near_original = 0
    for note, reconstruction, wave in zip(notes, reconstructions, waves):
        v, n = pitch_frames(reconstruction, note.pitch, rate)
        voiced, near = voiced + v, near + n
        v, n = pitch_frames(wave, note.pitch, rate)
        voiced_original, near_original = voiced_original + v, near_original + n
    between = between_made = 0
    for i, blend in enumerate(blends):
        centroid = spectral_centroid(blend, rate)
        sources = [spectral_centroid(waves[2 * i + k], rate) for k in (0, 1)]
        remade = [spectral_centroid(reconstructions[2 * i + k], rate) for k in (0, 1)]
        between += min(sources) <= centroid <= max(sources)
        between_made += min(remade) <= centroid <= max(remade)
    frames = sum(len(w) for w in waves) / len(waves) / rate
    return {"kind": "reconstruction", "notes": len(notes), "from": source, "seconds": frames,
            "mr_stft": float(np.mean(ours)), "mr_stft_griffin_lim": float(np.mean(baseline)),
            "beats_griffin_lim": float(np.mean(np.less(ours, baseline))),
            "pitch_within_cents": near / voiced if voiced else 0.0,
            "voiced_frames": voiced, "voiced_frames_of_notes": voiced_original,
            "pitch_within_cents_of_notes": near_original / voiced_original if voiced_original else 0.0,
            "mixes": len(blends), "mix_centroid_between_notes": between / len(blends),
            "mix_centroid_between_reconstructions": between_made / len(blends),
            "synthesis_samples_per_second": len(made) * len(made[0]) / seconds}


def format_assessment(assessed: dict[str, Any]) -> str:
    """`assess`'s figures as lines for `tunesmith eval`."""
    rows = [("MR-STFT distance", f"{assessed['mr_stft']:.3f}"),
            ("  Griffin-Lim's", f"{assessed['mr_stft_griffin_lim']:.3f}"),
            ("  notes beating it", f"{assessed['beats_griffin_lim']:.3f}"),
            (f"pitch within {PITCH_CENTS} c", f"{assessed['pitch_within_cents']:.3f} of {assessed['voiced_frames']} voiced frames"),
            ("  of the notes", f"{assessed['pitch_within_cents_of_notes']:.3f} of {assessed['voiced_frames_of_notes']} "
                               "voiced frames"),
            ("mix centroid between", f"{assessed['mix_centroid_between_notes']:.3f} of {assessed['mixes']} mixes "
                                     f"(notes); {assessed['mix_centroid_between_reconstructions']:.3f} "
                                     "(reconstructions)"),
            ("synthesis", f"{assessed['synthesis_samples_per_second']:,.0f} samples/s")]
    head = (f"{assessed['notes']} held-out notes ({assessed['from']}) of {assessed['seconds']:g} s, "
            "reconstructed, and mixes of pairs at one pitch:")
    return "\n".join([head] + [f"{name:<22} {value}" for name, value in rows])


class Autoencoder:
    """The generator of an NSynth: encode, synthesize and mix (the verbs), `sample` (refused),
    `preview` and `assess` (eval)."""

    sample = staticmethod(sample)
    preview = staticmethod(make_preview)
    assess = staticmethod(assess)
    format_assessment = staticmethod(format_assessment)
    next_step = "use it: tunesmith mix {run} A.wav B.wav --out AB.wav (or encode, then synthesize)"
    encode = staticmethod(encode_files)
    synthesize = staticmethod(synthesize_files)
    mix = staticmethod(mix_files)


AUTOENCODER = Autoencoder()


def synthesis_speed(run_or_model: Any, batch: int, seconds: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """How fast the decoder's fast stepper makes sound, for benchmarks: `batch` notes of `seconds`
    from random codes, in one batch. `run_or_model`: an opened run (api.open_model(RUN)) or an
    NSynth model (then at 8 kHz). Samples per second per note and in all, and notes per second."""
    from tunesmith.codecs.quantize import QuantizeCodec

    if isinstance(run_or_model, torch.nn.Module):
        model, codec = run_or_model, QuantizeCodec(q_levels=run_or_model.q_levels, sample_rate=8000)
    else:
        model, codec = run_or_model.model, run_or_model.codec
    frames = model.frames(round(seconds * codec.sample_rate))
    codes = [np.random.default_rng(seed + row).standard_normal((frames, model.code_size)).astype(np.float32)
             for row in range(batch)]
    began = time.perf_counter()
    synthesize(codec, model, codes, seed, show=False)
    elapsed = time.perf_counter() - began
    samples = frames * model.hop
    return {"batch": batch, "note_seconds": samples / codec.sample_rate, "seconds": elapsed,
            "samples_per_second_per_note": samples / elapsed, "samples_per_second": batch * samples / elapsed,
            "notes_per_second": batch / elapsed}
