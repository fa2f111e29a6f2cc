"""WaveNet (van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio"): a stack of
dilated causal convolutions over quantized samples, predicting the next sample's level; and its
fast stepper (Paine et al. 2016, "Fast Wavenet Generation Algorithm"), one queue per layer.

The model, top to bottom (the layout of ibab/tensorflow-wavenet):

    samples [batch, time] (ids in 0 .. q_levels-1)
      -> embedding (= a one-hot times a matrix) -> causal conv (filter_width)           "initial"
      -> blocks x layers_per_block x [dilated causal conv (filter_width, dilation 2**i)
                                      -> tanh(filter) * sigmoid(gate)  (+ condition embedding in both)
                                      -> 1x1 residual, added to the layer's input;  1x1 skip]
      -> sum of the skips -> ReLU -> 1x1 -> ReLU -> 1x1 -> logits over the q_levels

The receptive field is (filter_width - 1) * (sum of the dilations + 1) + 1 samples: the dilated
layers see (filter_width - 1) * sum(dilations) + 1, and the initial conv adds filter_width - 1.
Global conditioning (`global_conditions` > 0): an id per sequence (a style, a speaker) whose
embedding, learned per layer, is added to the filter and the gate of every layer.

Training (`loss`) runs the convolutions over the whole input at once, padded with zeros on the left,
so every position is predicted; the first receptive_field - 1 positions see part of that padding
(as a sequence start would), and their loss is included.

Fast generation. A dilated causal conv at time t reads its input at t, t - d, ..., t - (k-1)d.
Re-running the model over the last receptive_field samples for every new sample (the naive way)
recomputes thousands of outputs that were already computed. The stepper instead keeps, per conv, a
queue (a ring buffer, indexed by time modulo its length) of that conv's last d(k-1) inputs: a new
sample reads k-1 entries from each queue, pushes its own input in, and goes through every layer
once: O(layers) work per sample, independent of the receptive field. A primer of many samples goes
through the model in one pass, with the queues' contents as the left context, and the queues keep
the last inputs of every conv. The stepper's logits equal the model's forward over the whole
sequence (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv1d(nn.Conv1d):
    """A dilated conv whose output at t sees its input at t, t - dilation, ..., t - (k-1)*dilation."""

    def __init__(self, in_channels: int, out_channels: int, filter_width: int, dilation: int = 1):
        super().__init__(in_channels, out_channels, filter_width, dilation=dilation)
        self.context = dilation * (filter_width - 1)  # past inputs it reads

    def forward(self, x: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        """x [batch, channels, time] -> [batch, out_channels, time]. `past` [batch, channels,
        context] are the inputs before x; zeros when None."""
        past = x.new_zeros(x.size(0), x.size(1), self.context) if past is None else past
        return super().forward(torch.cat([past, x], dim=-1))

    def flat_weight(self) -> torch.Tensor:
        """The weight as one matrix [out, k * in] for inputs concatenated oldest first."""
        return self.weight.permute(0, 2, 1).reshape(self.out_channels, -1)


class ResidualLayer(nn.Module):
    """Dilated causal conv -> gated activation (+ condition) -> 1x1 residual and 1x1 skip."""

    def __init__(self, residual_channels: int, dilation_channels: int, skip_channels: int,
                 filter_width: int, dilation: int, global_conditions: int, dropout: float, residual: bool):
        super().__init__()
        self.dilation = dilation
        self.dilated = CausalConv1d(residual_channels, 2 * dilation_channels, filter_width, dilation)  # filter, gate
        self.condition = nn.Embedding(global_conditions, 2 * dilation_channels) if global_conditions else None
        self.dropout = nn.Dropout(dropout)
        # The last layer's residual output goes nowhere: it has no residual conv (and no unused parameters).
        self.residual = nn.Conv1d(dilation_channels, residual_channels, 1) if residual else None
        self.skip = nn.Conv1d(dilation_channels, skip_channels, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None, past: torch.Tensor | None = None):
        """x [batch, residual_channels, time] -> (the next layer's input or None, skip [batch,
        skip_channels, time]); condition: ids [batch] or None."""
        z = self.dilated(x, past)
        if self.condition is not None:
            z = z + self.condition(condition)[:, :, None]
        filter_, gate = z.chunk(2, dim=1)
        gated = self.dropout(torch.tanh(filter_) * torch.sigmoid(gate))
        return (x + self.residual(gated) if self.residual is not None else None), self.skip(gated)


class WaveNet(nn.Module):
    def __init__(self, vocab_size: int, residual_channels: int = 32, dilation_channels: int = 32,
                 skip_channels: int = 128, filter_width: int = 2, layers_per_block: int = 10,
                 blocks: int = 2, global_conditions: int = 0, dropout: float = 0.0):
        super().__init__()
        if filter_width < 2:
            raise ValueError("filter_width must be at least 2")
        self.vocab_size = vocab_size
        self.filter_width = filter_width
        self.global_conditions = global_conditions
        self.dilations = [2 ** i for _ in range(blocks) for i in range(layers_per_block)]
        self.embedding = nn.Embedding(vocab_size, residual_channels)
        self.initial = CausalConv1d(residual_channels, residual_channels, filter_width)
        self.layers = nn.ModuleList(
            ResidualLayer(residual_channels, dilation_channels, skip_channels, filter_width, dilation,
                          global_conditions, dropout, residual=index < len(self.dilations) - 1)
            for index, dilation in enumerate(self.dilations))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1),
                                  nn.ReLU(), nn.Conv1d(skip_channels, vocab_size, 1))

    @property
    def receptive_field(self) -> int:
        """Samples that the logits at one position depend on, that position's own included."""
        return (self.filter_width - 1) * (sum(self.dilations) + 1) + 1

    def convs(self) -> list[CausalConv1d]:
        """Every causal conv, in order: the initial one, then each layer's dilated one."""
        return [self.initial, *(layer.dilated for layer in self.layers)]

    def check_condition(self, condition: torch.Tensor | None) -> None:
        if self.global_conditions and condition is None:
            raise ValueError(f"this WaveNet is conditioned on an id (0..{self.global_conditions - 1}): pass one")
        if not self.global_conditions and condition is not None:
            raise ValueError("this WaveNet has no global conditioning (global_conditions=0)")

    def forward(self, tokens: torch.Tensor, condition: torch.Tensor | None = None,
                past: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits [batch, time, vocab] of the sample after each position of tokens [batch, time];
        condition: ids [batch] when global_conditions > 0. `past` (the stepper's): for each of
        `convs()`, its inputs before these tokens [batch, channels, context]; zeros when None.
        Each entry is then replaced by that conv's last `context` inputs, the new ones included."""
        self.check_condition(condition)
        x = self.embedding(tokens).transpose(1, 2)  # [batch, residual_channels, time]
        x = self.initial(x, self.remember(past, 0, x))
        skips = 0
        for index, layer in enumerate(self.layers, start=1):
            x_next, skip = layer(x, condition, self.remember(past, index, x))
            x, skips = x_next, skips + skip
        return self.head(skips).transpose(1, 2)

    def remember(self, past: list[torch.Tensor] | None, index: int, x: torch.Tensor) -> torch.Tensor | None:
        """The inputs before x of conv `index` (None: zeros); keeps the last ones in `past`."""
        if past is None:
            return None
        before = past[index]
        context = before.size(-1)
        past[index] = torch.cat([before, x], dim=-1)[:, :, x.size(-1):] if x.size(-1) < context \
            else x[:, :, x.size(-1) - context:]
        return before

    def loss(self, batch: tuple) -> torch.Tensor:
        """Mean cross-entropy in nats per sample of a batch (inputs, targets) [batch, time], or
        (inputs, targets, condition ids [batch]) for a conditioned model."""
        inputs, targets, *condition = batch
        logits = self(inputs, condition[0] if condition else None)
        return F.cross_entropy(logits.transpose(1, 2), targets)

    def stepper(self, batch_size: int, condition: int | torch.Tensor | None = None) -> WaveNetStepper:
        """Incremental generation of `batch_size` sequences; condition: one id for all, or ids [batch]."""
        return WaveNetStepper(self, batch_size, condition)


class ConvQueue:
    """The last `length` inputs of one causal conv: a ring buffer [length, batch, channels] in which
    the input at time s sits in slot s % length."""

    def __init__(self, conv: CausalConv1d, batch_size: int, reference: torch.Tensor):
        self.length = conv.context
        self.dilation = conv.dilation[0]
        self.taps = conv.kernel_size[0] - 1
        self.buffer = reference.new_zeros(self.length, batch_size, conv.in_channels)

    def past_inputs(self, time: int) -> list[torch.Tensor]:
        """The inputs at time - (k-1)d, ..., time - d, each [batch, channels], oldest first."""
        return [self.buffer[(time - tap * self.dilation) % self.length] for tap in range(self.taps, 0, -1)]

    def push(self, time: int, x: torch.Tensor) -> None:
        self.buffer[time % self.length] = x

    def history(self, time: int) -> torch.Tensor:
        """The inputs at time - length .. time - 1 in order, [batch, channels, length]."""
        slots = torch.arange(time - self.length, time, device=self.buffer.device) % self.length
        return self.buffer[slots].permute(1, 2, 0)

    def load(self, time: int, history: torch.Tensor) -> None:
        """Set the inputs before `time` from history [batch, channels, length] (oldest first)."""
        slots = torch.arange(time - self.length, time, device=self.buffer.device) % self.length
        self.buffer[slots] = history.permute(2, 0, 1)

    def reorder(self, rows: torch.Tensor) -> None:
        self.buffer = self.buffer.index_select(1, rows)


class WaveNetStepper:
    """Fast generation (Paine et al. 2016) for `batch_size` sequences: a queue per causal conv and
    O(layers) work per new sample. It reads the model's weights when made: make it after training,
    with the model in eval mode (dropout is not applied)."""

    def __init__(self, model: WaveNet, batch_size: int, condition: int | torch.Tensor | None = None):
        self.model = model
        self.batch_size = batch_size
        reference = next(model.parameters())
        if isinstance(condition, int):
            condition = torch.full((batch_size,), condition, dtype=torch.long, device=reference.device)
        model.check_condition(condition)
        self.condition = condition
        self.time = 0  # samples consumed so far
        self.queues = [ConvQueue(conv, batch_size, reference) for conv in model.convs()]
        with torch.no_grad():  # each layer's weights as plain matrices, for one-sample steps
            self.conv_weights = [(conv.flat_weight(), conv.bias) for conv in model.convs()]
            self.condition_biases = [layer.condition(condition) if layer.condition is not None else None
                                     for layer in model.layers]
            self.output_weights = [self.output_matrix(layer) for layer in model.layers]
            self.head_weights = [(conv.weight[:, :, 0], conv.bias) for conv in model.head[1::2]]

    @staticmethod
    def output_matrix(layer: ResidualLayer) -> tuple[torch.Tensor, torch.Tensor]:
        """The residual and skip 1x1 convs of a layer stacked as one matrix (residual rows first)."""
        convs = [conv for conv in (layer.residual, layer.skip) if conv is not None]
        return torch.cat([conv.weight[:, :, 0] for conv in convs]), torch.cat([conv.bias for conv in convs])

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Consume samples [batch, time] (a primer of any length, then one new sample each) and
        return the logits [batch, vocab] of the sample that follows them."""
        if tokens.size(1) == 0:
            raise ValueError("feed needs at least one sample")
        with torch.inference_mode():
            if tokens.size(1) == 1:
                logits = self._step(tokens[:, 0])
            else:
                past = [queue.history(self.time) for queue in self.queues]
                logits = self.model(tokens, self.condition, past)[:, -1]
                for queue, history in zip(self.queues, past):
                    queue.load(self.time + tokens.size(1), history)
        self.time += tokens.size(1)
        return logits.clone()  # an ordinary tensor, which the caller may change in place

    def _step(self, token: torch.Tensor) -> torch.Tensor:
        """One new sample [batch] through every layer: each conv reads k-1 inputs from its queue."""
        x = self.model.embedding(token)  # [batch, residual_channels]
        skips = 0
        for index, (queue, (weight, bias)) in enumerate(zip(self.queues, self.conv_weights)):
            z = F.linear(torch.cat([*queue.past_inputs(self.time), x], dim=-1), weight, bias)
            queue.push(self.time, x)
            if index == 0:  # the initial conv
                x = z
                continue
            condition_bias = self.condition_biases[index - 1]
            if condition_bias is not None:
                z = z + condition_bias
            filter_, gate = z.chunk(2, dim=-1)
            out = F.linear(torch.tanh(filter_) * torch.sigmoid(gate), *self.output_weights[index - 1])
            residual_channels = x.size(-1) if index < len(self.queues) - 1 else 0
            skips = skips + out[:, residual_channels:]
            x = x + out[:, :residual_channels] if residual_channels else x
        (hidden_weight, hidden_bias), (logit_weight, logit_bias) = self.head_weights
        return F.linear(F.relu(F.linear(F.relu(skips), hidden_weight, hidden_bias)), logit_weight, logit_bias)

    @torch.inference_mode()
    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the batch rows `rows` [new_batch] (repeats allowed) of the state, in that order:
        beam search's reordering of its hypotheses."""
        for queue in self.queues:
            queue.reorder(rows)
        if self.condition is not None:
            self.condition = self.condition.index_select(0, rows)
            self.condition_biases = [bias.index_select(0, rows) for bias in self.condition_biases]
        self.batch_size = rows.numel()
