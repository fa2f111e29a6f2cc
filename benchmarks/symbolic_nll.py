"""Benchmark: validation NLL of performance-rnn and music-transformer trained for the same number
of minutes on the same MIDI corpus (default: the bundled chorales), as one JSON line.

    .venv/bin/python benchmarks/symbolic_nll.py --minutes 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tunesmith import runs
from tunesmith.api import evaluate
from tunesmith.training.trainer import Budget, train_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="chorales", help="a MIDI folder or a bundled corpus name")
    parser.add_argument("--minutes", type=float, default=5.0, help="training minutes for each model")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    results = {"benchmark": "symbolic_nll", "data": args.data, "minutes": args.minutes}
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in ("performance-rnn", "music-transformer"):
            run = Path(tmp) / recipe
            trained = train_recipe(recipe, args.data, run, Budget(minutes=args.minutes), [], args.seed)
            evaluated = evaluate(run, checkpoint="last", samples=0)
            results[recipe] = {
                "steps": trained["step"], "parameters": runs.read_config(run)["parameters"],
                "val_nats_per_token": round(evaluated["loss_nats"], 4),
                "val_nats_per_second": round(evaluated["nats_per_second"], 3),
            }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
