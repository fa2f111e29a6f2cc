"""MIDI to audio with FluidSynth and a General MIDI SoundFont: finding both, and rendering one MIDI
file into a mono WAV/FLAC/OGG at a chosen sample rate, written atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from tunesmith.errors import UserError
from tunesmith.media.audio import AUDIO_FORMATS, write_audio

# Where Debian and Ubuntu put General MIDI SoundFonts (timgm6mb-soundfont, fluid-soundfont-gm, ...)
SOUNDFONT_PATHS = ("/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
                   "/usr/share/sounds/sf3/MuseScore_General.sf3", "/usr/share/sounds/sf3/default-GM.sf3",
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
    candidates = [Path(p) for p in SOUNDFONT_PATHS] + sorted(Path(SOUNDFONT_FOLDER).glob("*.sf[23]"))
    for path in candidates:
        if path.is_file():
            return path
    raise UserError(f"cannot render MIDI to audio: no General MIDI SoundFont in {Path(SOUNDFONT_PATHS[0]).parent} "
                    f"or {SOUNDFONT_FOLDER}; {INSTALL_HINT}; or set TUNESMITH_SOUNDFONT=/path/to/GM.sf2")


# General MIDI's program names, by number (0-127)
GM_PROGRAMS = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)", "Electric Guitar (clean)",
    "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Choir", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)",
    "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)", "Pad 6 (metallic)",
    "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause",
    "Gunshot",
)


def program_number(text: str | int) -> int:
    """A General MIDI program by number (0-127) or by name ("Pad 2 (warm)", any case; a prefix
    that names one program, e.g. "pad 2")."""
    if isinstance(text, int) or str(text).strip().isdigit():
        number = int(text)
        if not 0 <= number <= 127:
            raise UserError(f"program {number}: General MIDI programs are 0 to 127")
        return number
    wanted = " ".join(str(text).lower().split())
    names = [name.lower() for name in GM_PROGRAMS]
    if wanted in names:
        return names.index(wanted)
    found = [k for k, name in enumerate(names) if name.startswith(wanted)]
    if len(found) == 1:
        return found[0]
    hint = f"it could be {', '.join(GM_PROGRAMS[k] for k in found[:6])}" if found else "see the list of programs"
    raise UserError(f"program {text!r}: no single General MIDI program by that name; {hint}")


@dataclass(frozen=True)
class Effects:
    """A preset of effects: FluidSynth's own reverb and chorus, then post-effects (pedalboard),
    and the seconds of tail rendered after the last note so that the reverb dies away."""

    fluid_reverb: bool
    fluid_chorus: bool
    tail_seconds: float
    post: str  # "", or "ambient": chorus, delay and a long reverb after FluidSynth


EFFECTS = {
    "none": Effects(False, False, 0.5, ""),
    "room": Effects(True, False, 2.0, ""),
    "ambient": Effects(True, True, 8.0, "ambient"),
}


def post_effects(samples: np.ndarray, sample_rate: int, name: str) -> np.ndarray:
    """The post-effects of a preset on mono samples (the length stays: the tail was rendered)."""
    if not name:
        return samples
    from pedalboard import Chorus, Delay, Pedalboard, Reverb

    board = Pedalboard([Chorus(rate_hz=0.3, depth=0.25, centre_delay_ms=8.0, feedback=0.0, mix=0.35),
                        Delay(delay_seconds=0.45, feedback=0.35, mix=0.22),
                        Reverb(room_size=0.92, damping=0.45, wet_level=0.42, dry_level=0.75, width=1.0)])
    return board(samples.astype(np.float32)[None], sample_rate)[0]


def prepared_midi(midi_path: Path, program: int | None, tail_seconds: float) -> bytes:
    """The MIDI file's bytes with every non-drum track set to `program` (if given) and an inaudible
    control change `tail_seconds` after its end, so that FluidSynth renders the reverb's tail."""
    from symusic import ControlChange, Score

    try:
        score = Score(str(midi_path))
    except Exception as err:  # symusic raises plain RuntimeErrors on bad files
        raise UserError(f"{midi_path} is not a readable MIDI file ({err}); give a .mid file") from None
    if program is not None:
        for track in score.tracks:
            if not track.is_drum:
                track.program = program
    if len(score.tracks):
        qpm = score.tempos[-1].qpm if len(score.tempos) else 120.0
        tail = round(tail_seconds * qpm / 60 * score.ticks_per_quarter)
        score.tracks[0].controls.append(ControlChange(score.end() + tail, 7, 100))  # volume: no sound of its own
    return score.dumps_midi()


