"""Bundled MIDI corpora made from music21's own corpus without a download (Bach chorales, O'Neill's
Irish tunes): converted once into MIDI files in the cache folder, then read like any MIDI folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


from tunesmith.corpus import BUNDLED_DIR, list_files
from tunesmith.errors import UserError, info, warn
from tunesmith.media.files import write_atomic
from tunesmith.notes import Piece, make_notes, read_midi, skyline, write_midi
from tunesmith.progress import Bar

# General MIDI programs: choir aahs, voice oohs, synth voice, church organ (an organ doubling the bass)
VOICE_PROGRAMS = {"soprano": 52, "alto": 53, "tenor": 54, "bass": 19}
CHORALE_QPM = 100.0
FOLK_PROGRAM = 73  # flute
FOLK_QPM = 120.0
VELOCITY = 90


@dataclass(frozen=True)
class BundledCorpus:
    """A corpus made from music21 sources: each source converts into named pieces, or into a
    name with None when it cannot be used (it is then counted as skipped)."""

    description: str
    sources: Callable[[], list[str]]
    convert: Callable[[str], Iterator[tuple[str, Piece | None]]]
    unusable: str  # what the skipped sources are, for the summary line


def cache_folder() -> Path:
    """Where converted corpora live: $TUNESMITH_CACHE, else ~/.cache/tunesmith."""
    return Path(os.environ.get("TUNESMITH_CACHE") or Path.home() / ".cache" / "tunesmith").expanduser()


UNWRITABLE: set[Path] = set()  # cache folders found unwritable by this process (said once each)


def cache_subfolder(name: str, what: str) -> Path | None:
    """cache_folder()/name, made if missing; None, said once, when it cannot be written (then the
    `what` cache is left out and everything still works, only not faster)."""
    folder = cache_folder() / name
    if folder in UNWRITABLE:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as err:
        give_up(folder, what, err)
        return None
    return folder


def give_up(folder: Path, what: str, err: OSError) -> None:
    if folder not in UNWRITABLE:
        warn(f"cannot write the {what} in {folder} ({err.strerror or err}); going on without it "
             f"(set TUNESMITH_CACHE to a writable folder to keep it)")
    UNWRITABLE.add(folder)


def write_cached(path: Path, data: bytes | list, what: str) -> None:
    """Write a cache file (its bytes, or a list of its parts: see write_atomic) atomically but not
    durably (no fsync: a cache file lost or cut short by a crash reads as damaged and is made
    again); a failure leaves the cache out (with one warning)."""
    try:
        write_atomic(path, data, durable=False)
    except OSError as err:
        give_up(path.parent, what, err)


@lru_cache(maxsize=None)
def midi_pitch(name: str) -> int:
    """A music21 pitch name ("C#5", "B-4", "En5") as a MIDI pitch."""
    from music21 import pitch

    return pitch.Pitch(name).midi


def join_ties(events: list[tuple[float, float, int, str | None]]) -> list[tuple[float, float, int]]:
    """Notes from (start, end, pitch, tie) events in time order: a note whose tie stops or
    continues a sounding note of the same pitch lengthens it instead of starting again."""
    notes: list[list] = []
    sounding: dict[int, int] = {}
    for start, end, pitch, tie in events:
        held = sounding.get(pitch)
        if tie in ("stop", "continue") and held is not None and abs(notes[held][1] - start) < 1e-6:
            notes[held][1] = end
        else:
            sounding[pitch] = len(notes)
            notes.append([start, end, pitch])
    return [tuple(note) for note in notes]


# -- chorales: music21's MusicXML Bach chorales, one MIDI track per voice ---------------------------


def chorale_sources() -> list[str]:
    from music21 import corpus

    return [str(path) for path in corpus.getComposer("bach") if Path(str(path)).suffix in (".mxl", ".xml", ".krn")]


def four_voices(score) -> list | None:
    """The soprano, alto, tenor and bass parts (by the first word of their names, instruments
    left out), or the four parts of an unnamed four-part score; None if it is not a chorale."""
    parts = list(score.parts)
    if len(parts) == 4 and not any(part.partName for part in parts):
        return parts
    named = {}
    for part in parts:
        words = (part.partName or "").lower().split()
        if words and words[0] in VOICE_PROGRAMS:
            named.setdefault(words[0], []).append(part)
    if all(len(named.get(voice, ())) == 1 for voice in VOICE_PROGRAMS):
        return [named[voice][0] for voice in VOICE_PROGRAMS]
    return None


def chorale_pieces(source: str) -> Iterator[tuple[str, Piece | None]]:
    """One four-voice piece from a chorale score. A pickup bar keeps its place before the first
    bar line, so bar lines fall on multiples of the bar length."""
    from music21 import corpus, harmony, meter, stream, tempo

    name = Path(source).stem + ".mid"
    try:
        score = corpus.parse(source, forceSource=True)
    except Exception:  # music21 raises many kinds of errors on scores it cannot read
        yield name, None
        return
    voices = four_voices(score)
    if voices is None:
        yield name, None
        return
    first_bar = voices[0].getElementsByClass(stream.Measure).first()
    pickup = float(first_bar.paddingLeft) if first_bar is not None else 0.0
    rows = []
    for part, program in zip(voices, VOICE_PROGRAMS.values()):
        events = []
        for element in part.flatten().notes:
            if isinstance(element, harmony.Harmony) or element.duration.isGrace:
                continue
            start = float(element.offset) + pickup
            end = start + float(element.quarterLength)
            for note in element.notes if element.isChord else [element]:
                tie = note.tie or element.tie
                events.append((start, end, note.pitch.midi, tie.type if tie else None))
        rows += [(start, end, pitch, VELOCITY, program) for start, end, pitch in join_ties(events)]
    mark = score.recurse().getElementsByClass(tempo.MetronomeMark).first()
    signature = score.recurse().getElementsByClass(meter.TimeSignature).first()
    qpm = mark.getQuarterBPM() if mark else None  # None also for a tempo given in words only
    yield name, Piece(make_notes(rows), qpm=float(qpm or CHORALE_QPM),
                      time_signature=(signature.numerator, signature.denominator) if signature else (4, 4),
                      name=name)


# -- folk: O'Neill's 1850 Irish tunes (ABC), read from music21's ABC tokens ------------------------


def folk_sources() -> list[str]:
    from music21 import corpus

    return sorted(str(path) for path in corpus.getPaths() if Path(str(path)).parent.name == "oneills1850")


def abc_tune(tune, name: str) -> Piece | None:
    """One tune of an ABC file as a melody, from music21's processed tokens (its full translation
    into a score is 20 times slower, and drops the notes marked with a ">" annotation): ties joined,
    grace notes left out, chords reduced to their top note; repeats are played once, as written.
    A pickup keeps its place before the first bar line."""
    from music21 import abcFormat

    position, events, signature, mark, first_bar_line = 0.0, [], None, None, None
    for token in tune.tokens:
        if isinstance(token, abcFormat.ABCMetadata):
            if token.isMeter() and signature is None:
                signature = token.getTimeSignatureParameters()
            elif token.isTempo() and mark is None:
                mark = token.getMetronomeMarkObject()
        elif isinstance(token, abcFormat.ABCBar):
            if first_bar_line is None and position > 0:
                first_bar_line = position
        elif isinstance(token, abcFormat.ABCNote) and not token.inGrace:
            is_chord = isinstance(token, abcFormat.ABCChord)
            if is_chord and not token.subTokens:
                continue
            length = float(token.quarterLength * (token.activeTuplet.tupletMultiplier() if token.activeTuplet else 1))
            if is_chord:
                names = [note.pitchName for note in token.subTokens if isinstance(note, abcFormat.ABCNote)]
            else:
                names = [] if token.isRest else [token.pitchName]
            events += [(position, position + length, midi_pitch(pitch), token.tie) for pitch in names]
            position += length
    if not events:
        return None
    metre = (signature[0], signature[1]) if signature else (4, 4)
    bar = metre[0] * 4 / metre[1]
    pickup = bar - first_bar_line if first_bar_line is not None and first_bar_line < bar else 0.0
    rows = [(start + pickup, end + pickup, pitch, VELOCITY, FOLK_PROGRAM) for start, end, pitch in join_ties(events)]
    qpm = mark.getQuarterBPM() if mark else None
    return skyline(Piece(make_notes(rows), qpm=float(qpm or FOLK_QPM), time_signature=metre, name=name))


def folk_pieces(source: str) -> Iterator[tuple[str, Piece | None]]:
    """The tunes of one ABC file, named by their number in O'Neill's collection."""
    from music21 import abcFormat

    handler = abcFormat.ABCHandler()
    handler.process(Path(source).read_text(encoding="utf-8", errors="replace"))
    for number, tune in handler.splitByReferenceNumber().items():
        name = f"oneills-{number:04d}.mid"
        yield name, abc_tune(tune, name)


CONVERSION_VERSION = 1  # raise when the conversion changes, so caches are rebuilt

BUNDLED_MIDI = {
    "chorales": BundledCorpus("Bach's four-part chorales from music21 (soprano, alto, tenor, bass: one track each)",
                              chorale_sources, chorale_pieces,
                              "scores that are not four-part chorales or that music21 cannot read"),
    "folk": BundledCorpus("O'Neill's Music of Ireland (1850): Irish dance tunes from music21, one melody each",
                          folk_sources, folk_pieces, "tunes without notes"),
}


def bundled_corpus(name: str) -> BundledCorpus:
    if name not in BUNDLED_MIDI:
        raise UserError(f"no bundled MIDI corpus named {name}: choose one of {', '.join(BUNDLED_MIDI)}")
    return BUNDLED_MIDI[name]


@contextmanager
def built_in_place(folder: Path) -> Iterator[Path]:
    """A hidden folder beside `folder` to build a corpus in, renamed into place when the block ends
    without error and removed otherwise, so an interrupted build leaves nothing half made."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        yield building
        try:
            building.rename(folder)
        except OSError:
            if not folder.is_dir():  # else another process finished the same build first
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)


