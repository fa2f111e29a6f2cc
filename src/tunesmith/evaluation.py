"""`tunesmith eval`: a run's validation metrics (loss in nats and bits per token, per second of
music) on its validation split (and its test split, where the recipe holds one out) or on any
corpus, by the recipe's objective; and statistics of generated material next to held-out or
training material, by the recipe's domain (music: Yang & Lerch 2018; audio: level, DC, silence,
brightness, looping). Saved as JSON in the run."""

from __future__ import annotations

import json
from typing import Any

from tunesmith import runs
from tunesmith.corpus import split_by_document
from tunesmith.errors import UserError, warn
from tunesmith.media.files import write_atomic

EVERYTHING = 10**12  # evaluate every token of a split


def evaluate_model(opened: Any, data: str | None = None, samples: int = 8, seed: int = 0,
                   clip_seconds: float = 4.0) -> dict[str, Any]:
    """The metrics on the validation split (and test split, when the recipe holds one out) or on
    `data`, plus the domain's statistics of `samples` generated items (api.evaluate)."""
    config, codec, hp, recipe = opened.config, opened.codec, opened.config["hparams"], opened.recipe
    if data is None:
        try:
            docs = recipe.read_corpus(config["data"], hp)
        except UserError as err:
            raise UserError(f"the run's data is not readable any more ({err}); evaluate it on other data") from None
        train, val, test = split_by_document(docs, hp["val_fraction"], hp.get("test_fraction", 0.0))
        splits = {"validation": val, "test": test}
    else:
        train = recipe.read_corpus(data, hp)
        splits = {"all": train}
    result = {"run": str(opened.run), "recipe": config["recipe"], "checkpoint_step": opened.checkpoint["step"],
              "data": data or config["data"], "unit": codec.unit}
    for split, split_docs in splits.items():
        scores = split_scores(opened, [d.content for d in split_docs])
        if scores is None:
            if split == "test":
                continue
            raise UserError(f"{data or config['data']}: too little {split} data to evaluate")
        result |= {"split": split, **scores} if split != "test" else {"test": scores}
    held_out = [d.content for d in splits.get("validation", train) if codec.usable(d.content)]
    domain = recipe.domain
    seconds = domain.seconds(held_out)
    if seconds and result["bits_per_unit"] is not None:
        result["nats_per_second"] = result["loss_nats"] * result["tokens"] / seconds
    if samples > 0 and domain.statistics and held_out and hasattr(recipe.generator, "unprimed"):
        reference = domain.reference(codec, held_out, [d.content for d in train], samples, seed, clip_seconds)
        generated = recipe.generator.unprimed(opened, samples, domain.length(codec, reference, clip_seconds), seed)
        result[domain.statistics] = domain.compare(generated, reference, codec)
    if samples > 0 and hasattr(recipe.generator, "assess"):  # one-shot notes: their pitch, measured
        result["generated"] = recipe.generator.assess(opened, samples, seed, held_out, [d.content for d in train])
    save(opened, result)
    return result


def split_scores(opened: Any, items: list[Any]) -> dict[str, Any] | None:
    """How many units of the items were scored, and the objective's metrics on them (loss_nats
    and bits_per_unit first); None if the items are too few."""
    codec, hp = opened.codec, opened.config["hparams"]
    unknown = {u for item in items for u in codec.unknown(item)}
    if unknown:
        warn(f"{len(unknown)} kind(s) of {codec.unit} in the data are not in the model's vocabulary "
             "and were left out of the loss")
    windows = opened.recipe.make_windows(codec, items, hp, False)
    if windows is None:
        return None
    device = next(opened.model.parameters()).device
    objective = opened.recipe.objective(opened.model, hp, windows)
    metrics, count = objective.validate(windows, EVERYTHING, hp["batch_size"], device)
    if not count:
        return None
    extra = {name: value for name, value in metrics.items() if name not in ("loss", "bits")}
    return {"tokens": count, "loss_nats": metrics["loss"], "bits_per_unit": metrics.get("bits"), **extra,
            "objective_metrics": sorted(extra)}


def save(opened: Any, result: dict[str, Any]) -> None:
    """Keep the result as RUN/eval-step-N.json (not inside a bundled model)."""
    if runs.PRETRAINED_DIR in opened.run.resolve().parents:
        return
    path = opened.run / f"eval-step-{opened.checkpoint['step']:08d}.json"
    write_atomic(path, json.dumps(result, indent=1).encode("utf-8"))
    result["saved"] = str(path)
