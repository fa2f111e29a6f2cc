"""Codecs: reversible mappings between a domain item and a token sequence, saved with a run."""

from tunesmith.codecs.base import Codec, load_codec
from tunesmith.codecs.chars import CharCodec

__all__ = ["Codec", "CharCodec", "load_codec"]
