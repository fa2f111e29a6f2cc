"""Decoding strategies (temperature, top-k, top-p, argmax, sampling only at word boundaries) and
the one generation loop over any model's stepper: a primer, a batch of outputs, a seed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from tunesmith.errors import UserError, info, warn


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
    sampled = torch.multinomial(logits.float().softmax(-1), 1, generator=generator).squeeze(-1)
    if strategy.boundary_tokens:
        at_boundary = torch.isin(previous, torch.tensor(strategy.boundary_tokens, device=previous.device))
        return torch.where(at_boundary, sampled, logits.argmax(-1))
    return sampled


def make_generator(device: torch.device, seed: int | None) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


@torch.no_grad()
def stream(model: torch.nn.Module, primer: list[int], length: int, num_outputs: int = 1,
           strategy: Strategy | None = None, seed: int | None = None) -> Iterator[torch.Tensor]:
    """Yield `length` steps of new tokens, each [num_outputs], all outputs advancing together.
    `primer` conditions every output (it needs at least one token: the codec's start token)."""
    strategy = strategy or Strategy()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        generator = make_generator(device, seed)
        stepper = model.stepper(num_outputs)
        context = torch.tensor(primer, dtype=torch.long, device=device).expand(num_outputs, -1)
        logits = stepper.feed(context)
        previous = context[:, -1]
        for _ in range(length):
            previous = choose(logits, previous, strategy, generator)
            yield previous
            logits = stepper.feed(previous[:, None])
    finally:
        model.train(was_training)


def generate(model: torch.nn.Module, primer: list[int], length: int, num_outputs: int = 1,
             strategy: Strategy | None = None, seed: int | None = None,
             progress: bool = False) -> list[list[int]]:
    """`num_outputs` lists of `length` new tokens (the primer not included)."""
    steps = stream(model, primer, length, num_outputs, strategy, seed)
    if progress:
        steps = tqdm(steps, total=length, unit="tok", desc="sampling", leave=False, dynamic_ncols=True)
    columns = [tokens.cpu() for tokens in steps]
    if not columns:
        return [[] for _ in range(num_outputs)]
    return torch.stack(columns, dim=1).tolist()


# -- sampling a run (the `tunesmith sample` verb) ------------------------------------------------

def free_path(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`, ... if it exists: a user's file is never overwritten."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def output_paths(out: Path, count: int, suffix: str) -> list[Path]:
    """Where K outputs go: `out` itself for one (a folder gets sample.ext), or out-1, out-2, ..."""
    if out.is_dir():
        out = out / f"sample{suffix}"
    elif not out.suffix:
        out = out.with_suffix(suffix)
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: the folder {out.parent} does not exist")
    if count == 1:
        return [free_path(out)]
    return [free_path(out.with_name(f"{out.stem}-{i}{out.suffix}")) for i in range(1, count + 1)]


def sample_run(name: str | Path, length: int = 500, num_outputs: int = 1, strategy: Strategy | None = None,
               primer: str | None = None, seed: int | None = None, checkpoint: str = "best",
               out: Path | None = None, sample_on_spaces: bool = False) -> list[Any]:
    """Generate from a run; outputs go to files under `out`, or to stdout for text. Returns them."""
    from tunesmith.recipes import load_run

    strategy = strategy or Strategy()
    strategy.check()
    if length < 1 or num_outputs < 1:
        raise UserError("--length and --num-outputs must be at least 1")
    loaded = load_run(name, checkpoint)
    codec = loaded.codec
    primer_tokens: list[int] = []
    if primer:
        unknown = codec.unknown(primer)
        if unknown:
            shown = " ".join(repr(u) for u in unknown[:20])
            warn(f"the primer has {len(unknown)} character(s) this model never saw, left out: {shown}")
        primer_tokens = codec.encode(primer)
    if sample_on_spaces:
        strategy.boundary_tokens = codec.boundary_tokens()
    context = primer_tokens or codec.start_tokens()
    to_stdout = out is None and loaded.recipe.sample_suffix == ".txt"
    if to_stdout and num_outputs == 1:  # stream text as it comes
        sys.stdout.write(codec.decode(primer_tokens))
        new = []
        for token in stream(loaded.model, context, length, 1, strategy, seed):
            new.append(int(token[0]))
            sys.stdout.write(codec.decode(new[-1:]))
            sys.stdout.flush()
        sys.stdout.write("\n")
        return [codec.decode(primer_tokens + new)]
    generated = generate(loaded.model, context, length, num_outputs, strategy, seed, progress=True)
    items = [codec.decode(primer_tokens + tokens) for tokens in generated]
    if to_stdout:
        for i, item in enumerate(items, 1):
            sys.stdout.write(f"--- sample {i} ---\n{item}\n")
        return items
    paths = output_paths(Path(out if out is not None else "."), num_outputs, loaded.recipe.sample_suffix)
    for item, path in zip(items, paths):
        loaded.recipe.write_sample(item, path)
        info(f"wrote {path}")
    return items
