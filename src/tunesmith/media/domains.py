"""How each kind of material meets the sampler: a primer becomes tokens, tokens become an item
(text, a Piece of music, or a waveform), and an item becomes a file."""

from __future__ import annotations

from statistics import median
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any


from tunesmith.codecs import Codec
from tunesmith.errors import UserError, info, warn
from tunesmith.media.audio import AUDIO_FORMATS, Clip, ClipWriter, write_audio
from tunesmith.media.files import free_path, write_atomic

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
    format: str | None = None  # audio: a key of AUDIO_FORMATS (default: --out's suffix, else wav)


class TextDomain:
    name = "text"
    suffix = ".txt"
    to_stdout = True  # with no --out, text goes to stdout
    streams = False  # decoded whole after generation (see AudioDomain.writer)
    statistics = None  # what `eval` compares generated and held-out material by (none for text)

    def seconds(self, items: list[Any]) -> float | None:
        """How many seconds of music the items hold (None: not music)."""
        return None

    def context(self, codec: Codec, options: SampleOptions) -> tuple[list[int], list[int]]:
        """(the tokens generation is conditioned on, the tokens every output begins with)."""
        refuse_options(self, options, "primer_steps", "primer_seconds", "program", "bpm", "plot", "style", "format")
        if not options.primer:
            return codec.start_tokens(), []
        unknown = codec.unknown(options.primer)
        if unknown:
            shown = " ".join(repr(u) for u in unknown[:20])
            warn(f"the primer has {len(unknown)} character(s) this model never saw, left out: {shown}")
        tokens = codec.encode(options.primer)
        return (tokens or codec.start_tokens()), (tokens if options.primer_in_output else [])

    def condition(self, codec: Codec, options: SampleOptions) -> int | None:
        """The model's global condition id (a style), or None: text models have none."""
        return None

    def qpm(self, options: SampleOptions) -> float:
        return 120.0

    def finish(self, codec: Codec, tokens: list[int], options: SampleOptions) -> str:
        return codec.decode(tokens)

    def write(self, item: str, path: Path, options: SampleOptions) -> None:
        write_atomic(path, item.encode("utf-8"))

    def show(self, writer: Any, tag: str, item: str, step: int) -> None:
        """The item in TensorBoard (`writer`: a SummaryWriter), indented so it shows as written."""
        writer.add_text(tag, "    " + item.replace("\n", "\n    "), step)


class MidiDomain:
    name = "midi"
    suffix = ".mid"
    to_stdout = False
    streams = False
    statistics = "music"
    LONGEST = 1024  # tokens: the longest piece generated for the statistics

    def seconds(self, items: list[Any]) -> float | None:
        return sum(item.seconds for item in items)

    def reference(self, codec: Codec, held_out: list[Any], training: list[Any], count: int, seed: int,
                  seconds: float) -> list[Any]:
        """The held-out pieces as the model sees them (through its codec)."""
        return [codec.decode(codec.encode(piece)) for piece in held_out]

    def length(self, codec: Codec, held_out: list[Any], seconds: float) -> int:
        """Generated pieces are as long as a typical held-out piece, in tokens."""
        return min(self.LONGEST, int(median(len(codec.encode(piece)) for piece in held_out)))

    def compare(self, generated: list[Any], reference: list[Any], codec: Codec) -> dict[str, Any]:
        from tunesmith.music_stats import compare

        return compare(generated, reference)

    def context(self, codec: Codec, options: SampleOptions) -> tuple[list[int], list[int]]:
        refuse_options(self, options, "format")
        start = codec.start_tokens(options.style)
        if not options.primer:
            return start, []
        tokens = codec.encode(read_primer(options))
        if len(tokens) <= len(start):
            raise UserError(f"primer {options.primer} has no notes this model can use "
                            f"(a {codec.name} model); give another file or leave the primer out")
        return tokens, (tokens if options.primer_in_output else start + codec.carried(tokens))

    def condition(self, codec: Codec, options: SampleOptions) -> int | None:
        """None: a MIDI model is conditioned on its style token, in the context."""
        return None

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
            from tunesmith.media.plots import piano_roll_png

            piano_roll_png(replace(piece, name=path.name), free_path(path.with_suffix(".png")))

    def show(self, writer: Any, tag: str, piece: Any, step: int) -> None:
        """Nothing: TensorBoard has no tab for MIDI (the file is in samples/)."""


DEFAULT_SECONDS = 5.0  # an audio sample's length when neither --length nor --seconds is given


