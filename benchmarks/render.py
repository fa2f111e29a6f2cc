"""Benchmark: `tunesmith render` speed, in seconds of music rendered per wall-clock second, for each
effects preset, on the first bundled chorales at 44.1 kHz through the system's General MIDI
SoundFont (target: 20x real time on 2 cores). One JSON line per preset.

    .venv/bin/python benchmarks/render.py
    .venv/bin/python benchmarks/render.py --files 4 --program "Pad 2 (warm)"
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import soundfile

from tunesmith import api
from tunesmith.corpus import list_files
from tunesmith.corpus.bundled import bundled_midi_folder
from tunesmith.notes import read_midi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--program", default="Pad 2 (warm)")
    parser.add_argument("--sample-rate", type=int, default=44100)
    args = parser.parse_args()
    files = list_files(bundled_midi_folder("chorales"), (".mid",))[: args.files]
    music = sum(read_midi(path).seconds for path in files)
    for effects in ("none", "room", "ambient"):
        with tempfile.TemporaryDirectory() as out:
            started = time.monotonic()
            written = api.render(files, out, program=args.program, effects=effects, sample_rate=args.sample_rate)
            seconds = time.monotonic() - started
            audio = sum(soundfile.info(path).duration for path in written)
        print(json.dumps({"benchmark": "render", "effects": effects, "program": args.program, "files": len(files),
                          "music_seconds": round(music, 1), "audio_seconds": round(audio, 1),
                          "wall_seconds": round(seconds, 2), "times_real_time": round(music / seconds, 1)}),
              flush=True)


if __name__ == "__main__":
    main()
