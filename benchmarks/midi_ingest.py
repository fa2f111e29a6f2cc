"""Benchmark of MIDI ingest: read a folder of MIDI files and tokenize them with the performance
codec, in files per second, next to pretty_midi reading the same files into the same tokens.

    .venv/bin/python benchmarks/midi_ingest.py                 # the bundled chorales
    .venv/bin/python benchmarks/midi_ingest.py --data my-midi/ --limit 200
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tunesmith.codecs import PerformanceCodec
from tunesmith.corpus import list_files
from tunesmith.corpus.bundled import bundled_midi_folder
from tunesmith.corpus.midi import read_piece
from tunesmith.notes import NOTE_DTYPE, Piece


def pretty_midi_piece(path: Path) -> Piece:
    """The same Piece through pretty_midi (the reader of the older MIDI model repos)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    qpm = float(midi.get_tempo_changes()[1][0]) if len(midi.get_tempo_changes()[1]) else 120.0
    rows = [(midi.time_to_tick(n.start) / midi.resolution, midi.time_to_tick(n.end) / midi.resolution, n.pitch,
             n.velocity, inst.program, inst.is_drum) for inst in midi.instruments for n in inst.notes]
    return Piece(np.array(rows, dtype=NOTE_DTYPE), qpm, name=path.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a folder of MIDI files (default: the bundled chorales)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files (0: all)")
    args = parser.parse_args()
    folder = Path(args.data) if args.data else bundled_midi_folder("chorales")
    files = list_files(folder, (".mid", ".midi", ".kar"))[: args.limit or None]
    codec = PerformanceCodec.fit([])

    start = time.perf_counter()
    ours_tokens = sum(len(codec.encode(read_piece(p))) for p in files)
    ours = time.perf_counter() - start

    start = time.perf_counter()
    theirs_tokens = sum(len(codec.encode(pretty_midi_piece(p))) for p in files)
    theirs = time.perf_counter() - start
    print(json.dumps({
        "benchmark": "midi_ingest", "data": str(folder), "files": len(files), "tokens": ours_tokens,
        "tokens_pretty_midi": theirs_tokens, "files_per_s": round(len(files) / ours, 1),
        "files_per_s_pretty_midi": round(len(files) / theirs, 1), "speedup": round(theirs / ours, 1),
    }))


if __name__ == "__main__":
    main()
