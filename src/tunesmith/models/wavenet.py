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
embedding, learned per layer, is added to the filter and the gate of every layer. Local
conditioning (`local_channels` > 0): a sequence of vectors, one per sample [batch, local_channels,
time] (an NSynth's code upsampled to the sample rate, models/nsynth.py), added through a 1x1 conv
per layer to the filter and the gate; the vector at position t conditions the logits at t.

Training (`loss`) runs the convolutions over the whole input at once, padded with zeros on the left,
so every position is predicted; the first receptive_field - 1 positions see part of that padding
(as a sequence start would), and their loss is included.

Fast generation. A dilated causal conv at time t reads its input at t, t - d, ..., t - (k-1)d.
Re-running the model over the last receptive_field samples for every new sample (the naive way)
recomputes thousands of outputs that were already computed. The stepper instead keeps, per conv, a
queue (a ring buffer, indexed by time modulo its length) of that conv's last d(k-1) inputs: a new
sample reads k-1 entries from each queue, pushes its own input in, and goes through every layer
once: O(layers) work per sample, independent of the receptive field. A locally conditioned
model takes each new sample's condition vector with it (`feed(tokens, local)`). A primer of many
samples goes through the model in one pass, with the queues' contents as the left context, and
the queues keep the last inputs of every conv. A one-sample step is a handful of small ops per
layer on weights rewritten once into plain matrices, in numpy on the CPU (less overhead per op
than torch at this size) or in torch on any device (`WaveNetStepper`). The stepper's logits equal
the model's forward over the whole sequence (tested).
"""

from __future__ import annotations

import numpy as np
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


class ScalarEmbedding(nn.Module):
    """The input of a WaveNet that reads each level as a number: level i of `vocab_size` is the value
    v = 2i / (vocab_size - 1) - 1 in [-1, 1], embedded as v * scale + bias (a line through the
    residual channels), so neighbouring levels start out near each other; `weight` is that table, as
    an nn.Embedding's (the stepper reads it). In training, Gaussian noise of std `noise` is added to
    the values: a decoder that generates from its own slightly wrong samples learns from slightly
    wrong inputs (and leans on its conditioning more than on its past)."""

    def __init__(self, vocab_size: int, embedding_dim: int, noise: float = 0.0):
        super().__init__()
        self.embedding_dim, self.noise = embedding_dim, noise
        self.register_buffer("values", torch.linspace(-1.0, 1.0, vocab_size)[:, None], persistent=False)
        self.scale = nn.Parameter(torch.randn(embedding_dim))
        self.bias = nn.Parameter(torch.zeros(embedding_dim))

    @property
    def weight(self) -> torch.Tensor:
        return self.values * self.scale + self.bias

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.noise):
            return F.embedding(tokens, self.weight)
        values = self.values[tokens] + self.noise * torch.randn(tokens.shape, device=tokens.device)[..., None]
        return values * self.scale + self.bias


class ResidualLayer(nn.Module):
    """Dilated causal conv -> gated activation (+ condition) -> 1x1 residual and 1x1 skip."""

    def __init__(self, residual_channels: int, dilation_channels: int, skip_channels: int,
                 filter_width: int, dilation: int, global_conditions: int, dropout: float, residual: bool,
                 local_channels: int = 0):
        super().__init__()
        self.dilation = dilation
        self.dilated = CausalConv1d(residual_channels, 2 * dilation_channels, filter_width, dilation)  # filter, gate
        self.condition = nn.Embedding(global_conditions, 2 * dilation_channels) if global_conditions else None
        # the local condition's 1x1 conv (no bias: the dilated conv has one)
        self.local = nn.Conv1d(local_channels, 2 * dilation_channels, 1, bias=False) if local_channels else None
        self.dropout = nn.Dropout(dropout)
        # The last layer's residual output goes nowhere: it has no residual conv (and no unused parameters).
        self.residual = nn.Conv1d(dilation_channels, residual_channels, 1) if residual else None
        self.skip = nn.Conv1d(dilation_channels, skip_channels, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None, past: torch.Tensor | None = None,
                local: torch.Tensor | None = None):
        """x [batch, residual_channels, time] -> (the next layer's input or None, skip [batch,
        skip_channels, time]); condition: ids [batch] or None; local: [batch, local_channels, time] or None."""
        z = self.dilated(x, past)
        if self.condition is not None:
            z = z + self.condition(condition)[:, :, None]
        if self.local is not None:
            z = z + self.local(local)
        filter_, gate = z.chunk(2, dim=1)
        gated = self.dropout(torch.tanh(filter_) * torch.sigmoid(gate))
        return (x + self.residual(gated) if self.residual is not None else None), self.skip(gated)


class WaveNet(nn.Module):
    def __init__(self, vocab_size: int, residual_channels: int = 32, dilation_channels: int = 32,
                 skip_channels: int = 128, filter_width: int = 2, layers_per_block: int = 10,
                 blocks: int = 2, global_conditions: int = 0, dropout: float = 0.0, local_channels: int = 0,
                 out_channels: int | None = None, scalar_input: bool = False, input_noise: float = 0.0):
        super().__init__()
        if filter_width < 2:
            raise ValueError("filter_width must be at least 2")
        self.vocab_size = vocab_size
        self.filter_width = filter_width
        self.global_conditions = global_conditions
        self.local_channels = local_channels
        self.dilations = [2 ** i for _ in range(blocks) for i in range(layers_per_block)]
        self.embedding = ScalarEmbedding(vocab_size, residual_channels, input_noise) if scalar_input \
            else nn.Embedding(vocab_size, residual_channels)
        self.initial = CausalConv1d(residual_channels, residual_channels, filter_width)
        self.layers = nn.ModuleList(
            ResidualLayer(residual_channels, dilation_channels, skip_channels, filter_width, dilation,
                          global_conditions, dropout, residual=index < len(self.dilations) - 1,
                          local_channels=local_channels)
            for index, dilation in enumerate(self.dilations))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1),
                                  nn.ReLU(), nn.Conv1d(skip_channels, out_channels or vocab_size, 1))

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

    def check_local(self, local: torch.Tensor | None, tokens: torch.Tensor) -> None:
        """A local condition [batch, local_channels, time] for tokens [batch, time], when the model has one."""
        if not self.local_channels:
            if local is not None:
                raise ValueError("this WaveNet has no local conditioning (local_channels=0)")
            return
        expected = (tokens.size(0), self.local_channels, tokens.size(1))
        if local is None or tuple(local.shape) != expected:
            got = None if local is None else tuple(local.shape)
            raise ValueError(f"this WaveNet is conditioned on vectors [batch, channels, time] = {expected}; got {got}")

    def forward(self, tokens: torch.Tensor, condition: torch.Tensor | None = None,
                past: list[torch.Tensor] | None = None, local: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [batch, time, vocab] of the sample after each position of tokens [batch, time];
        condition: ids [batch] when global_conditions > 0; local: [batch, local_channels, time]
        when local_channels > 0 (the vector at t conditions the logits at t). `past` (the
        stepper's): for each of `convs()`, its inputs before these tokens [batch, channels,
        context]; zeros when None. Each entry is then replaced by that conv's last `context`
        inputs, the new ones included."""
        self.check_condition(condition)
        self.check_local(local, tokens)
        x = self.embedding(tokens).transpose(1, 2)  # [batch, residual_channels, time]
        x = self.initial(x, self.remember(past, 0, x))
        skips = 0
        for index, layer in enumerate(self.layers, start=1):
            x_next, skip = layer(x, condition, self.remember(past, index, x), local)
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
    """The recent inputs of one causal conv: `context + 1` slots, each [batch, channels], views into
    one buffer [slots, batch, channels] (a torch tensor, or a numpy array for the numpy path), the
    input at time s in slot s % slots. The spare slot lets the layer below write the input at time t
    straight into its slot while the conv still reads the one at t - context."""

    def __init__(self, conv: CausalConv1d, buffer):
        self.context = conv.context
        # how far back each past tap reads, oldest first: (k-1)d, ..., d
        self.offsets = tuple(tap * conv.dilation[0] for tap in range(conv.kernel_size[0] - 1, 0, -1))
        self.set_buffer(buffer)

    def set_buffer(self, buffer) -> None:
        self.buffer = buffer
        self.slots = list(buffer)  # views: reading a slot is a list lookup, writing one an out= argument

    def _order(self, time: int) -> list[int]:
        """The slots of the inputs at time - context, ..., time - 1."""
        return [s % len(self.slots) for s in range(time - self.context, time)]

    def history(self, time: int) -> torch.Tensor:
        """The inputs at time - context .. time - 1 in order, [batch, channels, context] (torch)."""
        past = self.buffer[self._order(time)]
        return (torch.from_numpy(past) if isinstance(past, np.ndarray) else past).permute(1, 2, 0)

    def load(self, time: int, history: torch.Tensor) -> None:
        """Set the inputs before `time` from history [batch, channels, context] (oldest first)."""
        history = history.permute(2, 0, 1)
        self.buffer[self._order(time)] = history.numpy() if isinstance(self.buffer, np.ndarray) else history

    def reorder(self, rows) -> None:
        """Keep the batch rows `rows` (a tensor, or a numpy array for the numpy path)."""
        if isinstance(self.buffer, np.ndarray):
            kept = np.ascontiguousarray(self.buffer[:, rows])  # each slot a C-contiguous [batch, channels]
        else:
            kept = self.buffer.index_select(1, rows)
        if kept.shape == self.buffer.shape:
            self.buffer[:] = kept  # the slot views stay valid
        else:
            self.set_buffer(kept)


