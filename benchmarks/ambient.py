"""Benchmark of the whole ambient workflow: examples/ambient.toml, with its defaults, from a
playlist of recordings (made by examples/make_ambient_recordings.py: bundled chorales through GM
pads, as mp3) to four rendered new songs, through `tunesmith pipeline run`. Reports the wall time of
each stage and in all (target: under one hour on 2 CPU cores for 30 recordings of 3 minutes), then
re-runs with nothing changed and with one recording added. The generated songs are compared with
the transcriptions they learned from by the statistics `tunesmith eval` prints (music_stats:
register, scale, density, note lengths; 1 = indistinguishable). Prints one JSON line.

    .venv/bin/python benchmarks/ambient.py                         # 30 recordings of 3 minutes
    .venv/bin/python benchmarks/ambient.py --count 4 --minutes 1 --set-train-minutes 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "ambient.toml"


def pipeline(spec: Path, recordings: Path, store: Path) -> tuple[dict, float]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tunesmith", "pipeline", "run", str(spec), "--input", str(recordings),
                           "--store", str(store), "--json"], capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise SystemExit(f"pipeline failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=30, help="recordings (default 30)")
    parser.add_argument("--minutes", type=float, default=3.0, help="minutes each (default 3)")
    parser.add_argument("--set-train-minutes", type=float, help="override the spec's training minutes")
    parser.add_argument("--keep", type=Path, help="keep the recordings and the store in this folder")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-ambient-")) if args.keep is None else args.keep
    scratch.mkdir(parents=True, exist_ok=True)
    recordings, store, extra = scratch / "recordings", scratch / "store", scratch / "extra"
    try:
        began = time.perf_counter()
        if not recordings.is_dir():
            subprocess.run([sys.executable, str(ROOT / "examples" / "make_ambient_recordings.py"), "--count",
                            str(args.count + 1), "--minutes", str(args.minutes), "--out", str(extra)],
                           check=True, capture_output=True)
            made = sorted(extra.iterdir())
            recordings.mkdir()
            for path in made[:-1]:
                path.rename(recordings / path.name)
        making = time.perf_counter() - began
        audio_minutes = sum(soundfile.info(p).duration for p in recordings.iterdir()) / 60
        count = len(list(recordings.iterdir()))

        spec = SPEC
        if args.set_train_minutes:
            spec = scratch / "ambient.toml"
            spec.write_text(re.sub(r"minutes = [0-9.]+", f"minutes = {args.set_train_minutes}", SPEC.read_text()))
        first, first_seconds = pipeline(spec, recordings, store)
        again, again_seconds = pipeline(spec, recordings, store)
        added = next(extra.iterdir(), None)
        one_more = None
        if added is not None:
            shutil.move(str(added), recordings / added.name)
            one_more, one_more_seconds = pipeline(spec, recordings, store)

        from tunesmith.corpus.midi import read_midi_corpus
        from tunesmith.music_stats import compare

        # the last run's songs against the set it learned from
        generated = [d.content for d in read_midi_corpus(str(store / "out" / "generate"))]
        learned = [d.content for d in read_midi_corpus(str(store / "out" / "transcribe"))]
        stats = compare(generated, learned)
        songs = sorted((store / "out" / "render").iterdir())
        lengths = [soundfile.info(p).duration for p in songs]
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)

    def stages(result: dict) -> dict:
        return {s["stage"]: {"new": s["new"], "cached": s["cached"], "failed": s["failed"], "seconds": s["seconds"]}
                for s in result["stages"]}

    print(json.dumps({
        "benchmark": "ambient_workflow", "recordings": count, "audio_minutes": round(audio_minutes, 1),
        "making_recordings_s": round(making, 1), "spec": str(SPEC.relative_to(ROOT)),
        "train_minutes_override": args.set_train_minutes,
        "workflow_s": round(first_seconds, 1), "target_s": 3600, "meets_target": first_seconds < 3600,
        "stages": stages(first),
        "no_change_rerun_s": round(again_seconds, 2), "no_change_stages": stages(again),
        "one_added_rerun_s": round(one_more_seconds, 1) if one_more else None,
        "one_added_stages": stages(one_more) if one_more else None,
        "songs": len(songs), "song_seconds": [round(s, 1) for s in lengths],
        "songs_vs_transcriptions_mean_overlap": stats["mean_overlap"],
        "overlaps": {k: v["overlap"] for k, v in stats["statistics"].items()},
    }))


if __name__ == "__main__":
    main()
