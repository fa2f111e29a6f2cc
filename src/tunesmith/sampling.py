"""Decoding strategies (temperature, top-k, top-p, argmax, sampling only at word boundaries) and
the one generation loop over any model's stepper: a primer, a batch of outputs, a seed."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from tunesmith.domains import DEFAULT_SECONDS, SampleOptions
from tunesmith.errors import UserError, info

OUTPUT_STEM = "sample"  # the name of outputs written into a folder: sample.mid, sample-1.mid, ...
BLOCK_STEPS = 4096  # steps handed to a sink at once: generation holds no more tokens than this per output


@dataclass
class Strategy:
    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0  # 1.0: no limit
    argmax: bool = False
    boundary_tokens: list[int] = field(default_factory=list)  # non-empty: sample only after these

    def check(self) -> None:
        if self.temperature <= 0:
            raise UserError("--temperature must be above 0; use --argmax for greedy decoding")
        if self.top_k < 0:
            raise UserError("--top-k must be 0 (no limit) or more")
        if not 0 < self.top_p <= 1:
            raise UserError("--top-p must be in (0, 1]")


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> torch.Tensor:
    """Logits [batch, vocab] scaled by temperature, with tokens outside the top-k and outside the
    smallest set whose probability reaches top-p set to -inf (the best token always stays)."""
    logits = logits.float() / temperature
    if 0 < top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > top_p  # the mass before a token already reaches top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def choose(logits: torch.Tensor, previous: torch.Tensor, strategy: Strategy,
           generator: torch.Generator) -> torch.Tensor:
    """The next token [batch] for each sequence of the batch."""
    if strategy.argmax:
        return logits.argmax(-1)
    if strategy.temperature != 1.0 or strategy.top_k or strategy.top_p < 1.0:
        logits = filter_logits(logits, strategy.temperature, strategy.top_k, strategy.top_p)
    sampled = draw(logits.float().softmax(-1), generator)
    if strategy.boundary_tokens:
        at_boundary = torch.isin(previous, torch.tensor(strategy.boundary_tokens, device=previous.device))
        return torch.where(at_boundary, sampled, logits.argmax(-1))
    return sampled


def draw(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row of probs [batch, vocab], by inverse transform sampling: one uniform number
    per row against the cumulative distribution (torch.multinomial draws one per vocabulary entry,
    which at batch 16 cost SampleRNN generation a third of its time). Zero-probability tokens are
    never drawn."""
    cdf = probs.cumsum(-1)
    u = torch.rand(probs.size(0), 1, generator=generator, device=probs.device, dtype=cdf.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_(max=probs.size(-1) - 1)


def make_generator(device: torch.device, seed: int | None) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


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

def free_path(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`, ... if it exists: a user's file is never overwritten."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def names_folder(out: str | Path, count: int = 1) -> bool:
    """Whether `out` (as typed: Path drops a trailing slash) names a folder for `count` outputs:
    it ends in a slash, it is a folder already, or it has no suffix and there are several outputs."""
    text = str(out)
    return (text.endswith(("/", os.sep)) or Path(text).expanduser().is_dir()
            or (count > 1 and not Path(text).suffix))


def output_paths(out: str | Path | None, count: int, suffix: str) -> list[Path]:
    """Where `count` outputs go (default: the current folder). Into a folder (see names_folder;
    made if missing): sample.ext for one output, sample-1.ext, sample-2.ext, ... for several.
    To a file: that name (`suffix` added when it has none), or name-1.ext, name-2.ext, ... beside
    it. A name already taken becomes name-2.ext (free_path): nothing is overwritten."""
    out = "." if out is None else str(out)
    path = Path(out).expanduser()
    if names_folder(out, count):
        folder, stem = path, OUTPUT_STEM
    else:
        folder, stem, suffix = path.parent, path.stem, path.suffix or suffix
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"--out {out}: {folder} is a file, not a folder; give another name") from None
    except OSError as err:
        raise UserError(f"--out {out}: cannot make the folder {folder} ({err.strerror})") from None
    if count == 1:
        return [free_path(folder / f"{stem}{suffix}")]
    return [free_path(folder / f"{stem}-{i}{suffix}") for i in range(1, count + 1)]


@dataclass
class Length:
    """How long each output is: `amount` of the codec's length unit, or `seconds` of music."""

    amount: int | None = None  # default: 128 steps for grid codecs, 5 seconds of audio, 500 tokens for others
    seconds: float | None = None

    def measure(self, codec, vocab_size: int, qpm: float) -> tuple[torch.Tensor, float, str, float]:
        """Per-token progress, the target, its unit, and the scale that shows progress in that unit.
        When every token lasts as long (raw audio: a token is a sample), progress counts whole
        tokens, so the length is exact, and is shown in seconds."""
        seconds = torch.tensor([codec.seconds(t, qpm) for t in range(vocab_size)], dtype=torch.float64)
        per_token = float(seconds[0])
        every_token_lasts = per_token > 0 and bool((seconds == per_token).all())
        if self.seconds is not None:
            if not bool(seconds.any()):
                raise UserError(f"--seconds is not available for a {codec.name} model; use --length")
            if every_token_lasts:
                return torch.ones(vocab_size), max(1, round(self.seconds / per_token)), "s", per_token
            return seconds, self.seconds, "s", 1.0
        if codec.length_unit == "step":
            steps = torch.tensor([float(codec.steps(t)) for t in range(vocab_size)], dtype=torch.float64)
            return steps, self.amount or 128, "step", 1.0
        if every_token_lasts:
            return torch.ones(vocab_size), self.amount or round(DEFAULT_SECONDS / per_token), "s", per_token
        return torch.ones(vocab_size), self.amount or 500, "tok", 1.0


def sample_run(name: str | Path, options: SampleOptions | None = None, length: Length | None = None,
               num_outputs: int = 1, strategy: Strategy | None = None, beam: int = 0, seed: int | None = None,
               checkpoint: str = "best", out: str | Path | None = None, sample_on_spaces: bool = False) -> list[Any]:
    """Generate from a run; outputs go to files at `out` (a file or a folder, see output_paths;
    text: to stdout without it). Returns them: texts or pieces, or for audio (written as it is
    generated) the paths written."""
    from tunesmith.recipes import load_run

    options, length, strategy = options or SampleOptions(), length or Length(), strategy or Strategy()
    strategy.check()
    too_short = ((length.amount is not None and length.amount < 1)
                 or (length.seconds is not None and length.seconds <= 0))
    if too_short or num_outputs < 1 or beam < 0:
        raise UserError("--length, --seconds and --num-outputs must be above 0, --beam 0 or more")
    loaded = load_run(name, checkpoint)
    codec, domain, model = loaded.codec, loaded.recipe.domain, loaded.model
    context, prefix = domain.context(codec, options)
    condition = domain.condition(codec, options)
    if beam and domain.streams:
        raise UserError(f"--beam is for text and MIDI runs; a {domain.name} run is sampled one token at a time")
    if sample_on_spaces:
        strategy.boundary_tokens = codec.boundary_tokens()
    weights, target, unit, scale = length.measure(codec, codec.vocab_size, domain.qpm(options))
    # a safety stop for steps and seconds: tokens that move no time (note events) come between those that do
    every_token_counts_one = bool((weights == 1).all())
    max_tokens = int(target) if every_token_counts_one else int(16 * target / float(weights[weights > 0].min())) + 1000
    if domain.streams:  # audio: decoded and written block by block as it is generated
        named_file = None if out is None or names_folder(out, num_outputs) else Path(out)
        audio_format = domain.audio_format(named_file, options)
        paths = output_paths(out, num_outputs, "." + audio_format)
        with domain.writer(codec, prefix, paths, audio_format) as sink:
            generate_until(model, context, num_outputs, strategy, seed, max_tokens, weights, target, sink, unit,
                           scale, condition)
        for path in sink.paths:
            info(f"wrote {path}")
        return sink.paths
    to_stdout = out is None and domain.to_stdout
    paths = [] if to_stdout else output_paths(out, num_outputs, domain.suffix)  # a bad --out fails before sampling
    echo = codec if to_stdout and num_outputs == 1 and not beam else None  # stream text as it comes
    if echo:
        sys.stdout.write(domain.finish(codec, prefix, options))
    if beam:
        sequences = beam_search(model, context, num_outputs, beam, strategy, seed, max_tokens, weights, target,
                                condition)
    else:
        collected = Collect(num_outputs)
        generate_until(model, context, num_outputs, strategy, seed, max_tokens, weights, target, collected, unit,
                       scale, condition, echo)
        sequences = collected.rows
    items = [domain.finish(codec, prefix + tokens, options) for tokens in sequences]
    if to_stdout:
        for i, item in enumerate(items, 1):
            sys.stdout.write("\n" if echo else f"--- sample {i} ---\n{item}\n" if num_outputs > 1 else f"{item}\n")
        return items
    for item, path in zip(items, paths):
        path = free_path(path)  # chosen again now: a file may have appeared meanwhile
        domain.write(item, path, options)
        info(f"wrote {path}")
    return items


def generate_until(model: torch.nn.Module, context: Any, num_outputs: int, strategy: Strategy,
                   seed: int | None, max_tokens: int, weights: torch.Tensor | None, target: float, sink,
                   unit: str = "tok", scale: float = 1.0, condition: int | torch.Tensor | None = None, echo=None,
                   progress: bool = True) -> None:
    """The one generation loop. Sample until every output reaches `target` (each token adds
    `weights[token]`, or 1 when weights is None) or for max_tokens; each output is cut where it
    reached the target. Every BLOCK_STEPS steps, and at the end, the tokens go to
    `sink.write(block, keep)`: block [num_outputs, n] int64, keep [num_outputs] how many of each
    row belong to the output; nothing else is kept, so memory does not grow with the length. The
    bar shows progress times `scale` in `unit` (seconds of audio, steps, tokens) with rate and
    ETA. With `echo` (a text codec), the single output is written to stdout as it is made."""
    block = np.empty((num_outputs, BLOCK_STEPS), dtype=np.int64)
    filled, first_step = 0, 1  # columns of the block in use; the step of its first column
    reached = torch.zeros(num_outputs, dtype=torch.float64)
    cut = np.zeros(num_outputs, dtype=np.int64)  # the step at which each output reached the target (0: not yet)
    count = "{n:.1f}/{total:.1f}" if unit == "s" else "{n:.0f}/{total:.0f}"
    bar = tqdm(total=target, unit=unit, unit_scale=scale, desc="sampling", leave=False, dynamic_ncols=True,
               disable=echo is not None or not progress,
               bar_format="{l_bar}{bar}| " + count + " {unit} [{elapsed}<{remaining}, {rate_noinv_fmt}]")
    target -= 1e-9  # sums of float time steps land a hair under a round target

    def flush() -> None:
        keep = np.where(cut > 0, np.clip(cut - first_step + 1, 0, filled), filled)
        sink.write(block[:, :filled], keep)

    for step, tokens in enumerate(stream(model, context, max_tokens, num_outputs, strategy, seed, condition), 1):
        tokens = tokens.cpu()
        block[:, filled] = tokens.numpy()
        filled += 1
        if echo is not None:
            sys.stdout.write(echo.decode(tokens.tolist()))
            sys.stdout.flush()
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
