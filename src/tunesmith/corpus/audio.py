"""Audio corpora for the raw-audio models: a recording or a folder of them decoded, made mono, resampled,
freed of DC offset and edge silence and normalized; plain waveform functions and fixed-length chunking."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile
import soxr

from tunesmith.corpus import Document, list_files, read_documents
from tunesmith.errors import UserError, info

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a")
AUDIO_HINT = "give a .wav/.flac/.ogg/.mp3 file or a folder of them"
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


def chunk(samples: np.ndarray, chunk_samples: int, overlap_samples: int = 0) -> np.ndarray:
    """Overlapping fixed-length chunks [n, chunk_samples] of mono samples, each starting hop =
    chunk_samples - overlap_samples after the last: n = 1 + (len - chunk) // hop when len >= chunk,
    else 0. The tail shorter than a chunk is dropped. The chunks are copies, not views."""
    if chunk_samples < 1 or overlap_samples < 0 or overlap_samples >= chunk_samples:
        raise UserError(f"chunks need 0 <= overlap < chunk length, got chunk {chunk_samples} and "
                        f"overlap {overlap_samples} samples")
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < chunk_samples:
        return np.zeros((0, chunk_samples), dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(samples, chunk_samples)
    return windows[:: chunk_samples - overlap_samples].copy()


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


def read_audio_corpus(source: str, sample_rate: int = 16000, silence_threshold: float = 0.01) -> list[Document]:
    """One Document per recording, named by its path below the folder, its content the prepared
    waveform; corrupt, empty and silent files in a folder are skipped with a warning and counted."""
    root = Path(source).expanduser()
    if not root.exists():
        raise UserError(f"no such audio file or folder: {source}; {AUDIO_HINT}")
    root = root.resolve()
    if root.is_file() and root.suffix.lower() not in AUDIO_SUFFIXES:
        raise UserError(f"{root} is not an audio file: {AUDIO_HINT}")
    read = functools.partial(prepare_audio, sample_rate=sample_rate, silence_threshold=silence_threshold)
    docs = read_documents(root, list_files(root, AUDIO_SUFFIXES), read, "audio", AUDIO_HINT)
    hours = sum(len(d.content) for d in docs) / sample_rate / 3600
    info(f"{hours:.2f} hours of audio at {sample_rate} Hz")
    return docs
