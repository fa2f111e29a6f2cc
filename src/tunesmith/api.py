"""The library API, the one entry point of the CLI (and of a studio or a pipeline): open a run or
a bundled model, train a recipe, generate from a request, evaluate, list runs and corpora. It
returns objects and paths, reports progress to a callback and raises UserErrors; it prints nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.progress import Listener, listening

if TYPE_CHECKING:  # torch and the recipes load when a function needs them: verbs that do not start fast
    from torch import nn

    from tunesmith.codecs import Codec
    from tunesmith.generation.request import SampleRequest, Samples
    from tunesmith.recipes import Recipe


@dataclass
class OpenModel:
    """A run (or bundled model) opened for use: its recipe, codec and model with the weights of
    one checkpoint, in evaluation mode on the chosen device."""

    run: Path
    config: dict[str, Any]
    recipe: Recipe
    codec: Codec
    model: nn.Module
    checkpoint: dict[str, Any]


def open_model(name: str | Path, checkpoint: str = "best", device: Any = None) -> OpenModel:
    """A run directory or a bundled model's name, with the weights of `checkpoint` (best, last or
    a step number)."""
    from tunesmith import runs
    from tunesmith.codecs import load_codec
    from tunesmith.recipes import get_recipe
    from tunesmith.training.distributed import pick_device

    run = runs.open_run(name)
    config = runs.read_config(run)
    recipe = get_recipe(config["recipe"])
    codec = load_codec(run / runs.CODEC)
    found = runs.find_checkpoint(run, checkpoint)
    model = recipe.build_model(config["hparams"], codec)
    weights = {k: v.float() if v.is_floating_point() else v for k, v in runs.load_weights(found).items()}
    model.load_state_dict(weights)
    model.to(device or pick_device()).eval()
    return OpenModel(run, config, recipe, codec, model, found)


def train(recipe: str, data: str | None = None, run: str | Path | None = None, steps: int | None = None,
          minutes: float | None = None, epochs: float | None = None, settings: list[str] | None = None,
          seed: int | None = None, resume: bool = False, init_from: str | Path | None = None,
          progress: Listener | None = None) -> dict[str, Any]:
    """Train `recipe` on `data` (a file, a folder or a bundled corpus; default: the recipe's)
    into the run directory `run` (default runs/RECIPE-DATE-TIME), for a budget of steps, minutes or
    epochs (default: the recipe's steps), with settings as "key=value" strings. With `resume`,
    continue the run (default: the newest of the recipe); with `init_from` (a run of the same
    recipe), fine-tune it on `data` in a new run, its settings and codec kept. Returns the run, the step reached, the
    outcome (finished, converged, stopped early, interrupted) and the best validation loss."""
    from tunesmith.errors import UserError
    from tunesmith.training.trainer import Budget, TrainingStopped, train_recipe

    for name, value in (("steps", steps), ("minutes", minutes), ("epochs", epochs)):
        if value is not None and value <= 0:
            raise UserError(f"a budget of {value} {name}: it must be above 0")
    with listening(progress):
        try:
            return train_recipe(recipe, data, None if run is None else Path(run), Budget(steps, minutes, epochs),
                                settings or [], seed, resume, None if init_from is None else Path(init_from))
        except TrainingStopped as err:
            raise UserError(str(err)) from None


def generate(model: str | Path | OpenModel, request: SampleRequest | None = None, checkpoint: str = "best",
             progress: Listener | None = None, echo: Callable[[str], None] | None = None) -> Samples:
    """New material from a run or bundled model (a name, a path or an OpenModel), as `request`
    asks, by the recipe's generator. Files go where `request.out` says; text with no `out` comes
    back in the result's items (and, for one output, to `echo` as it is made)."""
    from tunesmith.generation.request import SampleRequest

    opened = model if isinstance(model, OpenModel) else open_model(model, checkpoint)
    with listening(progress):
        return opened.recipe.generator.sample(opened, request or SampleRequest(), echo)


def interpolate(model: str | Path | OpenModel, first: str | Path, last: str | Path, steps: int = 5,
                out: str | Path | None = None, start_bars: tuple[int | None, int | None] = (None, None),
                plot: bool = False, checkpoint: str = "best") -> Samples:
    """From MIDI file `first` to `last` in `steps` phrases through a VAE's latent space (see
    generation.latent.interpolate): each phrase a file, and all of them joined, in the folder `out`."""
    from tunesmith.errors import UserError

    opened = model if isinstance(model, OpenModel) else open_model(model, checkpoint)
    if not hasattr(opened.recipe.generator, "interpolate"):
        raise UserError(f"{opened.run.name} is a {opened.recipe.name} run: interpolation needs a MusicVAE run "
                        "(recipe music-vae)")
    return opened.recipe.generator.interpolate(opened, first, last, steps, out, start_bars, plot)


def open_autoencoder(model: str | Path | OpenModel, checkpoint: str, what: str) -> OpenModel:
    """An NSynth run (its generator encodes and synthesizes), opened; a UserError for another run."""
    from tunesmith.errors import UserError

    opened = model if isinstance(model, OpenModel) else open_model(model, checkpoint)
    if not hasattr(opened.recipe.generator, "synthesize"):
        raise UserError(f"{opened.run.name} is a {opened.recipe.name} run: {what} needs an NSynth run (recipe nsynth)")
    return opened


def encode(model: str | Path | OpenModel, sounds: list[str | Path], out: str | Path | None = None,
           checkpoint: str = "best", progress: Listener | None = None) -> list[Path]:
    """Each sound (any audio file; mixed down and resampled to the run's rate) as an NSynth run's
    code, a .npy file of [frames, code_size] floats (16 numbers every 32 ms by default), where
    `out` says (media.files.output_paths: a file, or a folder for code.npy, code-1.npy ...); never
    over an existing file. Returns the files written."""
    opened = open_autoencoder(model, checkpoint, "encoding a sound")
    with listening(progress):
        return opened.recipe.generator.encode(opened, sounds, out)


def synthesize(model: str | Path | OpenModel, codes: list[str | Path], out: str | Path | None = None,
               checkpoint: str = "best", seed: int | None = None, progress: Listener | None = None) -> list[Path]:
    """Each code file (written by `encode`, perhaps changed) as a sound made by an NSynth run's
    WaveNet decoder, all in one batch (synth.wav, or synth-1.wav ... where `out` says). Returns
    the files written."""
    opened = open_autoencoder(model, checkpoint, "synthesizing a code")
    with listening(progress):
        return opened.recipe.generator.synthesize(opened, codes, out, seed)


def mix(model: str | Path | OpenModel, first: str | Path, second: str | Path, weights: list[float] | None = None,
        out: str | Path | None = None, checkpoint: str = "best", seed: int | None = None,
        progress: Listener | None = None) -> list[Path]:
    """The blend of two sounds by an NSynth run for each weight (the second sound's share of the
    code, 0 to 1; default 0.5): both encoded, the codes averaged, every blend synthesized in one
    batch (mix.wav, or mix-1.wav ... where `out` says). Returns the files written."""
    opened = open_autoencoder(model, checkpoint, "mixing sounds")
    with listening(progress):
        return opened.recipe.generator.mix(opened, first, second, weights, out, seed)


def evaluate(model: str | Path | OpenModel, data: str | None = None, checkpoint: str = "best", samples: int = 8,
             seed: int = 0, clip_seconds: float = 4.0, progress: Listener | None = None) -> dict[str, Any]:
    """The loss of a run on its validation split (and test split, where the recipe holds one out)
    or on `data`, and statistics of `samples` generated pieces or clips next to held-out or
    training material; saved in the run as eval-step-N.json (not for a bundled model)."""
    from tunesmith.evaluation import evaluate_model

    opened = model if isinstance(model, OpenModel) else open_model(model, checkpoint)
    with listening(progress):
        return evaluate_model(opened, data, samples, seed, clip_seconds)


def render(files: list[str | Path], out: str | Path | None = None, soundfont: str | Path | None = None,
           program: str | int | None = None, effects: str = "none", audio_format: str = "wav",
           sample_rate: int = 44100, instrument: str | Path | None = None, root: float | None = None,
           timbre_seed: int = 0, timbre_path: tuple[int, int] | None = None,
           progress: Listener | None = None) -> list[Path]:
    """MIDI files to audio through FluidSynth and a SoundFont (default: a General MIDI one on the
    system), every non-drum track played by `program` (a number or a General MIDI name) if given,
    or played by `instrument`: a one-shot sound repitched per note (media.sampler; its pitch
    `root`, else found), or a GANSynth run generating every note (generation.oneshot.Instrument,
    with the timbre of `timbre_seed`, or moving along `timbre_path`), with an effects preset (none, room, ambient), peak-normalized, into the
    folder `out` (default: the current one) as NAME.FORMAT, never over an existing file. Returns
    the files written."""
    from tunesmith.errors import UserError, info
    from tunesmith.media.audio import AUDIO_FORMATS
    from tunesmith.media.files import free_path, make_folder
    from tunesmith.media.render import EFFECTS, find_soundfont, program_number, render_midi
    from tunesmith.progress import Bar

    if audio_format not in AUDIO_FORMATS:
        raise UserError(f"format {audio_format!r}: choose one of {', '.join(AUDIO_FORMATS)}")
    if effects not in EFFECTS:
        raise UserError(f"effects {effects!r}: choose one of {', '.join(EFFECTS)}")
    if not 8000 <= sample_rate <= 192000:
        raise UserError(f"sample rate {sample_rate}: give 8000 to 192000 Hz")
    sampler = None
    if instrument is not None:
        from tunesmith.corpus.audio import AUDIO_SUFFIXES
        from tunesmith.media.sampler import Sampler

        sound = Path(instrument).expanduser()
        if soundfont or program is not None:
            raise UserError("an instrument plays every note itself: give it without a SoundFont or a program")
        if sound.is_file() and sound.suffix.lower() in AUDIO_SUFFIXES:
            sampler = Sampler(sound, sample_rate, root)
            info(f"playing {sound.name} as a sampler (its pitch: {sampler.root:.1f})")
        else:
            from tunesmith import runs

            bundled = "/" not in str(instrument) and runs.is_run(runs.PRETRAINED_DIR / str(instrument))
            if not runs.is_run(sound) and not bundled:
                raise UserError(f"instrument {instrument}: give a one-shot sound file (.wav, .flac, .mp3 ...) or "
                                "a GANSynth run")
            opened = open_model(instrument)
            play_as = getattr(opened.recipe.generator, "instrument", None)
            if play_as is None:
                raise UserError(f"instrument {instrument} is a {opened.recipe.name} run: an instrument run is a "
                                "GANSynth one")
            sampler = play_as(opened, timbre_seed, timbre_path)
            info(f"playing the GANSynth {opened.run.name} as the instrument")
    else:
        chosen = program_number(program) if program is not None else None
        font = Path(soundfont).expanduser() if soundfont else find_soundfont()
        if not font.is_file():
            raise UserError(f"no such SoundFont: {font}; give a .sf2 or .sf3 file")
    folder = make_folder(Path("." if out is None else out).expanduser())
    written = []
    with listening(progress), Bar("rendering", len(files), "file") as bar:
        for midi in files:
            path = free_path(folder / f"{Path(midi).stem}.{audio_format}")
            if sampler is not None:
                from tunesmith.media.sampler import render_sampler

                written.append(render_sampler(midi, path, sampler, effects, sample_rate))
            else:
                written.append(render_midi(midi, path, sample_rate, font, chosen, effects, normalize=True))
            info(f"wrote {path}")
            bar.update(1)
    return written


def transcribe(inputs: list[str | Path], out: str | Path | None = None, settings: Any = None,
               progress: Listener | None = None) -> list[Path]:
    """Recordings (files, or folders of them, in any format the audio corpus reads) to MIDI files
    with basic-pitch (media.transcribe; `settings` a TranscribeSettings), into the folder `out`
    (default: the current one) as NAME.mid, a folder's sub-folders kept, never over an existing
    file. A file that cannot be read or holds no notes is skipped with a warning and counted (a
    single file given alone stops with its error). Returns the files written."""
    from tunesmith.corpus import list_files, relative_name
    from tunesmith.corpus.audio import AUDIO_HINT, AUDIO_SUFFIXES
    from tunesmith.errors import UserError, info, warn
    from tunesmith.media.files import free_path, make_folder, write_atomic
    from tunesmith.media.transcribe import transcriber
    from tunesmith.progress import Bar

    jobs = []  # (recording, its name below the folder given)
    for given in inputs:
        root = Path(given).expanduser()
        if not root.exists():
            raise UserError(f"no such audio file or folder: {given}; {AUDIO_HINT}")
        if root.is_file() and root.suffix.lower() not in AUDIO_SUFFIXES:
            raise UserError(f"{given} is not an audio file; {AUDIO_HINT}")
        jobs += [(path, relative_name(path, root, str(root)) if root.is_dir() else path.name)
                 for path in list_files(root, AUDIO_SUFFIXES)]
    if not jobs:
        raise UserError(f"no audio file in {', '.join(map(str, inputs))}; {AUDIO_HINT}")
    alone = len(inputs) == 1 and Path(inputs[0]).expanduser().is_file()
    folder = make_folder(Path("." if out is None else out).expanduser())
    written, skipped, seconds, busy = [], 0, 0.0, 0.0
    with listening(progress):
        model = transcriber(settings)
        with Bar("transcribing", len(jobs), "file") as bar:
            for path, name in bar.iterate(jobs):
                began = time.perf_counter()
                try:
                    midi, length = model.midi_bytes(path)
                except UserError as err:
                    if alone:
                        raise
                    warn(f"skipped {err}")
                    skipped += 1
                    continue
                busy += time.perf_counter() - began
                seconds += length
                target = free_path(make_folder(folder / Path(name).parent) / f"{Path(name).stem}.mid")
                write_atomic(target, midi)
                written.append(target)
                bar.set_note(f"{seconds / 60:.1f} min of audio, {seconds / max(busy, 1e-9):.0f}x real time")
    info(f"transcribed {len(written)} recording{'s' if len(written) != 1 else ''} ({seconds / 60:.1f} min of audio) "
         f"into {folder}"
         + (f", skipped {skipped}" if skipped else ""))
    if not written:
        raise UserError(f"no recording could be transcribed; {AUDIO_HINT}")
    return written


def list_runs(folder: str | Path | None = None) -> list[dict[str, Any]]:
    """One summary per run in `folder` (default runs/; a missing runs/ has none yet)."""
    from tunesmith import runs

    root = Path(folder) if folder is not None else Path("runs")
    return runs.list_runs(root) if folder is not None or root.is_dir() else []


def list_bundled_models() -> list[dict[str, Any]]:
    """The models that ship with tunesmith, with what each makes."""
    from tunesmith import runs
    from tunesmith.recipes import get_recipe

    rows = runs.list_bundled_models()
    for row in rows:
        row["makes"] = f"{get_recipe(row['recipe']).domain.suffix} files like {row['data']}"
    return rows


def list_corpora() -> list[dict[str, Any]]:
    """The bundled corpora (MIDI, text and audio) with their sizes."""
    from tunesmith.corpus.audio import list_bundled_audio
    from tunesmith.corpus.bundled import list_bundled

    return list_bundled() + list_bundled_audio()


def export_corpus(name: str, folder: str | Path, progress: Listener | None = None) -> None:
    """Write a bundled corpus into a folder as files."""
    from tunesmith.corpus.bundled import export_bundled

    with listening(progress):
        export_bundled(name, Path(folder))


# -- for the studio (studio/) --
def describe_model(name: str | Path) -> dict[str, Any]:
    """What a run or bundled model makes and what a request to it may hold, without loading its
    weights: its recipe, the suffix of its files, its generator (autoregressive, latent,
    autoencoder, one-shot, or noise: a GAN or frame predictor), the request's fields it takes
    (`controls`), what its length counts and, for a note generator, its pitch range."""
    from tunesmith import runs
    from tunesmith.codecs import load_codec
    from tunesmith.recipes import get_recipe

    run = runs.open_run(name)
    recipe = get_recipe(runs.read_config(run)["recipe"])
    codec = load_codec(run / runs.CODEC)
    generator, suffix = recipe.generator, recipe.domain.suffix
    if hasattr(generator, "interpolate"):
        kind, controls = "latent", ["bars", "temperature", "num_outputs", "seed", "similar_to"]
    elif hasattr(generator, "synthesize"):
        kind, controls = "autoencoder", []
    elif hasattr(generator, "instrument"):
        kind, controls = "one-shot", ["pitch", "num_outputs", "seed"]
    elif getattr(generator, "continues", False):
        kind = "autoregressive"
        primer = {".txt": "primer_text", ".mid": "primer_midi"}.get(suffix, "primer_audio")
        controls = ["seconds" if suffix == ".wav" else "length", "temperature", "top_p", "num_outputs", "seed", primer]
    else:
        kind, controls = "noise", ["seconds", "num_outputs", "seed"]
    described = {"recipe": recipe.name, "makes": suffix, "generator": kind, "controls": controls,
                 "length_unit": "16th-note step" if codec.length_unit == "step" else codec.unit}
    if kind == "one-shot":
        described["pitches"] = [codec.min_pitch, codec.max_pitch]
    return described


def loss_history(name: str | Path) -> dict[str, Any]:
    """A run's training and validation loss by step (its metrics.jsonl), as [step, loss] pairs."""
    from tunesmith import runs

    records = runs.read_metrics(runs.open_run(name))
    return {key: [[r["step"], r[field]] for r in records if r.get(field) is not None]
            for key, field in (("train", "train_loss"), ("validation", "val_loss"))}


def midi_notes(path: str | Path) -> dict[str, Any]:
    """A MIDI file's notes for a piano roll: [start, end (seconds), pitch, velocity, is_drum] each,
    its length in seconds and its tempo; a UserError for a file that is not readable MIDI."""
    from tunesmith.media.domains import read_midi_file

    piece = read_midi_file(path)
    per_beat = 60.0 / piece.qpm
    notes = [[round(float(n["start"]) * per_beat, 4), round(float(n["end"]) * per_beat, 4), int(n["pitch"]),
              int(n["velocity"]), bool(n["is_drum"])] for n in piece.notes]
    return {"notes": notes, "seconds": piece.seconds, "qpm": piece.qpm}


def waveform_peaks(path: str | Path, points: int = 800) -> dict[str, Any]:
    """An audio file's lowest and highest sample in each of `points` equal stretches (a waveform
    to draw), its length in seconds and its sample rate."""
    import numpy as np

    from tunesmith.media.audio import decode_audio, to_mono

    samples, rate = decode_audio(path)
    mono = to_mono(samples)
    stretches = np.array_split(mono, min(points, len(mono))) if len(mono) else []
    peaks = [[round(float(s.min()), 4), round(float(s.max()), 4)] for s in stretches]
    return {"peaks": peaks, "seconds": len(mono) / rate, "sample_rate": rate}
# -- end of the studio's functions --


# -- for live MIDI (live.py) --
def continues_midi(opened: OpenModel) -> None:
    """A UserError unless the run continues MIDI (an autoregressive MIDI recipe, which takes a primer)."""
    from tunesmith.errors import UserError

    if opened.recipe.domain.suffix != ".mid" or not getattr(opened.recipe.generator, "continues", False):
        raise UserError(f"{opened.run.name} is a {opened.recipe.name} run, which cannot continue what is played: "
                        "answering needs a MIDI run that takes a primer (melody-rnn, polyphony-rnn, performance-rnn, "
                        "music-transformer ...; e.g. the bundled melody-folk)")


def continue_midi(opened: OpenModel, call: Any, beats: float, strategy: Any = None, seed: int | None = None) -> Any:
    """What a MIDI run plays next after `call` (a notes.Piece, at the tempo to answer in): a Piece
    of `beats` quarter notes from the end of the call, the call left out. Generated through
    `generate` (its temporary files are not reported; nothing is kept)."""
    import logging
    import math
    import tempfile

    from tunesmith import notes
    from tunesmith.errors import LOG
    from tunesmith.generation.lengths import Length
    from tunesmith.generation.request import SampleRequest
    from tunesmith.generation.strategies import Strategy
    from tunesmith.media.domains import SampleOptions

    continues_midi(opened)
    codec, qpm = opened.codec, call.qpm
    def quiet(record: logging.LogRecord) -> bool:  # warnings only: not the files written here
        return record.levelno >= logging.WARNING

    with tempfile.TemporaryDirectory(prefix="tunesmith-call-") as folder:
        primer = Path(folder) / "call.mid"
        notes.write_midi(call, primer)
        # the answer is cut from the whole output where the call's tokens end: the call's last bar,
        # partly played, and the answer share its grid
        call_beats = sum(codec.seconds(token, qpm) for token in codec.encode(notes.read_midi(primer))) * qpm / 60
        request = SampleRequest(SampleOptions(str(primer), bpm=qpm), Length(seconds=beats * 60 / qpm),
                                strategy=strategy or Strategy(), seed=seed, out=Path(folder) / "answer.mid")
        LOG.addFilter(quiet)
        try:
            whole = generate(opened, request, progress=lambda event: None).items[0]
        finally:
            LOG.removeFilter(quiet)
    # times on a grid of a millionth of a beat, so that sums of token lengths meet note times exactly
    fine = 10**6
    boundary = math.floor(call_beats * fine + 0.5) / fine  # as notes.quantize rounds
    return notes.trim(notes.quantize(whole, fine), boundary, boundary + beats)


def generate_following(model: str | Path | OpenModel, request: SampleRequest, follow: Callable[[list[int]], None],
                       checkpoint: str = "best", progress: Listener | None = None) -> Samples:
    """`generate` for a player: a run that continues token by token hands a single output's tokens
    so far to `follow` after every step (see generation.autoregressive.sample); other runs
    generate as `generate` does."""
    opened = model if isinstance(model, OpenModel) else open_model(model, checkpoint)
    generator = opened.recipe.generator
    with listening(progress):
        if getattr(generator, "continues", False):
            return generator.sample(opened, request, None, follow)
        return generator.sample(opened, request)
# -- end of the live MIDI functions --
