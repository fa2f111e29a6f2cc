"""Corpora: read a file, a folder or a bundled corpus name into named documents, skipping and
counting unreadable files, and split them into train and validation sets by document."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from tunesmith.errors import UserError, info, warn

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass
class Document:
    """One unit of a corpus (a text file or a section of one; later a MIDI file or a recording)."""

    name: str
    content: Any


def resolve_source(source: str) -> Path:
    """The path a `--data` value names: an existing file or folder, or a bundled corpus name."""
    path = Path(source).expanduser()
    if path.exists():
        return path.resolve()
    bundled = BUNDLED_DIR / source
    if "/" not in source and bundled.is_dir():
        return bundled
    names = ", ".join(sorted(p.name for p in BUNDLED_DIR.iterdir() if p.is_dir()))
    raise UserError(f"no such file or folder: {source} (bundled corpora: {names})")


def list_files(root: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """The file itself, or every non-hidden file below a folder (optionally by suffix), sorted."""
    if root.is_file():
        return [root]
    files = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.name.lower() != "readme.md"
        and (suffixes is None or p.suffix.lower() in suffixes)
    ]
    return files


def read_documents(root: Path, files: list[Path], read: Callable[[Path], Any], kind: str,
                   hint: str, progress: Callable[[Document], str] | None = None) -> list[Document]:
    """One Document per usable file, named by its path below the folder. In a folder, a file that
    `read` rejects (with a UserError) is skipped with a warning and counted in a summary; a file
    given alone stops with its error and the `hint` of what to give instead. With `progress`, a bar
    counts the files, showing beside it what progress(document) returns for each document read."""
    docs, skipped = [], 0
    with tqdm(files, desc=f"reading {kind}", unit="file", leave=False, dynamic_ncols=True,
              disable=progress is None) as bar:
        for path in bar:
            try:
                content = read(path)
            except UserError as err:
                if root.is_file():
                    raise UserError(f"{err}; {hint}") from None
                warn(f"skipped {err}")
                skipped += 1
                continue
            docs.append(Document(path.relative_to(root).as_posix() if root.is_dir() else path.name, content))
            if progress is not None:
                bar.set_postfix_str(progress(docs[-1]))
    if root.is_dir():
        info(f"read {len(docs)} {kind} files from {root}" + (f", skipped {skipped}" if skipped else ""))
    if not docs:
        raise UserError(f"no usable {kind} file in {root}; {hint}")
    return docs


def split_by_document(docs: list[Document], val_fraction: float,
                      test_fraction: float = 0.0) -> tuple[list[Document], list[Document], list[Document]]:
    """Deterministic (train, validation, test) split by document name: a document whose name hashes
    under val_fraction is held out for validation, from there up to val_fraction + test_fraction for
    test, so adding files never moves an old one across. A corpus too small to be hit still holds
    out its lowest-hash document for validation (and the next one for test, from 3 documents on),
    and always keeps one for training."""
    if len(docs) < 2 or val_fraction <= 0:
        return list(docs), [], []

    def share(d: Document) -> float:
        return zlib.crc32(d.name.encode("utf-8")) / 2**32

    ranked = sorted(docs, key=lambda d: (share(d), d.name))
    val = [d for d in ranked if share(d) < val_fraction][: len(docs) - 1] or ranked[:1]
    test = []
    if test_fraction > 0 and len(docs) >= 3:
        rest = ranked[len(val):]  # val is always a prefix of the ranking
        test = [d for d in rest if share(d) < val_fraction + test_fraction][: len(rest) - 1] or rest[:1]
    held = {d.name: split for split, part in (("val", val), ("test", test)) for d in part}
    return ([d for d in docs if d.name not in held], [d for d in docs if held.get(d.name) == "val"],
            [d for d in docs if held.get(d.name) == "test"])
