"""How long an output is: in the codec's own unit (characters, 16th-note steps, tokens, samples)
or in seconds of music, as a per-token weight and a target that the generation loop sums to."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tunesmith.errors import UserError
from tunesmith.media.domains import DEFAULT_SECONDS


@dataclass
class Length:
    """How long each output is: `amount` of the codec's length unit, or `seconds` of music."""

    amount: int | None = None  # default: 128 steps for grid codecs, 5 seconds of audio, 500 tokens for others
    seconds: float | None = None

    def measure(self, codec, vocab_size: int, qpm: float) -> tuple[torch.Tensor, float, str, float]:
        """Per-token progress, the target, its unit, and the scale that shows progress in that unit.
        When every token lasts as long (raw audio: a token is a sample), progress counts whole
        tokens, so the length is exact, and is shown in seconds."""
        seconds = torch.tensor([codec.seconds(t, qpm) for t in range(vocab_size)], dtype=torch.float64)
        per_token = float(seconds[0])
        every_token_lasts = per_token > 0 and bool((seconds == per_token).all())
        if self.seconds is not None:
            if not bool(seconds.any()):
                raise UserError(f"a length in seconds is not available for a {codec.name} model; give it in {codec.unit}s")
            if every_token_lasts:
                return torch.ones(vocab_size), max(1, round(self.seconds / per_token)), "s", per_token
            return seconds, self.seconds, "s", 1.0
        if codec.length_unit == "step":
            steps = torch.tensor([float(codec.steps(t)) for t in range(vocab_size)], dtype=torch.float64)
            return steps, self.amount or 128, "step", 1.0
        if every_token_lasts:
            return torch.ones(vocab_size), self.amount or round(DEFAULT_SECONDS / per_token), "s", per_token
        return torch.ones(vocab_size), self.amount or 500, "tok", 1.0


