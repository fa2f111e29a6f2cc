"""Character codec for text (char-rnn): one token per character of the corpus vocabulary."""

from __future__ import annotations

from typing import Any

from tunesmith.codecs.base import Codec


class CharCodec(Codec):
    name = "chars"
    unit = "character"

    def __init__(self, chars: list[str]):
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, items: list[str]) -> CharCodec:
        return cls(sorted(set("".join(items))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that are not in the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; characters outside the vocabulary are dropped (see `unknown`)."""
        return [self.index[c] for c in text if c in self.index]

    def decode(self, tokens: list[int]) -> str:
        return "".join(self.chars[t] for t in tokens)

    def start_tokens(self, style: str | None = None) -> list[int]:
        return [self.index.get("\n", 0)]

    def boundary_tokens(self) -> list[int]:
        return [self.index[c] for c in (" ", "\n") if c in self.index]

    def to_dict(self) -> dict[str, Any]:
        return {"chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharCodec:
        return cls(data["chars"])
