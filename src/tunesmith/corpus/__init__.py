"""Corpora: read a file, a folder or a bundled corpus name into named documents, skipping and
counting unreadable files, and split them into train and validation sets by document."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import UserError

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


def split_by_document(docs: list[Document], val_fraction: float) -> tuple[list[Document], list[Document]]:
    """Deterministic split: the documents whose name hashes lowest go to validation (at least one
    when there are two or more documents), so adding files never moves an old one across."""
    if len(docs) < 2 or val_fraction <= 0:
        return list(docs), []
    n_val = min(len(docs) - 1, max(1, round(len(docs) * val_fraction)))
    ranked = sorted(docs, key=lambda d: (zlib.crc32(d.name.encode("utf-8")), d.name))
    val_names = {d.name for d in ranked[:n_val]}
    return [d for d in docs if d.name not in val_names], [d for d in docs if d.name in val_names]
