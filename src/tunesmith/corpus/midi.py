"""MIDI corpora: a .mid/.midi/.kar file, a folder of them (style tags from sub-folders) or a bundled
corpus name, read into one Piece per file; corrupt, empty and note-less files are skipped and counted.
Parsed notes are kept in a cache by file content, so a corpus read again is not parsed again."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.corpus import Document, list_files, read_documents
from tunesmith.corpus.bundled import BUNDLED_MIDI, bundled_midi_folder, cache_subfolder, write_cached
from tunesmith.errors import UserError, info
from tunesmith.notes import NOTE_BYTES, NOTE_DTYPE, Piece, parse_midi, pieces_from_scores

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
MIDI_HINT = "give a .mid, .midi or .kar file with notes, or a folder of them"
NOTE_CACHE_VERSION = 1  # raise when reading MIDI changes its output (notes.pieces_from_scores), so caches are redone
PACK_INDEX = np.dtype([("sha1", "S40"), ("notes", "i8"), ("qpm", "f8"), ("numerator", "i8"), ("denominator", "i8")])


def resolve_midi_source(source: str) -> Path:
    """An existing MIDI file or folder, or the cache folder of a bundled MIDI corpus."""
    path = Path(source).expanduser()
    if path.exists():
        return path.resolve()
    if source in BUNDLED_MIDI:
        return bundled_midi_folder(source)
    raise UserError(f"no such MIDI file or folder: {source} (bundled MIDI corpora: {', '.join(BUNDLED_MIDI)})")


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None


def parse_file(path: Path, data: bytes) -> Any:
    """The symusic Score of a MIDI file's bytes; a UserError says why the file cannot be used."""
    if not data:
        raise UserError(f"{path} is empty")
    try:
        score = parse_midi(data)
    except RuntimeError as err:  # symusic's parser reports every malformed file this way
        raise UserError(f"{path} is not a readable MIDI file ({err})") from None
    if not score.note_num():
        raise UserError(f"{path} has no notes")
    return score


