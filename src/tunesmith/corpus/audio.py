"""Audio corpora for the raw-audio models: a recording, a folder of them or the bundled chorales-audio
corpus (rendered with FluidSynth) decoded, made mono, resampled, freed of DC offset and edge silence and
normalized, each prepared waveform cached by content; plain waveform functions and fixed-length chunking."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from tunesmith.corpus import Document, list_files, read_documents
from tunesmith.corpus.bundled import built_in_place, bundled_midi_folder, cache_folder, cache_subfolder, write_cached
from tunesmith.corpus.notes import notes_description, notes_folder, notes_row
from tunesmith.errors import UserError, info
from tunesmith.media.audio import AUDIO_SUFFIXES, decode_audio, resample, to_mono
from tunesmith.media.files import content_hash
from tunesmith.media.render import find_fluidsynth, find_soundfont, render_midi
from tunesmith.progress import Bar

AUDIO_HINT = "give a .wav/.flac/.ogg/.mp3 file or a folder of them"


def remove_dc(samples: np.ndarray) -> np.ndarray:
    """Samples minus their mean (per channel), so a DC offset neither hides silence nor eats headroom."""
    samples = np.asarray(samples, dtype=np.float32)
    return samples - samples.mean(axis=0, dtype=np.float64).astype(np.float32) if len(samples) else samples


def normalize(samples: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Samples scaled so that max |x| is `peak` (by scaling, never clipping); silence stays silent."""
    if not 0 < peak <= 1:
        raise UserError(f"peak must be in (0, 1], got {peak}")
    samples = np.asarray(samples, dtype=np.float32)
    loudest = float(np.abs(samples).max()) if samples.size else 0.0
    return samples * np.float32(peak / loudest) if loudest > 0 else samples.copy()


def trim_silence(samples: np.ndarray, threshold: float, frame: int = 512) -> np.ndarray:
    """Mono samples without the leading and trailing frames (of `frame` samples) whose RMS is at or
    below `threshold`, as tensorflow-wavenet's --silence_threshold; threshold 0 keeps everything and
    an all-quiet input comes back empty. Silence inside the recording is kept."""
    samples = np.asarray(samples, dtype=np.float32)
    if threshold <= 0 or not len(samples):
        return samples
    padded = np.pad(samples, (0, -len(samples) % frame))
    rms = np.sqrt(np.mean(np.square(padded.reshape(-1, frame), dtype=np.float64), axis=1))
    loud = np.flatnonzero(rms > threshold)
    if not len(loud):
        return samples[:0]
    return samples[loud[0] * frame: min((loud[-1] + 1) * frame, len(samples))]


def prepare_audio(path: str | Path, sample_rate: int = 16000, silence_threshold: float = 0.01) -> np.ndarray:
    """One recording as float32 mono at sample_rate: decoded, downmixed, resampled, DC removed, edge
    silence trimmed, normalized to 0.95. An empty or all-silent file is a UserError naming it."""
    samples, rate = decode_audio(path)
    if not len(samples):
        raise UserError(f"{path} is empty")
    mono = remove_dc(resample(to_mono(samples), rate, sample_rate))
    trimmed = trim_silence(mono, silence_threshold)
    if not len(trimmed) or not np.abs(trimmed).max() > 0:
        raise UserError(f"{path} is silent (no frame louder than RMS {silence_threshold})")
    return normalize(trimmed)


# -- the bundled corpus: the chorales rendered with FluidSynth ------------------------------------

AUDIO_CHORALES = 64  # the first 64 chorales in name order: about 35 minutes of audio
BUNDLED_AUDIO_RATE = 16000
BUNDLED_AUDIO_VERSION = 1  # raise when the rendering changes, so caches are rebuilt
BUNDLED_AUDIO = {"chorales-audio": "the first {count} bundled Bach chorales rendered with FluidSynth and a "
                                   "General MIDI SoundFont (choir and organ), 16 kHz FLAC",
                 "notes": notes_description()}  # NSynth-style single notes: see corpus/notes.py
RENDER_WORKERS = 4  # fluidsynth processes at once


def bundled_audio_folder(name: str) -> Path:
    """The cache folder of a bundled audio corpus, rendered on first use."""
    if name not in BUNDLED_AUDIO:
        raise UserError(f"no bundled audio corpus named {name}: choose one of {', '.join(BUNDLED_AUDIO)}")
    if name == "notes":
        return notes_folder()
    folder = cache_folder() / "corpora" / f"{name}-v{BUNDLED_AUDIO_VERSION}"
    if not folder.is_dir():
        render_chorales(folder)
    return folder


def render_chorales(folder: Path) -> None:
    """Render the first AUDIO_CHORALES bundled chorales into FLAC files in `folder` (built in place),
    a few FluidSynth processes at a time."""
    find_fluidsynth()
    soundfont = find_soundfont()  # both checked before the chorales are converted, so a missing one fails fast
    scores = list_files(bundled_midi_folder("chorales"), (".mid",))[:AUDIO_CHORALES]
    info(f"rendering {len(scores)} bundled chorales with FluidSynth ({soundfont}) into {folder} (once)")
    with built_in_place(folder) as building:
        def render(score: Path) -> Path:
            return render_midi(score, building / f"{score.stem}.flac", BUNDLED_AUDIO_RATE, soundfont)

        with ThreadPoolExecutor(RENDER_WORKERS) as pool:
            with Bar(f"rendering {folder.name}", len(scores), "file") as bar:
                for _ in bar.iterate(pool.map(render, scores)):
                    pass


