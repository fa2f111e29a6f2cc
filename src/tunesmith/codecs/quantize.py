"""The raw-audio quantization codec (WaveNet, SampleRNN): each sample of a waveform in [-1, 1] is
one token, its level among `q_levels` after linear, mu-law or A-law companding (SampleRNN's
`--q_type {linear,mu-law,a-law}` and `--q_levels`).

All three quantizers share one uniform grid on the companded value y in [-1, 1]: level
q = floor((y + 1) / 2 * (levels - 1) + 1/2), whose centre is y = 2 q / (levels - 1) - 1 (WaveNet's
mu-law quantizer, mu = levels - 1). Centres are symmetric (centre(levels - 1 - q) = -centre(q)),
include -1 and 1, and silence maps to level levels // 2 (exactly 0 for an odd number of levels,
half a step above it for an even one). Inputs outside [-1, 1] are clipped, NaN is read as 0."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import numpy as np

from tunesmith.codecs.base import Codec
from tunesmith.errors import UserError

A_LAW_A = 87.6
Q_TYPES = ("linear", "mu-law", "a-law")
MIN_LEVELS, MAX_LEVELS = 2, 65536


def _as_float(x: Any) -> np.ndarray:
    """float64 samples in [-1, 1]: NaN becomes 0, the rest is clipped."""
    return np.clip(np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0), -1.0, 1.0)


def _levels_of(y: np.ndarray, levels: int) -> np.ndarray:
    """Levels 0..levels-1 of companded values y in [-1, 1] (rounding halves up)."""
    q = np.floor((y + 1.0) * ((levels - 1) / 2.0) + 0.5)
    return np.clip(q, 0, levels - 1).astype(np.int64)


def _centres_of(q: Any, levels: int) -> np.ndarray:
    """Companded centres in [-1, 1] of levels (clipped to 0..levels-1)."""
    q = np.clip(np.asarray(q, dtype=np.int64), 0, levels - 1)
    return q * (2.0 / (levels - 1)) - 1.0


def _mu_law_compress(x: np.ndarray, mu: float) -> np.ndarray:
    return np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)


def _mu_law_expand(y: np.ndarray, mu: float) -> np.ndarray:
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu


def _a_law_compress(x: np.ndarray, a: float = A_LAW_A) -> np.ndarray:
    ax = np.abs(x) * a
    norm = 1.0 + np.log(a)
    y = np.where(ax < 1.0, ax, 1.0 + np.log(np.maximum(ax, 1.0))) / norm
    return np.sign(x) * y


def _a_law_expand(y: np.ndarray, a: float = A_LAW_A) -> np.ndarray:
    norm = 1.0 + np.log(a)
    t = np.abs(y) * norm
    x = np.where(t < 1.0, t, np.exp(np.maximum(t, 1.0) - 1.0)) / a
    return np.sign(y) * x


def linear_encode(x: Any, levels: int = 256) -> np.ndarray:
    """Levels (int64, 0..levels-1) of samples in [-1, 1] on a uniform grid."""
    return _levels_of(_as_float(x), levels)


def linear_decode(q: Any, levels: int = 256) -> np.ndarray:
    """The centres (float64) of levels; out-of-range levels are clipped."""
    return _centres_of(q, levels)


def mu_law_encode(x: Any, levels: int = 256) -> np.ndarray:
    """Levels of samples after mu-law companding with mu = levels - 1 (G.711 / WaveNet)."""
    return _levels_of(_mu_law_compress(_as_float(x), levels - 1.0), levels)


def mu_law_decode(q: Any, levels: int = 256) -> np.ndarray:
    """Samples at the centres of mu-law levels."""
    return _mu_law_expand(_centres_of(q, levels), levels - 1.0)


def a_law_encode(x: Any, levels: int = 256) -> np.ndarray:
    """Levels of samples after A-law companding (A = 87.6)."""
    return _levels_of(_a_law_compress(_as_float(x)), levels)


def a_law_decode(q: Any, levels: int = 256) -> np.ndarray:
    """Samples at the centres of A-law levels."""
    return _a_law_expand(_centres_of(q, levels))


QUANTIZERS: dict[str, tuple[Callable[[Any, int], np.ndarray], Callable[[Any, int], np.ndarray]]] = {
    "linear": (linear_encode, linear_decode),
    "mu-law": (mu_law_encode, mu_law_decode),
    "a-law": (a_law_encode, a_law_decode),
}


@dataclass
class QuantizeCodec(Codec):
    """One token per sample: the sample's quantization level. `encode` takes a mono float
    waveform (integer PCM arrays are scaled by their full range); `decode` gives float32 samples
    at the level centres, clipping out-of-range token ids. `encode_array`/`decode_array` do the
    same on numpy arrays of any shape, for long audio. `styles` names the ids a conditioned model
    was trained on (corpus sub-folder names; id = index); empty for an unconditioned model."""

    name = "quantize"
    unit = "sample"
    q_type: str = "mu-law"
    q_levels: int = 256
    sample_rate: int = 16000
    styles: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.q_type not in Q_TYPES:
            raise UserError(f"the quantize codec has no q_type {self.q_type!r}; choose one of {', '.join(Q_TYPES)}")
        if (isinstance(self.q_levels, bool) or not isinstance(self.q_levels, (int, np.integer))
                or not MIN_LEVELS <= self.q_levels <= MAX_LEVELS):
            raise UserError(f"the quantize codec needs q_levels {MIN_LEVELS}..{MAX_LEVELS}; got {self.q_levels!r}")
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, (int, np.integer)) \
                or self.sample_rate <= 0:
            raise UserError(f"the quantize codec needs a positive integer sample_rate; got {self.sample_rate!r}")
        self.q_levels, self.sample_rate = int(self.q_levels), int(self.sample_rate)
        self.styles = [str(style) for style in self.styles]

    @classmethod
    def _check_options(cls, options: dict[str, Any]) -> None:
        names = sorted(f.name for f in fields(cls))
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise UserError(f"the {cls.name} codec has no option {', '.join(unknown)}; "
                            f"its options are {', '.join(names)}")

    @classmethod
    def fit(cls, items: list[Any], **options: Any) -> QuantizeCodec:
        """A codec with these options; the items are not looked at (a quantizer needs no fitting)."""
        cls._check_options(options)
        return cls(**options)

    @property
    def vocab_size(self) -> int:
        return self.q_levels

    def encode_array(self, waveform: Any) -> np.ndarray:
        """int64 levels of a waveform of any shape."""
        samples = np.asarray(waveform)
        if samples.dtype.kind in "iu":  # integer PCM: full scale is 2 ** (bits - 1)
            bits = samples.dtype.itemsize * 8
            offset = 2.0 ** (bits - 1) if samples.dtype.kind == "u" else 0.0
            samples = (samples.astype(np.float64) - offset) / 2.0 ** (bits - 1)
        return QUANTIZERS[self.q_type][0](samples, self.q_levels)

    def decode_array(self, tokens: Any) -> np.ndarray:
        """float32 samples in [-1, 1] of levels of any shape (out-of-range ids clipped)."""
        tokens = np.asarray(tokens)
        if tokens.size == 0:
            return np.zeros(tokens.shape, dtype=np.float32)
        return QUANTIZERS[self.q_type][1](tokens, self.q_levels).astype(np.float32)

    def encode(self, waveform: Any) -> list[int]:
        samples = np.asarray(waveform)
        if samples.ndim != 1:
            raise UserError(f"the quantize codec encodes mono audio (one dimension); got shape {samples.shape}")
        return self.encode_array(samples).tolist()

    def decode(self, tokens: Any) -> np.ndarray:
        return self.decode_array(np.asarray(tokens, dtype=np.int64).reshape(-1))

    def seconds(self, token: int, qpm: float) -> float:
        return 1.0 / self.sample_rate

    def start_tokens(self, style: str | None = None) -> list[int]:
        """Silence: the level of 0.0."""
        return [int(self.encode_array(0.0))]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantizeCodec:
        cls._check_options(data)
        return cls(**data)
