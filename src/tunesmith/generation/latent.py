"""The latent generator of a VAE (MusicVAE): phrases drawn from the prior and chained into longer
outputs, variations around the encoding of a MIDI file, and interpolations between two MIDI files
through the latent space. The model answers `encode`, `decode` and `sample_prior`."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tunesmith import runs
from tunesmith.errors import UserError, info
from tunesmith.generation.request import SampleRequest, Samples
from tunesmith.generation.strategies import make_generator
from tunesmith.media.domains import SampleOptions, read_midi_file
from tunesmith.media.files import free_path, output_paths
from tunesmith.notes import Piece

INTERPOLATION_STEM = "interpolation"  # interpolation-1.mid ... and interpolation-all.mid


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def draw_codes(model: torch.nn.Module, count: int, seed: int | None) -> tuple[torch.Tensor, torch.Generator]:
    """`count` codes z ~ N(0, I) on the model's device, drawn on the CPU so that a seed gives the
    same codes on any device, and a generator on the model's device for decoding."""
    codes = make_generator(torch.device("cpu"), seed)
    z = torch.randn(count, model.z_size, generator=codes).to(model_device(model))
    return z, make_generator(model_device(model), None if seed is None else seed + 1)


def refuse(request: SampleRequest) -> None:
    """The parts of a request that mean nothing to a VAE, each refused in one line."""
    options = request.options
    asked = [(request.beam, "beam search"), (request.sample_on_spaces, "sampling on word boundaries"),
             (options.primer, "a primer (a VAE varies a whole phrase: ask for phrases similar to a file)"),
             (options.style, "a style"), (request.strategy.top_k or request.strategy.top_p < 1, "top-k or top-p"),
             (request.length.amount or request.length.seconds, "a length in steps or seconds (give it in bars)"),
             (request.pitch is not None, "a pitch (that is for a GANSynth run)"),
             (request.interpolate, "an interpolation of timbres (that is for a GANSynth run; tunesmith interpolate "
                                   "goes between two MIDI files)")]
    for value, what in asked:
        if value:
            raise UserError(f"{what} is not for a MusicVAE run")


def encode_file(opened: Any, path: str | Path, start_bar: int | None = None) -> tuple[torch.Tensor, Piece]:
    """The mean of the posterior [z_size] of a MIDI file's first phrase whose bars all hold notes
    (from bar `start_bar`, counting from 1), and the file's piece. A line says which bars were used
    when the file is longer than the model's phrases."""
    codec = opened.codec
    piece = read_midi_file(path)
    phrase, bar = codec.first_phrase(piece, None if start_bar is None else start_bar - 1)
    total = math.ceil(piece.beats * codec.steps_per_quarter / codec.steps_per_bar)
    if total > codec.bars:
        info(f"{Path(path).name}: using bars {bar + 1}-{bar + codec.bars} of its {total} (a {codec.bars}-bar model); "
             "choose others with a start bar")
    with torch.no_grad():
        mu, _ = opened.model.encode(torch.from_numpy(phrase)[None].to(model_device(opened.model)))
    return mu[0], piece


def first_program(piece: Piece) -> int:
    pitched = piece.notes[~piece.notes["is_drum"]]
    return int(pitched["program"][0]) if len(pitched) else 0


def render(codec: Any, phrases: torch.Tensor, options: SampleOptions, qpm: float, program: int) -> list[Piece]:
    """Each row of phrases [count, steps, tracks] (a chain of phrases one after another) as a
    piece at `qpm`, its melody played by `program` (the options' tempo and program win)."""
    program = options.program if options.program is not None else program
    return [codec.decode(row.cpu().numpy(), qpm=options.bpm or qpm, program=program) for row in phrases]


def sample(opened: Any, request: SampleRequest, echo: Callable[[str], None] | None = None) -> Samples:
    """Phrases from the prior (or, with `similar_to`, around the encoding of that file: z moves
    from its encoding towards a random one by 1 - similarity along the sphere), `bars` long: as
    many phrases as it takes, chained."""
    from tunesmith.models.music_vae import slerp

    request.check()
    refuse(request)
    codec, model, options = opened.codec, opened.model, request.options
    bars = request.bars or codec.bars
    if bars < 1:
        raise UserError("the number of bars must be 1 or more")
    chained = math.ceil(bars / codec.bars)
    paths = output_paths(request.out, request.num_outputs, opened.recipe.domain.suffix)
    z, generator = draw_codes(model, request.num_outputs * chained, request.seed)
    qpm, program = 120.0, 0
    if request.similar_to:
        if not 0 <= request.similarity <= 1:
            raise UserError(f"similarity {request.similarity}: give a number from 0 (anything) to 1 (the file itself)")
        anchor, piece = encode_file(opened, request.similar_to)
        z = slerp(anchor[None].expand_as(z), z, 1.0 - request.similarity)
        qpm, program = piece.qpm, first_program(piece)
    strategy = request.strategy
    phrases = model.decode(z, temperature=strategy.temperature, generator=generator, argmax=strategy.argmax)
    steps = bars * codec.steps_per_bar
    chains = phrases.cpu().reshape(request.num_outputs, chained * codec.phrase_steps, codec.tracks)[:, :steps]
    items = render(codec, chains, options, qpm, program)
    return Samples(items, write(opened, items, paths, options))


