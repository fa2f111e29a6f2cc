"""MIDI corpora: a .mid/.midi/.kar file, a folder of them (style tags from sub-folders) or a bundled
corpus name, read into one Piece per file; corrupt, empty and note-less files are skipped and counted."""

from __future__ import annotations

from pathlib import Path

from tunesmith.corpus import Document, list_files, read_documents
from tunesmith.corpus.bundled import BUNDLED_MIDI, bundled_midi_folder
from tunesmith.errors import UserError
from tunesmith.notes import Piece, read_midi

MIDI_SUFFIXES = (".mid", ".midi", ".kar")


def resolve_midi_source(source: str) -> Path:
    """An existing MIDI file or folder, or the cache folder of a bundled MIDI corpus."""
    path = Path(source).expanduser()
    if path.exists():
        return path.resolve()
    if source in BUNDLED_MIDI:
        return bundled_midi_folder(source)
    raise UserError(f"no such MIDI file or folder: {source} (bundled MIDI corpora: {', '.join(BUNDLED_MIDI)})")


def read_piece(path: Path) -> Piece:
    """One MIDI file; a UserError says why it cannot be used."""
    try:
        piece = read_midi(path)
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    except RuntimeError as err:  # symusic's parser reports every malformed file this way
        if not path.stat().st_size:
            raise UserError(f"{path} is empty") from None
        raise UserError(f"{path} is not a readable MIDI file ({err})") from None
    if not len(piece):
        raise UserError(f"{path} has no notes")
    return piece


def read_midi_corpus(source: str) -> list[Document]:
    """One Document per MIDI file, named by its path below the folder; in a folder, a file inside
    a sub-folder takes the sub-folder's name as its style (lakh/jazz/a.mid has style "jazz")."""
    root = resolve_midi_source(source)
    if root.is_file() and root.suffix.lower() not in MIDI_SUFFIXES:
        raise UserError(f"{root} is not a MIDI file: give a .mid, .midi or .kar file or a folder of them")
    docs = read_documents(root, list_files(root, MIDI_SUFFIXES), read_piece, "MIDI",
                          "give a .mid, .midi or .kar file with notes, or a folder of them")
    for doc in docs:
        doc.content.name = doc.name
        if "/" in doc.name:
            doc.content.style = doc.name.split("/")[0]
    return docs
