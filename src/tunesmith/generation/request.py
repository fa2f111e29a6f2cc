"""A request for new material: what to make (media options: primer, style, program, tempo,
format), how long, how many, how to decode, where to write it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.generation.lengths import Length
from tunesmith.generation.strategies import Strategy
from tunesmith.media.domains import SampleOptions


@dataclass
class SampleRequest:
    options: SampleOptions = field(default_factory=SampleOptions)
    length: Length = field(default_factory=Length)
    num_outputs: int = 1
    strategy: Strategy = field(default_factory=Strategy)
    beam: int = 0  # stochastic beam search keeping this many continuations (0: off)
    seed: int | None = None
    out: str | Path | None = None  # a file or a folder (media.files.output_paths); None: the current folder, text to the caller
    sample_on_spaces: bool = False
    bars: int | None = None  # a VAE: how many bars (default: the model's phrase)
    similar_to: str | Path | None = None  # a VAE: variations around this MIDI file's encoding
    similarity: float = 0.8  # ... from 0 (anything) to 1 (the file itself)
    pitch: int | None = None  # a GANSynth: the MIDI pitch of the notes (default: the middle of its range)
    interpolate: int = 0  # a GANSynth: this many notes from one timbre to another (0: off)

    def check(self) -> None:
        self.strategy.check()
        length = self.length
        too_short = ((length.amount is not None and length.amount < 1)
                     or (length.seconds is not None and length.seconds <= 0))
        if too_short or self.num_outputs < 1 or self.beam < 0:
            raise UserError("the length (in units or seconds) and the number of outputs must be above 0, "
                            "the beam 0 or more")


@dataclass
class Samples:
    """What a generator made: the items (texts, pieces, clips; empty for audio, which is written as
    it is made) and the files written (none when text went back to the caller)."""

    items: list = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    streamed: bool = False  # the text went to the caller's `echo` as it was made
