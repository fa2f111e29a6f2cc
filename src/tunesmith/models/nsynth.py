"""The NSynth WaveNet autoencoder (Engel et al. 2017, "Neural Audio Synthesis of Musical Notes with
WaveNet Autoencoders"): a non-causal WaveNet-like encoder turns a note into a slow, small temporal
code, which conditions a WaveNet decoder that writes the note again sample by sample.

    samples [batch, time] (mu-law levels)  --as companded values in [-1, 1]-->
    encoder: conv (filter_width) -> layers x [ReLU -> dilated non-causal conv (filter_width,
             dilation 2**i, "same" padding) -> ReLU -> 1x1, added to its input]
             -> 1x1 to code_size -> average pool over each frame of `hop` samples
    code [batch, code_size, frames]                    (16 numbers every 32 ms by default)
      -> repeated `hop` times (nearest upsampling to the sample rate)
      -> the local condition of a WaveNet decoder (models/wavenet.py): through a 1x1 conv per
         layer into the filter and the gate of every dilated layer

The decoder predicts sample t from the samples before it and the code at t: its input at t is
sample t - 1 (silence before the first), so a note of `time` samples is `time` predictions, all
scored (`loss`); generation feeds silence, then each sample drawn, with the code of the frame
it lies in, through the decoder's fast stepper (conv queues: O(layers) per sample, `stepper`).
A note is encoded whole, padded with silence to whole frames (`frames`); training scores a random
window of the decoder's output (`loss`), validation whole notes.

The paper's model (16 kHz, 30 encoder layers of 128 channels, 30 decoder layers of 512, a code of
16 every 512 samples) takes days on GPUs; the recipe's defaults are a CPU-sized cut (8 kHz, 10
encoder layers of 32 channels, 20 decoder layers of 32, the same 16 numbers every 32 ms).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.models.wavenet import WaveNet, WaveNetStepper


class EncoderLayer(nn.Module):
    """ReLU -> dilated conv that sees both sides ("same" padding) -> ReLU -> 1x1, added to the input."""

    def __init__(self, channels: int, filter_width: int, dilation: int):
        super().__init__()
        self.dilated = nn.Conv1d(channels, channels, filter_width, dilation=dilation,
                                 padding=dilation * (filter_width - 1) // 2)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.relu(self.dilated(F.relu(x))))


class Encoder(nn.Module):
    """Samples [batch, time] as companded values in [-1, 1] -> code [batch, code_size, time // hop]."""

    def __init__(self, channels: int, layers: int, filter_width: int, code_size: int, hop: int):
        super().__init__()
        if filter_width % 2 == 0:
            raise ValueError("the encoder's filter_width must be odd (it sees as far back as ahead)")
        self.hop = hop
        self.dilations = [2 ** i for i in range(layers)]
        self.initial = nn.Conv1d(1, channels, filter_width, padding=(filter_width - 1) // 2)
        self.layers = nn.ModuleList(EncoderLayer(channels, filter_width, d) for d in self.dilations)
        self.code = nn.Conv1d(channels, code_size, 1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.initial(audio[:, None])
        for layer in self.layers:
            x = layer(x)
        return F.avg_pool1d(self.code(x), self.hop)


class NSynth(nn.Module):
    """The autoencoder: `encode` (levels -> code), `upsample` (code -> one vector a sample), the
    decoder (a locally conditioned WaveNet), `loss` and `stepper`."""

    def __init__(self, q_levels: int, hop: int, code_size: int = 16, encoder_channels: int = 32,
                 encoder_layers: int = 10, encoder_filter_width: int = 3, residual_channels: int = 32,
                 dilation_channels: int = 32, skip_channels: int = 64, filter_width: int = 2,
                 layers_per_block: int = 10, blocks: int = 2, mixtures: int = 0,
                 input_noise: float = 0.0):
        super().__init__()
        self.q_levels, self.hop, self.code_size, self.mixtures = q_levels, hop, code_size, mixtures
        self.silence = q_levels // 2  # the quantizer's level of 0.0 (codecs/quantize.py)
        self.encoder = Encoder(encoder_channels, encoder_layers, encoder_filter_width, code_size, hop)
        self.decoder = WaveNet(q_levels, residual_channels, dilation_channels, skip_channels, filter_width,
                               layers_per_block, blocks, local_channels=code_size,
                               out_channels=3 * mixtures if mixtures else None, scalar_input=bool(mixtures),
                               input_noise=input_noise)

    def frames(self, samples: int) -> int:
        """Code frames of a sound of this many samples (the last frame padded with silence)."""
        return math.ceil(samples / self.hop)

    def encode(self, levels: torch.Tensor) -> torch.Tensor:
        """Levels [batch, time] (time a whole number of frames) -> code [batch, code_size, frames]."""
        if levels.size(1) % self.hop:
            raise ValueError(f"encode takes whole frames of {self.hop} samples, not {levels.size(1)}")
        return self.encoder(levels.float() * (2.0 / (self.q_levels - 1)) - 1.0)

    def upsample(self, code: torch.Tensor) -> torch.Tensor:
        """code [batch, code_size, frames] -> [batch, code_size, frames * hop]: each frame held."""
        return code.repeat_interleave(self.hop, dim=2)

    def decoder_inputs(self, levels: torch.Tensor) -> torch.Tensor:
        """The decoder's inputs for levels [batch, time]: silence, then every sample but the last."""
        return F.pad(levels[:, :-1], (1, 0), value=self.silence)

    def forward(self, inputs: torch.Tensor, notes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Logits [batch, window, levels] of a window of each note: decoder inputs [batch, window]
        taken at `offsets` [batch] of the notes [batch, time], conditioned on the whole notes' codes."""
        local = self.upsample(self.encode(notes))
        index = (offsets[:, None] + torch.arange(inputs.size(1), device=inputs.device))[:, None]
        window = local.gather(2, index.expand(-1, self.code_size, -1))
        return self.decoder(inputs, local=window)

    def loss(self, batch: tuple) -> torch.Tensor:
        """Mean cross-entropy in nats per sample of a batch (decoder inputs, targets [batch,
        window], notes [batch, time], offsets [batch]) (training.data.NSynthWindows): each target
        predicted from the samples before it and the code of its whole note."""
        inputs, targets, notes, offsets = batch
        out = self(inputs, notes, offsets)
        if self.mixtures:
            return -mixture_log_prob(out, targets, self.q_levels).mean()
        return F.cross_entropy(out.transpose(1, 2), targets)

    def level_logits(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's output [..., channels] as logits over the levels [..., q_levels]."""
        return mixture_level_logits(out, self.q_levels) if self.mixtures else out

    def stepper(self, batch_size: int, backend: str | None = None):
        """The decoder's fast stepper (models/wavenet.py): feed(levels [batch, 1], local [batch,
        code_size, 1]) -> logits [batch, levels] of the next sample."""
        return WaveNetStepper(self.decoder, batch_size, backend=backend)


def mixture_terms(out: torch.Tensor, values: torch.Tensor, q_levels: int) -> torch.Tensor:
    """log(weight_k) + log P_k(bin of each value) [..., k] of a discretized mixture of logistics
    (PixelCNN++, Salimans et al. 2017) over q_levels bins of width 2 / (q_levels - 1) covering
    [-1, 1]: out [..., 3k] (weight logits, means, log scales), values [...] or [..., n] broadcast
    against it. The end bins take the tails."""
    logits, means, log_scales = out.chunk(3, dim=-1)
    log_scales = log_scales.clamp(min=-7.0)
    centered, inverse = values[..., None] - means, torch.exp(-log_scales)
    half = 1.0 / (q_levels - 1)
    upper, lower = inverse * (centered + half), inverse * (centered - half)
    log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper): the first bin's mass
    log_survival_lower = -F.softplus(lower)  # log (1 - sigmoid(lower)): the last bin's mass
    delta = torch.sigmoid(upper) - torch.sigmoid(lower)
    middle = inverse * centered  # where delta underflows: the density at the bin's centre times its width
    log_density = middle - log_scales - 2.0 * F.softplus(middle) + math.log(2.0 * half)
    log_bin = torch.where(delta > 1e-5, torch.log(delta.clamp(min=1e-12)), log_density)
    log_bin = torch.where(values[..., None] < -1.0 + half, log_cdf_upper,
                          torch.where(values[..., None] > 1.0 - half, log_survival_lower, log_bin))
    return log_bin + F.log_softmax(logits, dim=-1)


def mixture_log_prob(out: torch.Tensor, levels: torch.Tensor, q_levels: int) -> torch.Tensor:
    """log P(level) [...] of levels [...] under the mixtures out [..., 3k]."""
    values = levels.to(out.dtype) * (2.0 / (q_levels - 1)) - 1.0
    return torch.logsumexp(mixture_terms(out, values, q_levels), dim=-1)


def mixture_level_logits(out: torch.Tensor, q_levels: int) -> torch.Tensor:
    """Log probabilities of every level [..., q_levels] under the mixtures out [..., 3k]."""
    values = torch.linspace(-1.0, 1.0, q_levels, device=out.device, dtype=out.dtype)
    return torch.logsumexp(mixture_terms(out[..., None, :], values, q_levels), dim=-1)
