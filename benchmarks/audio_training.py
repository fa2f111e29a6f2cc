"""Benchmark: training throughput (samples per second) and validation bits per sample of the
wavenet and samplernn recipes, each trained for the same number of minutes on the same audio
(default: the bundled chorales rendered to audio), with their default settings; one JSON line.
Throughput is predicted samples over the run's wall clock, its validations and test clips included;
validation bits are the trainer's last evaluation (the first eval_tokens samples of the validation
chunks, 65,536 by default).

    .venv/bin/python benchmarks/audio_training.py --minutes 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from tunesmith import runs
from tunesmith.training.trainer import Budget, train_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="chorales-audio", help="an audio folder or a bundled corpus name")
    parser.add_argument("--minutes", type=float, default=5.0, help="training minutes for each model")
    parser.add_argument("--recipes", default="wavenet,samplernn")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    results = {"benchmark": "audio_training", "data": args.data, "minutes": args.minutes,
               "torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes.split(","):
            run = Path(tmp) / recipe
            trained = train_recipe(recipe, args.data, run, Budget(minutes=args.minutes), [], args.seed)
            config = runs.read_config(run)
            hp = config["hparams"]
            records = runs.read_metrics(run)
            seconds = records[-1]["seconds"]
            # predicted samples per step: a SampleRNN window scores all but its look-back
            lookback = (hp["big_frame_size"] if hp["tiers"] == 3 else hp["frame_size"]) if recipe == "samplernn" else 1
            per_step = hp["batch_size"] * (hp["seq_len"] + 1 - lookback)
            results[recipe] = {
                "steps": trained["step"], "parameters": config["parameters"],
                "train_samples_per_second": round(trained["step"] * per_step / seconds),
                "val_bits_per_sample": round(records[-1]["val_bits"], 4),
                "val_samples": hp["eval_tokens"],
            }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
