"""Benchmark of Music Transformer generation: seconds to sample N tokens (batch 1, from a one-token
primer) with the key/value-cache stepper, against two naive ways; prints one JSON line.

- Full re-run: every token re-runs the model on the whole prefix with attention limited to the
  last max_relative positions, which gives exactly the cache's logits (tested). Its cost is
  measured as one forward at prefix lengths 1, 64, 256, 512, 1024, ... N and summed over every
  prefix length by linear interpolation.
- Cropped re-run (nanoGPT's way): every token re-runs the model on the prefix cropped to the last
  max_relative tokens (not the same logits past the window for a deep model). It is timed on the
  first --naive-tokens tokens, then extrapolated at the mean cost of a token past the window.
The weights are random: the timing does not depend on them.

    .venv/bin/python benchmarks/transformer_generation.py
    .venv/bin/python benchmarks/transformer_generation.py --tokens 4096 --set layers=6
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from tunesmith.models.music_transformer import DEFAULTS, MusicTransformer


def sample(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)  # [batch, 1]


@torch.no_grad()
def cached_seconds(model: MusicTransformer, tokens: int, generator: torch.Generator) -> float:
    start = time.perf_counter()
    stepper = model.stepper(1)
    logits = stepper.feed(torch.zeros(1, 1, dtype=torch.long))
    for _ in range(tokens):
        logits = stepper.feed(sample(logits, generator))
    return time.perf_counter() - start


@torch.no_grad()
def naive_seconds(model: MusicTransformer, tokens: int, generator: torch.Generator) -> list[float]:
    """Seconds spent on each token when every token re-runs the model on the (cropped) prefix."""
    seconds = []
    sequence = torch.zeros(1, 1, dtype=torch.long)
    for _ in range(tokens):
        start = time.perf_counter()
        logits = model(sequence[:, -model.max_relative:])[:, -1]
        sequence = torch.cat([sequence, sample(logits, generator)], dim=1)
        seconds.append(time.perf_counter() - start)
    return seconds


@torch.no_grad()
def full_rerun_seconds(model: MusicTransformer, tokens: int, vocab: int) -> float:
    """Sum over prefix lengths 1..tokens of one forward over the whole prefix (interpolated)."""
    lengths = sorted({1, 64, *[length for length in (256, 512, 1024, 2048, 4096, 8192) if length < tokens], tokens})
    seconds = []
    for length in lengths:
        sequence = torch.randint(vocab, (1, length))
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            model(sequence, window=model.max_relative)
            best = min(best, time.perf_counter() - start)
        seconds.append(best)
    return float(np.interp(np.arange(1, tokens + 1), lengths, seconds).sum())


def parse_settings(settings: list[str]) -> dict:
    config = dict(DEFAULTS)
    for setting in settings:
        key, value = setting.split("=", 1)
        config[key] = type(DEFAULTS[key])(value) if not isinstance(DEFAULTS[key], bool) else value == "true"
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--naive-tokens", type=int, default=0, help="0: max_relative + 128")
    parser.add_argument("--vocab", type=int, default=390, help="vocabulary size (the performance codec: ~390)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a DEFAULTS setting")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    config = parse_settings(args.set)
    model = MusicTransformer(args.vocab, **config).eval()
    generator = torch.Generator().manual_seed(args.seed)
    cached_seconds(model, 32, generator)  # warm-up
    cached = cached_seconds(model, args.tokens, generator)
    naive_tokens = min(args.naive_tokens or model.max_relative + 128, args.tokens)
    naive = naive_seconds(model, naive_tokens, generator)
    past_window = naive[model.max_relative:]  # tokens whose prefix is cropped to a full window
    if naive_tokens < args.tokens and not past_window:
        parser.error("--naive-tokens must go past max_relative to extrapolate")
    per_token_past_window = sum(past_window) / len(past_window) if past_window else 0.0
    naive_total = sum(naive) + (args.tokens - naive_tokens) * per_token_past_window
    full_total = full_rerun_seconds(model, args.tokens, args.vocab)
    print(json.dumps({
        "benchmark": "transformer_generation", "threads": torch.get_num_threads(), "vocab": args.vocab,
        "model": config, "parameters": sum(p.numel() for p in model.parameters()), "tokens": args.tokens,
        f"cached_seconds_{args.tokens}": round(cached, 3),
        "cached_tokens_per_s": round(args.tokens / cached, 1),
        f"full_rerun_seconds_{args.tokens}": round(full_total, 2),
        "speedup": round(full_total / cached, 1),
        f"cropped_rerun_seconds_{args.tokens}": round(naive_total, 2),
        "cropped_measured_tokens": naive_tokens, "cropped_measured_seconds": round(sum(naive), 3),
        "cropped_extrapolation": f"+ {args.tokens - naive_tokens} tokens x {per_token_past_window:.4f} s, the "
                                 f"measured mean of a token past the window (a forward over {model.max_relative})",
        "speedup_vs_cropped": round(naive_total / cached, 1),
    }))


if __name__ == "__main__":
    main()
