"""The autoregressive generator: the one loop over any model's stepper (an RNN state, a KV cache,
WaveNet's queues, SampleRNN's tiers), a primer, K outputs in one batch, a seed; stochastic beam
search; and sampling a run into files as a request asks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith import runs
from tunesmith.errors import UserError, info
from tunesmith.generation.request import SampleRequest, Samples
from tunesmith.generation.strategies import Strategy, choose, filter_logits, make_generator
from tunesmith.media.domains import SampleOptions
from tunesmith.media.files import free_path, names_folder, output_paths
from tunesmith.progress import Bar

BLOCK_STEPS = 4096  # steps handed to a sink at once: generation holds no more tokens than this per output


def make_stepper(model: torch.nn.Module, batch_size: int, condition: int | torch.Tensor | None):
    """The model's stepper; `condition` (a global condition, WaveNet's style: one id for every
    output, or ids [batch_size]) only when given, since most steppers take none."""
    return model.stepper(batch_size) if condition is None else model.stepper(batch_size, condition=condition)


@torch.no_grad()
def stream(model: torch.nn.Module, primer: Any, length: int, num_outputs: int = 1,
           strategy: Strategy | None = None, seed: int | None = None,
           condition: int | torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Yield `length` steps of new tokens, each [num_outputs], all outputs advancing together.
    `primer` (a list or array of ids) conditions every output (it needs at least one token: the
    codec's start token); a long one (a recording) goes in by blocks of BLOCK_STEPS."""
    strategy = strategy or Strategy()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        generator = make_generator(device, seed)
        stepper = make_stepper(model, num_outputs, condition)
        context = torch.as_tensor(primer, dtype=torch.long, device=device).expand(num_outputs, -1)
        for block in context.split(BLOCK_STEPS, dim=1):
            logits = stepper.feed(block)
        previous = context[:, -1]
        for _ in range(length):
            previous = choose(logits, previous, strategy, generator)
            yield previous
            logits = stepper.feed(previous[:, None])
    finally:
        model.train(was_training)


class Collect:
    """A sink that keeps every token, for domains that decode whole sequences (text, MIDI)."""

    def __init__(self, num_outputs: int):
        self.rows: list[list[int]] = [[] for _ in range(num_outputs)]

    def write(self, block: np.ndarray, keep: np.ndarray) -> None:
        for row, tokens, count in zip(self.rows, block.tolist(), keep):
            row.extend(tokens[:count])


def generate(model: torch.nn.Module, primer: list[int], length: int, num_outputs: int = 1,
             strategy: Strategy | None = None, seed: int | None = None, progress: bool = False,
             condition: int | torch.Tensor | None = None) -> list[list[int]]:
    """`num_outputs` lists of `length` new tokens (the primer not included); `condition`: for a
    model trained with a global condition (a WaveNet with styles), the style index for all
    outputs or one per output [num_outputs]; None for every other model."""
    rows = Collect(num_outputs)
    generate_until(model, primer, num_outputs, strategy or Strategy(), seed, length, None, length, rows,
                   condition=condition, progress=progress)
    return rows.rows


