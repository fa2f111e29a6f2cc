"""Benchmark of SampleRNN generation: audio seconds generated per wall-clock second, at batch 1 and
at batch 16 (all outputs of a batch advance together), through the project's real sampler loop
(`tunesmith.generation.autoregressive.stream`, multinomial sampling); prints one JSON line.

The model is the samplernn recipe's default (3 tiers, frames of 64 and 16 samples, dim 256, one GRU
layer, weight norm, q_levels 256) with random weights: the timing does not depend on them. Each
batch size is timed on --seconds of audio per output (the stepper's creation and the one-sample
primer included), best of --repeats. The JSON also splits a step's cost: the stepper's `feed` alone
(the same tokens, no sampling) and the sampler's own work per step (`choose` on logits of the same
shape: softmax and multinomial). The 1-minute load average before and after is in the JSON: on a
shared machine, other processes' load (and torch's threads waiting for each other under it) slows
the batch-16 matmuls most; --threads 1 shows the cost without intra-op threads.

    .venv/bin/python benchmarks/samplernn_generation.py
    .venv/bin/python benchmarks/samplernn_generation.py --seconds 4 --batches 1 4 16 64
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from tunesmith.models.samplernn import SampleRNN
from tunesmith.generation.autoregressive import stream
from tunesmith.generation.strategies import Strategy, choose, make_generator

SETTINGS = dict(tiers=3, frame_size=16, big_frame_size=64, dim=256, n_rnn=1, rnn_type="gru", learn_h0=True,
                skip_conn=False, weight_norm=True, emb_size=64)


def stream_seconds(model: SampleRNN, samples: int, batch: int) -> float:
    start = time.perf_counter()
    for _ in stream(model, primer=[model.q_levels // 2], length=samples, num_outputs=batch, seed=0):
        pass
    return time.perf_counter() - start


@torch.no_grad()
def feed_seconds(model: SampleRNN, samples: int, batch: int) -> float:
    """The stepper alone on random tokens: the cost of a step without the sampler."""
    tokens = torch.randint(model.q_levels, (batch, samples), generator=torch.Generator().manual_seed(0))
    stepper = model.stepper(batch)
    stepper.feed(tokens[:, :1])
    start = time.perf_counter()
    for t in range(1, samples):
        stepper.feed(tokens[:, t:t + 1])
    return (time.perf_counter() - start) / (samples - 1)


@torch.no_grad()
def choose_seconds(model: SampleRNN, samples: int, batch: int) -> float:
    """The sampler's own work per step (softmax, multinomial) on logits of a step's shape."""
    logits = torch.randn(batch, model.q_levels)
    previous = torch.zeros(batch, dtype=torch.long)
    strategy, generator = Strategy(), make_generator(torch.device("cpu"), 0)
    start = time.perf_counter()
    for _ in range(samples):
        previous = choose(logits, previous, strategy, generator)
    return (time.perf_counter() - start) / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="audio per output")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--q-levels", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's own choice)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = SampleRNN(args.q_levels, **SETTINGS).eval()
    samples = round(args.seconds * args.sample_rate)
    stream_seconds(model, 1000, 1)  # warm-up
    load_before = os.getloadavg()[0]
    results = []
    for batch in args.batches:
        seconds = min(stream_seconds(model, samples, batch) for _ in range(args.repeats))
        per_stream = samples / seconds
        feed = feed_seconds(model, min(samples, 4000), batch)
        choose_step = choose_seconds(model, 4000, batch)
        results.append({
            "batch": batch, "samples_per_output": samples, "seconds": round(seconds, 3),
            "samples_per_s_per_stream": round(per_stream, 1), "samples_per_s_aggregate": round(batch * per_stream, 1),
            "real_time_factor_per_stream": round(per_stream / args.sample_rate, 3),
            "real_time_factor_aggregate": round(batch * per_stream / args.sample_rate, 3),
            "us_per_step": round(seconds / samples * 1e6, 1), "stepper_feed_us_per_step": round(feed * 1e6, 1),
            "sampler_choose_us_per_step": round(choose_step * 1e6, 1),
        })
    print(json.dumps({
        "benchmark": "samplernn_generation", "device": "cpu", "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "model": {"q_levels": args.q_levels, **SETTINGS}, "sample_rate": args.sample_rate,
        "parameters": sum(p.numel() for p in model.parameters()),
        "sampler": "tunesmith.generation.autoregressive.stream(model, primer=[q_levels // 2], length, num_outputs=batch, seed=0)",
        "results": results,
    }))


if __name__ == "__main__":
    main()
