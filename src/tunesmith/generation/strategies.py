"""Decoding strategies: temperature, top-k, top-p, argmax and sampling only at word boundaries,
applied to a batch of next-token logits with a seeded random generator."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tunesmith.errors import UserError


@dataclass
class Strategy:
    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0  # 1.0: no limit
    argmax: bool = False
    boundary_tokens: list[int] = field(default_factory=list)  # non-empty: sample only after these

    def check(self) -> None:
        if self.temperature <= 0:
            raise UserError("the temperature must be above 0; for greedy decoding take the likeliest token (argmax)")
        if self.top_k < 0:
            raise UserError("top_k must be 0 (no limit) or more")
        if not 0 < self.top_p <= 1:
            raise UserError("top_p must be in (0, 1]")


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