class NoteCache:
    """The notes of a corpus's MIDI files by content (sha1 of the file's bytes), kept in one pack per
    corpus, CACHE/midi/SHA1-OF-THE-CORPUS-PATH-vN.pack, so that reading it again parses only files
    whose content is new (a file renamed or moved inside the folder is not parsed again; a changed
    one is). One pack, not a file per MIDI file: opening a small file costs as much as parsing a
    MIDI file. A pack is two .npy arrays one after the other: an index (PACK_INDEX, a row per file)
    and the files' notes, end to end. A file that cannot be used is not kept; a cache that cannot be
    written is warned about once and left out."""

    def __init__(self, root: Path):
        folder = cache_subfolder("midi", "MIDI note cache")
        name = f"{hashlib.sha1(str(root).encode()).hexdigest()}-v{NOTE_CACHE_VERSION}.pack"
        self.pack = folder / name if folder else None
        self.kept = self.load() if self.pack else {}  # content sha1 -> (notes, qpm, metre)
        self.packed = set(self.kept)  # the files the pack holds
        self.hits = 0

    def load(self) -> dict[str, tuple[np.ndarray, float, tuple[int, int]]]:
        """The pack's pieces by content sha1; none when it is missing or damaged (it is then rewritten)."""
        try:
            with open(self.pack, "rb") as pack:
                index, notes = np.load(pack, allow_pickle=False), np.load(pack, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return {}
        if index.dtype != PACK_INDEX or notes.dtype != NOTE_DTYPE or index["notes"].sum() != len(notes):
            return {}
        ends = np.cumsum(index["notes"]).tolist()
        return {sha1.decode(): (notes[end - size:end], qpm, (numerator, denominator))
                for (sha1, size, qpm, numerator, denominator), end in zip(index.tolist(), ends)}

    def read(self, path: Path, data: bytes | None = None) -> tuple[str, Any]:
        """(content sha1, the parsed Score, or None when the cache holds the file's notes) of the
        file, or of `data` (a recording's transcription) standing for it."""
        data = read_bytes(path) if data is None else data
        key = hashlib.sha1(data).hexdigest()
        if key in self.kept:
            self.hits += 1
            return key, None
        return key, parse_file(path, data)

    def pieces(self, read: list[tuple[str, Any]]) -> list[Piece]:
        """The Pieces of what `read` returned, the parsed files converted together; the pack is
        rewritten to hold exactly these files when they are not what it held."""
        parsed = [(key, score) for key, score in read if score is not None]
        converted = dict(zip([key for key, _ in parsed],
                             pieces_from_scores([score for _, score in parsed], [""] * len(parsed))))
        self.kept.update({key: (piece.notes, piece.qpm, piece.time_signature) for key, piece in converted.items()})
        used = dict.fromkeys(key for key, _ in read)
        if self.pack and used.keys() != self.packed:
            self.save({key: self.kept[key] for key in used})
        return [converted.pop(key) if key in converted else Piece(*self.kept[key]) for key, _ in read]

    def save(self, entries: dict[str, tuple[np.ndarray, float, tuple[int, int]]]) -> None:
        index = np.array([(sha1.encode(), len(notes), qpm, *metre) for sha1, (notes, qpm, metre) in entries.items()],
                         PACK_INDEX)
        buffer = io.BytesIO()
        np.save(buffer, index, allow_pickle=False)
        # then the notes end to end, as np.save would write their concatenation, without making it or
        # the whole file in memory (new memory of that size costs more than writing it)
        header = {"descr": np.lib.format.dtype_to_descr(NOTE_DTYPE), "fortran_order": False,
                  "shape": (int(index["notes"].sum()),)}
        np.lib.format.write_array_header_1_0(buffer, header)
        parts = [buffer.getvalue()] + [np.ascontiguousarray(notes, NOTE_DTYPE).view(NOTE_BYTES).data
                                       for notes, _, _ in entries.values()]
        write_cached(self.pack, parts, "MIDI note cache")


class TranscriptionCache:
    """Recordings transcribed into MIDI bytes (media.transcribe), kept in CACHE/transcriptions by
    the recording's content and the transcription settings, so that a folder of recordings read
    again is not transcribed again."""

    def __init__(self, settings: Any = None):
        from tunesmith.media.transcribe import TranscribeSettings

        self.settings = settings or TranscribeSettings()
        self.folder = cache_subfolder("transcriptions", "transcription cache")
        self.tag = hashlib.sha1(self.settings.key().encode()).hexdigest()[:12]
        self.hits = 0

    def __call__(self, path: Path) -> bytes:
        from tunesmith.media.files import content_hash
        from tunesmith.media.transcribe import transcriber

        kept = self.folder / f"{content_hash(path)}-{self.tag}.mid" if self.folder else None
        if kept is not None and kept.is_file():
            self.hits += 1
            return read_bytes(kept)
        midi, _ = transcriber(self.settings).midi_bytes(path)
        if kept is not None:
            write_cached(kept, midi, "transcription cache")
        return midi


def read_midi_corpus(source: str, transcribe: bool = False) -> list[Document]:
    """One Document per MIDI file, named by its path below the folder; in a folder, a file inside
    a sub-folder takes the sub-folder's name as its style (lakh/jazz/a.mid has style "jazz").
    Files whose content was read before come from the note cache. With `transcribe`, recordings
    are read too, as their transcriptions (from the transcription cache when made before)."""
    from tunesmith.corpus.audio import AUDIO_SUFFIXES

    root = resolve_midi_source(source)
    suffixes = MIDI_SUFFIXES + (AUDIO_SUFFIXES if transcribe else ())
    hint = MIDI_HINT + (", or recordings (transcribed)" if transcribe else "")
    if root.is_file() and root.suffix.lower() not in suffixes:
        raise UserError(f"{root} is not a MIDI file{' or a recording' if transcribe else ''}: {hint}")
    cache = NoteCache(root)
    read, progress = cache.read, None
    if transcribe:
        transcriptions = TranscriptionCache()

        def read_or_transcribe(path: Path) -> tuple[str, Any]:
            audio = path.suffix.lower() in AUDIO_SUFFIXES
            return cache.read(path, transcriptions(path) if audio else None)

        read = read_or_transcribe

        def progress(doc: Document) -> str:
            return f"{transcriptions.hits} transcriptions from the cache"
    docs = read_documents(root, list_files(root, suffixes), read, "MIDI", hint, progress)
    for doc, piece in zip(docs, cache.pieces([doc.content for doc in docs])):
        doc.content = piece
        piece.name = doc.name
        if "/" in doc.name:
            piece.style = doc.name.split("/")[0]
    if cache.hits:
        info(f"{cache.hits} of {len(docs)} MIDI files from the note cache")
    return docs
