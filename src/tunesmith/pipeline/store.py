"""The pipeline's store: one folder the user names, holding

    objects/KE/KEY/       the outputs of one datum of one stage, KEY the sha1 of the stage's kind,
                          code version and settings and of its inputs' content; record.json,
                          written last, says the object is complete (what it holds, where it came from)
    failures/KEY.json     why the datum with that key failed last time (it is tried again next run)
    state.json            what the last run made of each stage: the datums, their keys and sources
    out/STAGE/NAME        the current outputs of each stage under their names (links into objects/)
    .lock                 one run at a time

Every file is written atomically, and an object without its record is unfinished: a run killed at
any moment leaves a store that the next run continues from."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tunesmith.errors import UserError
from tunesmith.media.files import write_atomic

RECORD = "record.json"


def digest_of(*parts: Any) -> str:
    """The sha1 of parts as canonical JSON."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Store:
    def __init__(self, root: Path):
        self.root = root
        try:
            (root / "objects").mkdir(parents=True, exist_ok=True)
            (root / "failures").mkdir(exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot make the pipeline store {root} ({err.strerror}); give another --store") from None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock; another run on the same store is refused with one line."""
        with open(self.root / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"another pipeline run is using {self.root}; wait for it to finish") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def folder(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / key

    def record(self, key: str) -> dict[str, Any] | None:
        """The record of a complete object, None when there is none (or it is damaged)."""
        try:
            with open(self.folder(key) / RECORD, "rb") as f:
                return json.loads(f.read())
        except (OSError, ValueError):
            return None

    def begin(self, key: str, keep: bool = False) -> Path:
        """An empty folder for the object `key` (what an unfinished one left is removed, unless
        `keep`: a training run cut short resumes)."""
        folder = self.folder(key)
        if folder.exists() and not keep:
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def finish(self, key: str, record: dict[str, Any]) -> None:
        """Mark the object complete; its failure, if it had one, is forgotten."""
        write_atomic(self.folder(key) / RECORD, json.dumps(record, indent=1).encode())
        (self.root / "failures" / f"{key}.json").unlink(missing_ok=True)

    def put(self, key: str, file_name: str, data: bytes, record: dict[str, Any]) -> Path:
        """An object of one file: written, then its record."""
        path = self.begin(key) / file_name
        write_atomic(path, data)
        self.finish(key, record)
        return path

    def fail(self, key: str, record: dict[str, Any]) -> None:
        write_atomic(self.root / "failures" / f"{key}.json", json.dumps(record, indent=1).encode(), durable=False)

    def failure(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.root / "failures" / f"{key}.json").read_bytes())
        except (OSError, ValueError):
            return None

    def state(self) -> dict[str, Any]:
        try:
            return json.loads((self.root / "state.json").read_bytes())
        except (OSError, ValueError):
            return {"stages": {}}

    def save_state(self, state: dict[str, Any]) -> None:
        write_atomic(self.root / "state.json", json.dumps(state, separators=(",", ":")).encode())

    def show(self, stage: str, outputs: dict[str, Path]) -> None:
        """Make out/STAGE hold exactly `outputs` (name -> object file or folder): built aside as
        links (hard links to files, relative symbolic links to folders), then swapped in."""
        views = self.root / "out"
        building, old = views / f".{stage}.new", views / f".{stage}.old"
        for leftover in (building, old):
            if leftover.exists():
                shutil.rmtree(leftover)
        building.mkdir(parents=True)
        for name, target in outputs.items():
            link = building / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                link.symlink_to(os.path.relpath(target, link.parent))
                continue
            try:
                os.link(target, link)
            except OSError:
                shutil.copyfile(target, link)
        current = views / stage
        if current.exists():
            current.rename(old)
        building.rename(current)
        if old.exists():
            shutil.rmtree(old)