def convert(name: str, folder: Path) -> None:
    """Write the corpus as MIDI files into `folder`, built in place (see built_in_place)."""
    corpus = bundled_corpus(name)
    info(f"converting the bundled {name} corpus from music21 into {folder} (a one-time conversion of up to a minute)")
    written, skipped = set(), 0
    with built_in_place(folder) as building:
        sources = list(corpus.sources())
        for source in Bar(f"converting {name}", len(sources), "file").iterate(sources):
            for piece_name, piece in corpus.convert(source):
                if piece is None or not len(piece):
                    skipped += 1
                elif piece_name not in written:  # a tune printed twice, a chorale in two encodings: once
                    write_midi(piece, building / piece_name)
                    written.add(piece_name)
    info(f"converted {len(written)} {name} pieces" + (f", skipped {skipped} {corpus.unusable}" if skipped else ""))


def bundled_midi_folder(name: str) -> Path:
    """The cache folder of a bundled MIDI corpus, converted on first use."""
    bundled_corpus(name)
    folder = cache_folder() / "corpora" / f"{name}-v{CONVERSION_VERSION}"
    if not folder.is_dir():
        convert(name, folder)
    return folder


def list_bundled() -> list[dict]:
    """Name, description and size of every bundled corpus: the text corpora (files, characters)
    and the MIDI corpora (files, notes, minutes of music, measured on the converted files)."""
    rows = []
    for folder in sorted(p for p in BUNDLED_DIR.iterdir() if p.is_dir()):
        files = list_files(folder)
        rows.append({"name": folder.name, "description": "lyrics and poems (text, public domain)",
                     "files": len(files), "characters": sum(len(f.read_text(encoding="utf-8")) for f in files)})
    for name, corpus in BUNDLED_MIDI.items():
        pieces = [read_midi(path) for path in list_files(bundled_midi_folder(name), (".mid",))]
        rows.append({"name": name, "description": corpus.description, "files": len(pieces),
                     "notes": sum(len(piece) for piece in pieces),
                     "minutes": round(sum(piece.seconds for piece in pieces) / 60, 1)})
    return rows


def export_bundled(name: str, folder: Path) -> int:
    """Copy a bundled corpus's MIDI files into a folder of the user's; a file already there is
    kept, with a warning. Returns the number of files copied."""
    source = bundled_midi_folder(name)
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cannot export {name} into {folder}: it is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    copied, kept = 0, 0
    for path in list_files(source, (".mid",)):
        target = folder / path.name
        if target.exists():
            warn(f"kept {target}: it already exists")
            kept += 1
            continue
        write_atomic(target, path.read_bytes())
        copied += 1
    info(f"exported {copied} {name} MIDI files to {folder}" + (f", kept {kept} already there" if kept else ""))
    return copied