def list_bundled_audio() -> list[dict]:
    """Name, description and size of every bundled audio corpus; one not rendered yet is not
    rendered here: its files are the number it will have and its minutes "rendered on first use"."""
    rows = []
    for name, description in BUNDLED_AUDIO.items():
        if name == "notes":
            rows.append(notes_row())
            continue
        folder = cache_folder() / "corpora" / f"{name}-v{BUNDLED_AUDIO_VERSION}"
        row = {"name": name, "description": description.format(count=AUDIO_CHORALES)}
        if folder.is_dir():
            files = list_files(folder, AUDIO_SUFFIXES)
            row.update(files=len(files), minutes=round(sum(soundfile.info(f).duration for f in files) / 60, 1))
        else:
            row.update(files=AUDIO_CHORALES, minutes="rendered on first use")
        rows.append(row)
    return rows


def resolve_audio_source(source: str) -> Path:
    """An existing audio file or folder, or the cache folder of a bundled audio corpus."""
    path = Path(source).expanduser()
    if path.exists():
        return path.resolve()
    if source in BUNDLED_AUDIO:
        return bundled_audio_folder(source)
    raise UserError(f"no such audio file or folder: {source}; {AUDIO_HINT} "
                    f"(bundled audio corpora: {', '.join(BUNDLED_AUDIO)})")


# -- reading a corpus, with a cache of prepared recordings -----------------------------------------

PREPARE_VERSION = 1  # raise when prepare_audio changes its output, so cached recordings are redone


CACHE_NAME = "prepared-audio cache"


class PreparedAudioCache:
    """prepare_audio with its results kept in cache_folder()/audio, one .npy per file content and
    settings, so a folder read again (or a file moved or renamed) is not decoded again. A file that
    cannot be used is not kept; a cache that cannot be written is warned about once and left out."""

    def __init__(self, sample_rate: int, silence_threshold: float):
        self.sample_rate, self.silence_threshold = sample_rate, silence_threshold
        self.settings = f"{sample_rate}hz-{float(silence_threshold)!r}-v{PREPARE_VERSION}"
        self.folder = cache_subfolder("audio", CACHE_NAME)
        self.hits = 0

    def __call__(self, path: Path) -> np.ndarray:
        if self.folder is None:
            return prepare_audio(path, self.sample_rate, self.silence_threshold)
        kept = self.folder / f"{content_hash(path)}-{self.settings}.npy"
        if kept.is_file():
            try:
                samples = np.load(kept, allow_pickle=False)
                self.hits += 1
                return samples
            except (OSError, ValueError, EOFError):  # a damaged (or cut short) cache file is prepared again and replaced
                pass
        samples = prepare_audio(path, self.sample_rate, self.silence_threshold)
        buffer = io.BytesIO()
        np.save(buffer, samples, allow_pickle=False)
        write_cached(kept, buffer.getvalue(), CACHE_NAME)
        return samples


def read_audio_corpus(source: str, sample_rate: int = 16000, silence_threshold: float = 0.01) -> list[Document]:
    """One Document per recording, named by its path below the folder, its content the prepared
    waveform (from the prepared-audio cache when the same content was prepared with the same settings
    before); corrupt, empty and silent files in a folder are skipped with a warning and counted. A bar
    shows the files and the hours of audio read so far. `source` may name a bundled audio corpus."""
    root = resolve_audio_source(source)
    if root.is_file() and root.suffix.lower() not in AUDIO_SUFFIXES:
        raise UserError(f"{root} is not an audio file: {AUDIO_HINT}")
    prepared = PreparedAudioCache(sample_rate, silence_threshold)
    seconds = 0.0

    def hours_so_far(doc: Document) -> str:
        nonlocal seconds
        seconds += len(doc.content) / sample_rate
        return f"{seconds / 3600:.2f} h of audio"

    docs = read_documents(root, list_files(root, AUDIO_SUFFIXES), prepared, "audio", AUDIO_HINT,
                          progress=hours_so_far)
    cached = f", {prepared.hits} of {len(docs)} recordings from the prepared-audio cache" if prepared.hits else ""
    info(f"{seconds / 3600:.2f} hours of audio at {sample_rate} Hz{cached}")
    return docs


SECTION_SECONDS = 60  # a corpus of under SECTION_BELOW recordings is split by sections this long
SECTION_BELOW = 20


@dataclass
class Recording:
    """A prepared recording (float32 mono at the recipe's rate) and its style: the sub-folder it
    came from ("(none)" for files at the top of the folder)."""

    samples: Any
    style: str = "(none)"


def read_recordings(source: str, sample_rate: int, silence_threshold: float) -> list[Document]:
    """Recordings as Documents of Recordings, styled by their sub-folder; fewer than SECTION_BELOW
    are cut into sections of SECTION_SECONDS (named file#k), so that the split by document still
    holds material out."""
    docs = read_audio_corpus(source, sample_rate, silence_threshold)
    section = SECTION_SECONDS * sample_rate
    out = []
    for doc in docs:
        style = doc.name.split("/")[0] if "/" in doc.name else "(none)"
        if len(docs) >= SECTION_BELOW or len(doc.content) < 2 * section:
            out.append(Document(doc.name, Recording(doc.content, style)))
            continue
        starts = range(0, len(doc.content) - section // 2, section)  # the last section takes the tail
        out += [Document(f"{doc.name}#{k}", Recording(doc.content[a: a + section if b else None], style))
                for k, (a, b) in enumerate(zip(starts, [*starts[1:], None]), 1)]
    return out
