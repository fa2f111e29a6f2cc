"""Benchmark: how musical `tunesmith train melody-rnn --minutes M` is on a corpus of about a hundred
monophonic tunes, as the mean overlapping area of the statistics `tunesmith eval` prints (mean
pitch, pitch range, pitches used, pitch-class entropy, note density, inter-onset interval, in-scale
rate) between melodies generated at the length of the held-out pieces and those held-out pieces.
One JSON line per corpus and budget.

Two corpora are built from the bundled folk tunes (O'Neill's Music of Ireland):
  tunes  PIECES tunes, as they are;
  long   PIECES long pieces, each a set of SET_SIZE tunes in one key played one after another, since
         drift out of key shows over length.
Each comes with HELDOUT more pieces made the same way from other tunes, never trained on: the
statistics compare as many generated melodies with them (a run's own validation split, a tenth of
the corpus, is too few pieces for stable overlapping areas). Next to the model's figure stand two
ceilings measured with the same statistics: as many training pieces against the held-out ones
("training_vs_heldout": what a model that reproduced its training material would score) and two
halves of the corpus and held-out pieces together ("halves").

    .venv/bin/python benchmarks/melody_quality.py                       # 5, 10 and 20 minutes, both corpora
    .venv/bin/python benchmarks/melody_quality.py --minutes 10 --corpus long
    .venv/bin/python benchmarks/melody_quality.py --minutes 10 --set hidden_size=512
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from tunesmith import notes, runs
from tunesmith.corpus.midi import read_midi_corpus
from tunesmith.music_stats import best_key, compare
from tunesmith.api import open_model
from tunesmith.generation.autoregressive import generate
from tunesmith.training.trainer import Budget, train_recipe

# the statistics of the figure: those of `tunesmith eval` that describe a melody's register, key and rhythm
QUALITY_STATISTICS = ("mean_pitch", "pitch_range", "pitch_count", "pitch_class_entropy", "note_density",
                      "mean_ioi", "in_scale_rate")


def build_corpora(folder: Path, pieces: int, heldout: int, set_size: int) -> dict[str, tuple[Path, Path]]:
    """The `tunes` and `long` corpora and their held-out pieces, as MIDI folders under `folder`:
    name -> (corpus folder, held-out folder). Tunes are drawn in a seeded order, so both corpora
    hold tunes from the whole collection."""
    folk = [doc.content for doc in read_midi_corpus("folk")]
    random.Random(0).shuffle(folk)
    by_key: dict[str, list[notes.Piece]] = defaultdict(list)
    for piece in folk:
        by_key[best_key(piece.notes["pitch"])[0]].append(piece)
    sets = [group[i:i + set_size] for group in by_key.values() for i in range(0, len(group) - set_size + 1, set_size)]
    random.Random(0).shuffle(sets)
    made = {}
    for name, items in (("tunes", folk), ("long", [join(tune_set) for tune_set in sets])):
        made[name] = (folder / name, folder / f"{name}-heldout")
        for path, part in zip(made[name], (items[:pieces], items[pieces:pieces + heldout])):
            path.mkdir(parents=True, exist_ok=True)
            for k, piece in enumerate(part):
                notes.write_midi(piece, path / f"{k:04d}.mid")
    return made


def join(tune_set: list[notes.Piece]) -> notes.Piece:
    """Tunes played one after another, each from the first whole beat after the one before."""
    joined, offset = [], 0.0
    for piece in tune_set:
        joined.append(notes.shift(piece, offset).notes)
        offset += np.ceil(piece.beats)
    return notes.Piece(np.concatenate(joined), tune_set[0].qpm, tune_set[0].time_signature)


def quality(generated: list[notes.Piece], reference: list[notes.Piece]) -> dict:
    result = compare(generated, reference, statistics=QUALITY_STATISTICS)
    return {"mean_overlap": round(result["mean_overlap"], 3),
            "overlap": {name: round(s["overlap"], 3) for name, s in result["statistics"].items()},
            "mean": {name: [round(s[side]["mean"], 3) for side in ("generated", "reference")]
                     for name, s in result["statistics"].items()}}


def measure(run: Path, heldout: Path, seed: int) -> dict:
    """Generate as many melodies as there are held-out pieces, each as long as the median one (in
    the codec's steps), and compare them with the held-out pieces seen through the same codec; the
    ceilings use the same statistics."""
    loaded = open_model(run, "best")
    config, codec = loaded.config, loaded.codec
    seen = [codec.decode(codec.encode(d.content)) for d in loaded.recipe.read_corpus(config["data"], config["hparams"])]
    encoded = [codec.encode(d.content) for d in loaded.recipe.read_corpus(str(heldout), config["hparams"])]
    reference = [codec.decode(tokens) for tokens in encoded]
    length = int(statistics.median(len(t) for t in encoded))
    rows = generate(loaded.model, codec.start_tokens(), length, len(reference), seed=seed)
    generated = [codec.decode(codec.start_tokens() + row) for row in rows]
    drawn = random.Random(seed).sample(seen, min(len(reference), len(seen)))
    everything = seen + reference
    random.Random(seed).shuffle(everything)
    half = len(everything) // 2
    return {"heldout_pieces": len(reference), "length_steps": length, "model": quality(generated, reference),
            "training_vs_heldout": quality(drawn, reference)["mean_overlap"],
            "halves": quality(everything[:half], everything[half:])["mean_overlap"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="5,10,20", help="training budgets, comma-separated")
    parser.add_argument("--corpus", choices=["tunes", "long", "both"], default="both")
    parser.add_argument("--pieces", type=int, default=100, help="pieces in each corpus")
    parser.add_argument("--heldout", type=int, default=150, help="held-out pieces (and generated melodies) "
                        "for the statistics")
    parser.add_argument("--set-size", type=int, default=6, help="tunes joined into each long piece")
    parser.add_argument("--recipe", default="melody-rnn")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a recipe setting")
    parser.add_argument("--steps", type=int, help="a step budget instead of minutes (for a quick check)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the corpora and runs in this folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        corpora = build_corpora(folder, args.pieces, args.heldout, args.set_size)
        names = ["tunes", "long"] if args.corpus == "both" else [args.corpus]
        budgets = [None] if args.steps else [float(m) for m in args.minutes.split(",")]
        for name in names:
            for minutes in budgets:
                run = folder / f"{args.recipe}-{name}-{minutes or args.steps}"
                budget = Budget(steps=args.steps) if args.steps else Budget(minutes=minutes)
                started = time.monotonic()
                trained = train_recipe(args.recipe, str(corpora[name][0]), run, budget, args.set, args.seed)
                seconds = time.monotonic() - started
                print(json.dumps({
                    "benchmark": "melody_quality", "recipe": args.recipe, "corpus": name, "pieces": args.pieces,
                    "minutes": minutes, "steps": trained["step"], "train_seconds": round(seconds, 1),
                    "settings": args.set, "parameters": runs.read_config(run)["parameters"],
                    "best_val_nats": round(trained["best_val"], 4) if trained["best_val"] else None,
                    **measure(run, corpora[name][1], args.seed)}), flush=True)


if __name__ == "__main__":
    main()
