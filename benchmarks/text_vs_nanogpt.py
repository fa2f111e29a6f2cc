"""Benchmark of the default char-rnn against nanoGPT's CPU recipe on the same text, for the same
minutes: prints one JSON line with both models' training characters per second and held-out loss.

    .venv/bin/python benchmarks/text_vs_nanogpt.py --text input.txt --nanogpt ~/src/nanoGPT --minutes 5
    .venv/bin/python benchmarks/text_vs_nanogpt.py --text input.txt --skip-nanogpt --minutes 0.05

The text is split as nanoGPT's prepare.py splits it: the first 90% of its characters train both
models (tunesmith holds out its usual validation share of it), the last 10% is the held-out tail.
nanoGPT runs from a checkout of karpathy/nanoGPT (never downloaded here) in a process of its own,
with its README's CPU recipe (4 layers, 4 heads, 128 wide, block 64, batch 12, no dropout) and
max_iters = lr_decay_iters set so that its training takes the same minutes, from an iteration
rate measured in a short first run. Both held-out losses are measured the same way: mean nats per
character of every character of the tail, read in consecutive, non-overlapping windows of each
model's training length (seq_len, block_size), each window from a fresh state.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tunesmith import runs
from tunesmith.api import evaluate
from tunesmith.training.trainer import Budget, train_recipe

# nanoGPT's CPU recipe (README, "I only have a macbook"), dropout off as there
NANOGPT_RECIPE = ["--device=cpu", "--compile=False", "--dtype=float32", "--block_size=64", "--batch_size=12",
                  "--n_layer=4", "--n_head=4", "--n_embd=128", "--dropout=0.0"]
CALIBRATION_ITERS = 100


def split_text(text: str) -> tuple[str, str]:
    """The first 90% of the characters (training) and the last 10% (the held-out tail)."""
    cut = int(len(text) * 0.9)
    return text[:cut], text[cut:]


def window_starts(length: int, window: int) -> range:
    """Starts of the consecutive windows of `window` + 1 tokens that fit a stream (as TokenWindows)."""
    return range(0, length - window, window)


# -- tunesmith ------------------------------------------------------------------------------------

def run_tunesmith(train_file: Path, tail_file: Path, work: Path, minutes: float, settings: list[str],
                  seed: int) -> dict:
    run = work / "tunesmith-run"
    train_recipe("char-rnn", str(train_file), run, Budget(minutes=minutes), settings, seed)
    config = runs.read_config(run)
    hp, last = config["hparams"], runs.read_metrics(run)[-1]
    held_out = evaluate(run, data=str(tail_file), checkpoint="last", samples=0)
    return {"parameters": config["parameters"], "steps": last["step"],
            "train_seconds": last["seconds"],
            "chars_per_s": round(last["step"] * hp["batch_size"] * hp["seq_len"] / last["seconds"]),
            "held_out_nats": round(held_out["loss_nats"], 4), "held_out_chars": held_out["tokens"]}


# -- nanoGPT --------------------------------------------------------------------------------------

def prepare_nanogpt_data(text: str, folder: Path) -> None:
    """train.bin, val.bin and meta.pkl as nanoGPT's data/shakespeare_char/prepare.py writes them."""
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    train, tail = split_text(text)
    folder.mkdir(parents=True)
    for name, part in (("train.bin", train), ("val.bin", tail)):
        np.array([stoi[ch] for ch in part], dtype=np.uint16).tofile(folder / name)
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}, f)


