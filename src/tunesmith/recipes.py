"""The recipe table: each recipe pairs a corpus reader, a codec and a model with default
hyperparameters, all reachable through `--set key=value`. Adding a domain adds a row here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from tunesmith import runs
from tunesmith.codecs import CharCodec, Codec, load_codec
from tunesmith.corpus import Document
from tunesmith.corpus.text import read_text_corpus
from tunesmith.errors import UserError
from tunesmith.models.rnn import CELLS, RNNLanguageModel


@dataclass(frozen=True)
class Param:
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    def parse(self, key: str, text: str) -> Any:
        """The value of `--set key=text`, converted to the type of the default."""
        kind = type(self.default)
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = text.lower() in ("true", "1", "yes")
            else:
                value = kind(text)
        except ValueError:
            kinds = {bool: "true or false", int: "whole number", float: "number", str: "word"}
            raise UserError(f"--set {key}={text}: {key} takes a {kinds[kind]}, e.g. {key}={self.default}") from None
        if self.choices and value not in self.choices:
            raise UserError(f"--set {key}={text}: choose one of {', '.join(self.choices)}")
        return value


TRAINER_PARAMS: dict[str, Param] = {
    "batch_size": Param(64, "sequences per step (per process under torchrun)"),
    "seq_len": Param(128, "tokens per training sequence (backpropagation through time)"),
    "lr": Param(3e-3, "peak learning rate of AdamW"),
    "min_lr_ratio": Param(0.1, "final learning rate as a fraction of lr, after cosine decay"),
    "warmup_steps": Param(100, "steps of linear learning-rate warm-up"),
    "weight_decay": Param(0.0, "AdamW weight decay"),
    "grad_clip": Param(1.0, "clip the gradient norm to this (0 disables)"),
    "val_fraction": Param(0.05, "share of documents held out for validation"),
    "eval_every": Param(200, "steps between validation + checkpoint"),
    "eval_tokens": Param(100_000, "at most this many validation tokens per evaluation"),
    "keep_last": Param(3, "checkpoints kept besides the best one"),
    "patience": Param(0, "stop after this many evaluations without improvement (0: never)"),
    "sample_length": Param(300, "tokens of the preview sample written at each checkpoint"),
}


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    example: str
    default_data: str
    default_steps: int
    read_corpus: Callable[[str], list[Document]]
    codec: type[Codec]
    build_model: Callable[[dict[str, Any], int], nn.Module]
    sample_suffix: str
    write_sample: Callable[[Any, Path], None]
    params: dict[str, Param] = field(default_factory=dict)

    def all_params(self) -> dict[str, Param]:
        return {**TRAINER_PARAMS, **self.params}

    def hparams(self, settings: list[str]) -> dict[str, Any]:
        """Defaults overridden by `--set key=value` strings."""
        params = self.all_params()
        values = {key: p.default for key, p in params.items()}
        for setting in settings:
            key, sep, text = setting.partition("=")
            key = key.strip()
            if not sep:
                raise UserError(f"--set {setting}: write it as key=value, e.g. --set hidden_size=256")
            if key not in params:
                raise UserError(f"--set {key}: {self.name} has no such setting; "
                                f"see `tunesmith train {self.name} --help`")
            values[key] = params[key].parse(key, text.strip())
        return values


def write_text(text: str, path: Path) -> None:
    runs.write_atomic(path, text.encode("utf-8"))


def build_rnn(hp: dict[str, Any], vocab_size: int) -> nn.Module:
    return RNNLanguageModel(vocab_size, hp["embedding_size"], hp["hidden_size"], hp["layers"],
                            hp["cell"], hp["dropout"])


RNN_PARAMS = {
    "cell": Param("lstm", "recurrent cell", tuple(CELLS)),
    "layers": Param(1, "stacked recurrent layers"),
    "hidden_size": Param(512, "units per recurrent layer"),
    "embedding_size": Param(64, "size of the token embedding"),
    "dropout": Param(0.0, "dropout between layers and before the output"),
}

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="char-rnn",
            summary="character-level RNN language model for lyrics and any text",
            example="tunesmith train char-rnn --data lyrics/ --minutes 10 --set hidden_size=256",
            default_data="lyrics",
            default_steps=2000,
            read_corpus=read_text_corpus,
            codec=CharCodec,
            build_model=build_rnn,
            sample_suffix=".txt",
            write_sample=write_text,
            params=RNN_PARAMS,
        ),
    ]
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UserError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return RECIPES[name]


@dataclass
class LoadedRun:
    run: Path
    config: dict[str, Any]
    recipe: Recipe
    codec: Codec
    model: nn.Module
    checkpoint: dict[str, Any]


def load_run(name: str | Path, which: str = "best", device=None) -> LoadedRun:
    """A run's recipe, codec and model with the weights of one checkpoint, ready to sample."""
    from tunesmith.training.distributed import pick_device

    run = runs.open_run(name)
    config = runs.read_config(run)
    recipe = get_recipe(config["recipe"])
    codec = load_codec(run / runs.CODEC)
    checkpoint = runs.find_checkpoint(run, which)
    model = recipe.build_model(config["hparams"], codec.vocab_size)
    weights = {k: v.float() if v.is_floating_point() else v for k, v in runs.load_weights(checkpoint).items()}
    model.load_state_dict(weights)
    model.to(device or pick_device()).eval()
    return LoadedRun(run, config, recipe, codec, model, checkpoint)
