"""Text corpora for char-rnn: a .txt file or a folder of text files, decoded as UTF-8 (or cp1252
with a warning), binary files skipped, large files cut into sections so the split is by document."""

from __future__ import annotations

from pathlib import Path

from tunesmith.corpus import Document, list_files, read_documents, resolve_source
from tunesmith.errors import UserError, warn

MIN_DOCUMENTS = 40  # fewer files than this are cut into sections at blank lines


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KiB mean a binary file."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return bool(head) and controls / len(head) > 0.05


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM); else cp1252, the usual encoding of old lyrics files, with a
    warning; else Latin-1, which decodes anything."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        for encoding in ("cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        warn(f"{path} is not UTF-8; read it as {encoding}")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text_file(path: Path) -> str:
    """The text of a file; a UserError for a file that cannot be used as text."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    if looks_binary(data):
        raise UserError(f"{path} is a binary file, not text")
    text = decode_text(data, path)
    if not text.strip():
        raise UserError(f"{path} has no text")
    return text


def sections(doc: Document, count: int) -> list[Document]:
    """Cut a document into about `count` sections at blank lines (or line ends where there are none)."""
    text = doc.content
    target = max(1, len(text) // count)
    pieces, start = [], 0
    while start < len(text):
        end = start + target
        if end >= len(text):
            end = len(text)
        else:
            blank = text.find("\n\n", end)
            newline = text.find("\n", end)
            end = blank + 2 if 0 <= blank < end + target else (newline + 1 if newline >= 0 else len(text))
        pieces.append(text[start:end])
        start = end
    return [Document(f"{doc.name}#{i}", piece) for i, piece in enumerate(pieces)]


def read_text_corpus(source: str) -> list[Document]:
    """Documents of a text corpus; unusable files in a folder are skipped with a warning."""
    root = resolve_source(source)
    docs = read_documents(root, list_files(root), read_text_file, "text",
                          "give a non-empty .txt file or a folder of them")
    if len(docs) < MIN_DOCUMENTS:
        per_doc = -(-MIN_DOCUMENTS // len(docs))
        docs = [piece for doc in docs for piece in sections(doc, per_doc)]
    return docs
