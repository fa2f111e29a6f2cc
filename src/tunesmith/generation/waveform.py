"""The waveform generator of an unconditional audio GAN (the recurrent GAN, models/rgan.py): K clips
made together from noise alone, block by block as the model's `stream` yields them, written by
the one audio writer (media.audio.ClipWriter) into the files a request names, at any length. There
is nothing to condition on: a primer, a style, a decoding strategy or a pitch is refused in one
line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith import runs
from tunesmith.errors import UserError, info
from tunesmith.generation.request import SampleRequest, Samples
from tunesmith.generation.strategies import Strategy, make_generator
from tunesmith.media.audio import Clip, ClipWriter
from tunesmith.media.domains import DEFAULT_SECONDS, SampleOptions
from tunesmith.media.files import names_folder, output_paths
from tunesmith.progress import Bar


@dataclass
class Waveforms:
    """ClipWriter's codec for blocks that are float samples already (a GAN's, an fft-lstm's):
    written as they are, clipped to [-1, 1] (ClipWriter's other codecs turn tokens into samples)."""

    sample_rate: int

    def decode(self, samples: Any) -> np.ndarray:
        return self.decode_array(np.asarray(samples).reshape(-1))

    def decode_array(self, samples: Any) -> np.ndarray:
        return np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)


def refuse(request: SampleRequest, recipe: str) -> None:
    """The parts of a request that mean nothing to an unconditional GAN, each in one line."""
    options, strategy = request.options, request.strategy
    if options.primer:
        raise UserError(f"a primer is not for an {recipe} run: an unconditional GAN makes its clips from noise "
                        "alone and cannot continue a recording; leave the primer out", option="primer")
    asked = [(options.primer_seconds is not None or options.primer_steps is not None, "a primer's length"),
             (options.style, "a style"), (options.program is not None or options.bpm or options.plot,
                                          "a program, a tempo or a piano roll"),
             (request.beam, "beam search"), (request.sample_on_spaces, "sampling on word boundaries"),
             (request.bars, "bars"), (request.similar_to, "a file to vary"),
             (request.pitch is not None or request.interpolate, "a pitch or an interpolation"),
             (strategy != Strategy(), "a decoding strategy (temperature, top-k, top-p, argmax)")]
    for value, what in asked:
        if value:
            raise UserError(f"{what} is not for an {recipe} run: it makes clips from noise alone; ask for a "
                            "length and a number of outputs")


def clip_length(request: SampleRequest, sample_rate: int) -> int:
    """Samples per clip: the request's seconds, else its length in samples, else DEFAULT_SECONDS."""
    length = request.length
    if length.seconds is not None:
        return max(1, round(length.seconds * sample_rate))
    return length.amount or round(DEFAULT_SECONDS * sample_rate)


def blocks(model: torch.nn.Module, count: int, length: int, seed: int | None,
           sample_rate: int) -> Iterator[np.ndarray]:
    """Blocks [count, n] of float samples of `count` clips of `length` samples from the noise of
    `seed` (drawn on the CPU: the same clips on any device), as they are made, with a bar in
    seconds of audio."""
    bar = Bar("sampling", length, "s", 1.0 / sample_rate)
    was_training = model.training
    model.eval()
    try:
        for block in model.stream(count, length, make_generator(torch.device("cpu"), seed)):
            samples = block.float().cpu().numpy()
            bar.update(samples.shape[1])
            yield samples
    finally:
        model.train(was_training)
        bar.close()


def write_blocks(domain: Any, sample_rate: int, request: SampleRequest, made: Iterable[np.ndarray]) -> Samples:
    """Blocks [num_outputs, n] of float samples, written as they come into audio files (WAV, or the
    format asked for) where `request.out` says (media.files.output_paths)."""
    out, count = request.out, request.num_outputs
    named_file = None if out is None or names_folder(out, count) else Path(out)
    audio_format = domain.audio_format(named_file, request.options)
    paths = output_paths(out, count, "." + audio_format)
    with ClipWriter(Waveforms(sample_rate), [], paths, audio_format) as sink:
        for block in made:
            sink.write(block, np.full(count, block.shape[1]))
    for path in sink.paths:
        info(f"wrote {path}")
    return Samples(paths=sink.paths)


def sample(opened: Any, request: SampleRequest, echo: Any = None) -> Samples:
    """`num_outputs` clips of the asked length (`--seconds`, or a length in samples; default
    DEFAULT_SECONDS), all generated in one batch and written as they are made, as WAV (or the
    format asked for) at the run's sample rate, where `request.out` says."""
    refuse(request, opened.recipe.name)
    request.check()
    rate = opened.codec.sample_rate
    made = blocks(opened.model, request.num_outputs, clip_length(request, rate), request.seed, rate)
    return write_blocks(opened.recipe.domain, rate, request, made)


def clips(model: torch.nn.Module, count: int, length: int, seed: int) -> list[np.ndarray]:
    """`count` whole clips of `length` samples from the noise of `seed`, as float32 arrays."""
    was_training = model.training
    model.eval()
    try:
        made = model.generate(count, length, make_generator(torch.device("cpu"), seed))
    finally:
        model.train(was_training)
    return list(made.float().cpu().numpy())


def make_preview(domain: Any, codec: Any, run: Path, seed: int, hp: dict[str, Any]):
    """The trainer's sample at each checkpoint: `test_clips` clips of `sample_length` samples into
    samples/step-N-K.wav and TensorBoard's audio tab, from the same noise at every checkpoint (the
    run's seed), so that one hears what training changed."""
    count = hp.get("test_clips", 3)

    def preview(model: torch.nn.Module, step: int, writer) -> None:
        (run / runs.SAMPLES).mkdir(exist_ok=True)
        for k, samples in enumerate(clips(model, count, hp["sample_length"], seed), 1):
            clip = Clip(samples, codec.sample_rate)
            domain.write(clip, run / runs.SAMPLES / f"step-{step:08d}-{k}{domain.suffix}", SampleOptions())
            domain.show(writer, f"sample/{k}", clip, step)

    return preview


def unprimed(opened: Any, count: int, length: int, seed: int) -> list[np.ndarray]:
    """`count` clips of `length` samples: what `eval` compares with the training audio."""
    info(f"generating {count} clips of {length:,} samples for the statistics")
    return clips(opened.model, count, length, seed)


class Waveform:
    """The generator of an unconditional audio GAN: `sample` serves a request, `preview` makes the
    trainer's clips at each checkpoint, `unprimed` the clips `eval` compares."""

    sample = staticmethod(sample)
    preview = staticmethod(make_preview)
    unprimed = staticmethod(unprimed)


WAVEFORM = Waveform()
