"""A one-shot sound (a note, a mix from `tunesmith mix`, a cat) played as a sampler: every note of a
MIDI file is the sound repitched to the note's pitch (resampled, as a hardware sampler does, so it
also plays faster or slower), cut to the note's length with a short release, scaled by velocity,
then mixed, given the effects preset and peak-normalized."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import UserError, warn
from tunesmith.media.audio import write_audio

RELEASE = 0.15  # seconds of fade after a note's end (or the sound's own end, if sooner)
ATTACK = 0.003  # seconds of fade-in, so a sound cut anywhere starts without a click
PEAK = 0.95
DEFAULT_ROOT = 60.0  # the pitch of a sound with no pitch found (a drum, a noise)


ANALYSIS_RATE = 16000
TUNED = 0.15  # a pitch this close to a semitone (15 cents) is taken as that note, as samplers map a root key
NOISY = 0.2  # mean spectral flatness above which a sound is taken as unpitched (white noise: about 0.5)


def sound_root(samples: np.ndarray, sample_rate: int) -> float | None:
    """The pitch (MIDI, fractional) of a sound's first second: the median f0 of its voiced frames
    by librosa's pyin (no downloaded weights), the nearest semitone when within TUNED; None for a noisy sound (spectral flatness, checked
    first: pyin is slow on noise) or one with under a tenth of its frames voiced."""
    import librosa
    import soxr

    head = soxr.resample(samples[:sample_rate], sample_rate, ANALYSIS_RATE)
    if len(head) < 2048 or float(librosa.feature.spectral_flatness(y=head).mean()) > NOISY:
        return None
    f0, voiced, _ = librosa.pyin(head, fmin=50.0, fmax=2000.0, sr=ANALYSIS_RATE, frame_length=1024,
                                 n_thresholds=50)
    if not len(voiced) or voiced.mean() < 0.1:
        return None
    pitch = float(librosa.hz_to_midi(np.nanmedian(f0[voiced])))
    return float(round(pitch)) if abs(pitch - round(pitch)) < TUNED else pitch


class Sampler:
    """A sound loaded at `sample_rate` (mono), its root pitch given or found; `note` repitches it."""

    def __init__(self, path: str | Path, sample_rate: int, root: float | None = None):
        from tunesmith.corpus.audio import remove_dc
        from tunesmith.media.transcribe import read_mono

        self.path, self.rate = Path(path), sample_rate
        samples = remove_dc(read_mono(path, sample_rate))
        loud = np.flatnonzero(np.abs(samples) > 1e-3)
        if not len(loud):
            raise UserError(f"{path} is silent: give a sound to play as the instrument")
        self.samples = samples[loud[0]:]  # starts at its onset, so notes sound on time
        if root is None:
            root = sound_root(self.samples, sample_rate)
            if root is None:
                warn(f"no pitch found in {path}: it is taken as middle C (60); give its pitch as the root")
                root = DEFAULT_ROOT
        if not 0 <= root <= 127:
            raise UserError(f"root pitch {root}: give a MIDI pitch 0-127")
        self.root = root
        self._pitched: dict[int, np.ndarray] = {}

    def pitched(self, pitch: int) -> np.ndarray:
        """The whole sound at `pitch` (kept: a song has few pitches)."""
        if pitch not in self._pitched:
            import soxr

            ratio = 2.0 ** ((pitch - self.root) / 12)  # played back ratio times faster: ratio times higher
            self._pitched[pitch] = soxr.resample(self.samples, self.rate * ratio, self.rate, quality="HQ")
        return self._pitched[pitch]

    def play(self, notes: list[tuple[float, float, int, int]]) -> list[np.ndarray]:
        """The sound of each (start, end, pitch, velocity) note, shaped (see `shaped`)."""
        return [shaped(self.pitched(pitch), end - start, velocity, self.rate) for start, end, pitch, velocity in notes]


def shaped(sound: np.ndarray, seconds: float, velocity: int, rate: int) -> np.ndarray:
    """A note's sound cut to `seconds` plus the release (or its own end, if sooner), faded in over
    ATTACK and out over the release when cut, scaled by velocity."""
    length = min(len(sound), int((seconds + RELEASE) * rate))
    out = np.asarray(sound[:length], dtype=np.float32) * np.float32((velocity / 127) ** 1.5)
    fade_in, fade_out = min(length, int(ATTACK * rate)), min(length, int(RELEASE * rate))
    out[:fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
    if length > int(seconds * rate):  # cut before the sound's end: fade over the release
        out[length - fade_out:] *= np.linspace(1, 0, fade_out, dtype=np.float32)
    return out


def midi_notes(midi_path: Path) -> list[tuple[float, float, int, int]]:
    """(start, end) in seconds, pitch and velocity of every non-drum note of a MIDI file."""
    from symusic import Score

    try:
        score = Score(str(midi_path)).to("second")
    except Exception as err:  # symusic raises plain RuntimeErrors on bad files
        raise UserError(f"{midi_path} is not a readable MIDI file ({err}); give a .mid file") from None
    notes = [(n.start, n.start + n.duration, n.pitch, n.velocity)
             for track in score.tracks if not track.is_drum for n in track.notes]
    if not notes:
        raise UserError(f"{midi_path} has no notes to play (drum tracks are not played by a sampler)")
    return sorted(notes)


def render_sampler(midi_path: str | Path, out_path: str | Path, sampler: Any, effects: str = "none",
                   sample_rate: int | None = None) -> Path:
    """A MIDI file played by `sampler` (an instrument: its `rate` and `play(notes)`, the sound of
    each note: a Sampler, or a GANSynth's generation.oneshot.Instrument) into an audio file (the
    format of its suffix) at `sample_rate` (default: the instrument's), with an effects preset (its
    tail kept), peak-normalized, written atomically, never over an existing file. Returns out_path."""
    from tunesmith.media.audio import resample
    from tunesmith.media.render import EFFECTS, post_effects

    midi_path, out_path = Path(midi_path), Path(out_path)
    if out_path.exists():
        raise UserError(f"{out_path} already exists; give another file name or remove it first")
    if effects not in EFFECTS:
        raise UserError(f"effects {effects!r}: choose one of {', '.join(EFFECTS)}")
    notes = midi_notes(midi_path)
    rate = sampler.rate
    tail = EFFECTS[effects].tail_seconds if effects != "none" else RELEASE
    mix = np.zeros(int((max(end for _, end, _, _ in notes) + tail) * rate) + 1, np.float32)
    for (start, _, _, _), sound in zip(notes, sampler.play(notes)):
        first = int(start * rate)
        mix[first: first + len(sound)] += sound[: len(mix) - first]
    if sample_rate and sample_rate != rate:
        mix, rate = resample(mix, rate, sample_rate), sample_rate
    if effects == "room":
        from pedalboard import Pedalboard, Reverb

        mix = Pedalboard([Reverb(room_size=0.5, damping=0.5, wet_level=0.25, dry_level=0.85)])(mix[None], rate)[0]
    else:
        mix = post_effects(mix, rate, EFFECTS[effects].post)
    peak = float(np.abs(mix).max())
    if peak > 0:
        mix = mix * np.float32(PEAK / peak)
    write_audio(out_path, mix, rate)
    return out_path
