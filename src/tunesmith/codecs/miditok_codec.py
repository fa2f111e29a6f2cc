"""An adapter to MidiTok: any of its single-stream tokenizations (REMI, TSD, MIDILike, Structured,
PerTok...) chosen by name, all instruments in one stream; the tokenizer is saved with the run."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.codecs.events import EventCodec, style_tags
from tunesmith.codecs.performance import fitted_max_note_seconds
from tunesmith.errors import UserError
from tunesmith.notes import Piece, pieces_from_scores, to_midi_bytes


@dataclass
class MiditokCodec(EventCodec):
    """Event ids are MidiTok's ids (its PAD, BOS, EOS and MASK included); START and the style tokens
    follow them. The lossy steps are MidiTok's: times and durations on its beat grid, velocities to
    its bins, the tempo (decoded pieces are at 120 qpm unless `use_tempos`).

    Every decoded note ends: MidiTok drops a NoteOn whose NoteOff never comes (MIDILike), and a
    note longer than `max_note_seconds` (at the decoded tempo) is cut there, as in the performance
    codec; `fit` sets it from the pieces' note lengths, a codec saved before it existed gets 4 s."""

    name = "miditok"
    tokenization: str = "REMI"
    params: dict[str, Any] = field(default_factory=dict)  # the tokenizer as MidiTok saves it, in JSON
    max_note_seconds: float = 4.0

    def __post_init__(self) -> None:
        if not self.max_note_seconds > 0:
            raise UserError(f"the miditok codec needs max_note_seconds above 0; got {self.max_note_seconds}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tokenizer.json"
            path.write_text(json.dumps(self.params), encoding="utf-8")
            self.tokenizer = tokenizer_class(self.tokenization)(params=path)

    @classmethod
    def fit(cls, pieces: list[Piece], tokenization: str = "REMI", max_note_seconds: float | None = None,
            **config: Any) -> MiditokCodec:
        """A codec of the MidiTok tokenization of that name with these TokenizerConfig options
        (programs are on, so that every instrument is in the one token stream); max_note_seconds,
        unless given, from the pieces' note lengths (`performance.fitted_max_note_seconds`)."""
        import miditok

        try:
            tokenizer = tokenizer_class(tokenization)(miditok.TokenizerConfig(**{"use_programs": True, **config}))
        except (KeyError, ValueError) as err:
            raise UserError(f"MidiTok cannot make a {tokenization} tokenizer with these options "
                            f"({type(err).__name__}: {err})") from None
        if not tokenizer.one_token_stream or tokenizer.is_multi_voc:
            raise UserError(f"the miditok codec needs one stream of single tokens: keep use_programs on "
                            f"and choose a tokenization like REMI, TSD, MIDILike or Structured, not {tokenization}")
        if max_note_seconds is None:
            max_note_seconds = fitted_max_note_seconds(pieces, cls.max_note_seconds)
        return cls(tokenization=tokenization, params=json.loads(json.dumps(tokenizer.to_dict())),
                   styles=style_tags(pieces), max_note_seconds=max_note_seconds)

    @property
    def event_count(self) -> int:
        return self.tokenizer.vocab_size

    def encode_events(self, piece: Piece) -> list[int]:
        from symusic import Score

        return self.tokenizer.encode(Score.from_midi(to_midi_bytes(piece))).ids

    def decode_events(self, events: list[int]) -> Piece:
        if not events:
            return Piece()
        piece = pieces_from_scores([self.tokenizer.decode(events)], [""])[0]
        notes = piece.notes.copy()
        notes["end"] = np.minimum(notes["end"], notes["start"] + self.max_note_seconds * piece.qpm / 60.0)
        return piece.with_notes(notes)


def tokenizer_class(tokenization: str) -> type:
    import miditok

    known = [name for name in dir(miditok.tokenizations) if name[0].isupper()]
    if tokenization not in known:
        raise UserError(f"unknown MidiTok tokenization {tokenization!r}; MidiTok has {', '.join(sorted(known))}")
    return getattr(miditok, tokenization)
