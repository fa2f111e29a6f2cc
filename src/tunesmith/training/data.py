"""Token windows for language-model training: a fixed, seeded order per epoch so that the data
position of any step can be recomputed from the step alone (exact resume)."""

from __future__ import annotations

import torch


class TokenWindows:
    """Non-overlapping windows of seq_len + 1 tokens over one token stream; each epoch starts at a
    random offset and visits the windows in a random order."""

    def __init__(self, tokens: torch.Tensor, seq_len: int):
        self.tokens = tokens
        self.seq_len = seq_len
        self.count = (len(tokens) - 1) // seq_len

    def steps_per_epoch(self, global_batch: int) -> int:
        return max(1, self.count // global_batch)

    def _order(self, seed: int, epoch: int) -> tuple[int, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        slack = len(self.tokens) - 1 - self.count * self.seq_len
        offset = int(torch.randint(slack + 1, (1,), generator=generator))
        return offset, torch.randperm(self.count, generator=generator)

    def batch(self, step: int, batch_size: int, seed: int, rank: int = 0,
              world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) [batch_size, seq_len] of this rank for a global step."""
        global_batch = batch_size * world_size
        epoch, position = divmod(step, self.steps_per_epoch(global_batch))
        offset, order = self._order(seed, epoch)
        first = position * global_batch + rank * batch_size
        picks = order[torch.arange(first, first + batch_size) % self.count]
        starts = offset + picks * self.seq_len
        rows = torch.stack([self.tokens[s : s + self.seq_len + 1] for s in starts.tolist()])
        return rows[:, :-1], rows[:, 1:]

    def sequential(self, max_tokens: int, batch_size: int):
        """Validation batches: consecutive windows from the start, at most max_tokens targets."""
        length = min(len(self.tokens), max_tokens + 1)
        seq_len = min(self.seq_len, length - 1)
        starts = list(range(0, length - 1 - seq_len + 1, seq_len))
        for i in range(0, len(starts), batch_size):
            rows = torch.stack([self.tokens[s : s + seq_len + 1] for s in starts[i : i + batch_size]])
            yield rows[:, :-1], rows[:, 1:]
