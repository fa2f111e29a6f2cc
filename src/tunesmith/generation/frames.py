"""The frame generator of an fft-lstm run (models/fft_lstm.py): clips made one STFT frame at a time,
the LSTM's state carried from frame to frame, each predicted frame fed back as the next input and
resynthesised by overlap-add; all outputs of a request advance together in one batch and are
written block by block as they are made (media.audio.ClipWriter), so a long clip costs no more
memory than a short one.

A clip starts from a primer (`sample --primer FILE`: the recording's frames are read by the LSTM
and resynthesised in front of the continuation, so the two join without a seam) or, without one,
from a seeded start: a few frames of quiet white noise drawn from the seed, read by the LSTM and
left out of the clip. The model draws nothing: the seed and the primer are what make clips differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith import runs
from tunesmith.errors import UserError, info
from tunesmith.generation.request import SampleRequest, Samples
from tunesmith.generation.strategies import make_generator
from tunesmith.generation.waveform import write_blocks
from tunesmith.media.audio import Clip
from tunesmith.media.domains import SampleOptions
from tunesmith.models.fft_lstm import Synthesis
from tunesmith.progress import Bar

BLOCK_FRAMES = 256  # frames resynthesised and handed to the files at once (2 s at 16 kHz, hop 128)
START_RMS = 0.01  # the seeded start: white noise at -40 dBFS


def seeded_start(model: torch.nn.Module, count: int, context: int, seed: int | None) -> torch.Tensor:
    """`context` frames [count, context, 2 * bins] of white noise at START_RMS, a different noise
    per output, drawn on the CPU from the seed (the same start on any device)."""
    frames = model.frames
    generator = make_generator(torch.device("cpu"), seed)
    noise = START_RMS * torch.randn(count, frames.fft_size + (context - 1) * frames.hop, generator=generator)
    return frames.analyse(noise)


@torch.no_grad()
def clips(model: torch.nn.Module, count: int, samples: int, context: int, sample_rate: int, seed: int | None,
          primer: torch.Tensor | None = None, primer_in_output: bool = True, show: bool = True) -> Iterator[np.ndarray]:
    """Blocks [count, n] of float samples of `count` clips, one after the other: with a primer (its
    frames [frames, 2 * bins]), the primer resynthesised (when `primer_in_output`), then `samples`
    samples continuing it; without, `samples` samples after a seeded start of `context` frames
    (not in the clips). A progress bar in seconds unless `show` is off."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        stepper = model.stepper(count)
        synthesis = Synthesis(model.frames, count, device)
        if primer is not None:
            for block in primer.to(device).expand(count, -1, -1).split(BLOCK_FRAMES, 1):
                following = stepper.feed(block)
                made = synthesis.push(block)  # also when left out: its overlap runs into the continuation
                if primer_in_output:
                    yield made.cpu().numpy()
        else:
            following = stepper.feed(seeded_start(model, count, context, seed).to(device))
        wanted, left = -(-samples // model.frames.hop), samples
        with Bar("sampling", samples, "s", 1 / sample_rate, silent=not show) as bar:
            for first in range(0, wanted, BLOCK_FRAMES):
                block = []
                for _ in range(min(BLOCK_FRAMES, wanted - first)):
                    block.append(following)
                    following = stepper.feed(following[:, None])
                made = synthesis.push(torch.stack(block, 1))[:, :left]
                left -= made.size(1)
                bar.update(made.size(1))
                yield made.cpu().numpy()
    finally:
        model.train(was_training)


def refuse(request: SampleRequest) -> None:
    """The parts of a request that mean nothing to a model that predicts rather than draws, each
    in one line."""
    strategy = request.strategy
    drawn = strategy.temperature != 1.0 or strategy.top_k or strategy.top_p < 1.0 or strategy.argmax
    asked = [(request.beam, "beam search"), (request.sample_on_spaces, "sampling on word boundaries"),
             (drawn, "a temperature, top-k, top-p or argmax"), (request.bars, "a length in bars"),
             (request.similar_to, "phrases similar to a file"), (request.pitch is not None, "a pitch"),
             (request.interpolate, "an interpolation")]
    for value, what in asked:
        if value:
            raise UserError(f"{what} is not for an fft-lstm run: it predicts each next frame and draws nothing; "
                            "vary its clips with a seed or a primer")


def primer_frames(codec: Any, domain: Any, model: torch.nn.Module, options: SampleOptions) -> torch.Tensor | None:
    """The frames [frames, 2 * bins] of the primer recording (read and resampled as the audio domain
    reads primers, cut to primer_seconds, through the run's quantizer as training saw it); None
    without one. A UserError for a primer shorter than one frame."""
    tokens, _ = domain.context(codec, options)  # also refuses the options of MIDI runs
    if not options.primer:
        return None
    wave = codec.decode_array(np.asarray(tokens))
    frames, rate = model.frames, codec.sample_rate
    if len(wave) < frames.fft_size:
        raise UserError(f"primer {options.primer} holds {1000 * len(wave) / rate:.0f} ms of audio, less than one "
                        f"frame ({1000 * frames.fft_size / rate:.0f} ms); give a longer recording")
    return frames.analyse(torch.from_numpy(wave)[None])[0]


def sample(opened: Any, request: SampleRequest, echo: Any = None) -> Samples:
    """`num_outputs` clips of the requested length (seconds, or samples; a primer in front when
    asked), made in one batch and written as they are made into audio files where `request.out`
    says (media.files.output_paths)."""
    request.check()
    refuse(request)
    codec, domain, model = opened.codec, opened.recipe.domain, opened.model
    options = request.options
    domain.condition(codec, options)  # a style: refused, these runs have none
    primer = primer_frames(codec, domain, model, options)
    _, target, _, _ = request.length.measure(codec, codec.vocab_size, domain.qpm(options))
    made = clips(model, request.num_outputs, int(target), opened.config["hparams"]["context"], codec.sample_rate,
                 request.seed, primer, options.primer_in_output)
    return write_blocks(domain, codec.sample_rate, request, made)


def make_preview(domain: Any, codec: Any, run: Path, seed: int, hp: dict[str, Any]):
    """At each checkpoint: `test_clips` clips of `sample_length` samples from seeded starts into
    samples/ (step-N-1.wav ...) and TensorBoard's audio tab. The starts are the same at every
    checkpoint, so that the clips of successive checkpoints tell what training changed."""
    count = hp["test_clips"]

    def preview(model: torch.nn.Module, step: int, writer) -> None:
        made = np.concatenate(list(clips(model, count, hp["sample_length"], hp["context"], codec.sample_rate, seed,
                                         show=False)), axis=1)
        (run / runs.SAMPLES).mkdir(exist_ok=True)
        for k, samples in enumerate(made, 1):
            clip = Clip(np.clip(samples, -1.0, 1.0), codec.sample_rate)
            name = f"step-{step:08d}" + (f"-{k}" if count > 1 else "")
            domain.write(clip, run / runs.SAMPLES / f"{name}{domain.suffix}", SampleOptions())
            domain.show(writer, "sample" if count == 1 else f"sample/{k}", clip, step)

    return preview


def unprimed(opened: Any, count: int, length: int, seed: int) -> list[np.ndarray]:
    """`count` clips of `length` samples from seeded starts: what `eval` compares with training audio."""
    codec = opened.codec
    info(f"generating {count} clips of {length / codec.sample_rate:g} s from seeded starts for the statistics")
    made = np.concatenate(list(clips(opened.model, count, length, opened.config["hparams"]["context"],
                                     codec.sample_rate, seed)), axis=1)
    return [np.clip(samples, -1.0, 1.0) for samples in made]


class FrameGenerator:
    """The generator of an fft-lstm run: `sample` serves a request, `preview` makes the trainer's
    clips at each checkpoint, `unprimed` the clips `eval` compares."""

    sample = staticmethod(sample)
    preview = staticmethod(make_preview)
    unprimed = staticmethod(unprimed)
    next_step = "continue a recording: tunesmith sample {run} --primer take.wav --seconds 10"


FRAMES = FrameGenerator()
