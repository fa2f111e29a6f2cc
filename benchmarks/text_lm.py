"""Benchmark of the default char-rnn: train on a text for some minutes, then print one JSON line
with training characters per second, validation loss (nats and bits per character) and sampling
characters per second.

    .venv/bin/python benchmarks/text_lm.py --data lyrics --minutes 5
    .venv/bin/python benchmarks/text_lm.py --data big.txt --minutes 5 --set hidden_size=768
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch

from tunesmith import runs
from tunesmith.api import evaluate, open_model
from tunesmith.generation.autoregressive import generate
from tunesmith.training.trainer import Budget, train_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="lyrics", help="a text file or folder, or a bundled corpus name")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sample-chars", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        result = train_recipe("char-rnn", args.data, run, Budget(minutes=args.minutes), args.set, args.seed)
        config = runs.read_config(run)
        hp = config["hparams"]
        last = runs.read_metrics(run)[-1]
        train_chars_per_s = last["step"] * hp["batch_size"] * hp["seq_len"] / last["seconds"]
        val = evaluate(run, checkpoint="last")
        loaded = open_model(run, "last")
        start = time.perf_counter()
        generate(loaded.model, loaded.codec.start_tokens(), args.sample_chars, 1, seed=0)
        sample_chars_per_s = args.sample_chars / (time.perf_counter() - start)
    print(json.dumps({
        "benchmark": "text_lm", "data": args.data, "minutes": args.minutes, "settings": args.set,
        "threads": torch.get_num_threads(), "parameters": config["parameters"], "steps": result["step"],
        "train_chars_per_s": round(train_chars_per_s), "val_loss_nats": round(val["loss_nats"], 4),
        "val_bits_per_char": round(val["loss_nats"] / math.log(2), 4), "val_chars": val["tokens"],
        "sample_chars_per_s": round(sample_chars_per_s),
    }))


if __name__ == "__main__":
    main()
