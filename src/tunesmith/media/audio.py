"""Audio files: the one reader (soundfile, else ffmpeg) with mono and resampling helpers, the one
table of formats, the one writer of a whole clip (atomically) and the writer of K clips as they
are generated (ClipWriter)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile
import soxr

from tunesmith.errors import UserError
from tunesmith.media.files import FILE_MODE, free_path, write_atomic

if TYPE_CHECKING:
    from tunesmith.codecs.base import Codec

# a format's name (--format, a file's suffix) -> libsndfile's format and sample encoding (None: its default)
AUDIO_FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "mp3": ("MP3", None), "ogg": ("OGG", "VORBIS")}


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a")  # what decode_audio reads
INSTALL_FFMPEG = "install ffmpeg (apt-get install ffmpeg, or make install, which installs it)"


def decode_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """float32 samples [frames, channels] and the sample rate. soundfile (libsndfile) reads what it
    can; anything else (m4a, mp3 on an old libsndfile, odd codecs in a known container) goes to ffmpeg,
    which keeps the file's own channels and rate (read with ffprobe), so both paths return the same."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty")
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        reason = str(err).rsplit(": ", 1)[-1].strip().rstrip(".") or "unknown format"
        return _decode_with_ffmpeg(path, reason)
    return samples, int(rate)


def _libsndfile_knows(path: Path) -> bool:
    """Whether the suffix names a container libsndfile reads itself (so its refusal is final)."""
    container = {".aif": "AIFF", ".aiff": "AIFF"}.get(path.suffix.lower(), path.suffix[1:].upper())
    return container in soundfile.available_formats()


def _decode_with_ffmpeg(path: Path, soundfile_reason: str) -> tuple[np.ndarray, int]:
    """The fallback decoder: ffprobe gives rate and channels, ffmpeg gives interleaved float32 (f32le)."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        if _libsndfile_knows(path):
            raise UserError(f"{path} is not a readable audio file ({soundfile_reason})")
        raise UserError(f"cannot decode {path}: {path.suffix or 'this format'} needs ffmpeg, "
                        f"which is not installed; {INSTALL_FFMPEG}")
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=sample_rate,channels", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True)
    fields = probe.stdout.strip().split(",")
    if probe.returncode or len(fields) != 2 or not all(f.strip().isdigit() for f in fields):
        raise UserError(f"{path} is not a readable audio file ({soundfile_reason}; ffprobe found no audio stream)")
    rate, channels = int(fields[0]), int(fields[1])  # csv order is the stream's field order
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-acodec", "pcm_f32le",
                              "-"], capture_output=True)
    if decoded.returncode:
        last = decoded.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["ffmpeg failed"]
        raise UserError(f"{path} is not a readable audio file ({last[0]})")
    samples = np.frombuffer(decoded.stdout, dtype="<f4")
    usable = len(samples) - len(samples) % channels
    return samples[:usable].reshape(-1, channels).astype(np.float32), rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    """The mean of the channels of [frames, channels] samples; 1-D samples are already mono."""
    samples = np.asarray(samples, dtype=np.float32)
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float32)


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Samples (mono or [frames, channels]) at target_rate, by soxr at high quality ("HQ")."""
    if rate == target_rate:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), rate, target_rate, quality="HQ")


def format_of(path: Path) -> str:
    """The key of AUDIO_FORMATS for a file name's suffix (wav when it has none we know)."""
    suffix = Path(path).suffix.lower()[1:]
    return suffix if suffix in AUDIO_FORMATS else "wav"


def write_audio(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Mono float samples in [-1, 1] as an audio file in the format of the path's suffix, written
    atomically (a temporary file and a rename)."""
    import soundfile

    kind, subtype = AUDIO_FORMATS[format_of(path)]
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format=kind, subtype=subtype)
    write_atomic(Path(path), buffer.getvalue())


@dataclass
class Clip:
    """A generated waveform (float32 in [-1, 1]) and its sample rate."""

    samples: Any
    sample_rate: int


class ClipWriter:
    """K clips written as they are generated. Inside `with`, each `write(block, keep)` decodes a
    block of tokens [K, n] and appends row k's first keep[k] samples to the k-th of K open sound
    files, hidden temporary files beside their destinations (the primer goes first). Leaving the
    `with` renames them into place, never over an existing file (`paths` then holds the names
    used); after an error or an interruption they are deleted, so no half-written clip is left."""

    def __init__(self, codec: Codec, primer: Any, paths: list[Path], audio_format: str):
        self.codec, self.primer, self.paths, self.audio_format = codec, primer, list(paths), audio_format
        self.files: list[Any] = []
        self.temporaries: list[Path] = []

    def __enter__(self) -> ClipWriter:
        import soundfile

        primer = self.codec.decode(self.primer)
        try:
            for path in self.paths:
                handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                os.close(handle)
                self.temporaries.append(Path(temporary))
                self.files.append(soundfile.SoundFile(temporary, "w", self.codec.sample_rate, 1,
                                                      format=AUDIO_FORMATS[self.audio_format][0],
                                                      subtype=AUDIO_FORMATS[self.audio_format][1]))
                self.files[-1].write(primer)
        except BaseException as err:
            self.discard()
            if isinstance(err, soundfile.LibsndfileError):
                raise UserError(f"cannot write {self.audio_format.upper()} at {self.codec.sample_rate} Hz "
                                f"({err.error_string.strip()}); write wav or flac instead") from None
            raise
        return self

    def write(self, block: np.ndarray, keep: np.ndarray) -> None:
        samples = self.codec.decode_array(block)
        for file, row, count in zip(self.files, samples, keep):
            file.write(row[:count])

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is not None:
            self.discard()
            return
        try:
            for file in self.files:
                file.close()
            written = []
            for temporary, path in zip(self.temporaries, self.paths):
                handle = os.open(temporary, os.O_RDONLY)
                try:
                    os.fsync(handle)
                finally:
                    os.close(handle)
                os.chmod(temporary, FILE_MODE)
                written.append(free_path(path))  # chosen again now: a file may have appeared meanwhile
                os.replace(temporary, written[-1])
        except BaseException:
            self.discard()
            raise
        self.paths = written

    def discard(self) -> None:
        """Close the files and delete what is left of the temporary ones."""
        for file in self.files:
            try:
                file.close()
            except Exception:  # already failing: the deletion below matters more
                pass
        for temporary in self.temporaries:
            temporary.unlink(missing_ok=True)


