"""A pipeline spec: a small TOML file naming the input folder, the store and a chain of stages,
each taking the outputs of the one before it (the first takes the input folder's files).

    input = "recordings"          # relative to the spec's folder
    store = "ambient-store"

    [[stages]]
    name = "transcribe"           # what the summary line and the store's view folder are called
    kind = "transcribe"           # decode, transcribe, render (per file); train, generate (the whole set)
    onset_threshold = 0.5         # the kind's settings (stages.KINDS), anything else is an error
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import UserError


@dataclass
class StageSpec:
    name: str
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)  # the kind's defaults overridden by the spec's


@dataclass
class Spec:
    path: Path
    input: Path
    store: Path
    stages: list[StageSpec]


def read_spec(path: str | Path, input: str | Path | None = None, store: str | Path | None = None) -> Spec:
    """The spec at `path`, with its input folder and store (relative to the spec's folder) replaced
    by `input` and `store` when given; every stage's kind and settings checked."""
    from tunesmith.pipeline.stages import KINDS

    path = Path(path).expanduser()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no such pipeline spec: {path}; give a .toml file (see examples/ambient.toml)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read the pipeline spec {path} ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path} is not valid TOML ({err})") from None
    unknown = set(raw) - {"input", "store", "stages"}
    if unknown:
        raise UserError(f"{path}: unknown key {', '.join(sorted(unknown))}; a spec has input, store and [[stages]]")
    here = path.resolve().parent

    def folder(given: str | Path | None, key: str, default: str | None) -> Path:
        value = given if given is not None else raw.get(key, default)
        if not isinstance(value, (str, Path)) or not str(value):
            raise UserError(f"{path}: give the {key} folder, as {key} = \"folder\" in the spec or with --{key}")
        return (here / Path(value).expanduser()).resolve() if given is None else Path(value).expanduser().resolve()

    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw:
        raise UserError(f"{path}: no stages; add [[stages]] tables with a name and a kind")
    stages, names = [], set()
    for number, table in enumerate(stages_raw, 1):
        if not isinstance(table, dict):
            raise UserError(f"{path}: stage {number} is not a table; write it as [[stages]]")
        table = dict(table)
        kind = table.pop("kind", None)
        name = table.pop("name", kind)
        if kind not in KINDS:
            raise UserError(f"{path}: stage {number} ({name}) has kind {kind!r}; choose one of {', '.join(KINDS)}")
        if not isinstance(name, str) or not name or "/" in name or name.startswith(".") or name in names:
            raise UserError(f"{path}: stage {number} needs a name of its own, without / (got {name!r})")
        names.add(name)
        stages.append(StageSpec(name, kind, KINDS[kind].check(table, f"{path}: stage {name}")))
    for before, after in zip(stages, stages[1:]):
        made, takes = KINDS[before.kind].makes(before.settings), KINDS[after.kind].accepts
        if made not in takes:
            raise UserError(f"{path}: stage {after.name} ({after.kind}) cannot take what {before.name} "
                            f"({before.kind}) makes ({made} files)")
    return Spec(path, folder(input, "input", None), folder(store, "store", f"{path.stem}-store"), stages)