@torch.no_grad()
def beam_search(model: torch.nn.Module, primer: list[int], num_outputs: int, beam: int, strategy: Strategy,
                seed: int | None, max_tokens: int, weights: torch.Tensor, target: float,
                condition: int | None = None) -> list[list[int]]:
    """Stochastic beam search (Magenta's): every beam branches into `beam` candidates drawn by the
    strategy, and the `beam` likeliest continuations of each output survive. Stops when each
    output's best beam reaches `target` (measured by the per-token `weights`) or at max_tokens."""
    device = next(model.parameters()).device
    model.eval()
    generator = make_generator(device, seed)
    rows = num_outputs * beam
    stepper = make_stepper(model, rows, condition)
    logits = stepper.feed(torch.tensor(primer, dtype=torch.long, device=device).expand(rows, -1))
    scores = torch.full((num_outputs, beam), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: let only the first one branch
    history = torch.zeros(rows, 0, dtype=torch.long, device=device)
    progress = torch.zeros(rows, dtype=torch.float64)  # on the CPU: mps has no float64
    target -= 1e-9  # sums of float time steps land a hair under a round target
    group_start = torch.arange(num_outputs, device=device)[:, None] * beam
    for _ in range(max_tokens):
        log_probs = logits.float().log_softmax(-1)
        branch = min(beam, log_probs.size(-1))
        if strategy.argmax:
            candidates = log_probs.topk(branch, dim=-1).indices
        else:
            probs = filter_logits(logits, strategy.temperature, strategy.top_k, strategy.top_p).softmax(-1)
            enough = bool(((probs > 0).sum(-1) >= branch).all())
            candidates = torch.multinomial(probs, branch, replacement=not enough, generator=generator)
        totals = (scores.reshape(rows, 1) + log_probs.gather(1, candidates)).reshape(num_outputs, beam * branch)
        best = totals.topk(beam, dim=-1)
        parents = (group_start + best.indices // branch).reshape(-1)
        chosen = candidates.reshape(num_outputs, beam * branch).gather(1, best.indices).reshape(-1)
        stepper.reorder(parents)
        history = torch.cat([history[parents], chosen[:, None]], dim=1)
        progress = progress[parents.cpu()] + weights[chosen.cpu()]
        scores = best.values
        if bool((progress.reshape(num_outputs, beam)[:, 0] >= target).all()):
            break
        logits = stepper.feed(chosen[:, None])
    return [history[g * beam].tolist() for g in range(num_outputs)]


# -- sampling a run (the `tunesmith sample` verb) ------------------------------------------------

def sample(loaded: Any, request: SampleRequest, echo: Callable[[str], None] | None = None,
           follow: Callable[[list[int]], None] | None = None) -> Samples:
    """Generate what `request` asks of a loaded run (see api.open_model). Outputs go to files at
    `request.out` (a file or a folder, see media.files.output_paths), except text with no `out`,
    which comes back in the result; with `echo`, a single text output also goes to it as it is
    made; with `follow`, a single output's tokens so far (its prefix first; one list that grows)
    go to it after every step, for a player that decodes them as they come (live MIDI). Audio is
    written block by block as it is generated, so its items are not kept."""
    request.check()
    for value, what in ((request.similar_to, "phrases similar to a file"), (request.bars, "a length in bars")):
        if value:
            raise UserError(f"{what}: only a MusicVAE run makes those; this is a {loaded.recipe.name} run")
    if request.pitch is not None or request.interpolate:
        raise UserError(f"a pitch or an interpolation of timbres: only a GANSynth run makes notes; this is a "
                        f"{loaded.recipe.name} run")
    options, strategy, out, num_outputs = request.options, request.strategy, request.out, request.num_outputs
    codec, domain, model = loaded.codec, loaded.recipe.domain, loaded.model
    context, prefix = domain.context(codec, options)
    condition = domain.condition(codec, options)
    if request.beam and domain.streams:
        raise UserError(f"beam search is for text and MIDI runs; a {domain.name} run is sampled one token at a time")
    if request.sample_on_spaces:
        strategy.boundary_tokens = codec.boundary_tokens()
    weights, target, unit, scale = request.length.measure(codec, codec.vocab_size, domain.qpm(options))
    # a safety stop for steps and seconds: tokens that move no time (note events) come between those that do
    every_token_counts_one = bool((weights == 1).all())
    max_tokens = int(target) if every_token_counts_one else int(16 * target / float(weights[weights > 0].min())) + 1000
    if domain.streams:  # audio: decoded and written block by block as it is generated
        named_file = None if out is None or names_folder(out, num_outputs) else Path(out)
        audio_format = domain.audio_format(named_file, options)
        paths = output_paths(out, num_outputs, "." + audio_format)
        with domain.writer(codec, prefix, paths, audio_format) as sink:
            generate_until(model, context, num_outputs, strategy, request.seed, max_tokens, weights, target, sink,
                           unit, scale, condition)
        for path in sink.paths:
            info(f"wrote {path}")
        return Samples(paths=sink.paths)
    to_caller = out is None and domain.to_stdout
    paths = [] if to_caller else output_paths(out, num_outputs, domain.suffix)  # a bad out fails before sampling
    streamed = echo is not None and to_caller and num_outputs == 1 and not request.beam
    if streamed:
        echo(domain.finish(codec, prefix, options))
    following = follow is not None and num_outputs == 1 and not request.beam
    so_far = list(prefix)

    def heard(tokens: list[int]) -> None:  # the single output's new token, each step
        if streamed:
            echo(codec.decode(tokens))
        if following:
            so_far.extend(tokens)
            follow(so_far)

    if request.beam:
        sequences = beam_search(model, context, num_outputs, request.beam, strategy, request.seed, max_tokens,
                                weights, target, condition)
    else:
        collected = Collect(num_outputs)
        generate_until(model, context, num_outputs, strategy, request.seed, max_tokens, weights, target, collected,
                       unit, scale, condition, heard if streamed or following else None)
        sequences = collected.rows
    items = [domain.finish(codec, prefix + tokens, options) for tokens in sequences]
    written = []
    for item, path in zip(items, paths):
        written.append(free_path(path))  # chosen again now: a file may have appeared meanwhile
        domain.write(item, written[-1], options)
        info(f"wrote {written[-1]}")
    return Samples(items, written, streamed)


def generate_until(model: torch.nn.Module, context: Any, num_outputs: int, strategy: Strategy,
                   seed: int | None, max_tokens: int, weights: torch.Tensor | None, target: float, sink,
                   unit: str = "tok", scale: float = 1.0, condition: int | torch.Tensor | None = None,
                   echo: Callable[[list[int]], None] | None = None, progress: bool = True) -> None:
    """The one generation loop. Sample until every output reaches `target` (each token adds
    `weights[token]`, or 1 when weights is None) or for max_tokens; each output is cut where it
    reached the target. Every BLOCK_STEPS steps, and at the end, the tokens go to
    `sink.write(block, keep)`: block [num_outputs, n] int64, keep [num_outputs] how many of each
    row belong to the output; nothing else is kept, so memory does not grow with the length. The
    bar shows progress times `scale` in `unit` (seconds of audio, steps, tokens) with rate and
    ETA. With `echo`, the single output's new tokens go to it as they are made (and no bar is shown)."""
    block = np.empty((num_outputs, BLOCK_STEPS), dtype=np.int64)
    filled, first_step = 0, 1  # columns of the block in use; the step of its first column
    reached = torch.zeros(num_outputs, dtype=torch.float64)
    cut = np.zeros(num_outputs, dtype=np.int64)  # the step at which each output reached the target (0: not yet)
    bar = Bar("sampling", target, unit, scale, silent=echo is not None or not progress)
    target -= 1e-9  # sums of float time steps land a hair under a round target

    def flush() -> None:
        keep = np.where(cut > 0, np.clip(cut - first_step + 1, 0, filled), filled)
        sink.write(block[:, :filled], keep)

    for step, tokens in enumerate(stream(model, context, max_tokens, num_outputs, strategy, seed, condition), 1):
        tokens = tokens.cpu()
        block[:, filled] = tokens.numpy()
        filled += 1
        if echo is not None:
            echo(tokens.tolist())
        before = float(reached.min())
        reached += 1 if weights is None else weights[tokens]
        cut[(cut == 0) & (reached >= target).numpy()] = step
        bar.update(min(float(reached.min()), target) - before)
        done = bool(cut.all())
        if filled == BLOCK_STEPS or done:
            flush()
            filled, first_step = 0, step + 1
        if done:
            break
    if filled:  # stopped by max_tokens inside a block
        flush()
    bar.close()


def make_preview(domain: Any, codec: Any, run: Path, seed: int, hp: dict[str, Any]):
    """At each checkpoint: `test_clips` short samples (1 for text and MIDI) into samples/ and
    TensorBoard; a style-conditioned model gives each clip the next style in turn."""
    count = hp.get("test_clips", 1)

    def preview(model: torch.nn.Module, step: int, writer) -> None:
        styles, condition = style_rotation(model, codec, count)
        rows = generate(model, codec.start_tokens(), hp["sample_length"], count, seed=seed + step,
                        condition=condition)
        (run / runs.SAMPLES).mkdir(exist_ok=True)
        for k, tokens in enumerate(rows, 1):
            item = domain.finish(codec, tokens, SampleOptions())
            name = f"step-{step:08d}" + (f"-{k}" if count > 1 else "")
            domain.write(item, run / runs.SAMPLES / f"{name}{domain.suffix}", SampleOptions())
            tag = "sample" if count == 1 else f"sample/{k}" + (f" ({styles[(k - 1) % len(styles)]})" if styles else "")
            domain.show(writer, tag, item, step)

    return preview


def style_rotation(model: torch.nn.Module, codec: Any, count: int) -> tuple[list[str], torch.Tensor | None]:
    """A globally conditioned model's styles (a WaveNet trained on sub-folders) and one style id
    per output, taking the styles in turn; no styles and no condition for other models."""
    styles = list(codec.styles) if getattr(model, "global_conditions", 0) else []
    return styles, (torch.arange(count) % len(styles) if styles else None)


def unprimed(opened: Any, count: int, length: int, seed: int) -> list[Any]:
    """`count` items of `length` tokens generated from the start tokens alone (styles in turn),
    decoded: what `eval` compares with held-out material."""
    info(f"generating {count} samples of {length:,} tokens for the statistics")
    codec = opened.codec
    condition = style_rotation(opened.model, codec, count)[1]
    rows = generate(opened.model, codec.start_tokens(), length, count, seed=seed, progress=True, condition=condition)
    return [codec.decode(row) for row in rows]


class Autoregressive:
    """The generator of next-token models: `sample` serves a request, `preview` makes the
    trainer's sample at each checkpoint, `unprimed` the material `eval` compares."""

    continues = True  # it continues a primer token by token (live MIDI answers and follows it)
    sample = staticmethod(sample)
    preview = staticmethod(make_preview)
    unprimed = staticmethod(unprimed)


AUTOREGRESSIVE = Autoregressive()
