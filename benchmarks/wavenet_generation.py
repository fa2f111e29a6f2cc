"""Benchmark of WaveNet generation: seconds to sample N samples (batch 1) with the fast stepper (a
queue per conv, Paine et al. 2016) against the naive way (every new sample re-runs the model over
the last receptive_field samples); prints one JSON line.

The naive way is timed on --naive-samples samples, each with a full receptive field of history, and
extrapolated to N at its mean cost per sample (the JSON says so); it is the model's own forward in
inference mode. Both ways sample each new sample (softmax, multinomial) from the logits. The
weights are random: the timing does not depend on them. The JSON also gives the stepper's backend
(numpy on the CPU by default), torch's thread count (--threads sets it) and the 1-minute load
average before and after: on a shared machine, other processes' load slows both ways unevenly.

    .venv/bin/python benchmarks/wavenet_generation.py
    .venv/bin/python benchmarks/wavenet_generation.py --samples 16000 --layers-per-block 10 --blocks 4
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from tunesmith.models.wavenet import WaveNet, WaveNetStepper


def sample(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)  # [batch, 1]


def fast_seconds(model: WaveNet, samples: int, generator: torch.Generator, backend: str | None = None) -> float:
    start = time.perf_counter()
    stepper = WaveNetStepper(model, 1, backend=backend)
    logits = stepper.feed(torch.zeros(1, 1, dtype=torch.long))
    for _ in range(samples - 1):
        logits = stepper.feed(sample(logits, generator))
    return time.perf_counter() - start


@torch.inference_mode()
def naive_seconds(model: WaveNet, samples: int, generator: torch.Generator) -> float:
    field = model.receptive_field
    sequence = torch.randint(model.vocab_size, (1, field), generator=generator)
    start = time.perf_counter()
    for _ in range(samples):
        logits = model(sequence[:, -field:])[:, -1]
        sequence = torch.cat([sequence, sample(logits, generator)], dim=1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--naive-samples", type=int, default=40)
    parser.add_argument("--q-levels", type=int, default=256)
    parser.add_argument("--filter-width", type=int, default=2)
    parser.add_argument("--layers-per-block", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=["numpy", "torch"], help="the stepper's (default: numpy on the CPU)")
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's own choice)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = WaveNet(args.q_levels, filter_width=args.filter_width, layers_per_block=args.layers_per_block,
                    blocks=args.blocks).eval()
    generator = torch.Generator().manual_seed(args.seed)
    backend = WaveNetStepper(model, 1, backend=args.backend).backend
    load_before = os.getloadavg()[0]
    fast_seconds(model, 50, generator, backend)  # warm-up
    naive_seconds(model, 2, generator)
    fast = fast_seconds(model, args.samples, generator, backend)
    naive_measured = naive_seconds(model, args.naive_samples, generator)
    per_sample = naive_measured / args.naive_samples
    naive = per_sample * args.samples
    print(json.dumps({
        "benchmark": "wavenet_generation", "threads": torch.get_num_threads(), "q_levels": args.q_levels,
        "filter_width": args.filter_width, "layers": len(model.dilations),
        "receptive_field": model.receptive_field, "parameters": sum(p.numel() for p in model.parameters()),
        "samples": args.samples, "batch": 1,
        f"fast_seconds_{args.samples}": round(fast, 3), "fast_samples_per_s": round(args.samples / fast, 1),
        f"naive_seconds_{args.samples}": round(naive, 2),
        "naive_measured_samples": args.naive_samples, "naive_measured_seconds": round(naive_measured, 3),
        "naive_extrapolation": f"{args.samples} samples x {per_sample:.4f} s, the measured mean of a sample "
                               f"(a forward over the last {model.receptive_field} samples)",
        "speedup": round(naive / fast, 1),
        "fast_us_per_sample": round(fast / args.samples * 1e6, 1), "naive_ms_per_sample": round(per_sample * 1e3, 2),
        "backend": backend, "device": "cpu", "cpu_count": os.cpu_count(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }))


if __name__ == "__main__":
    main()
