"""Benchmark of the pipeline's own overhead: a decode stage over N small recordings (default 1,000
clips of 0.1 s). Measures, through the library API (the figures the targets name) and through the
`tunesmith pipeline run` command (adding the program's start):

- the first run (all N decoded, on the local process pool);
- a re-run with nothing changed (target: under 2 s for 1,000 datums);
- a re-run with one file added, and that file's own work (decoding it, as the worker does); the
  overhead is the difference (target: no more than 1 s).

Prints one JSON line.

    .venv/bin/python benchmarks/pipeline.py
    .venv/bin/python benchmarks/pipeline.py --datums 200
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from tunesmith.pipeline.runner import run_pipeline
from tunesmith.pipeline.stages import process

SPEC = 'input = "rec"\nstore = "store"\n\n[[stages]]\nname = "decode"\nkind = "decode"\nsample_rate = 16000\nformat = "wav"\n'


def clip(path: Path, seed: int, seconds: float) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t)).astype(np.float32), 16000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datums", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=0.1, help="length of each clip")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "rec").mkdir()
        for i in range(args.datums):
            clip(root / "rec" / f"clip{i:05d}.wav", i, args.seconds)
        spec = root / "spec.toml"
        spec.write_text(SPEC)

        began = time.perf_counter()
        first = run_pipeline(spec)
        first_seconds = time.perf_counter() - began
        assert first.stages[0].new == args.datums, first.stages

        timings = []
        for _ in range(3):
            began = time.perf_counter()
            again = run_pipeline(spec)
            timings.append(time.perf_counter() - began)
            assert again.stages[0].new == 0 and again.stages[0].cached == args.datums
        command = [sys.executable, "-m", "tunesmith", "pipeline", "run", str(spec)]
        began = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        command_seconds = time.perf_counter() - began

        added = root / "rec" / "added.wav"
        clip(added, 10**6, args.seconds)
        own = []
        for _ in range(5):  # the added file's own work, as a worker does it
            began = time.perf_counter()
            assert process("decode", {"sample_rate": 16000, "format": "wav"}, added.name, added.read_bytes()).ok
            own.append(time.perf_counter() - began)
        began = time.perf_counter()
        one = run_pipeline(spec)
        one_seconds = time.perf_counter() - began
        assert (one.stages[0].new, one.stages[0].cached) == (1, args.datums)

    no_change = min(timings)
    print(json.dumps({
        "benchmark": "pipeline_overhead", "datums": args.datums, "clip_seconds": args.seconds,
        "first_run_s": round(first_seconds, 2),
        "no_change_rerun_s": round(no_change, 3), "no_change_target_s": 2.0, "no_change_meets_target": no_change < 2.0,
        "no_change_rerun_command_s": round(command_seconds, 2),
        "one_added_rerun_s": round(one_seconds, 3), "one_added_own_work_s": round(min(own), 3),
        "one_added_overhead_s": round(one_seconds - min(own), 3), "one_added_target_s": 1.0,
        "one_added_meets_target": one_seconds - min(own) <= 1.0,
    }))


if __name__ == "__main__":
    main()
