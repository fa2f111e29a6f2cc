"""`tunesmith eval`: a run's loss in nats and bits per token (per second of music, per sample of
audio) on its validation split (and its test split, for raw audio) or on any corpus given with
--data; for music, statistics of generated pieces next to held-out ones (Yang & Lerch 2018); for
raw audio, level, DC, silence, brightness and looping of generated clips next to training audio.
Printed as a table and saved as JSON in the run."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import torch

from tunesmith import runs
from tunesmith.corpus import split_by_document
from tunesmith.domains import AUDIO, MIDI
from tunesmith.errors import UserError, info, warn
from tunesmith.recipes import LoadedRun, load_run
from tunesmith.sampling import generate
from tunesmith.training.trainer import evaluate

EVERYTHING = 10**12  # evaluate every token of a split


def evaluate_run(name: str | Path, data: str | None = None, checkpoint: str = "best",
                 samples: int = 8, seed: int = 0, clip_seconds: float = 4.0) -> dict[str, Any]:
    """The loss on the validation split (and test split, when the recipe holds one out) or on
    --data, plus statistics of `samples` generated pieces or clips next to held-out/training data."""
    loaded = load_run(name, checkpoint)
    config, codec, hp = loaded.config, loaded.codec, loaded.config["hparams"]
    recipe = loaded.recipe
    if data is None:
        try:
            docs = recipe.read_corpus(config["data"], hp)
        except UserError as err:
            raise UserError(f"the run's data is not readable any more ({err}); give one with --data") from None
        train, val, test = split_by_document(docs, hp["val_fraction"], hp.get("test_fraction", 0.0))
        splits = {"validation": val, "test": test}
    else:
        train = recipe.read_corpus(data, hp)
        splits = {"all": train}
    result = {"run": str(loaded.run), "recipe": config["recipe"], "checkpoint_step": loaded.checkpoint["step"],
              "data": data or config["data"], "unit": codec.unit}
    for split, split_docs in splits.items():
        scores = split_loss(loaded, [d.content for d in split_docs])
        if scores is None:
            if split == "test":
                continue
            raise UserError(f"{data or config['data']}: too little {split} data to evaluate")
        result |= {"split": split, **scores} if split != "test" else {"test": scores}
    items = [d.content for d in splits.get("validation", train)]
    if recipe.domain is MIDI:
        music_seconds = sum(item.seconds for item in items)
        result["nats_per_second"] = result["loss_nats"] * result["stream_tokens"] / music_seconds if music_seconds else None
        if samples > 0:
            result["music"] = music_statistics(loaded, items, samples, seed)
    if recipe.domain is AUDIO and samples > 0:
        result["audio"] = audio_statistics(loaded, [d.content for d in train], samples, seed, clip_seconds)
    result.pop("stream_tokens", None)
    save(loaded, result)
    return result


def split_loss(loaded: LoadedRun, items: list[Any]) -> dict[str, Any] | None:
    """Tokens, nats and bits per token of the items through the recipe's windows; None if too few."""
    codec, hp = loaded.codec, loaded.config["hparams"]
    unknown = {u for item in items for u in codec.unknown(item)}
    if unknown:
        warn(f"{len(unknown)} kind(s) of {codec.unit} in the data are not in the model's vocabulary "
             "and were left out of the loss")
    windows = loaded.recipe.make_windows(codec, items, hp, False)
    if windows is None:
        return None
    device = next(loaded.model.parameters()).device
    loss, count = evaluate(loaded.model, windows, EVERYTHING, hp["batch_size"], device)
    if not count:
        return None
    return {"tokens": count, "loss_nats": loss, "bits_per_unit": loss / math.log(2),
            "stream_tokens": len(windows.tokens) if hasattr(windows, "tokens") else count}


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


def audio_statistics(loaded: LoadedRun, recordings: list[Any], samples: int, seed: int,
                     seconds: float) -> dict[str, Any]:
    """Generate `samples` clips of `seconds` (styles in turn for a conditioned model) and compare
    their statistics with as many excerpts of that length from the training recordings."""
    from tunesmith.audio_stats import compare, reference_excerpts

    codec = loaded.codec
    rate, styles = codec.sample_rate, codec.styles if getattr(loaded.model, "global_conditions", 0) else []
    length = max(1, round(seconds * rate))
    info(f"generating {samples} clips of {seconds:g} s for the audio statistics")
    condition = torch.arange(samples) % len(styles) if styles else None
    rows = generate(loaded.model, codec.start_tokens(), length, samples, seed=seed, progress=True,
                    condition=condition)
    generated = [codec.decode(row) for row in rows]
    reference = reference_excerpts([r.samples for r in recordings], rate, seconds, samples, seed)
    return compare(generated, reference, rate)


def save(loaded: LoadedRun, result: dict[str, Any]) -> None:
    """Keep the result as RUN/eval-step-N.json (not inside a bundled model)."""
    if runs.PRETRAINED_DIR in loaded.run.resolve().parents:
        return
    path = loaded.run / f"eval-step-{loaded.checkpoint['step']:08d}.json"
    runs.write_atomic(path, json.dumps(result, indent=1).encode("utf-8"))
    result["saved"] = str(path)
