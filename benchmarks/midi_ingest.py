"""Benchmark of MIDI ingest: read a folder of MIDI files and tokenize them with the performance codec
the way training does (corpus.midi.read_midi_corpus, then training.data.encode_items), in files per
second, next to pretty_midi reading the same files into the same tokens. Three figures: cold (empty
caches, which the pass fills), warm (the note cache and the token cache filled, as a second training
run on the corpus reads it) and notes-only (the note cache filled but no token stream kept, as a
second run with other codec settings or augmentation reads it).

    .venv/bin/python benchmarks/midi_ingest.py                 # the bundled chorales
    .venv/bin/python benchmarks/midi_ingest.py --data my-midi/ --limit 200
    .venv/bin/python benchmarks/midi_ingest.py --limit 5 --no-compare   # without pretty_midi

Every figure is the best of --repeats timed passes; the files are read once before timing (so all
passes find them in the page cache) and the parsers are imported before timing. The cold passes
each get a fresh empty TUNESMITH_CACHE; the others use the one the first cold pass filled, the
notes-only passes without its tokens/ folder. The headline `speedup` is the warm one: what a second
training run on the corpus gets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tunesmith.codecs import PerformanceCodec
from tunesmith.corpus import list_files
from tunesmith.corpus.bundled import bundled_midi_folder
from tunesmith.corpus.midi import MIDI_SUFFIXES, read_midi_corpus
from tunesmith.notes import NOTE_DTYPE, Piece
from tunesmith.training.data import encode_items


def pretty_midi_piece(path: Path) -> Piece:
    """The same Piece through pretty_midi (the reader of the older MIDI model repos)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    tempos = midi.get_tempo_changes()[1]
    qpm = round(float(tempos[0]), 3) if len(tempos) else 120.0  # rounded as notes.read_midi does
    rows = [(midi.time_to_tick(n.start) / midi.resolution, midi.time_to_tick(n.end) / midi.resolution, n.pitch,
             n.velocity, inst.program, inst.is_drum) for inst in midi.instruments for n in inst.notes]
    return Piece(np.array(rows, dtype=NOTE_DTYPE), qpm, name=path.name)


def best_time(passes: int, run, before=lambda n: None) -> tuple[float, tuple[list[str], torch.Tensor]]:
    """The shortest of `passes` timed runs of run() (before(n) prepares pass n, untimed) and what
    the last one returned: the names of the files read and their tokens."""
    times = []
    for n in range(passes):
        before(n)
        start = time.perf_counter()
        names, tokens = run()
        times.append(time.perf_counter() - start)
    return min(times), (names, tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a folder of MIDI files (default: the bundled chorales)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files (0: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each reader; the best counts")
    parser.add_argument("--no-compare", action="store_true", help="leave pretty_midi out (it need not be installed)")
    args = parser.parse_args()
    folder = Path(args.data).resolve() if args.data else bundled_midi_folder("chorales")
    files = list_files(folder, MIDI_SUFFIXES)[: args.limit or None]
    codec = PerformanceCodec.fit([])
    import symusic  # noqa: F401  (imports are not what is measured)

    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus"  # the chosen files, linked under their own relative names
        for path in files:
            link = corpus / path.relative_to(folder) if folder.is_dir() else corpus / path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
            path.read_bytes()  # into the page cache before any timing

        def ours() -> tuple[list[str], torch.Tensor]:
            docs = read_midi_corpus(str(corpus))
            return [doc.name for doc in docs], encode_items(codec, [doc.content for doc in docs])

        def fresh_cache(n: int) -> None:
            os.environ["TUNESMITH_CACHE"] = str(Path(work) / f"cache-{n}")

        def no_token_cache(n: int) -> None:
            shutil.rmtree(Path(work) / "cache-0" / "tokens", ignore_errors=True)

        cold, (read, tokens) = best_time(args.repeats, ours, fresh_cache)
        fresh_cache(0)  # filled by the first cold pass
        notes_only, (_, notes_only_tokens) = best_time(args.repeats, ours, no_token_cache)
        warm, (_, warm_tokens) = best_time(args.repeats, ours)
        assert torch.equal(tokens, notes_only_tokens) and torch.equal(tokens, warm_tokens), "a cache changed the tokens"

    figures = {"cold": cold, "notes_only": notes_only, "warm": warm}  # seconds for all the files
    result = {"benchmark": "midi_ingest", "data": str(folder), "files": len(read), "tokens": len(tokens),
              "repeats": args.repeats}
    for name, seconds in figures.items():
        result[f"files_per_s_{name}"] = round(len(read) / seconds, 1)
        result[f"ms_per_file_{name}"] = round(1000 * seconds / len(read), 3)
    if not args.no_compare:
        import pretty_midi  # noqa: F401

        sources = [folder / name if folder.is_dir() else folder for name in read]  # the files ours could use
        # encoded by the same vectorized encoder, but never from the token cache: pretty_midi reads every time
        theirs, (_, tokens_pretty_midi) = best_time(args.repeats, lambda: (read, torch.from_numpy(
            codec.encode_all([pretty_midi_piece(path) for path in sources]))))
        assert torch.equal(tokens, tokens_pretty_midi), "pretty_midi and tunesmith read different tokens"
        result.update(tokens_pretty_midi=len(tokens_pretty_midi), files_per_s_pretty_midi=round(len(read) / theirs, 1),
                      ms_per_file_pretty_midi=round(1000 * theirs / len(read), 3))
        result.update({f"speedup_{name}": round(theirs / seconds, 1) for name, seconds in figures.items()})
        result["speedup"] = result["speedup_warm"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
