"""A sample-level LSTM on raw audio: musicrgan's regressor (a window of past samples -> the next
sample), rebuilt so that it can be trained, sampled and measured like SampleRNN and WaveNet.

**The model.** Each step reads the last `window` samples (dequantized to their companded value
on [-1, 1], the codec's grid) and takes `conv_channels` linear features of them with a causal
Conv1d of width `window` (so one pass over a training window gives every step its window's
features; a tanh on them cost about 0.3 bits per sample after 3 minutes on chorales-audio), then an LSTM
(`layers` of `hidden_size`) takes one step per sample on them, and a head reads its output and
predicts the next sample: a hidden layer of `head_size` ReLU units (0: none; it gained 0.3 bits
per sample in the same test, since a linear map of the LSTM's output can hardly put a sharp peak
at whatever level the waveform is near) then the output layer. Two heads:

* `mu-law` (the default): logits over the codec's `q_levels` levels, learned by cross-entropy, as
  WaveNet and SampleRNN are; so its bits per sample mean what theirs do.
* `mse` (musicrgan's): one number, the predicted companded value, learned by mean squared error
  against the target level's centre. To give it a likelihood and let the shared sampler draw from
  it, the number is read as the mean of a Gaussian of fixed std `mse_std` (companded units) put
  on the levels: logit_k = -(centre_k - mean)^2 / (2 mse_std^2). The Gaussian's NLL is
  MSE / (2 mse_std^2) + a constant, so minimizing the MSE maximizes it; the loss this model
  *reports* is the NLL of that Gaussian discretized to the levels (a softmax over those logits),
  in nats per sample, comparable with the mu-law head's cross-entropy, while its *gradient* is
  the MSE's (`loss = mse + (nll - mse).detach()`). Generating with argmax gives the regressed
  value itself (the level nearest it); sampling at temperature 1 adds Gaussian noise of std
  `mse_std` to it (temperature T: std mse_std * sqrt(T)). Measured after 3 minutes on
  chorales-audio: argmax generation from silence fell into a steady 2.7 kHz tone at -40 dBFS
  (loop score 1.0), musicrgan's whine, even with the window read correctly; a deterministic
  regressor settles into its own limit cycle. Sampled, it makes bright noise-like texture.

**A training window** is L + N samples s[0 .. L+N-1] with L = `window` (`lookback`): as the shared
trainer's (inputs, targets) = (s[:, :-1], s[:, 1:]), step j reads s[j .. j+L-1] and predicts
s[j+L], j = 0..N-1; the first L-1 targets are history and not scored, so seq_len = L + N - 1.
`loss_with_state` starts the LSTM from a carried state (truncated backpropagation through time):
the next window of a chunk starts N samples later and repeats the last L samples of this one as
its history (training/data.py `ChunkWindows` with `lookback`), so the LSTM sees states that have
run through a whole chunk, as in generation.

**Generation.** The stepper starts with L samples of silence (level q_levels // 2) in its window
and takes one LSTM step on them; then every sample it is fed goes into the window (a queue of the
last L samples it was fed: it never reads a position not yet written) and the LSTM takes one step
on the window's features. A primer goes through the conv and the LSTM in one pass; single samples
go through plain matrix products and `torch.lstm_cell`. Its logits equal the training forward's
over silence followed by the same samples (tested).

What musicrgan did wrong, and what this does instead: its generation read its input window ahead
of the position it wrote, so the model was fed values it had not made; it decimated the audio
without a low-pass filter (aliasing) and saved the result at the wrong rate; its whine was the
result. Here the stepper's window only holds what it was fed, the corpus reader resamples with
soxr, and clips are written at the codec's rate by the shared audio writer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HEADS = ("mu-law", "mse")


class SampleLSTM(nn.Module):
    """Window of past samples -> causal conv -> LSTM -> next sample (module docstring)."""

    def __init__(self, q_levels: int, window: int = 64, conv_channels: int = 64, hidden_size: int = 128,
                 layers: int = 1, head: str = "mu-law", head_size: int = 256, mse_std: float = 0.1,
                 dropout: float = 0.0):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, not {head!r}")
        if window < 1 or conv_channels < 1 or hidden_size < 1 or layers < 1 or head_size < 0 or q_levels < 2:
            raise ValueError("window, conv_channels, hidden_size and layers must be positive, head_size 0 or more, "
                             "q_levels at least 2")
        if not mse_std > 0:
            raise ValueError(f"mse_std must be above 0, not {mse_std}")
        self.q_levels, self.window, self.lookback = q_levels, window, window
        self.head_kind, self.mse_std = head, float(mse_std)
        self.conv = nn.Conv1d(1, conv_channels, kernel_size=window)
        self.lstm = nn.LSTM(conv_channels, hidden_size, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        out = q_levels if head == "mu-law" else 1
        self.head = nn.Sequential(nn.Linear(hidden_size, head_size), nn.ReLU(), nn.Linear(head_size, out)) \
            if head_size else nn.Sequential(nn.Linear(hidden_size, out))
        # the companded centre of every level, for the mse head's Gaussian over the levels
        self.register_buffer("centres", self.dequantize(torch.arange(q_levels)), persistent=False)

    def dequantize(self, samples: torch.Tensor) -> torch.Tensor:
        """Levels -> the companded centre of their level on [-1, 1] (the codec's grid)."""
        return samples.float() * (2.0 / (self.q_levels - 1)) - 1.0

    def features(self, values: torch.Tensor) -> torch.Tensor:
        """Companded values [B, T + L - 1] -> the features [B, T, conv_channels] of the T windows
        of L consecutive values in them (window j ends at value j + L - 1)."""
        return self.conv(values[:, None]).transpose(1, 2)

    def outputs(self, hidden: torch.Tensor) -> torch.Tensor:
        """LSTM outputs [..., hidden] -> the head: logits [..., q_levels] (mu-law) or the
        predicted companded value [...] (mse)."""
        out = self.head(self.dropout(hidden))
        return out if self.head_kind == "mu-law" else out.squeeze(-1)

    def gaussian_logits(self, mean: torch.Tensor) -> torch.Tensor:
        """The mse head's prediction [...] -> logits [..., q_levels] of a Gaussian of std mse_std
        around it, evaluated at the level centres (a softmax of them is its discretization)."""
        return -(self.centres - mean[..., None]).square() / (2.0 * self.mse_std ** 2)

    def forward(self, inputs: torch.Tensor, state=None):
        """inputs [B, L + N - 1] (the layout in the module docstring) -> the head's output for
        s[L:] ([B, N, q_levels] logits, or [B, N] means for mse), and the LSTM state after them."""
        if inputs.size(1) < self.window:
            raise ValueError(f"a window needs at least {self.window} samples, got {inputs.size(1)}")
        hidden, state = self.lstm(self.features(self.dequantize(inputs)), state)
        return self.outputs(hidden), state

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Mean nats per predicted sample (targets[:, L-1:]) of a window, from a zero state."""
        return self.loss_with_state(batch, None)[0]

    def loss_with_state(self, batch: tuple[torch.Tensor, ...], state=None):
        """Truncated BPTT: the loss of a window starting from `state` (None: zeros) and the
        detached state to pass with the next window of the same rows (N samples later). mu-law:
        cross-entropy. mse: the value is the discretized Gaussian's NLL, the gradient the MSE's."""
        inputs, targets = batch[0], batch[1]
        out, state = self(inputs, state)
        scored = targets[:, self.window - 1:]
        state = tuple(part.detach() for part in state)
        if self.head_kind == "mu-law":
            return F.cross_entropy(out.reshape(-1, out.size(-1)), scored.reshape(-1)), state
        mse = (out - self.dequantize(scored)).square().mean()
        logits = self.gaussian_logits(out)
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), scored.reshape(-1))
        return mse + (nll - mse).detach(), state

    def stepper(self, batch_size: int) -> SampleLSTMStepper:
        return SampleLSTMStepper(self, batch_size)


class SampleLSTMStepper:
    """Incremental generation: the window of the last L samples (a queue, in a buffer of ROWS
    columns that moves back to its start when full) and the LSTM state of `batch_size` outputs.
    Make it with the model in eval mode (dropout is not applied)."""

    ROWS = 4096  # buffer columns beyond the window (one copy back per ROWS samples)

    def __init__(self, model: SampleLSTM, batch_size: int):
        self.model, self.batch_size = model, batch_size
        with torch.inference_mode(False), torch.no_grad():  # a plain buffer, which the steps change in place
            self._start()

    def _start(self) -> None:
        model = self.model
        batch_size = self.batch_size
        lstm, window = model.lstm, model.window
        device = model.conv.weight.device
        self.conv_weight = model.conv.weight[:, 0].t().contiguous()          # [L, channels]
        self.conv_bias = model.conv.bias[None].clone()
        self.cells = [tuple(getattr(lstm, f"{name}_l{k}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                      for k in range(lstm.num_layers)]
        self.head = [(layer.weight.t().contiguous(), layer.bias[None].clone()) for layer in model.head
                     if isinstance(layer, nn.Linear)]
        silence = model.dequantize(torch.tensor(model.q_levels // 2))
        self.buffer = torch.full((batch_size, window + self.ROWS), float(silence), device=device)
        self.end = window  # the window is buffer[:, end - L : end]
        zeros = torch.zeros(batch_size, lstm.hidden_size, device=device)
        self.h, self.c = [zeros] * lstm.num_layers, [zeros] * lstm.num_layers
        self._step()   # the LSTM's step on the silent window (its logits are those of sample 0)

    def _window(self) -> torch.Tensor:
        return self.buffer[:, self.end - self.model.window:self.end]

    def _push(self, values: torch.Tensor) -> None:
        """Companded values [B, T] into the queue."""
        window, count = self.model.window, values.size(1)
        if self.end + count > self.buffer.size(1):   # move the window back to the start
            keep = self._window().clone()
            if window + count > self.buffer.size(1):
                self.buffer = torch.empty(self.batch_size, window + count + self.ROWS, device=self.buffer.device)
            self.buffer[:, :window] = keep
            self.end = window
        self.buffer[:, self.end:self.end + count] = values
        self.end += count

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        out = hidden
        for k, (weight, bias) in enumerate(self.head):
            out = torch.addmm(bias, out.relu() if k else out, weight)
        return out if self.model.head_kind == "mu-law" else self.model.gaussian_logits(out[:, 0])

    def _step(self) -> torch.Tensor:
        """One LSTM step on the current window: the logits of the sample after it."""
        x = torch.addmm(self.conv_bias, self._window(), self.conv_weight)
        for k, weights in enumerate(self.cells):
            self.h[k], self.c[k] = torch.lstm_cell(x, (self.h[k], self.c[k]), *weights)
            x = self.h[k]
        return self._head(x)

    @torch.no_grad()
    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Consume samples [B, t] (levels) and return the logits [B, q_levels] of the sample after
        them (a new tensor, which the caller may change)."""
        values = self.model.dequantize(tokens.to(self.buffer.device))
        if values.size(1) == 1:
            self._push(values)
            return self._step()
        # a primer: the features of the windows ending at each new sample, the LSTM over them at once
        window = self.model.window
        history = torch.cat([self._window()[:, 1:], values], 1) if window > 1 else values
        features = self.model.features(history)
        state = (torch.stack(self.h), torch.stack(self.c))
        hidden, (h, c) = self.model.lstm(features, state)
        self.h, self.c = list(h.unbind(0)), list(c.unbind(0))
        self._push(values)
        return self._head(hidden[:, -1])

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep (and duplicate) the given batch rows, for beam search."""
        with torch.inference_mode(False), torch.no_grad():
            rows = rows.to(self.buffer.device)
            self.buffer = self.buffer.index_select(0, rows)
            self.h = [h.index_select(0, rows) for h in self.h]
            self.c = [c.index_select(0, rows) for c in self.c]
            self.batch_size = rows.numel()

