"""Single notes as NSynth lays them out: the bundled `notes` corpus (General MIDI programs rendered
note by note with FluidSynth on first use, cached, named and described as NSynth names and describes
its notes) and `read_notes`, which reads one-shot notes with their pitch and velocity from it, from any
folder with an NSynth examples.json, or from a folder of one's own files named like name-060-100.wav.

This module does not import corpus.audio (which registers the bundled corpus and so imports this
one): it decodes its notes with soundfile and resamples them with soxr itself."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from tunesmith.corpus import Document, list_files, read_documents
from tunesmith.corpus.bundled import built_in_place, cache_folder
from tunesmith.errors import UserError, info
from tunesmith.media.audio import AUDIO_SUFFIXES, decode_audio, resample, to_mono
from tunesmith.media.files import write_atomic
from tunesmith.media.render import GM_PROGRAMS, find_fluidsynth, find_soundfont, render_midi
from tunesmith.progress import Bar

NOTES_VERSION = 2  # raise when the rendering or the choice of notes changes, so caches are rebuilt
NOTE_RATE = 16000
NOTE_SECONDS = 4.0  # as NSynth: 4 s a note, the key held for HELD_SECONDS, then the release
HELD_SECONDS = 3.0
SLOT_SECONDS = 4.5  # one note per slot in a program's MIDI file: the note, then a gap
SILENCE_AFTER = 4.1  # all sound off (CC 120) this long after a slot starts, so no tail reaches the next
VELOCITIES = (50, 80, 110)
NOTE_FORMAT = "flac"  # 16-bit FLAC: NSynth's 16-bit samples at about half the size of its WAV files
RENDER_WORKERS = 2  # fluidsynth processes at once
NOTE_SUFFIXES = AUDIO_SUFFIXES
NOTES_HINT = "give the bundled `notes` corpus, a folder with an NSynth examples.json, or one-shot files named like name-060-100.wav"

# NSynth's instrument families, in NSynth's order (instrument_family is the index)
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal")
SOURCE_STR, SOURCE = "synthetic", 2  # NSynth: acoustic 0, electronic 1, synthetic 2

# The NSynth family of each General MIDI family of 8 programs (0-95; drums, effects and the rest are left out)
GM_FAMILIES = ("keyboard",    # piano
               "mallet",      # chromatic percussion
               "organ",       # organ
               "guitar",      # guitar
               "bass",        # bass
               "string",      # strings
               "string",      # ensemble (string ensembles; the voices are vocal)
               "brass",       # brass
               "reed",        # reed
               "flute",       # pipe
               "synth_lead",  # synth lead
               "synth_lead")  # synth pad (NSynth has no pad family; its synth_lead is its synthesizers)
VOCAL_PROGRAMS = {52, 53, 54, 85, 91}  # choir aahs, voice oohs, synth voice, lead 6 (voice), pad 4 (choir)

# The bundled corpus: GM program -> (lowest, highest) pitch, a sensible range for the instrument
INSTRUMENTS = {
    0: (24, 96), 4: (24, 96), 6: (29, 89),      # acoustic grand piano, electric piano 1, harpsichord
    8: (60, 96), 11: (53, 89), 12: (45, 96),    # celesta, vibraphone, marimba
    16: (36, 96), 19: (24, 96), 21: (53, 89),   # drawbar organ, church organ, accordion
    24: (40, 84), 25: (40, 84), 27: (40, 86),   # nylon, steel and clean electric guitars
    32: (24, 60), 33: (24, 62), 38: (24, 60),   # acoustic, finger and synth 1 basses
    40: (55, 96), 42: (36, 76), 45: (36, 84),   # violin, cello, pizzicato strings
    48: (36, 96), 52: (48, 79), 53: (48, 79),   # string ensemble 1, choir aahs, voice oohs
    56: (54, 84), 57: (40, 72), 60: (41, 77),   # trumpet, trombone, French horn
    65: (49, 81), 68: (58, 91), 71: (50, 91),   # alto sax, oboe, clarinet
    72: (74, 102), 73: (60, 96), 75: (60, 96),  # piccolo, flute, pan flute
    80: (36, 96), 81: (36, 96), 87: (24, 72),   # lead 1 (square), lead 2 (sawtooth), lead 8 (bass + lead)
    88: (36, 90), 89: (36, 90), 91: (48, 84),   # pad 1 (new age), pad 2 (warm), pad 4 (choir)
}
OTHER_RANGE = (36, 84)  # the pitches of a program not in INSTRUMENTS


def nsynth_family(program: int) -> str:
    """The NSynth family of a General MIDI program (0-95); a UserError for drums' and effects'."""
    if program in VOCAL_PROGRAMS:
        return "vocal"
    if not 0 <= program < 8 * len(GM_FAMILIES):
        name = GM_PROGRAMS[program] if 0 <= program < len(GM_PROGRAMS) else "no General MIDI program"
        raise UserError(f"program {program} ({name}) has no NSynth family: choose one of 0-{8 * len(GM_FAMILIES) - 1}")
    return GM_FAMILIES[program // 8]


@dataclass(frozen=True)
class Instrument:
    """One program of the corpus: its NSynth names and ids and the notes it plays."""

    program: int
    family: str
    number: int  # NNN: its number among the corpus's instruments of its family
    id: int  # NSynth's `instrument`: its number among all the corpus's instruments
    notes: tuple[tuple[int, int], ...]  # (pitch, velocity), in slot order

    @property
    def name(self) -> str:
        return f"{self.family}_{SOURCE_STR}_{self.number:03d}"


def plan_notes(programs: list[int] | None = None, pitches: list[int] | None = None,
               velocities: tuple[int, ...] | list[int] = VELOCITIES) -> list[Instrument]:
    """The instruments and notes of a corpus: the programs (INSTRUMENTS' by default) in that order,
    each playing `pitches` (by default every semitone of its range, as NSynth: a
    GAN conditioned on a one-hot pitch learns only the pitches it is shown) at each velocity."""
    programs = list(INSTRUMENTS) if programs is None else [int(p) for p in programs]
    if not programs or len(set(programs)) != len(programs):
        raise UserError(f"give each program once, and at least one: {programs}")
    bad = [v for v in velocities if not 1 <= v <= 127] + [p for p in pitches or () if not 0 <= p <= 127]
    if bad or not velocities or pitches == []:
        raise UserError(f"pitches are 0-127 and velocities 1-127, at least one of each: {bad or 'none given'}")
    counts: dict[str, int] = {}
    plan = []
    for index, program in enumerate(programs):
        family = nsynth_family(program)
        low, high = INSTRUMENTS.get(program, OTHER_RANGE)
        played = pitches if pitches is not None else list(range(low, high + 1))
        notes = tuple((pitch, velocity) for velocity in velocities for pitch in played)
        plan.append(Instrument(program, family, counts.get(family, 0), index, notes))
        counts[family] = counts.get(family, 0) + 1
    return plan


def note_name(instrument: Instrument, pitch: int, velocity: int) -> str:
    """NSynth's note_str: keyboard_synthetic_000-060-100."""
    return f"{instrument.name}-{pitch:03d}-{velocity:03d}"


def program_midi(instrument: Instrument) -> bytes:
    """One MIDI file holding all the instrument's notes, one per SLOT_SECONDS slot at 120 qpm: the key
    held HELD_SECONDS, then all sound off at SILENCE_AFTER so that no release reaches the next slot."""
    from symusic import ControlChange, Note, Score, Tempo, Track

    ticks_per_second = 960  # 480 ticks a quarter at 120 qpm
    score = Score(480)
    score.tempos.append(Tempo(0, qpm=120.0, ttype="tick"))
    track = Track(GM_PROGRAMS[instrument.program], program=instrument.program, is_drum=False, ttype="tick")
    for slot, (pitch, velocity) in enumerate(instrument.notes):
        start = round(slot * SLOT_SECONDS * ticks_per_second)
        track.notes.append(Note(start, round(HELD_SECONDS * ticks_per_second), pitch, velocity, ttype="tick"))
        track.controls.append(ControlChange(start + round(SILENCE_AFTER * ticks_per_second), 120, 0, ttype="tick"))
    score.tracks.append(track)
    return score.dumps_midi()


def render_instrument(instrument: Instrument, building: Path, soundfont: Path) -> dict[str, dict]:
    """Render an instrument's notes with one FluidSynth call (the whole program peak-normalized, so
    its velocities keep their levels), cut them at the slot starts into 4 s files in `building`, and
    return their examples.json entries (without the corpus-wide `note` id)."""
    midi = building / f".program-{instrument.program:03d}.mid"
    rendered = building / f".program-{instrument.program:03d}.wav"
    write_atomic(midi, program_midi(instrument), durable=False)
    try:
        render_midi(midi, rendered, NOTE_RATE, soundfont, normalize=True)
        samples, rate = soundfile.read(rendered, dtype="float32")
    finally:
        midi.unlink(missing_ok=True)
        rendered.unlink(missing_ok=True)
    length, slot = round(NOTE_SECONDS * rate), round(SLOT_SECONDS * rate)
    samples = np.pad(samples, (0, max(0, len(instrument.notes) * slot - len(samples))))  # the silence cut at the end
    entries = {}
    for k, (pitch, velocity) in enumerate(instrument.notes):
        name = note_name(instrument, pitch, velocity)
        soundfile.write(building / f"{name}.{NOTE_FORMAT}", samples[k * slot: k * slot + length], rate, subtype="PCM_16")
        entries[name] = {"note_str": name, "pitch": pitch, "velocity": velocity, "sample_rate": rate,
                         "instrument_str": instrument.name, "instrument": instrument.id,
                         "instrument_family_str": instrument.family,
                         "instrument_family": FAMILIES.index(instrument.family),
                         "instrument_source_str": SOURCE_STR, "instrument_source": SOURCE,
                         "gm_program": instrument.program}
    return entries


def build_notes(folder: Path, programs: list[int] | None = None, pitches: list[int] | None = None,
                velocities: tuple[int, ...] | list[int] = VELOCITIES, soundfont: str | Path | None = None) -> int:
    """Render a corpus of single notes (see plan_notes) into `folder`, built in a hidden folder and
    renamed into place: one 4 s 16-bit FLAC file per note and an examples.json in NSynth's format
    (with `gm_program` added). One FluidSynth call per program, a few at a time. Returns the count."""
    find_fluidsynth()
    soundfont = Path(soundfont) if soundfont else find_soundfont()  # both checked before anything is made
    plan = plan_notes(programs, pitches, velocities)
    total = sum(len(instrument.notes) for instrument in plan)
    info(f"rendering {total} single notes of {len(plan)} General MIDI programs with FluidSynth ({soundfont}) "
         f"into {folder} (once)")
    examples: dict[str, dict] = {}
    with built_in_place(Path(folder)) as building:
        with ThreadPoolExecutor(RENDER_WORKERS) as pool, Bar(f"rendering {Path(folder).name}", len(plan),
                                                              "program") as bar:
            for entries in bar.iterate(pool.map(lambda i: render_instrument(i, building, soundfont), plan)):
                examples.update(entries)
        examples = {name: {**entry, "note": k} for k, (name, entry) in enumerate(sorted(examples.items()))}
        write_atomic(building / "examples.json", json.dumps(examples, indent=1).encode("utf-8"), durable=False)
    return len(examples)


def notes_folder() -> Path:
    """The cache folder of the bundled `notes` corpus, rendered on first use."""
    folder = cache_folder() / "corpora" / f"notes-v{NOTES_VERSION}"
    if not folder.is_dir():
        build_notes(folder)
    return folder


def notes_description() -> str:
    return (f"single notes as NSynth's: {len(INSTRUMENTS)} General MIDI programs rendered with FluidSynth, "
            f"every semitone of each one's range at velocities {', '.join(map(str, VELOCITIES))}, "
            f"{NOTE_SECONDS:g} s at {NOTE_RATE // 1000} kHz, FLAC")


def notes_row() -> dict:
    """The bundled `notes` corpus for `corpus list`, measured when rendered, never rendered here."""
    folder = cache_folder() / "corpora" / f"notes-v{NOTES_VERSION}"
    row = {"name": "notes", "description": notes_description()}
    try:
        count = len(json.loads((folder / "examples.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        count = None
    if count is None:
        row.update(files=sum(len(i.notes) for i in plan_notes()), minutes="rendered on first use")
    else:
        row.update(files=count, minutes=round(count * NOTE_SECONDS / 60, 1),
                   megabytes=round(sum(f.stat().st_size for f in folder.iterdir()) / 1e6, 1))
    return row


# -- reading notes --------------------------------------------------------------------------------


@dataclass
class Note:
    """One note: float32 mono samples at the reader's rate, all of the reader's length; its MIDI
    pitch and velocity, its instrument's name and its family (NSynth's, where known)."""

    samples: Any
    pitch: int
    velocity: int
    instrument: str
    family: str


NAMED = re.compile(r"^(?P<instrument>.+?)-(?P<pitch>\d{3})(?:-(?P<velocity>\d{3}))?$")
NSYNTH_INSTRUMENT = re.compile(r"^(?P<family>.+)_(acoustic|electronic|synthetic)_\d{3}$")


def pitch_from_name(stem: str) -> tuple[str, int, int] | None:
    """(instrument, pitch, velocity) from a name ending in -PPP or -PPP-VVV (3 digits each; velocity
    100 when not given), as name-060-100 or name-060; None when it names no pitch."""
    found = NAMED.match(stem)
    if found is None:
        return None
    return found["instrument"], int(found["pitch"]), int(found["velocity"] or 100)


def find_examples(root: Path) -> dict[str, dict]:
    """The entries of the NSynth examples.json of a folder (or of the folder above its audio/ or the
    file), by note_str; {} when there is none. A damaged one is a UserError."""
    places = [root / "examples.json"] if root.is_dir() else []
    if root.is_file() or root.name == "audio":
        places.append(root.parent / "examples.json")
    for place in places:
        if place.is_file():
            try:
                examples = json.loads(place.read_text(encoding="utf-8"))
                return {str(name): dict(entry) for name, entry in examples.items()}
            except (OSError, ValueError, TypeError, AttributeError) as err:
                raise UserError(f"{place} is not an NSynth examples.json ({err})") from None
    return {}


def notes_source(source: str | Path) -> Path:
    """An existing file or folder, or the bundled `notes` corpus (rendered on first use)."""
    path = Path(source).expanduser()
    if path.exists():
        return path.resolve()
    if str(source) == "notes":
        return notes_folder()
    raise UserError(f"no such file or folder: {source}; {NOTES_HINT}")


def read_notes(source: str | Path, sample_rate: int = NOTE_RATE, seconds: float = NOTE_SECONDS) -> list[Document]:
    """One Document per note, its content a Note: mono, resampled to sample_rate, cut or padded
    with silence to `seconds`. Pitch and velocity come from the examples.json beside the files
    (NSynth's, or the bundled corpus's), else from the file's name (name-060-100.wav, velocity 100
    when only the pitch is given); a file whose pitch cannot be known is skipped with a warning and
    counted. The family is NSynth's, from examples.json or an NSynth-style name; otherwise the
    file's first sub-folder, else its instrument name. `source` may be `notes`, the bundled corpus."""
    if sample_rate <= 0 or seconds <= 0:
        raise UserError(f"sample_rate and seconds must be positive, got {sample_rate} and {seconds}")
    root = notes_source(source)
    examples = find_examples(root)
    length = round(seconds * sample_rate)
    base = root if root.is_dir() else root.parent

    def read(path: Path) -> Note:
        entry = examples.get(path.stem)
        if entry is not None:
            try:
                instrument, pitch, velocity = str(entry["instrument_str"]), int(entry["pitch"]), int(entry["velocity"])
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{path}: its examples.json entry has no instrument_str, pitch or velocity") from None
            family = str(entry.get("instrument_family_str") or instrument)
        else:
            named = pitch_from_name(path.stem)
            if named is None:
                raise UserError(f"{path}: no pitch in its name (name it like name-060-100.wav) or in an examples.json")
            instrument, pitch, velocity = named
            nsynth = NSYNTH_INSTRUMENT.match(instrument)
            folders = path.relative_to(base).parts[:-1]
            family = nsynth["family"] if nsynth else folders[0] if folders else instrument
        if not 0 <= pitch <= 127 or not 1 <= velocity <= 127:
            raise UserError(f"{path}: pitch {pitch} or velocity {velocity} is not MIDI's (pitch 0-127, velocity 1-127)")
        return Note(note_samples(path, sample_rate, length), pitch, velocity, instrument, family)

    count = 0

    def so_far(doc: Document) -> str:
        nonlocal count
        count += 1
        return f"{count} notes"

    return read_documents(root, list_files(root, NOTE_SUFFIXES), read, "note", NOTES_HINT, progress=so_far)


def note_samples(path: Path, sample_rate: int, length: int) -> np.ndarray:
    """A note file as float32 mono at sample_rate (media.audio's reader: soundfile, else ffmpeg),
    cut or padded to `length`."""
    samples, rate = decode_audio(path)
    if not len(samples):
        raise UserError(f"{path} is empty")
    mono = resample(to_mono(samples), rate, sample_rate)
    return np.pad(mono[:length], (0, max(0, length - len(mono))))
