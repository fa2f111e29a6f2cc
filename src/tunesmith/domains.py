"""How each kind of material meets the sampler: a primer becomes tokens, tokens become an item
(text, a Piece of music, or a waveform), and an item becomes a file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from tunesmith.codecs import Codec
from tunesmith.errors import UserError, warn

STEPS_PER_QUARTER = 4  # what --primer-steps counts: 16th notes


@dataclass(frozen=True)
class SampleOptions:
    """What a user asks of the output beyond the decoding strategy."""

    primer: str | None = None  # text, or a MIDI file's path
    primer_steps: int | None = None
    primer_seconds: float | None = None
    primer_in_output: bool = True
    style: str | None = None
    program: int | None = None
    bpm: float | None = None
    plot: bool = False


class TextDomain:
    name = "text"
    suffix = ".txt"
    to_stdout = True  # with no --out, text goes to stdout

    def context(self, codec: Codec, options: SampleOptions) -> tuple[list[int], list[int]]:
        """(the tokens generation is conditioned on, the tokens every output begins with)."""
        refuse_options(self, options, "primer_steps", "primer_seconds", "program", "bpm", "plot", "style")
        if not options.primer:
            return codec.start_tokens(), []
        unknown = codec.unknown(options.primer)
        if unknown:
            shown = " ".join(repr(u) for u in unknown[:20])
            warn(f"the primer has {len(unknown)} character(s) this model never saw, left out: {shown}")
        tokens = codec.encode(options.primer)
        return (tokens or codec.start_tokens()), (tokens if options.primer_in_output else [])

    def qpm(self, options: SampleOptions) -> float:
        return 120.0

    def finish(self, codec: Codec, tokens: list[int], options: SampleOptions) -> str:
        return codec.decode(tokens)

    def write(self, item: str, path: Path, options: SampleOptions) -> None:
        from tunesmith.runs import write_atomic

        write_atomic(path, item.encode("utf-8"))


class MidiDomain:
    name = "midi"
    suffix = ".mid"
    to_stdout = False

    def context(self, codec: Codec, options: SampleOptions) -> tuple[list[int], list[int]]:
        start = codec.start_tokens(options.style)
        if not options.primer:
            return start, []
        tokens = codec.encode(read_primer(options))
        if len(tokens) <= len(start):
            raise UserError(f"--primer {options.primer} has no notes this model can use "
                            f"(a {codec.name} model); give another file or leave the primer out")
        return tokens, (tokens if options.primer_in_output else start)

    def qpm(self, options: SampleOptions) -> float:
        if options.bpm:
            return options.bpm
        return read_primer(options).qpm if options.primer else 120.0

    def finish(self, codec: Codec, tokens: list[int], options: SampleOptions):
        """The decoded piece with the asked-for program and tempo; a performance keeps its
        timing in seconds when the tempo changes."""
        piece = codec.decode(tokens)
        qpm = self.qpm(options)
        notes = piece.notes.copy()
        if codec.absolute_time and qpm != piece.qpm:
            notes["start"] *= qpm / piece.qpm
            notes["end"] *= qpm / piece.qpm
        if options.program is not None:
            notes["program"][~notes["is_drum"]] = options.program
        metre = read_primer(options).time_signature if options.primer else piece.time_signature
        return replace(piece, notes=notes, qpm=qpm, time_signature=metre)

    def write(self, piece, path: Path, options: SampleOptions) -> None:
        from tunesmith.notes import write_midi

        write_midi(piece, path)
        if options.plot:
            from tunesmith.plots import piano_roll_png

            piano_roll_png(replace(piece, name=path.name), path.with_suffix(".png"))


@dataclass
class Clip:
    """A generated waveform (float32 in [-1, 1]) and its sample rate."""

    samples: Any
    sample_rate: int


class AudioDomain:
    name = "audio"
    suffix = ".wav"
    to_stdout = False

    def context(self, codec: Codec, options: SampleOptions) -> tuple[list[int], list[int]]:
        """A WAV primer (resampled to the run's rate, cut to --primer-seconds) is continued."""
        refuse_options(self, options, "primer_steps", "program", "bpm", "plot", "style")
        start = codec.start_tokens()
        if not options.primer:
            return start, []
        from tunesmith.corpus.audio import prepare_audio

        path = Path(options.primer)
        if not path.is_file():
            raise UserError(f"--primer {path}: no such audio file")
        waveform = prepare_audio(path, codec.sample_rate, silence_threshold=0.0)
        if options.primer_seconds is not None:
            waveform = waveform[: int(options.primer_seconds * codec.sample_rate)]
        tokens = codec.encode(waveform)
        return (tokens or start), (tokens if options.primer_in_output else [])

    def qpm(self, options: SampleOptions) -> float:
        return 120.0

    def finish(self, codec: Codec, tokens: list[int], options: SampleOptions) -> Clip:
        return Clip(codec.decode(tokens), codec.sample_rate)

    def write(self, clip: Clip, path: Path, options: SampleOptions) -> None:
        """A WAV (or FLAC/OGG, by the suffix) file, written atomically."""
        import io

        import soundfile

        from tunesmith.runs import write_atomic

        buffer = io.BytesIO()
        audio_format = {".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower(), "WAV")
        soundfile.write(buffer, clip.samples, clip.sample_rate, format=audio_format)
        write_atomic(path, buffer.getvalue())


@lru_cache(maxsize=4)
def read_primer(options: SampleOptions):
    """The primer MIDI file as a Piece, cut to --primer-steps or --primer-seconds (read once)."""
    from tunesmith import notes

    path = Path(options.primer)
    if not path.is_file():
        raise UserError(f"--primer {path}: no such MIDI file")
    try:
        piece = notes.read_midi(path)
    except Exception as err:  # symusic raises plain RuntimeErrors on bad files
        raise UserError(f"--primer {path} is not a readable MIDI file ({err})") from None
    if options.primer_steps is not None:
        piece = notes.trim(piece, 0, options.primer_steps / STEPS_PER_QUARTER)
    if options.primer_seconds is not None:
        piece = notes.trim(piece, 0, options.primer_seconds * piece.qpm / 60)
    if options.style:
        piece.style = options.style
    return piece


def refuse_options(domain: Any, options: SampleOptions, *names: str) -> None:
    for name in names:
        value = getattr(options, name)
        if value not in (None, False):
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} is for music runs; this is a {domain.name} run")


TEXT = TextDomain()
MIDI = MidiDomain()
AUDIO = AudioDomain()
