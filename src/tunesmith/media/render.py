"""MIDI to audio with FluidSynth and a General MIDI SoundFont: finding both, and rendering one MIDI
file into a mono WAV/FLAC/OGG at a chosen sample rate, written atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from tunesmith.errors import UserError
from tunesmith.media.audio import AUDIO_FORMATS, write_audio

# Where Debian and Ubuntu put General MIDI SoundFonts (timgm6mb-soundfont, fluid-soundfont-gm, ...)
SOUNDFONT_PATHS = ("/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
                   "/usr/share/sounds/sf2/FluidR3_GM.sf2")
SOUNDFONT_FOLDER = "/usr/share/soundfonts"
INSTALL_HINT = "run make install (it installs them with apt-get), or apt-get install fluidsynth timgm6mb-soundfont"
GAIN = 0.6  # FluidSynth's master gain: a four-voice chorale peaks near 0.35, well clear of clipping
PEAK = 0.95  # a denser piece that renders louder is scaled down to this peak, never clipped
TAIL = 1e-4  # FluidSynth pads the end with near-silence (-80 dBFS and below), which is cut off


def find_fluidsynth() -> str:
    """The fluidsynth program, or a UserError that says how to install it."""
    program = shutil.which("fluidsynth")
    if program is None:
        raise UserError(f"cannot render MIDI to audio: FluidSynth is not installed; {INSTALL_HINT}")
    return program


def find_soundfont() -> Path:
    """The General MIDI SoundFont to render with: $TUNESMITH_SOUNDFONT, else the first of the usual
    Debian paths, else any .sf2 in /usr/share/soundfonts; a UserError says how to get one."""
    chosen = os.environ.get("TUNESMITH_SOUNDFONT")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise UserError(f"TUNESMITH_SOUNDFONT={chosen} is not a file; point it at a General MIDI .sf2 SoundFont")
        return path
    candidates = [Path(p) for p in SOUNDFONT_PATHS] + sorted(Path(SOUNDFONT_FOLDER).glob("*.sf2"))
    for path in candidates:
        if path.is_file():
            return path
    raise UserError(f"cannot render MIDI to audio: no General MIDI SoundFont in {Path(SOUNDFONT_PATHS[0]).parent} "
                    f"or {SOUNDFONT_FOLDER}; {INSTALL_HINT}; or set TUNESMITH_SOUNDFONT=/path/to/GM.sf2")


def render_midi(midi_path: str | Path, wav_path: str | Path, sample_rate: int = 16000,
                soundfont: str | Path | None = None) -> Path:
    """Render a MIDI file through FluidSynth into a mono audio file at sample_rate (WAV or FLAC as
    16-bit PCM, MP3, OGG as Vorbis, by the suffix of wav_path), without the silent tail FluidSynth adds.
    The file is written atomically and an existing file is never overwritten. Returns wav_path."""
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    if wav_path.suffix.lower()[1:] not in AUDIO_FORMATS:
        raise UserError(f"cannot render into {wav_path}: give a {', '.join('.' + f for f in AUDIO_FORMATS)} file name")
    if wav_path.exists():
        raise UserError(f"{wav_path} already exists; give another file name or remove it first")
    if not midi_path.is_file():
        raise UserError(f"no such MIDI file: {midi_path}")
    program = find_fluidsynth()
    soundfont = Path(soundfont) if soundfont else find_soundfont()
    if not soundfont.is_file():
        raise UserError(f"no such SoundFont: {soundfont}; give a General MIDI .sf2 file")
    fd, raw = tempfile.mkstemp(dir=wav_path.parent, prefix=f".{wav_path.name}.", suffix=".raw.wav")
    os.close(fd)
    try:
        # -n -i: no MIDI input, no shell; -F: render as fast as possible into a file (float, so no clipping)
        done = subprocess.run([program, "-n", "-i", "-q", "-F", raw, "-T", "wav", "-O", "float",
                               "-r", str(sample_rate), "-g", str(GAIN), str(soundfont), str(midi_path)],
                              capture_output=True, text=True)
        problems = [line for line in done.stderr.splitlines() if "error" in line.lower() or "not a" in line]
        try:
            samples, rate = soundfile.read(raw, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError):
            samples, rate = np.zeros((0, 1), np.float32), sample_rate
        mono = samples.mean(axis=1)
        loud = np.flatnonzero(np.abs(mono) > TAIL)
        if done.returncode or not len(loud):
            why = problems[-1] if problems else "no sounding notes"
            raise UserError(f"FluidSynth could not render {midi_path} ({why.strip()})")
        mono = mono[: loud[-1] + 1]
        peak = float(np.abs(mono).max())
        if peak > PEAK:
            mono *= PEAK / peak
        write_audio(wav_path, mono, rate)
    finally:
        Path(raw).unlink(missing_ok=True)
    return wav_path
