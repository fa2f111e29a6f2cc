"""Audio to MIDI with Spotify's basic-pitch: the ONNX model that ships in its wheel, run through
onnxruntime on overlapping two-second windows of a recording, and basic-pitch's own note creation
(onsets, frames, the melodia trick) turning its activations into notes, written as a MIDI file.
No TensorFlow, CoreML or TFLite is needed or used."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import UserError
from tunesmith.notes import NOTE_DTYPE, Piece, to_midi_bytes

INSTALL_HINT = ("transcription needs basic-pitch (installed without its TensorFlow requirements) and "
                "onnxruntime: run make install, or pip install onnxruntime librosa pretty_midi mir_eval resampy "
                "scipy && pip install --no-deps basic-pitch==0.4.0")
VERSION = 1  # raise when the notes made from the same audio and settings change (cache keys)
QPM = 120.0  # basic-pitch's notes are in seconds: they are written at 120 quarter notes a minute
OVERLAP_FRAMES = 30  # model frames shared by consecutive windows; half of them dropped each side
BATCH = 8  # windows a model call (8 are 15% faster a window than 1 on 2 cores)
THREADS = 0  # onnxruntime's threads (0: its default, every core); a pipeline's pool workers take 1 each


@dataclass(frozen=True)
class TranscribeSettings:
    """How activations become notes. The defaults were chosen by benchmarks/transcription.py: onset
    F-measure (50 ms) on piano and on pad renderings of held-out chorales and folk tunes (24 pieces
    of 30 s): piano 0.95 and pad 0.39 (0.5, 0.3 and 58 ms before: 0.84 and 0.33)."""

    onset_threshold: float = 0.8  # an onset activation above this starts a note (0.7 and 0.9 scored lower)
    frame_threshold: float = 0.3  # a note lasts while its frame activation stays above this
    min_note_ms: float = 128.0  # shorter notes are dropped (basic-pitch's own default; longer hides fast notes)
    min_pitch: int = 21  # MIDI pitches outside min_pitch..max_pitch are dropped (piano range)
    max_pitch: int = 108

    def check(self) -> None:
        for name in ("onset_threshold", "frame_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', ' ')} {getattr(self, name)}: give a number between 0 and 1",
                                option=name.replace("_", "-"))
        if self.min_note_ms < 0:
            raise UserError(f"minimum note length {self.min_note_ms} ms: give 0 or more", option="min-note-ms")
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise UserError(f"pitch range {self.min_pitch}-{self.max_pitch}: give MIDI pitches 0-127, the lowest first",
                            option="min-pitch")

    def key(self) -> str:
        """A string naming these settings and the transcriber's version, for cache keys."""
        return json.dumps({**asdict(self), "version": VERSION}, sort_keys=True)


