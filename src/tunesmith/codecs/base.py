"""The codec base class and its registry: every codec is fitted on a corpus, encodes items to
token ids, decodes them back, and saves itself as JSON in the run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from tunesmith.errors import UserError
from tunesmith.media.files import write_atomic

CODECS: dict[str, type[Codec]] = {}


class Codec:
    """Base class. Subclasses set `name`, implement the methods below and are registered by name."""

    name: ClassVar[str]
    unit: ClassVar[str] = "token"  # what one token is, for reports ("character", "sample", ...)
    length_unit: ClassVar[str] = "token"  # what `sample --length` counts: "token", or "step" (grid codecs)
    absolute_time: ClassVar[bool] = False  # decoded times are seconds (performance), not a metric grid

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # shared bases without a name of their own are not codecs
            CODECS[cls.name] = cls

    @classmethod
    def fit(cls, items: list[Any]) -> Codec:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def encode(self, item: Any) -> list[int]:
        raise NotImplementedError

    def encode_all(self, items: list[Any]) -> list[int]:
        """What `encode` gives each item, one after the other (a codec may do it in one pass)."""
        return [token for item in items for token in self.encode(item)]

    def decode(self, tokens: list[int]) -> Any:
        """The item of a token sequence. Must accept any sequence a sampler can produce: tokens
        that make no sense where they stand (a note-off with no note on) are ignored."""
        raise NotImplementedError

    def steps(self, token: int) -> int:
        """Grid steps this token moves time forward (for grid codecs: melody, drums, polyphony)."""
        return 0

    def seconds(self, token: int, qpm: float) -> float:
        """Seconds this token moves time forward at a tempo of qpm quarter notes per minute."""
        return 0.0

    def unknown(self, item: Any) -> list[Any]:
        """Parts of `item` the codec cannot encode (encode leaves them out), for a warning."""
        return []

    def usable(self, item: Any) -> bool:
        """Whether the model learns from the item at all (a MusicVAE's codec: only pieces in its
        metre); `eval` compares generated material with usable held-out items only."""
        return True

    def start_tokens(self, style: str | None = None) -> list[int]:
        """What an unprimed generation is conditioned on (not part of the output); codecs with
        control tokens put the style tag's token here."""
        return [0]

    def carried(self, tokens: list[int]) -> list[int]:
        """The tokens of a primer that a continuation left without it still needs to decode as
        it was generated (a key token); none by default."""
        return []

    def boundary_tokens(self) -> list[int]:
        """Tokens after which word-boundary sampling draws at random (it is greedy elsewhere)."""
        return []

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Codec:
        raise NotImplementedError

    def save(self, path: Path) -> None:
        payload = {"codec": self.name, **self.to_dict()}
        write_atomic(path, json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8"))


def load_codec(path: Path) -> Codec:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    name = data.pop("codec", None)
    if name not in CODECS:
        raise UserError(f"{path}: unknown codec {name!r}; this run was made by a newer tunesmith?")
    return CODECS[name].from_dict(data)
