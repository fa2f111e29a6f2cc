"""Copy a trained run into the package as a bundled pretrained model: config.toml, codec.json and
one checkpoint's weights (as float16, without optimizer state), plus TRAINED.md with the command.

    .venv/bin/python scripts/bundle_model.py runs/char-rnn-lyrics char-rnn-lyrics \
        --command "tunesmith train char-rnn --steps 3000 --seed 1 --run runs/char-rnn-lyrics"
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from safetensors.torch import save_file

from tunesmith import runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    parser.add_argument("--command", required=True, help="the exact `tunesmith train` command that made the run")
    parser.add_argument("--checkpoint", default="best")
    args = parser.parse_args()

    run = runs.open_run(args.run)
    checkpoint = runs.find_checkpoint(run, args.checkpoint)
    target = runs.PRETRAINED_DIR / args.name
    if target.exists():
        shutil.rmtree(target)
    folder = target / runs.CHECKPOINTS / checkpoint["path"].name
    folder.mkdir(parents=True)
    shutil.copy(run / runs.CONFIG, target / runs.CONFIG)
    shutil.copy(run / runs.CODEC, target / runs.CODEC)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in runs.load_weights(checkpoint).items()}
    save_file(weights, str(folder / runs.WEIGHTS))
    shutil.copy(checkpoint["path"] / runs.META, folder / runs.META)
    shutil.copy(run / runs.METRICS, target / runs.METRICS)
    config = runs.read_config(run)
    meta = json.loads((checkpoint["path"] / runs.META).read_text())
    (target / "TRAINED.md").write_text(
        f"# {args.name}\n\nTrained by tunesmith {config['tunesmith_version']} with:\n\n"
        f"    {args.command}\n\nrecipe {config['recipe']}, data `{config['data']}`, seed {config['seed']}, "
        f"{config['parameters']:,} parameters; bundled checkpoint: step {meta['step']}, validation loss "
        f"{meta['val_loss']:.4f} nats per token. Weights stored as float16 (sampling casts them to float32).\n"
        f"Rebuild: run the command above, then\n\n"
        f"    .venv/bin/python scripts/bundle_model.py RUN {args.name} --command \"...\"\n",
        encoding="utf-8")
    print(f"bundled {run} step {meta['step']} as {target}")


if __name__ == "__main__":
    main()