def basic_pitch() -> Any:
    """basic-pitch's package, imported without the warnings it logs about TensorFlow, CoreML and
    TFLite being absent (they are not used); a UserError says how to install what is missing."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    logging.disable(logging.WARNING)
    try:
        import basic_pitch
        import basic_pitch.note_creation  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise UserError(f"{INSTALL_HINT} ({err})") from None
    finally:
        logging.disable(logging.NOTSET)
        root.handlers = handlers  # its module-level logging.warning() installs a root handler (basicConfig)
    return basic_pitch


def hz(pitch: int) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


class Transcriber:
    """basic-pitch's model loaded once; notes() transcribes mono samples at SAMPLE_RATE, file() a
    recording in any format the audio corpus reads."""

    def __init__(self, settings: TranscribeSettings | None = None):
        self.settings = settings or TranscribeSettings()
        self.settings.check()
        bp = basic_pitch()
        import onnxruntime

        from basic_pitch import constants

        self.constants, self.note_creation = constants, bp.note_creation
        model = Path(bp.__file__).parent / "saved_models" / "icassp_2022" / "nmp.onnx"
        if not model.is_file():
            raise UserError(f"basic-pitch's ONNX model is missing ({model}); {INSTALL_HINT}")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        options.intra_op_num_threads = THREADS
        self.session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        # the model's outputs by name: contour (264 bins), note frames and onsets (88 keys each)
        self.outputs = ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2"]  # note, onset

    SAMPLE_RATE = 22050

    def activations(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The note-frame and onset activations [frames, 88] of mono samples at SAMPLE_RATE, the
        recording cut into the model's windows with OVERLAP_FRAMES of overlap, as basic-pitch does."""
        c = self.constants
        window, overlap = c.AUDIO_N_SAMPLES, OVERLAP_FRAMES * c.FFT_HOP
        hop = window - overlap
        padded = np.concatenate([np.zeros(overlap // 2, np.float32), np.asarray(samples, np.float32)])
        starts = range(0, len(padded), hop)
        padded = np.pad(padded, (0, starts[-1] + window - len(padded)))
        frames, onsets = [], []
        for first in range(0, len(starts), BATCH):
            batch = np.stack([padded[s: s + window] for s in starts[first: first + BATCH]])[..., None]
            note, onset = self.session.run(self.outputs, {self.input: batch})
            keep = slice(OVERLAP_FRAMES // 2, -(OVERLAP_FRAMES // 2))
            frames.append(note[:, keep].reshape(-1, note.shape[-1]))
            onsets.append(onset[:, keep].reshape(-1, onset.shape[-1]))
        count = int(np.floor(len(samples) * c.ANNOTATIONS_FPS / self.SAMPLE_RATE))
        return np.concatenate(frames)[:count], np.concatenate(onsets)[:count]

    def notes_from(self, frames: np.ndarray, onsets: np.ndarray,
                   settings: TranscribeSettings | None = None) -> np.ndarray:
        """Notes (NOTE_DTYPE, in quarter notes at QPM, piano) from activations, by basic-pitch's note
        creation with `settings` (default: the transcriber's)."""
        s = settings or self.settings
        if not len(frames):
            return np.zeros(0, NOTE_DTYPE)
        min_frames = int(round(s.min_note_ms / 1000 * self.SAMPLE_RATE / self.constants.FFT_HOP))
        found = self.note_creation.output_to_notes_polyphonic(
            frames.copy(), onsets.copy(), onset_thresh=s.onset_threshold, frame_thresh=s.frame_threshold,
            infer_onsets=True, min_note_len=max(min_frames, 1), min_freq=hz(s.min_pitch), max_freq=hz(s.max_pitch + 1),
            melodia_trick=True)  # copies: it zeroes what it uses in place
        times = self.note_creation.model_frames_to_time(len(frames))
        notes = np.zeros(len(found), NOTE_DTYPE)
        for i, (start, end, pitch, amplitude) in enumerate(sorted(found, key=lambda n: (n[0], n[2]))):
            notes[i] = (times[start] * QPM / 60, times[end] * QPM / 60, pitch,
                        int(np.clip(round(127 * amplitude), 1, 127)), 0, False)
        return notes

    def notes(self, samples: np.ndarray) -> np.ndarray:
        return self.notes_from(*self.activations(samples))

    def file(self, path: str | Path) -> tuple[Piece, float]:
        """A recording's notes as a Piece (at QPM, 4/4, piano) and its length in seconds."""
        samples = read_mono(path, self.SAMPLE_RATE)
        return Piece(self.notes(samples), QPM, (4, 4), Path(path).name), len(samples) / self.SAMPLE_RATE

    def midi_bytes(self, path: str | Path) -> tuple[bytes, float]:
        """A recording transcribed into a standard MIDI file's bytes, and its length in seconds; a
        recording with no notes found is a UserError naming it."""
        piece, seconds = self.file(path)
        if not len(piece.notes):
            raise UserError(f"{path}: no notes found in {seconds:.1f} s of audio (try a lower onset threshold)")
        return to_midi_bytes(piece), seconds


def read_mono(path: str | Path, sample_rate: int) -> np.ndarray:
    """A recording decoded, mixed down to mono and resampled (no trimming or normalizing: the
    model hears the recording as it is)."""
    from tunesmith.media.audio import decode_audio, resample, to_mono

    samples, rate = decode_audio(path)
    if not len(samples):
        raise UserError(f"{path} is empty")
    return resample(to_mono(samples), rate, sample_rate)


_TRANSCRIBERS: dict[TranscribeSettings, Transcriber] = {}


def transcriber(settings: TranscribeSettings | None = None) -> Transcriber:
    """One Transcriber per settings in this process (the model loads in a fraction of a second,
    but a pipeline's worker transcribes many files)."""
    settings = settings or TranscribeSettings()
    if settings not in _TRANSCRIBERS:
        _TRANSCRIBERS[settings] = Transcriber(settings)
    return _TRANSCRIBERS[settings]