def write(opened: Any, items: list[Piece], paths: list[Path], options: SampleOptions) -> list[Path]:
    written = []
    for item, path in zip(items, paths):
        written.append(free_path(path))  # chosen again now: a file may have appeared meanwhile
        opened.recipe.domain.write(item, written[-1], options)
        info(f"wrote {written[-1]}")
    return written


def interpolate(opened: Any, first: str | Path, last: str | Path, steps: int = 5, out: str | Path | None = None,
                start_bars: tuple[int | None, int | None] = (None, None), plot: bool = False) -> Samples:
    """`steps` phrases from the reconstruction of `first` to that of `last`: both files encoded (the
    mean of the posterior), the codes interpolated along the sphere (slerp), each decoded with the
    likeliest class at every step. Writes each phrase as a file (interpolation-1.mid ...) and all
    of them one after another (interpolation-all.mid) into the folder `out` (default: the
    current one), at the tempo and with the program of `first`. Returns the pieces, the joined
    one last."""
    from tunesmith.models.music_vae import slerp

    if steps < 2:
        raise UserError(f"an interpolation needs 2 steps or more (its two ends), not {steps}")
    codec, model = opened.codec, opened.model
    start, piece = encode_file(opened, first, start_bars[0])
    end, _ = encode_file(opened, last, start_bars[1])
    z = slerp(start, end, torch.linspace(0, 1, steps, device=start.device))
    phrases = model.decode(z, argmax=True).cpu()
    options = SampleOptions(plot=plot)
    items = render(codec, phrases, options, piece.qpm, first_program(piece))
    joined = render(codec, phrases.reshape(1, -1, codec.tracks), options, piece.qpm, first_program(piece))[0]
    folder = Path("." if out is None else out).expanduser()
    paths = output_paths(f"{folder}/", steps, ".mid", INTERPOLATION_STEM)
    paths.append(free_path(folder / f"{INTERPOLATION_STEM}-all.mid"))
    return Samples(items + [joined], write(opened, items + [joined], paths, options))


def make_preview(domain: Any, codec: Any, run: Path, seed: int, hp: dict[str, Any]):
    """At each checkpoint: one phrase from the prior into samples/ (drawn in evaluation mode)."""
    def preview(model: torch.nn.Module, step: int, writer) -> None:
        was_training = model.training
        model.eval()
        z, generator = draw_codes(model, 1, seed + step)
        phrase = model.decode(z, generator=generator)[0].cpu().numpy()
        model.train(was_training)
        (run / runs.SAMPLES).mkdir(exist_ok=True)
        domain.write(codec.decode(phrase), run / runs.SAMPLES / f"step-{step:08d}{domain.suffix}", SampleOptions())

    return preview


def unprimed(opened: Any, count: int, length: int, seed: int) -> list[Any]:
    """`count` chains of prior phrases about `length` tokens long (the codec's tokens: a step of
    each track), decoded: what `eval` compares with held-out pieces of that length."""
    codec, model = opened.codec, opened.model
    chained = max(1, round(length / (codec.phrase_steps * codec.tracks)))
    info(f"generating {count} pieces of {chained} phrases ({chained * codec.bars} bars) for the statistics")
    z, generator = draw_codes(model, count * chained, seed)
    phrases = model.decode(z, generator=generator).cpu().reshape(count, -1, codec.tracks)
    return [codec.decode(row.numpy()) for row in phrases]


class Latent:
    """The generator of VAEs: `sample` (the prior, or around a file), `interpolate`, `preview`,
    `unprimed`."""

    sample = staticmethod(sample)
    interpolate = staticmethod(interpolate)
    preview = staticmethod(make_preview)
    unprimed = staticmethod(unprimed)


LATENT = Latent()