class AudioDomain:
    name = "audio"
    suffix = ".wav"
    to_stdout = False
    streams = True  # written block by block as it is generated (`writer`), so length costs no memory
    statistics = "audio"

    def seconds(self, items: list[Any]) -> float | None:
        return None  # audio is scored per sample (bits per sample), not per second of music

    def reference(self, codec: Codec, held_out: list[Any], training: list[Any], count: int, seed: int,
                  seconds: float) -> list[Any]:
        """As many excerpts of `seconds` from the training recordings as clips are generated."""
        from tunesmith.audio_stats import reference_excerpts

        return reference_excerpts([r.samples for r in training], codec.sample_rate, seconds, count, seed)

    def length(self, codec: Codec, held_out: list[Any], seconds: float) -> int:
        return max(1, round(seconds * codec.sample_rate))

    def compare(self, generated: list[Any], reference: list[Any], codec: Codec) -> dict[str, Any]:
        from tunesmith.audio_stats import compare

        return compare(generated, reference, codec.sample_rate)

    def context(self, codec: Codec, options: SampleOptions) -> tuple[Any, Any]:
        """A recording primer (resampled to the run's rate, cut to --primer-seconds) is continued.
        Its tokens are a numpy array: a long recording would be a very long list."""
        refuse_options(self, options, "primer_steps", "program", "bpm", "plot")
        start = codec.start_tokens()
        if not options.primer:
            return start, []
        from tunesmith.corpus.audio import prepare_audio

        path = Path(options.primer)
        if not path.is_file():
            raise UserError(f"primer {path}: no such audio file")
        waveform = prepare_audio(path, codec.sample_rate, silence_threshold=0.0)
        if options.primer_seconds is not None:
            waveform = waveform[: int(options.primer_seconds * codec.sample_rate)]
        tokens = codec.encode_array(waveform)
        return (tokens if len(tokens) else start), (tokens if options.primer_in_output else [])

    def condition(self, codec: Codec, options: SampleOptions) -> int | None:
        """The style id of a WaveNet trained with global conditioning (its index in the codec's
        `styles`, the corpus sub-folders): --style, else the first style; None without styles."""
        styles = list(getattr(codec, "styles", None) or [])
        if not styles:
            if options.style is not None:
                raise UserError(f"style {options.style}: this model was not trained with styles (a WaveNet "
                                "trained with global conditioning on a corpus of sub-folders has them); "
                                "leave the style out")
            return None
        if options.style is None:
            info(f"style {styles[0]} (this model knows {', '.join(styles)}; ask for one by its style)")
            return 0
        if options.style not in styles:
            raise UserError(f"style {options.style}: this model was trained on the styles {', '.join(styles)}; "
                            "choose one of those")
        return styles.index(options.style)

    def qpm(self, options: SampleOptions) -> float:
        return 120.0

    def audio_format(self, out: Path | None, options: SampleOptions) -> str:
        """The output format, a key of AUDIO_FORMATS: --format, else the suffix of `out` (the file
        --out names; None when it names a folder or is not given), else wav."""
        import soundfile

        named = out.suffix.lower()[1:] if out is not None and out.suffix else None
        if named is not None and named not in AUDIO_FORMATS:
            raise UserError(f"out {out}: audio is written as {', '.join('.' + f for f in AUDIO_FORMATS)}; "
                            "give out one of those suffixes, or a folder")
        if options.format and named and named != options.format:
            raise UserError(f"out {out} does not end in .{options.format} (format {options.format}); "
                            f"give out as {out.with_suffix('.' + options.format)}, or leave one of them out")
        chosen = options.format or named or "wav"
        if AUDIO_FORMATS[chosen][0] not in soundfile.available_formats():
            raise UserError(f"this machine's libsndfile {soundfile.__libsndfile_version__} cannot write "
                            f"{chosen.upper()}; write wav or flac instead (libsndfile 1.1 and later write MP3)")
        return chosen

    def writer(self, codec: Codec, primer: Any, paths: list[Path], audio_format: str) -> ClipWriter:
        """The sink that writes generated tokens into `paths` as they come (see sampling.generate_until)."""
        return ClipWriter(codec, primer, paths, audio_format)

    def finish(self, codec: Codec, tokens: list[int], options: SampleOptions) -> Clip:
        return Clip(codec.decode(tokens), codec.sample_rate)

    def write(self, clip: Clip, path: Path, options: SampleOptions) -> None:
        """A whole clip (the trainer's preview) as WAV, FLAC, MP3 or OGG by the suffix, written atomically."""
        write_audio(path, clip.samples, clip.sample_rate)

    def show(self, writer: Any, tag: str, clip: Clip, step: int) -> None:
        """The clip in TensorBoard's audio tab."""
        import torch

        writer.add_audio(tag, torch.from_numpy(clip.samples)[None], step, sample_rate=clip.sample_rate)


@lru_cache(maxsize=4)
def read_primer(options: SampleOptions):
    """The primer MIDI file as a Piece, cut to --primer-steps or --primer-seconds (read once)."""
    from tunesmith import notes

    piece = read_midi_file(options.primer, "primer ")
    if options.primer_steps is not None:
        piece = notes.trim(piece, 0, options.primer_steps / STEPS_PER_QUARTER)
    if options.primer_seconds is not None:
        piece = notes.trim(piece, 0, options.primer_seconds * piece.qpm / 60)
    if options.style:
        piece.style = options.style
    return piece


def read_midi_file(path: str | Path, role: str = "") -> Any:
    """A MIDI file the user named as a Piece named after it; a UserError (starting with `role`,
    e.g. "primer ") when it is missing or unreadable."""
    from tunesmith.notes import read_midi

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{role}{path}: no such MIDI file")
    try:
        piece = read_midi(path)
    except UserError:
        raise
    except Exception as err:  # symusic raises plain RuntimeErrors on bad files
        raise UserError(f"{role}{path} is not a readable MIDI file ({err}); give a .mid file") from None
    piece.name = path.name
    return piece


OPTION_KINDS = {"primer_seconds": "MIDI and audio", "style": "MIDI and audio", "format": "audio"}  # others: MIDI


def refuse_options(domain: Any, options: SampleOptions, *names: str) -> None:
    for name in names:
        value = getattr(options, name)
        if value not in (None, False):
            raise UserError(f"{name} is for {OPTION_KINDS.get(name, 'MIDI')} runs; this is a {domain.name} run")


TEXT = TextDomain()
MIDI = MidiDomain()
AUDIO = AudioDomain()
