"""Codecs: reversible mappings between a domain item and a token sequence, saved with a run."""

from tunesmith.codecs.bars import BarsCodec
from tunesmith.codecs.base import CODECS, Codec, load_codec
from tunesmith.codecs.chars import CharCodec
from tunesmith.codecs.drums import DrumsCodec
from tunesmith.codecs.melody import MelodyCodec
from tunesmith.codecs.miditok_codec import MiditokCodec
from tunesmith.codecs.performance import PerformanceCodec
from tunesmith.codecs.polyphony import PolyphonyCodec
from tunesmith.codecs.quantize import QuantizeCodec
from tunesmith.codecs.specgram import SpecgramCodec

__all__ = ["CODECS", "Codec", "BarsCodec", "CharCodec", "DrumsCodec", "MelodyCodec", "MiditokCodec",
           "PerformanceCodec", "PolyphonyCodec", "QuantizeCodec", "SpecgramCodec", "load_codec"]
