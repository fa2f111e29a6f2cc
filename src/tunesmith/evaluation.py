"""`tunesmith eval`: a run's loss in nats and bits per token (and per second of music) on its
validation split or on any corpus given with --data; for music, statistics of generated pieces
next to held-out ones (Yang & Lerch 2018). Printed as a table and saved as JSON in the run."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from tunesmith import runs
from tunesmith.corpus import split_by_document
from tunesmith.domains import MIDI
from tunesmith.errors import UserError, info, warn
from tunesmith.recipes import LoadedRun, load_run
from tunesmith.sampling import generate
from tunesmith.training.data import TokenWindows
from tunesmith.training.trainer import encode_items, evaluate


def evaluate_run(name: str | Path, data: str | None = None, checkpoint: str = "best",
                 samples: int = 8, seed: int = 0) -> dict[str, Any]:
    loaded = load_run(name, checkpoint)
    config, codec, hp = loaded.config, loaded.codec, loaded.config["hparams"]
    if data is None:
        try:
            docs = loaded.recipe.read_corpus(config["data"], hp)
        except UserError as err:
            raise UserError(f"the run's data is not readable any more ({err}); give one with --data") from None
        _, docs = split_by_document(docs, hp["val_fraction"])
        split = "validation"
    else:
        docs = loaded.recipe.read_corpus(data, hp)
        split = "all"
    items = [d.content for d in docs]
    unknown = {u for item in items for u in codec.unknown(item)}
    if unknown:
        warn(f"{len(unknown)} kind(s) of {codec.unit} in the data are not in the model's vocabulary "
             "and were left out of the loss")
    tokens = encode_items(codec, items)
    if len(tokens) < 2:
        raise UserError(f"{data or config['data']}: too little {split} data to evaluate (under 2 tokens)")
    device = next(loaded.model.parameters()).device
    loss, count = evaluate(loaded.model, TokenWindows(tokens, hp["seq_len"]), len(tokens), hp["batch_size"], device)
    result = {
        "run": str(loaded.run), "recipe": config["recipe"], "checkpoint_step": loaded.checkpoint["step"],
        "data": data or config["data"], "split": split, "unit": codec.unit, "tokens": count,
        "loss_nats": loss, "bits_per_unit": loss / math.log(2),
    }
    if loaded.recipe.domain is MIDI:
        music_seconds = sum(item.seconds for item in items)
        result["nats_per_second"] = loss * len(tokens) / music_seconds if music_seconds else None
        if samples > 0:
            result["music"] = music_statistics(loaded, items, samples, seed)
    save(loaded, result)
    return result


def music_statistics(loaded: LoadedRun, items: list[Any], samples: int, seed: int) -> dict[str, Any]:
    """Generate `samples` pieces as long as a typical held-out piece (in tokens) and compare their
    statistics with the held-out pieces seen through the same codec."""
    from tunesmith.music_stats import compare

    codec = loaded.codec
    encoded = [codec.encode(item) for item in items]
    reference = [codec.decode(tokens) for tokens in encoded]
    length = min(1024, int(statistics.median(len(t) for t in encoded)))
    info(f"generating {samples} pieces of {length} tokens for the musical statistics")
    tokens = generate(loaded.model, codec.start_tokens(), length, samples, seed=seed, progress=True)
    generated = [codec.decode(codec.start_tokens() + row) for row in tokens]
    return compare(generated, reference)


def save(loaded: LoadedRun, result: dict[str, Any]) -> None:
    """Keep the result as RUN/eval-step-N.json (not inside a bundled model)."""
    if runs.PRETRAINED_DIR in loaded.run.resolve().parents:
        return
    path = loaded.run / f"eval-step-{loaded.checkpoint['step']:08d}.json"
    runs.write_atomic(path, json.dumps(result, indent=1).encode("utf-8"))
    result["saved"] = str(path)
