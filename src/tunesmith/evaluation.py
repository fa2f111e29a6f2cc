"""`tunesmith eval`: a run's loss in nats and bits per token on its validation split or on any
corpus given with --data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tunesmith.corpus import split_by_document
from tunesmith.errors import UserError, warn
from tunesmith.recipes import load_run
from tunesmith.training.data import TokenWindows
from tunesmith.training.trainer import encode_documents, evaluate


def evaluate_run(name: str | Path, data: str | None = None, checkpoint: str = "best") -> dict[str, Any]:
    loaded = load_run(name, checkpoint)
    config, codec, hp = loaded.config, loaded.codec, loaded.config["hparams"]
    if data is None:
        try:
            docs = loaded.recipe.read_corpus(config["data"])
        except UserError as err:
            raise UserError(f"the run's data is not readable any more ({err}); give one with --data") from None
        _, docs = split_by_document(docs, hp["val_fraction"])
        split = "validation"
    else:
        docs = loaded.recipe.read_corpus(data)
        split = "all"
    unknown = {u for d in docs for u in codec.unknown(d.content)}
    if unknown:
        warn(f"{len(unknown)} kind(s) of {codec.unit} in the data are not in the model's vocabulary "
             "and were left out of the loss")
    tokens = encode_documents(codec, docs)
    if len(tokens) < 2:
        raise UserError(f"{data or config['data']}: too little {split} data to evaluate (under 2 tokens)")
    device = next(loaded.model.parameters()).device
    loss, count = evaluate(loaded.model, TokenWindows(tokens, hp["seq_len"]), len(tokens), hp["batch_size"], device)
    return {
        "run": str(loaded.run), "recipe": config["recipe"], "checkpoint_step": loaded.checkpoint["step"],
        "data": data or config["data"], "split": split, "unit": codec.unit, "tokens": count,
        "loss_nats": loss, "bits_per_unit": loss / math.log(2),
    }