def render_midi(midi_path: str | Path, wav_path: str | Path, sample_rate: int = 16000,
                soundfont: str | Path | None = None, program: int | None = None, effects: str = "none",
                normalize: bool = False) -> Path:
    """Render a MIDI file through FluidSynth into a mono audio file at sample_rate, in the format
    of wav_path's suffix (media.audio.AUDIO_FORMATS), with every non-drum track played by
    `program` if given and the `effects` preset (EFFECTS), the reverb's tail kept and the silence
    after it cut. The level is brought to PEAK with `normalize`, else only lowered to it. The
    file is written atomically and an existing file is never overwritten. Returns wav_path."""
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    if wav_path.suffix.lower()[1:] not in AUDIO_FORMATS:
        raise UserError(f"cannot render into {wav_path}: give a {', '.join('.' + f for f in AUDIO_FORMATS)} file name")
    if wav_path.exists():
        raise UserError(f"{wav_path} already exists; give another file name or remove it first")
    if not midi_path.is_file():
        raise UserError(f"no such MIDI file: {midi_path}")
    if effects not in EFFECTS:
        raise UserError(f"effects {effects!r}: choose one of {', '.join(EFFECTS)}")
    preset = EFFECTS[effects]
    fluidsynth = find_fluidsynth()
    soundfont = Path(soundfont) if soundfont else find_soundfont()
    if not soundfont.is_file():
        raise UserError(f"no such SoundFont: {soundfont}; give a General MIDI .sf2 or .sf3 file")
    fd, raw = tempfile.mkstemp(dir=wav_path.parent, prefix=f".{wav_path.name}.", suffix=".raw.wav")
    os.close(fd)
    midi_fd, midi_copy = tempfile.mkstemp(dir=wav_path.parent, prefix=f".{wav_path.name}.", suffix=".mid")
    with os.fdopen(midi_fd, "wb") as handle:
        handle.write(prepared_midi(midi_path, program, preset.tail_seconds))
    try:
        # -n -i: no MIDI input, no shell; -F: render as fast as possible into a file (float, so no clipping)
        done = subprocess.run([fluidsynth, "-n", "-i", "-q", "-F", raw, "-T", "wav", "-O", "float",
                               "-r", str(sample_rate), "-g", str(GAIN), "-R", str(int(preset.fluid_reverb)),
                               "-C", str(int(preset.fluid_chorus)), str(soundfont), midi_copy],
                              capture_output=True, text=True)
        problems = [line for line in done.stderr.splitlines() if "error" in line.lower() or "not a" in line]
        try:
            samples, rate = soundfile.read(raw, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError):
            samples, rate = np.zeros((0, 1), np.float32), sample_rate
        mono = post_effects(samples.mean(axis=1), rate, preset.post)
        loud = np.flatnonzero(np.abs(mono) > TAIL)
        if done.returncode or not len(loud):
            why = problems[-1] if problems else "no sounding notes"
            raise UserError(f"FluidSynth could not render {midi_path} ({why.strip()})")
        mono = mono[: loud[-1] + 1]
        peak = float(np.abs(mono).max())
        if peak > PEAK or normalize:
            mono = mono * (PEAK / peak)
        write_audio(wav_path, mono, rate)
    finally:
        Path(raw).unlink(missing_ok=True)
        Path(midi_copy).unlink(missing_ok=True)
    return wav_path
