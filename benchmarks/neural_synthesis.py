"""Benchmark of neural synthesis of notes: GANSynth (one pass of the generator for a batch of notes,
then the inverse STFT) against the NSynth-style WaveNet autoencoder (its decoder's fast stepper, one
sample at a time for a batch of notes), in notes per second, in one run; prints one JSON line.

Both make 1-s notes at 8 kHz (the recipes' defaults). GANSynth is timed at batch 64 over --repeats
batches, from a latent vector and a pitch to the waveform. The autoencoder is timed synthesizing a
batch of --nsynth-batch notes from random codes (encoding is one parallel pass and left out). By
default both are the recipes' default-sized models with random weights (the time does not depend
on the weights); --gansynth RUN and --nsynth RUN time trained runs or bundled models instead.
"times real time" is seconds of sound made per second of compute; the per-note ratio divides
GANSynth's notes per second by the autoencoder's. The JSON also gives torch's thread count and the
1-minute load average before and after: on a shared machine other processes slow both.

    .venv/bin/python benchmarks/neural_synthesis.py
    .venv/bin/python benchmarks/neural_synthesis.py --gansynth gansynth-notes --nsynth runs/nsynth-...
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from tunesmith.codecs.quantize import QuantizeCodec
from tunesmith.codecs.specgram import SpecgramCodec
from tunesmith.generation.autoencoder import synthesis_speed
from tunesmith.recipes import RECIPES


def defaults(recipe: str) -> dict:
    return {name: param.default for name, param in RECIPES[recipe].params.items()}


def gansynth_model(run: str | None) -> tuple[torch.nn.Module, SpecgramCodec]:
    if run:
        from tunesmith import api

        opened = api.open_model(run)
        return opened.model, opened.codec
    hp = defaults("gansynth")
    codec = SpecgramCodec(hp["sample_rate"], round(hp["seconds"] * hp["sample_rate"]), hp["bins"], hp["mel"],
                          hp["min_pitch"], hp["max_pitch"])
    return RECIPES["gansynth"].build_model(hp, codec).eval(), codec


def nsynth_model(run: str | None):
    if run:
        from tunesmith import api

        return api.open_model(run)
    hp = defaults("nsynth")
    codec = QuantizeCodec(q_levels=hp["q_levels"], sample_rate=hp["sample_rate"])
    return RECIPES["nsynth"].build_model(hp, codec).eval()


@torch.inference_mode()
def gansynth_speed(model: torch.nn.Module, codec: SpecgramCodec, batch: int, repeats: int, seed: int) -> dict:
    draw = torch.Generator().manual_seed(seed)
    pitch = torch.randint(0, codec.pitches, (batch,), generator=draw)

    def one_batch() -> np.ndarray:
        return codec.decode_specgrams(model.generate(model.sample_z(batch, draw), pitch))

    one_batch()  # warm-up
    began = time.perf_counter()
    for _ in range(repeats):
        waves = one_batch()
    elapsed = time.perf_counter() - began
    assert waves.shape == (batch, codec.samples)
    notes_per_second = batch * repeats / elapsed
    return {"batch": batch, "batches": repeats, "seconds": round(elapsed, 3),
            "note_seconds": codec.samples / codec.sample_rate, "notes_per_second": round(notes_per_second, 1),
            "times_real_time": round(notes_per_second * codec.samples / codec.sample_rate, 1),
            "parameters_generator": sum(p.numel() for p in model.generator.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gansynth", help="a GANSynth run or bundled model (default: the recipe's size, random weights)")
    parser.add_argument("--nsynth", help="an nsynth run (default: the recipe's size, random weights)")
    parser.add_argument("--batch", type=int, default=64, help="GANSynth's batch")
    parser.add_argument("--repeats", type=int, default=5, help="GANSynth batches timed")
    parser.add_argument("--nsynth-batch", type=int, default=8, help="notes the autoencoder synthesizes at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's own choice)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    load_before = os.getloadavg()[0]
    model, codec = gansynth_model(args.gansynth)
    gansynth = gansynth_speed(model, codec, args.batch, args.repeats, args.seed)
    nsynth = synthesis_speed(nsynth_model(args.nsynth), args.nsynth_batch, seed=args.seed)
    nsynth = {name: round(value, 3) if isinstance(value, float) else value for name, value in nsynth.items()}
    nsynth["times_real_time"] = round(nsynth["notes_per_second"] * nsynth["note_seconds"], 4)
    print(json.dumps({
        "benchmark": "neural_synthesis", "threads": torch.get_num_threads(),
        "gansynth": {"model": args.gansynth or "recipe defaults, random weights", **gansynth},
        "nsynth": {"model": args.nsynth or "recipe defaults, random weights", **nsynth},
        "gansynth_over_nsynth_per_note": round(gansynth["notes_per_second"] / nsynth["notes_per_second"], 1),
        "targets": {"gansynth_times_real_time": 100, "gansynth_over_nsynth_per_note": 1000},
        "device": "cpu", "cpu_count": os.cpu_count(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }))


if __name__ == "__main__":
    main()
