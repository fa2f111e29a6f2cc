"""Corpora: read a file, a folder or a bundled corpus name into named documents, skipping and
counting unreadable files, and split them into train and validation sets by document."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from tunesmith.errors import UserError, info, warn
from tunesmith.progress import Bar

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
    """The file itself, or every non-hidden file below a folder (optionally by suffix), sorted.

    A file is kept when it is a regular file (a link to one counts), no part of its path below the
    folder starts with ".", it is not a README.md (in any case) and its suffix (Path.suffix, in
    lower case) is one of `suffixes`. Linked folders are not entered and unreadable ones are passed
    over (as Path.rglob does). Sorted as Paths sort: part by part. One os.scandir per folder: a
    Path.rglob of the folder and a stat per file cost 30 us a file, as much as parsing a MIDI file."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    found: list[tuple[tuple[str, ...], str]] = []  # (parts below root, full path)

    def visit(folder: str, parts: tuple[str, ...]) -> None:
        try:
            with os.scandir(folder) as entries:
                entries = list(entries)
        except PermissionError:
            return
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue  # hidden, and so is everything below a hidden folder
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                visit(entry.path, parts + (name,))
                continue
            if name.lower() == "readme.md":
                continue
            if suffixes is not None:
                dot = name.rfind(".")
                if (name[dot:].lower() if 0 < dot < len(name) - 1 else "") not in suffixes:
                    continue
            try:
                is_file = entry.is_file()  # follows a link, as Path.is_file does
            except OSError:
                is_file = Path(entry.path).is_file()  # a link loop and the like: False, as there
            if is_file:
                found.append((parts + (name,), entry.path))

    visit(str(root), ())
    found.sort(key=lambda item: item[0])
    return [root.joinpath(*parts) for parts, _ in found]


def relative_name(path: Path, root: Path, root_str: str) -> str:
    """path.relative_to(root).as_posix(), by the strings when path is below root as written."""
    text = str(path)
    if text.startswith(root_str) and text[len(root_str):len(root_str) + 1] == "/" and root_str not in ("", "/"):
        return text[len(root_str) + 1:]
    return path.relative_to(root).as_posix()


def read_documents(root: Path, files: list[Path], read: Callable[[Path], Any], kind: str,
                   hint: str, progress: Callable[[Document], str] | None = None) -> list[Document]:
    """One Document per usable file, named by its path below the folder. In a folder, a file that
    `read` rejects (with a UserError) is skipped with a warning and counted in a summary; a file
    given alone stops with its error and the `hint` of what to give instead. With `progress`, a bar
    counts the files, showing beside it what progress(document) returns for each document read."""
    docs, skipped = [], 0
    in_folder, root_str = root.is_dir(), str(root)
    with Bar(f"reading {kind}", len(files), "file", silent=progress is None) as bar:
        for path in bar.iterate(files):
            try:
                content = read(path)
            except UserError as err:
                if root.is_file():
                    raise UserError(f"{err}; {hint}") from None
                warn(f"skipped {err}")
                skipped += 1
                continue
            docs.append(Document(relative_name(path, root, root_str) if in_folder else path.name, content))
            if progress is not None:
                bar.set_note(progress(docs[-1]))
    if in_folder:
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
