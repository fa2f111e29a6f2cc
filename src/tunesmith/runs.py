"""The run directory: config.toml, codec.json, checkpoints/ (safetensors weights + trainer state,
written atomically), metrics.jsonl, TensorBoard events and samples/. Create, save, load, list."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w
import torch
from safetensors.torch import load_file, save_file

from tunesmith.errors import UserError
from tunesmith.media.files import DIR_MODE, write_atomic

CONFIG = "config.toml"
CODEC = "codec.json"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
WEIGHTS = "model.safetensors"
TRAINER_STATE = "state.pt"
META = "meta.json"
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def new_run_dir(recipe: str, root: Path = Path("runs")) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = root / f"{recipe}-{stamp}", 1
    while path.exists():
        n += 1
        path = root / f"{recipe}-{stamp}-{n}"
    return path


def is_run(path: Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def open_run(name: str | Path) -> Path:
    """A run directory given by path, or a bundled pretrained model given by name."""
    path = Path(name).expanduser()
    if is_run(path):
        return path
    if not path.exists() and "/" not in str(name) and is_run(PRETRAINED_DIR / str(name)):
        return PRETRAINED_DIR / str(name)
    if not path.exists():
        bundled = ", ".join(p.name for p in sorted(PRETRAINED_DIR.glob("*")) if is_run(p))
        raise UserError(f"no such run: {name} (give a run directory, or a bundled model: {bundled})")
    raise UserError(f"{name} is not a run directory (it has no {CONFIG}); give the folder that "
                    "`tunesmith train` made, e.g. runs/char-rnn-...")


def read_config(run: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((run / CONFIG).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{run / CONFIG} is damaged ({err}); it cannot be used as a run") from None


def write_config(run: Path, config: dict[str, Any]) -> None:
    write_atomic(run / CONFIG, tomli_w.dumps(config).encode("utf-8"))


def append_metrics(run: Path, record: dict[str, Any]) -> None:
    with open(run / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(run: Path) -> list[dict[str, Any]]:
    path = run / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def save_checkpoint(run: Path, step: int, weights: dict[str, torch.Tensor],
                    trainer_state: dict[str, Any] | None, meta: dict[str, Any]) -> Path:
    """Write checkpoints/step-NNNNNNNN/ as a whole: built in a hidden folder, then renamed."""
    folder = run / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:08d}"
    if final.exists():
        return final
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".step-{step:08d}."))
    try:
        os.chmod(tmp, DIR_MODE)
        # cloned: safetensors refuses tensors that share memory (tied embeddings)
        save_file({k: v.detach().cpu().clone() for k, v in weights.items()}, str(tmp / WEIGHTS))
        if trainer_state is not None:
            torch.save(trainer_state, tmp / TRAINER_STATE)
        (tmp / META).write_text(json.dumps({"step": step, **meta}), encoding="utf-8")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def list_checkpoints(run: Path) -> list[dict[str, Any]]:
    """Complete checkpoints, oldest first, each its meta.json plus its `path`."""
    found = []
    for path in sorted((run / CHECKPOINTS).glob("step-*")):
        if (path / META).is_file() and (path / WEIGHTS).is_file():
            found.append({**json.loads((path / META).read_text(encoding="utf-8")), "path": path})
    return found


def best_checkpoint(checkpoints: list[dict[str, Any]]) -> dict[str, Any] | None:
    scored = [c for c in checkpoints if c.get("val_loss") is not None]
    return min(scored, key=lambda c: (c["val_loss"], -c["step"])) if scored else None


def prune_checkpoints(run: Path, keep_last: int) -> None:
    """Keep the newest `keep_last` checkpoints and the best by validation loss."""
    checkpoints = list_checkpoints(run)
    best = best_checkpoint(checkpoints)
    keep = {c["step"] for c in checkpoints[-keep_last:]} | ({best["step"]} if best else set())
    for c in checkpoints:
        if c["step"] not in keep:
            shutil.rmtree(c["path"], ignore_errors=True)


def find_checkpoint(run: Path, which: str = "best") -> dict[str, Any]:
    """The checkpoint named by `best`, `last` or a step number."""
    checkpoints = list_checkpoints(run)
    if not checkpoints:
        raise UserError(f"{run} has no checkpoint yet; train it first")
    if which == "last":
        return checkpoints[-1]
    if which == "best":
        return best_checkpoint(checkpoints) or checkpoints[-1]
    if not which.isdigit():
        raise UserError(f"a checkpoint is best, last or a step number, not {which!r}")
    for c in checkpoints:
        if c["step"] == int(which):
            return c
    steps = ", ".join(str(c["step"]) for c in checkpoints)
    raise UserError(f"{run} has no checkpoint at step {which}; it has: {steps}")


def load_weights(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint["path"] / WEIGHTS))


def load_trainer_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    path = checkpoint["path"] / TRAINER_STATE
    if not path.is_file():
        raise UserError(f"{checkpoint['path']} holds weights only and cannot be resumed")
    return torch.load(path, map_location="cpu", weights_only=False)


def summarize(run: Path) -> dict[str, Any]:
    """One line of `tunesmith runs`: recipe, data, steps, best validation loss, date, and whether
    it is a bundled model (then `run` is its name, as `tunesmith sample` takes it)."""
    config = read_config(run)
    checkpoints = list_checkpoints(run)
    best = best_checkpoint(checkpoints)
    bundled = run.resolve().parent == PRETRAINED_DIR
    return {
        "run": run.name if bundled else str(run),
        "recipe": config.get("recipe", "?"),
        "data": config.get("data", ""),
        "step": checkpoints[-1]["step"] if checkpoints else 0,
        "best_val_loss": best["val_loss"] if best else None,
        "created": config.get("created", ""),
        "bundled": bundled,
    }


def list_runs(root: Path) -> list[dict[str, Any]]:
    if not root.is_dir():
        raise UserError(f"no such folder: {root}")
    runs = [root] if is_run(root) else sorted(p for p in root.iterdir() if is_run(p))
    return [summarize(r) for r in runs]


def list_bundled_models() -> list[dict[str, Any]]:
    """The models that ship with tunesmith, ready to sample by name: one summary row each."""
    return [summarize(p) for p in sorted(PRETRAINED_DIR.glob("*")) if is_run(p)]