class WaveNetStepper:
    """Fast generation (Paine et al. 2016) for `batch_size` sequences: a queue per causal conv and
    O(layers) work per new sample. It reads the model's weights when made: make it after training,
    with the model in eval mode (dropout is not applied).

    A one-sample step works on rows of a few dozen numbers, so it costs per-op overhead, not
    arithmetic, and is written with few ops. Per layer: one concatenation of the conv's inputs (its
    past ones are queue slots, so nothing is copied into the queue) and a constant row, one matmul
    (taps, bias and condition in one matrix), one tanh in place, a multiply and an add into a
    preallocated row (the gated unit), and one matmul plus an add that writes the next layer's
    input straight into its queue slot (the residual). Exact rewrites: tanh(f) * sigmoid(g) =
    (tanh(f) + tanh(f) * tanh(g/2)) / 2, so the gate's weights are halved once and the 1/2 goes
    into the residual and skip matrices; the bias and condition embedding of a conv are rows of its
    matrix, met by a constant 1 (the one-hot of the condition id) after its inputs; the residual
    and skip biases are rows met by a constant 1 after each layer's gated unit; the skips of all
    layers are one matmul over all gated units at the end. A local condition's 1x1 conv is more
    rows of each conv's matrix, met by the step's condition vector, which `feed` writes into the
    constant row after the one-hot (so local conditioning costs no extra op per layer).

    `backend`: "numpy" (a CPU model: numpy's per-op overhead on arrays this small is a few times
    smaller than torch's) or "torch" (any device); the default is numpy on the CPU. Both give the
    model's logits (tested). A primer of several samples goes through the model's forward in one
    pass, with the queues as its left context, whatever the backend.
    """

    def __init__(self, model: WaveNet, batch_size: int, condition: int | torch.Tensor | None = None,
                 backend: str | None = None):
        self.model = model
        reference = next(model.parameters())
        self.device, self.dtype = reference.device, reference.dtype
        if isinstance(condition, int):
            condition = torch.full((batch_size,), condition, dtype=torch.long, device=self.device)
        model.check_condition(condition)
        if backend is None:
            backend = "numpy" if self.device.type == "cpu" else "torch"
        if backend not in ("numpy", "torch") or (backend == "numpy" and self.device.type != "cpu"):
            raise ValueError(f"backend must be 'torch', or 'numpy' for a model on the CPU, not {backend!r}")
        self.backend = backend
        self.condition = condition
        self.global_width = model.global_conditions or 1  # the constant row: the one-hot (or a 1) ...
        self.local_channels = model.local_channels  # ... then the local condition vector
        self.batch_size = batch_size
        self.time = 0  # samples consumed so far
        with torch.inference_mode(False), torch.no_grad():  # plain tensors, which the steps change in place
            self._read_weights(model)
            self.queues = [ConvQueue(conv, self._zeros(conv.context + 1, batch_size, conv.in_channels))
                           for conv in model.convs()]
            self._allocate()

    def _read_weights(self, model: WaveNet) -> None:
        """The model's weights as matrices for `inputs @ matrix`, rewritten for the step (see the
        class docstring); copies, which later training does not change."""
        dilation_channels = model.layers[0].dilated.out_channels // 2
        gate_halved = torch.ones(2 * dilation_channels, dtype=self.dtype, device=self.device)
        gate_halved[dilation_channels:] = 0.5
        conditions = model.global_conditions or 1

        def conv_matrix(conv: CausalConv1d, table: nn.Embedding | None, local: nn.Conv1d | None = None) -> torch.Tensor:
            """[k * in + conditions + local_channels, out]: the taps oldest first, then a bias row per
            condition id, then the local condition's 1x1 weights (zeros where a conv has none)."""
            bias = conv.bias.expand(conditions, -1) if table is None else conv.bias + table.weight
            local_rows = conv.weight.new_zeros(model.local_channels, conv.out_channels) if local is None \
                else local.weight[:, :, 0].t()
            return torch.cat([conv.flat_weight().t(), bias, local_rows])

        def output_matrix(conv: nn.Conv1d) -> torch.Tensor:
            """[dilation_channels + 1, out]: the weights for 2 * the gated unit, then the bias."""
            return torch.cat([0.5 * conv.weight[:, :, 0].t(), conv.bias[None]])

        self.layer_width = dilation_channels + 1  # a gated unit and its constant 1
        self.initial = self._array(conv_matrix(model.initial, None))
        self.convs = [self._array(conv_matrix(layer.dilated, layer.condition, layer.local) * gate_halved)
                      for layer in model.layers]
        self.residuals = [None if layer.residual is None else self._array(output_matrix(layer.residual))
                          for layer in model.layers]
        self.skip_matrix = self._array(torch.cat([output_matrix(layer.skip) for layer in model.layers]))
        self.embedding = self._array(model.embedding.weight)
        self.head = [(self._array(conv.weight[:, :, 0].t()), self._array(conv.bias[None])) for conv in model.head[1::2]]

    def _array(self, tensor: torch.Tensor):
        """A detached contiguous copy, as a numpy array for the numpy backend."""
        tensor = tensor.detach().clone(memory_format=torch.contiguous_format)
        return tensor.cpu().numpy() if self.backend == "numpy" else tensor

    def _zeros(self, *shape: int):
        return self._array(torch.zeros(shape, dtype=self.dtype, device=self.device))

    def _allocate(self) -> None:
        """The constant row of each sequence (its condition's one-hot), the scratch rows of a step,
        and the per-layer plan of the step: after a change of batch size or conditions too."""
        batch, layers, width = self.batch_size, len(self.model.layers), self.layer_width
        constant = torch.ones(batch, 1, dtype=self.dtype, device=self.device) if self.condition is None \
            else F.one_hot(self.condition, self.model.global_conditions).to(self.dtype)
        local = torch.zeros(batch, self.local_channels, dtype=self.dtype, device=self.device)
        self.constant = self._array(torch.cat([constant, local], 1))
        self.local_row = self.constant[:, self.global_width:]  # a view: the step's local condition
        self.gated = self._zeros(batch, layers * width)
        self.gated[:, width - 1::width] = 1.0  # met by the residual and skip biases
        self.skips = self._zeros(batch, self.skip_matrix.shape[1])
        self.residual_out = self._zeros(batch, self.model.embedding.embedding_dim)  # numpy's matmul output
        self.plan = []
        for index, weight in enumerate(self.convs):
            z = self._zeros(batch, weight.shape[1])
            half = weight.shape[1] // 2
            block = self.gated[:, index * width:(index + 1) * width]
            queue = self.queues[index + 1]
            following = self.queues[index + 2].slots if index + 2 < len(self.queues) else None
            self.plan.append((queue.slots, len(queue.slots), queue.offsets, weight, z, z[:, :half], z[:, half:],
                              block[:, :half], block, self.residuals[index], following,
                              len(following) if following else 0))

    def feed(self, tokens: torch.Tensor, local: torch.Tensor | None = None) -> torch.Tensor:
        """Consume samples [batch, time] (a primer of any length, then one new sample each) and
        return the logits [batch, vocab] of the sample that follows them. A locally conditioned
        model takes the condition vectors of these positions, local [batch, local_channels, time]."""
        if tokens.size(1) == 0:
            raise ValueError("feed needs at least one sample")
        self.model.check_local(local, tokens)
        if tokens.size(1) == 1:
            if local is not None:  # into the constant row, which every conv's matrix meets
                row = local[:, :, 0]
                if self.backend == "numpy":
                    self.local_row[:] = row.detach().cpu().numpy()
                else:
                    with torch.inference_mode(False), torch.no_grad():
                        self.local_row.copy_(row)
            if self.backend == "numpy":
                logits = torch.from_numpy(self._step_numpy(tokens.cpu().numpy()[:, 0]))
            else:
                with torch.inference_mode():
                    logits = self._step_torch(tokens[:, 0].to(self.device))
                logits = logits.clone()
            self.time += 1
            return logits  # a new tensor, which the caller may change in place
        with torch.inference_mode():
            past = [queue.history(self.time) for queue in self.queues]
            logits = self.model(tokens.to(self.device), self.condition, past,
                                None if local is None else local.to(self.device, self.dtype))[:, -1]
            for queue, history in zip(self.queues, past):
                queue.load(self.time + tokens.size(1), history)
        self.time += tokens.size(1)
        return logits.clone()  # an ordinary tensor, which the caller may change in place

    def _initial_inputs(self, x):
        """The initial conv's inputs at this time, oldest first, and the constant row."""
        queue = self.queues[0]
        return (*(queue.slots[(self.time - o) % len(queue.slots)] for o in queue.offsets), x, self.constant)

    def _step_torch(self, token: torch.Tensor) -> torch.Tensor:
        """One new sample [batch] through every layer: logits [batch, vocab]. Each layer's output
        goes straight into the next conv's queue slot for this time."""
        t, constant = self.time, self.constant
        first, second = self.queues[0].slots, self.queues[1].slots
        x = torch.index_select(self.embedding, 0, token, out=first[t % len(first)])
        torch.mm(torch.cat(self._initial_inputs(x), 1), self.initial, out=second[t % len(second)])
        for slots, n, offsets, weight, z, filter_, gate, gated, gated_1, residual, following, m in self.plan:
            x = slots[t % n]
            inputs = (slots[(t - offsets[0]) % n], x, constant) if len(offsets) == 1 else \
                (*(slots[(t - o) % n] for o in offsets), x, constant)
            torch.mm(torch.cat(inputs, 1), weight, out=z)
            z.tanh_()
            torch.addcmul(filter_, filter_, gate, out=gated)  # 2 tanh(f) sigmoid(g)
            if residual is not None:
                torch.addmm(x, gated_1, residual, out=following[t % m])
        (hidden_weight, hidden_bias), (logit_weight, logit_bias) = self.head
        skips = torch.mm(self.gated, self.skip_matrix, out=self.skips).relu_()
        return torch.addmm(logit_bias, torch.addmm(hidden_bias, skips, hidden_weight).relu_(), logit_weight)

    def _step_numpy(self, token: np.ndarray) -> np.ndarray:
        """`_step_torch` in numpy: the same ops, with a dot and an add where torch has addmm (np.dot
        with out= has the least overhead of numpy's matrix products)."""
        t, constant = self.time, self.constant
        first, second = self.queues[0].slots, self.queues[1].slots
        concatenate, dot, add, multiply, tanh = np.concatenate, np.dot, np.add, np.multiply, np.tanh
        x = np.take(self.embedding, token, axis=0, out=first[t % len(first)])
        dot(concatenate(self._initial_inputs(x), 1), self.initial, out=second[t % len(second)])
        residual_out = self.residual_out
        for slots, n, offsets, weight, z, filter_, gate, gated, gated_1, residual, following, m in self.plan:
            x = slots[t % n]
            inputs = (slots[(t - offsets[0]) % n], x, constant) if len(offsets) == 1 else \
                (*(slots[(t - o) % n] for o in offsets), x, constant)
            dot(concatenate(inputs, 1), weight, out=z)
            tanh(z, out=z)
            multiply(filter_, gate, out=gated)
            add(gated, filter_, out=gated)  # 2 tanh(f) sigmoid(g)
            if residual is not None:
                add(x, dot(gated_1, residual, out=residual_out), out=following[t % m])
        (hidden_weight, hidden_bias), (logit_weight, logit_bias) = self.head
        skips = dot(self.gated, self.skip_matrix, out=self.skips)
        np.maximum(skips, 0.0, out=skips)
        hidden = add(dot(skips, hidden_weight), hidden_bias)
        np.maximum(hidden, 0.0, out=hidden)
        logits = dot(hidden, logit_weight)
        return add(logits, logit_bias, out=logits)

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the batch rows `rows` [new_batch] (repeats allowed) of the state, in that order:
        beam search's reordering of its hypotheses."""
        with torch.inference_mode(False), torch.no_grad():
            rows = rows.to(self.device)
            queue_rows = rows.cpu().numpy() if self.backend == "numpy" else rows
            for queue in self.queues:
                queue.reorder(queue_rows)
            if self.condition is not None:
                self.condition = self.condition.index_select(0, rows)
            if rows.numel() != self.batch_size or self.condition is not None:
                self.batch_size = rows.numel()
                self._allocate()
