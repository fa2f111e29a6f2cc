"""SampleRNN (Mehri et al. 2017): an unconditional model of raw audio, one quantized sample per
token, built as a hierarchy of tiers that run at different clock rates.

The tiers, from the top down:

* **Frame-level tiers.** Tier k reads the waveform in non-overlapping frames of `F_k` samples
  (dequantized to [-1, 1]), projects each frame to `dim`, adds the conditioning vector the tier
  above gave this frame, and runs an RNN (`n_rnn` GRU or LSTM layers) over the frames. Its output is
  upsampled linearly: one linear layer turns each frame's output into `F_k / F_{k+1}` vectors, one
  per frame of the tier below that falls inside this frame (one per *sample* for the lowest frame
  tier). With three tiers the frame sizes are (`big_frame_size`, `frame_size`); with two,
  (`frame_size`,); any chain where each size divides the one above can be passed as `frame_sizes`.
* **The sample-level tier.** An MLP predicts each sample from the embeddings of the last
  `frame_size` samples (a linear layer over their concatenation, written as a Conv1d of kernel
  `frame_size`) plus the conditioning vector of the lowest frame tier for this sample position,
  followed by two hidden layers and a linear head over the `q_levels` levels.

Everything a frame tier sees lies strictly before the frame it conditions, so the model is
autoregressive. `L` below is the top frame size (the look-back).

**A training window** is L + N samples s[0 .. L+N-1]: the first L are history, the N after them are
predicted. As (inputs, targets) of the shared trainer (targets = inputs shifted by one):
inputs = s[:, :-1] ([B, L + N - 1]), targets = s[:, 1:]; the scored targets are targets[:, L-1:]
(= s[L:]); the first L-1 targets are history and not scored. So `seq_len = L + N - 1`; N need not
be a multiple of L for `loss` (a partial last frame is fine), but `loss_with_state` (truncated BPTT
with the RNN states carried across windows) needs N to be a multiple of L, and the next window
starts N samples later, i.e. it repeats the last L samples of this one as its history.

**Generation.** The stepper starts with L samples of silence (level q_levels // 2) as history and
consumes samples one at a time. Before predicting the sample at position p, every frame tier whose
frame size divides p takes one RNN step on the frame just finished and upsamples it; the MLP then
runs on the last `frame_size` samples and the conditioning vector for p. So a new sample costs one
MLP evaluation plus, once per frame, an RNN step of each tier; a primer runs the tiers at its
frame boundaries and the MLP only once, at its end. The stepper works on plain weight matrices
read once (weight norm is not re-evaluated per sample) and folds the MLP's input layer into a
table of per-level contributions (`SampleRNNStepper`); its logits equal the training forward's
(tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm

RNN_TYPES = {"gru": nn.GRU, "lstm": nn.LSTM}


def _normed(layer: nn.Module, use: bool) -> nn.Module:
    return apply_weight_norm(layer) if use else layer


def _detach(state):
    """The same nested tuples/lists of tensors, cut from the graph."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(_detach(part) for part in state)


def _select_rows(state, rows: torch.Tensor, dim: int):
    if isinstance(state, torch.Tensor):
        return state.index_select(dim, rows)
    return type(state)(_select_rows(part, rows, dim) for part in state)


class FrameTier(nn.Module):
    """One frame-level tier: frames of `frame_size` samples → RNN → `ratio` conditioning vectors
    per frame for the tier below."""

    def __init__(self, frame_size: int, ratio: int, dim: int, n_rnn: int, rnn_type: str,
                 learn_h0: bool, skip_conn: bool, weight_norm: bool, dropout: float):
        super().__init__()
        self.frame_size, self.ratio, self.dim = frame_size, ratio, dim
        self.lstm = rnn_type == "lstm"
        self.skip_conn = skip_conn
        self.input_expand = _normed(nn.Linear(frame_size, dim), weight_norm)
        self.rnns = nn.ModuleList(RNN_TYPES[rnn_type](dim, dim, batch_first=True) for _ in range(n_rnn))
        self.dropout = nn.Dropout(dropout)
        # With skip connections (Dadabots) the upsampling layer reads every RNN layer's output.
        self.upsample = _normed(nn.Linear(dim * n_rnn if skip_conn else dim, ratio * dim), weight_norm)
        # The initial state: learned (learn_h0) or fixed zeros.
        for name in ("h0", "c0") if self.lstm else ("h0",):
            if learn_h0:
                setattr(self, name, nn.Parameter(torch.zeros(n_rnn, dim)))
            else:
                self.register_buffer(name, torch.zeros(n_rnn, dim))

    def initial_state(self, batch_size: int) -> tuple:
        """One state per RNN layer: h [1, B, dim] (GRU) or (h, c) (LSTM)."""
        def expand(start: torch.Tensor, layer: int) -> torch.Tensor:
            return start[layer].expand(1, batch_size, self.dim).contiguous()
        if self.lstm:
            return tuple((expand(self.h0, i), expand(self.c0, i)) for i in range(len(self.rnns)))
        return tuple(expand(self.h0, i) for i in range(len(self.rnns)))

    def forward(self, frames: torch.Tensor, upper: torch.Tensor | None, state: tuple):
        """frames [B, n, frame_size] (floats), upper [B, n, dim] or None → conditioning
        [B, n * ratio, dim] and the new state."""
        x = self.input_expand(frames)
        if upper is not None:
            x = x + upper
        outputs, new_state = [], []
        for rnn, layer_state in zip(self.rnns, state):
            x, layer_state = rnn(x, layer_state)
            new_state.append(layer_state)
            outputs.append(x)
            x = self.dropout(x)
        hidden = torch.cat(outputs, -1) if self.skip_conn else outputs[-1]
        conditioning = self.upsample(self.dropout(hidden))
        batch, frames_count = frames.shape[:2]
        return conditioning.reshape(batch, frames_count * self.ratio, self.dim), tuple(new_state)