def train_nanogpt(checkout: Path, work: Path, out: Path, iters: int) -> list[float]:
    """Run nanoGPT's train.py for `iters` iterations (cosine decay over all of them), saving the final
    model in `out`; returns the seconds of each iteration from its log."""
    args = [sys.executable, str(checkout / "train.py"), str(checkout / "config/train_shakespeare_char.py"),
            *NANOGPT_RECIPE, "--dataset=bench", f"--out_dir={out}", f"--max_iters={iters}",
            f"--lr_decay_iters={iters}", f"--eval_interval={iters}", "--eval_iters=20", "--log_interval=1",
            "--always_save_checkpoint=True", f"--warmup_iters={min(100, iters // 5)}"]
    done = subprocess.run(args, cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"nanoGPT's train.py failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return [float(ms) / 1000 for ms in re.findall(r"^iter \d+: loss \S+, time ([\d.]+)ms", done.stdout, re.M)]


def nanogpt_held_out(checkout: Path, out: Path, tail: np.ndarray) -> tuple[float, int]:
    """Mean nats per character of the tail and the characters scored, in windows of block_size."""
    spec = importlib.util.spec_from_file_location("nanogpt_model", checkout / "model.py")
    nanogpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nanogpt)
    checkpoint = torch.load(out / "ckpt.pt", map_location="cpu", weights_only=False)
    model = nanogpt.GPT(nanogpt.GPTConfig(**checkpoint["model_args"]))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    block = checkpoint["model_args"]["block_size"]
    tokens = torch.from_numpy(tail.astype(np.int64))
    starts = list(window_starts(len(tokens), block))
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(starts), 64):
            rows = torch.stack([tokens[s: s + block + 1] for s in starts[i: i + 64]])
            _, loss = model(rows[:, :-1].contiguous(), rows[:, 1:].contiguous())
            total += loss.item() * rows[:, 1:].numel()
            count += rows[:, 1:].numel()
    return total / count, count


def run_nanogpt(checkout: Path, text: str, work: Path, minutes: float) -> dict:
    (work / "configurator.py").symlink_to(checkout / "configurator.py")  # train.py reads it from the cwd
    prepare_nanogpt_data(text, work / "data" / "bench")
    calibration = train_nanogpt(checkout, work, work / "nanogpt-calibration", CALIBRATION_ITERS)
    seconds_per_iter = statistics.mean(calibration[1:-1])  # without the evaluations at both ends
    iters = max(1, round(minutes * 60 / seconds_per_iter))
    seconds = train_nanogpt(checkout, work, work / "nanogpt-out", iters)
    tail = np.fromfile(work / "data" / "bench" / "val.bin", dtype=np.uint16)
    loss, scored = nanogpt_held_out(checkout, work / "nanogpt-out", tail)
    return {"steps": len(seconds), "train_seconds": round(sum(seconds), 1),
            "chars_per_s": round(len(seconds) * 12 * 64 / sum(seconds)),
            "held_out_nats": round(loss, 4), "held_out_chars": scored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", required=True, type=Path, help="a UTF-8 text file, e.g. tiny Shakespeare")
    parser.add_argument("--nanogpt", type=Path, help="a checkout of github.com/karpathy/nanoGPT")
    parser.add_argument("--skip-nanogpt", action="store_true", help="train and evaluate tunesmith only")
    parser.add_argument("--minutes", type=float, default=5.0, help="training minutes of each model")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a char-rnn setting")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.skip_nanogpt and not (args.nanogpt and (args.nanogpt / "train.py").is_file()):
        parser.error("give a nanoGPT checkout with --nanogpt PATH (git clone https://github.com/karpathy/nanoGPT), "
                     "or --skip-nanogpt")

    text = args.text.read_text(encoding="utf-8")
    train, tail = split_text(text)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "train.txt").write_text(train, encoding="utf-8")
        (work / "tail.txt").write_text(tail, encoding="utf-8")
        started = time.monotonic()
        ours = run_tunesmith(work / "train.txt", work / "tail.txt", work, args.minutes, args.set, args.seed)
        theirs = None if args.skip_nanogpt else run_nanogpt(args.nanogpt.resolve(), text, work, args.minutes)
    ratio = round(ours["held_out_nats"] / theirs["held_out_nats"], 4) if theirs else None
    print(json.dumps({
        "benchmark": "text_vs_nanogpt", "text": str(args.text), "characters": len(text), "tail_characters": len(tail),
        "minutes": args.minutes, "threads": torch.get_num_threads(), "settings": args.set,
        "tunesmith": ours, "nanogpt": theirs, "ratio": ratio, "wall_seconds": round(time.monotonic() - started),
        "load_average": [round(load, 2) for load in os.getloadavg()],  # other work on the CPU skews both
    }))


if __name__ == "__main__":
    main()
