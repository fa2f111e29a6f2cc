"""Benchmark of Music Transformer generation: seconds to sample N tokens (batch 1, from a one-token
primer) with the key/value-cache stepper, against the naive way, a full re-run of the model on the
prefix for every token; prints one JSON line.

The naive way is timed on the first --naive-tokens tokens (by default the window and 128 more), then
extrapolated: past the window the prefix is cropped to the last max_relative tokens (as nanoGPT
does), so every further token costs the same, the mean of the measured tokens past the window.
The weights are random: the timing does not depend on them.

    .venv/bin/python benchmarks/transformer_generation.py
    .venv/bin/python benchmarks/transformer_generation.py --tokens 4096 --set layers=6
"""

from __future__ import annotations

import argparse
import json
import time

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
    print(json.dumps({
        "benchmark": "transformer_generation", "threads": torch.get_num_threads(), "vocab": args.vocab,
        "model": config, "parameters": sum(p.numel() for p in model.parameters()), "tokens": args.tokens,
        f"cached_seconds_{args.tokens}": round(cached, 3),
        "cached_tokens_per_s": round(args.tokens / cached, 1),
        f"naive_seconds_{args.tokens}": round(naive_total, 2),
        "naive_measured_tokens": naive_tokens, "naive_measured_seconds": round(sum(naive), 3),
        "naive_extrapolation": f"+ {args.tokens - naive_tokens} tokens x {per_token_past_window:.4f} s, the "
                               f"measured mean of a token past the window (a forward over {model.max_relative})",
        "speedup": round(naive_total / cached, 1),
    }))


if __name__ == "__main__":
    main()