class SampleMLP(nn.Module):
    """The sample-level tier: the last `frame_size` samples' embeddings plus a conditioning vector
    → logits over the levels of the next sample."""

    def __init__(self, q_levels: int, frame_size: int, dim: int, emb_size: int,
                 skip_conn: bool, weight_norm: bool, dropout: float):
        super().__init__()
        self.frame_size = frame_size
        self.skip_conn = skip_conn
        self.embedding = nn.Embedding(q_levels, emb_size)
        self.input = _normed(nn.Conv1d(emb_size, dim, kernel_size=frame_size), weight_norm)
        self.hidden = nn.ModuleList(_normed(nn.Linear(dim, dim), weight_norm) for _ in range(2))
        self.dropout = nn.Dropout(dropout)
        self.head = _normed(nn.Linear(dim, q_levels), weight_norm)

    def forward(self, samples: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        """samples [B, n + frame_size - 1] (levels), conditioning [B, n, dim] → logits
        [B, n, q_levels] of the n samples that follow each run of `frame_size` samples."""
        embedded = self.embedding(samples).transpose(1, 2)         # [B, emb, n + F - 1]
        x = F.relu(self.input(embedded).transpose(1, 2) + conditioning)
        for layer in self.hidden:
            update = F.relu(layer(self.dropout(x)))
            x = x + update if self.skip_conn else update
        return self.head(self.dropout(x))


class SampleRNN(nn.Module):
    def __init__(self, vocab_size: int, tiers: int = 3, frame_size: int = 16, big_frame_size: int = 64,
                 dim: int = 256, n_rnn: int = 1, rnn_type: str = "gru", learn_h0: bool = True,
                 skip_conn: bool = False, weight_norm: bool = True, emb_size: int = 64,
                 dropout: float = 0.0, frame_sizes: tuple[int, ...] | None = None):
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {sorted(RNN_TYPES)}, not {rnn_type!r}")
        if frame_sizes is None:
            if tiers not in (2, 3):
                raise ValueError("tiers must be 2 or 3 (pass frame_sizes for more)")
            frame_sizes = (big_frame_size, frame_size) if tiers == 3 else (frame_size,)
        frame_sizes = tuple(int(size) for size in frame_sizes)
        if any(upper % lower for upper, lower in zip(frame_sizes, frame_sizes[1:])):
            raise ValueError(f"each frame size must divide the one above: {frame_sizes}")
        self.q_levels = vocab_size
        self.frame_sizes = frame_sizes                 # frame tiers, top first
        self.lookback = frame_sizes[0]
        ratios = [upper // lower for upper, lower in zip(frame_sizes, frame_sizes[1:])] + [frame_sizes[-1]]
        self.frame_tiers = nn.ModuleList(
            FrameTier(size, ratio, dim, n_rnn, rnn_type, learn_h0, skip_conn, weight_norm, dropout)
            for size, ratio in zip(frame_sizes, ratios))
        self.sample_tier = SampleMLP(vocab_size, frame_sizes[-1], dim, emb_size, skip_conn,
                                     weight_norm, dropout)

    def dequantize(self, samples: torch.Tensor) -> torch.Tensor:
        """Levels → the centre of their level on [-1, 1], the input of the frame tiers."""
        return samples.float() * (2.0 / (self.q_levels - 1)) - 1.0

    def initial_state(self, batch_size: int) -> list:
        return [tier.initial_state(batch_size) for tier in self.frame_tiers]

    def forward(self, inputs: torch.Tensor, state: list | None = None):
        """inputs [B, L + N - 1] (the layout in the module docstring) → logits [B, N, q_levels]
        of s[L:], and the frame tiers' states after the last frame they read."""
        lookback = self.lookback
        predicted = inputs.size(1) + 1 - lookback
        if predicted < 1:
            raise ValueError(f"a window needs more than {lookback - 1} samples, got {inputs.size(1)}")
        state = self.initial_state(inputs.size(0)) if state is None else state
        levels = self.dequantize(inputs)
        conditioning, new_state = None, []
        for tier, tier_state in zip(self.frame_tiers, state):
            size = tier.frame_size
            frames_count = -(-predicted // size)           # a partial last frame still counts
            frames = levels[:, lookback - size: lookback - size + frames_count * size]
            frames = frames.reshape(inputs.size(0), frames_count, size)
            upper = None if conditioning is None else conditioning[:, :frames_count]
            conditioning, tier_state = tier(frames, upper, tier_state)
            new_state.append(tier_state)
        history = inputs[:, lookback - self.frame_sizes[-1]:]
        return self.sample_tier(history, conditioning[:, :predicted]), new_state

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy in nats of the predicted samples (targets[:, L-1:]) of a window."""
        return self.loss_with_state(batch, None)[0]

    def loss_with_state(self, batch: tuple[torch.Tensor, torch.Tensor], state: list | None):
        """Truncated BPTT: the loss of a window starting from `state` (None: the initial state),
        and the detached state to pass with the next window (which starts N samples later)."""
        inputs, targets = batch
        logits, new_state = self(inputs, state)
        if state is not None and logits.size(1) % self.lookback:
            raise ValueError(f"carrying state needs whole top frames: N = {logits.size(1)} "
                             f"is not a multiple of {self.lookback}")
        scored = targets[:, self.lookback - 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), scored.reshape(-1))
        return loss, _detach(new_state)

    def stepper(self, batch_size: int) -> SampleRNNStepper:
        return SampleRNNStepper(self, batch_size)


class SampleRNNStepper:
    """Incremental generation with fixed plain weights (weight norm evaluated once, when the
    stepper is made: make it after training, with the model in eval mode; dropout is not applied).

    Position counts samples including the silent history, so frame boundaries fall where they fall
    in a training window. A new sample costs the MLP only, written with few ops:

    * The MLP's input layer is linear in the one-hot of each of the last `frame_size` samples, so
      its weights are folded into a table: for every level v, the contributions of a sample at v to
      the F positions after it, [q_levels, F, dim]. When a sample arrives, its F rows are added at
      once into an accumulator of the input rows of the coming positions; the lowest frame tier's
      conditioning (with the input layer's bias) is added into the same rows at its frame
      boundaries. The MLP then starts from relu(accumulated row): no embedding, no conv.
    * The hidden layers and the head are matmul-adds on plain weight matrices.
    * A frame tier steps at its frame boundaries only: its input layer, one GRU or LSTM cell per
      layer (`torch.gru_cell` / `torch.lstm_cell` on the module's weights), its upsampling layer.
    """

    ROWS = 512  # accumulator rows before it moves back to the start (one copy per ROWS samples)

    def __init__(self, model: SampleRNN, batch_size: int):
        self.model = model
        self.batch_size = batch_size
        mlp = model.sample_tier
        self.frame_size = frame = mlp.frame_size
        with torch.inference_mode(False), torch.no_grad():  # plain tensors, which the steps change in place
            device = mlp.embedding.weight.device
            # The input layer's contribution of level v at position s to position s + 1 + i, i < frame:
            # its tap frame - 1 - i, i.e. the taps in reverse order.
            taps = torch.einsum("ve,dej->vjd", mlp.embedding.weight, mlp.input.weight)
            self.table = taps.flip(1).reshape(model.q_levels, -1).contiguous()   # [q_levels, frame * dim]
            self.hidden = [(layer.weight.t().contiguous(), layer.bias[None].clone()) for layer in mlp.hidden]
            self.head = (mlp.head.weight.t().contiguous(), mlp.head.bias[None].clone())
            self.tiers = []
            for k, tier in enumerate(model.frame_tiers):
                up_bias = tier.upsample.bias
                if k == len(model.frame_tiers) - 1:  # the lowest tier: its conditioning meets the input layer's bias
                    up_bias = up_bias + mlp.input.bias.repeat(tier.ratio)
                cells = [tuple(getattr(rnn, f"{name}_l0").clone() for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                               "bias_hh")) for rnn in tier.rnns]
                self.tiers.append((tier.input_expand.weight.t().contiguous(), tier.input_expand.bias[None].clone(),
                                   cells, tier.upsample.weight.t().contiguous(), up_bias[None].clone()))
            self.state = [[state.squeeze(0) if isinstance(state, torch.Tensor) else
                           tuple(part.squeeze(0) for part in state) for state in tier.initial_state(batch_size)]
                          for tier in model.frame_tiers]
            self.accumulator = torch.zeros(batch_size, self.ROWS + 2 * frame, mlp.input.out_channels,
                                           dtype=self.table.dtype, device=device)
        self.conditioning = [None] * len(model.frame_tiers)   # each tier's [B, ratio, dim] for the tier below
        silence = torch.full((batch_size,), model.q_levels // 2, dtype=torch.long, device=device)
        # The silent history: L samples, of which the last F reach the MLP's first positions.
        self.recent = [silence] * (model.lookback - frame)     # the last L samples, each [B]
        self.position = self.base = model.lookback - frame     # accumulator row 0 is position `base`
        for _ in range(frame):
            self._push(silence)
        self._run_tiers()

    def _push(self, token: torch.Tensor) -> None:
        """Sample `token` [B] at the current position: it goes into the recent samples and its
        contributions into the accumulator rows of the next F positions."""
        frame, row = self.frame_size, self.position + 1 - self.base
        if row + frame > self.accumulator.size(1):   # move the live rows back to the start
            live = self.accumulator[:, row:row + frame - 1].clone()
            self.accumulator.zero_()
            self.accumulator[:, :frame - 1] = live
            self.base, row = self.position + 1, 0
        contributions = torch.index_select(self.table, 0, token).view(token.size(0), frame, -1)
        self.accumulator[:, row:row + frame].add_(contributions)
        self.recent.append(token)
        if len(self.recent) > 2 * self.model.lookback:
            del self.recent[:-self.model.lookback]
        self.position += 1

    def _run_tiers(self) -> None:
        """Step every frame tier whose frame ends just before the current position."""
        model, position = self.model, self.position
        for k, (tier, (in_weight, in_bias, cells, up_weight, up_bias)) in enumerate(zip(model.frame_tiers,
                                                                                      self.tiers)):
            size = tier.frame_size
            if position % size:
                continue
            frame = model.dequantize(torch.stack(self.recent[-size:], 1))
            x = torch.addmm(in_bias, frame, in_weight)
            if k > 0:
                x = x + self.conditioning[k - 1][:, (position % model.frame_sizes[k - 1]) // size]
            outputs = []
            for layer, weights in enumerate(cells):
                state = (torch.lstm_cell if tier.lstm else torch.gru_cell)(x, self.state[k][layer], *weights)
                self.state[k][layer] = state
                x = state[0] if tier.lstm else state
                outputs.append(x)
            hidden = torch.cat(outputs, -1) if tier.skip_conn else x
            conditioning = torch.addmm(up_bias, hidden, up_weight).view(x.size(0), tier.ratio, -1)
            if k < len(self.tiers) - 1:
                self.conditioning[k] = conditioning
            else:   # the lowest tier: one vector per sample of its frame, into the MLP's input rows
                row = position - self.base
                self.accumulator[:, row:row + size].add_(conditioning)

    def _logits(self) -> torch.Tensor:
        x = torch.relu(self.accumulator[:, self.position - self.base])
        for weight, bias in self.hidden:
            update = torch.addmm(bias, x, weight).relu_()
            x = x + update if self.model.sample_tier.skip_conn else update
        return torch.addmm(self.head[1], x, self.head[0])

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Consume samples [B, t] and return the logits [B, q_levels] of the sample after them (a
        new tensor, which the caller may change)."""
        # No grad mode needed: every tensor here is a plain copy. The tokens are kept (the last L
        # samples feed the frame tiers), so they are copied: the caller may refill its own.
        tokens = tokens.to(self.accumulator.device).clone()
        for column in range(tokens.size(1)):
            self._push(tokens[:, column])
            if not self.position % self.frame_size:
                self._run_tiers()
        return self._logits()

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep (and duplicate) the given batch rows, for beam search."""
        with torch.inference_mode(False), torch.no_grad():
            rows = rows.to(self.accumulator.device)
            self.accumulator = self.accumulator.index_select(0, rows)
            self.recent = list(torch.stack(self.recent[-self.model.lookback:], 1).index_select(0, rows).unbind(1))
            self.state = [[_select_rows(state, rows, 0) for state in tier_state] for tier_state in self.state]
            self.conditioning = [None if c is None else c.index_select(0, rows) for c in self.conditioning]
            self.batch_size = rows.numel()
