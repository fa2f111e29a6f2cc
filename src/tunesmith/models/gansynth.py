"""GANSynth (Engel et al. 2019, "GANSynth: Adversarial Neural Audio Synthesis"), sized for a CPU: a
generator of whole notes as spectrograms (media/spectral.py: [batch, 2, frames, bins], channel 0
the log magnitude, channel 1 the instantaneous frequency in [-1, 1]) from a latent vector and a
pitch, and a discriminator (the critic of WGAN-GP) with an auxiliary pitch classifier.

The model, top to bottom (defaults: 64 frames x 128 mel bins, channels 128-64-32-16-8):

    generator      z [batch, z_size], pixel-normalized, concatenated with a one-hot pitch
                   -> dense to channels[0] maps of (frames / 16) x (bins / 16), pixel norm, leaky ReLU
                   -> a 3x3 conv at that size, then per later width: nearest-neighbour upsampling x2,
                      two 3x3 convs, each followed by pixel norm and leaky ReLU (0.2)
                   -> a 1x1 conv to 2 channels: the log magnitude as is; the IF channel a deviation
                      from the template's IF, at most IF_DEVIATION (tanh), the sum wrapped into [-1, 1)
                   The pitch's template (below) joins the input of the first conv of every width
                   and of the last 1x1 as two more channels.
    discriminator  a 1x1 conv from the 2 channels, then per width from the finest: two 3x3 convs
                   with leaky ReLU and a 2x2 average pool; at the coarsest size the minibatch
                   standard deviation as one more channel (in groups of consecutive samples), a 3x3
                   conv, and a dense layer to 1 + pitches outputs: the realness score and the pitch
                   logits (the auxiliary classifier)

The pitch template: the two channels of a steady harmonic tone at the pitch (all harmonics under
Nyquist at 1/k, through the codec's own spectrogram, its frames averaged: codecs/specgram.py,
`pitch_templates`), one [2, bins] row per pitch, averaged down to each width's bins. GANSynth
conditions on the one-hot pitch alone and learns over days on GPUs where each pitch's harmonics lie;
on a CPU budget of an hour the generator's notes stayed off pitch (0 of 16 within 50 cents after 30
minutes), so the template tells every layer where the pitch's harmonics are and what frequency they
carry, and the critic's pitch classifier still judges whether the notes play it. With the template
as an input only, the notes' harmonics fell in the right bands within 600 steps but their IF, which
sets the frequency within a band (a band of 31 Hz is a semitone at 260 Hz), drifted: pyin heard them
50-100 cents sharp. With a free deviation added to the template's IF, the notes were in tune at
step 400 (66% within 50 cents) and 80 cents flat at step 600: the critic does not hear a
deviation of a fraction of a band. So the deviation is bounded to IF_DEVIATION: pitch is held by
construction, the network shapes the magnitude (timbre, envelope, attack) and small movements of
the frequency; a vibrato wider than about 20 cents at middle C is out of its reach. The templates are
rebuilt from the codec with the model and not kept in checkpoints.

As GANSynth (after progressive GANs, Karras et al. 2018): pixel norm in the generator, no batch
norm anywhere (the WGAN-GP penalty is per sample), equalized learning rate (weights drawn from
N(0, 1) and scaled at run time by He's constant, so Adam's steps are alike for every layer), Adam
with beta1 = 0. Progressive growing is left out: the network is small enough to train at full
resolution from the start.

Contract with the Adversarial objective: `generator(z, pitch)` and `discriminator(specgrams)` are
modules (wrapped by DDP), `generate`, `discriminate`, `sample_z`, `pitches`.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

# Sized for a CPU: notes of 64 frames x 128 mel bins (Specgrams(length, bins=128) gives 64 frames
# for about 0.25 s at 16 kHz, or 1 s at 4 kHz), a 128-d latent, 61 pitches (GANSynth's MIDI 24-84).
# About 1.07 M weights in the generator (0.77 M of them its first dense layer, which costs little
# time) and 0.55 M in the discriminator. Widths halve as maps double (GANSynth: 256 down to 32), to
# 8 at full size, where the convolutions cost most: one training step of 16 notes (a discriminator
# step with the penalty's double backward, then a generator step) takes about 0.85 s on two cores;
# 16 channels at full size took 1.3 s, 32 took 4 s. `channels` runs from the coarsest maps to the
# finest, one x2 step per width after the first, so frames and bins must be multiples of
# 2^(len(channels) - 1).
DEFAULTS = {"frames": 64, "bins": 128, "z_size": 128, "pitches": 61, "channels": (128, 64, 32, 16, 8)}

SLOPE = 0.2  # leaky ReLU's negative slope (GANSynth, ProGAN)
GENERATE_CHUNK = 16  # notes per generator call when sampling (smaller batches use a CPU's caches better)
TEMPLATE_CHANNELS = 2  # a pitch's template: the log magnitude and the IF of a harmonic tone at it
# The most the generator's IF may move from the template's, in the IF's units (pi radians per hop):
# 0.05 is 3 Hz at 8 kHz with a hop of 64, 20 cents at middle C (see the module's docstring)
IF_DEVIATION = 0.05


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each position's feature vector scaled to unit root mean square (over dim 1)."""
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """x [batch, C, H, W] with one more channel: the mean standard deviation of the features over
    each group of consecutive samples (the group size is gcd(group, batch), so a batch made of equal
    parts, real then fake, never mixes them in one group)."""
    size = math.gcd(group, len(x))
    grouped = x.view(-1, size, *x.shape[1:])
    std = torch.sqrt(grouped.var(1, unbiased=False) + 1e-8).mean((1, 2, 3))  # [batch / size]
    feature = std.repeat_interleave(size).view(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
    return torch.cat([x, feature], 1)


class ScaledConv(nn.Conv2d):
    """A conv with equalized learning rate: weights N(0, 1) times sqrt(gain / fan_in) at run time."""

    def __init__(self, inputs: int, outputs: int, kernel: int, gain: float = 2.0):
        super().__init__(inputs, outputs, kernel, padding=kernel // 2)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = math.sqrt(gain / (inputs * kernel * kernel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.scale, self.bias)


class ScaledLinear(nn.Linear):
    """A dense layer with equalized learning rate."""

    def __init__(self, inputs: int, outputs: int, gain: float = 2.0):
        super().__init__(inputs, outputs)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = math.sqrt(gain / inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class Generator(nn.Module):
    def __init__(self, frames: int, bins: int, z_size: int, pitches: int, channels: tuple[int, ...],
                 templates: torch.Tensor | None = None):
        super().__init__()
        self.pitches, self.channels = pitches, tuple(channels)
        steps = len(channels) - 1
        self.base = (frames >> steps, bins >> steps)
        self.dense = ScaledLinear(z_size + pitches, channels[0] * self.base[0] * self.base[1],
                                  gain=2.0 / 16)  # ProGAN's first layer: gain sqrt(2) / 4
        extra = TEMPLATE_CHANNELS
        self.first = ScaledConv(channels[0] + extra, channels[0], 3)
        self.blocks = nn.ModuleList(nn.ModuleList([ScaledConv(a + extra, b, 3), ScaledConv(b, b, 3)])
                                    for a, b in itertools.pairwise(channels))
        self.to_specgram = ScaledConv(channels[-1] + extra, 2, 1, gain=1.0)
        # each pitch's template, [pitches, 2, bins] (see the module's docstring); rebuilt from the
        # codec with the model, so not kept in checkpoints
        table = torch.zeros(pitches, TEMPLATE_CHANNELS, bins) if templates is None else templates.float()
        if table.shape != (pitches, TEMPLATE_CHANNELS, bins):
            raise ValueError(f"pitch templates of shape {tuple(table.shape)}, not {(pitches, TEMPLATE_CHANNELS, bins)}")
        self.register_buffer("templates", table, persistent=False)

    def with_template(self, x: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        """x [batch, C, H, W] with the pitch template [batch, 2, 1, bins], averaged down to W bins
        and repeated over the H frames, as two more channels."""
        width = x.shape[-1]
        scaled = F.avg_pool2d(template, (1, template.shape[-1] // width)) if template.shape[-1] != width else template
        return torch.cat([x, scaled.expand(-1, -1, x.shape[2], -1)], 1)

    def forward(self, z: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        """z [batch, z_size], pitch indices [batch] -> specgrams [batch, 2, frames, bins]."""
        pitch = pitch.long()
        one_hot = F.one_hot(pitch, self.pitches).to(z.dtype)
        template = self.templates[pitch].unsqueeze(2).to(z.dtype)  # [batch, 2, 1, bins]
        x = self.dense(torch.cat([pixel_norm(z), one_hot], 1)).view(len(z), self.channels[0], *self.base)
        x = pixel_norm(F.leaky_relu(x, SLOPE))
        x = pixel_norm(F.leaky_relu(self.first(self.with_template(x, template)), SLOPE))
        for first, second in self.blocks:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = pixel_norm(F.leaky_relu(first(self.with_template(x, template)), SLOPE))
            x = pixel_norm(F.leaky_relu(second(x), SLOPE))
        out = self.to_specgram(self.with_template(x, template))
        # the IF as the template's plus a bounded deviation, wrapped into [-1, 1) (a phase advance
        # over pi is circular): the notes stay at their pitch, the deviation colours them
        deviation = IF_DEVIATION * torch.tanh(out[:, 1])
        frequency = torch.remainder(template[:, 1] + deviation + 1.0, 2.0) - 1.0
        return torch.stack([out[:, 0], frequency], 1)


class Discriminator(nn.Module):
    def __init__(self, frames: int, bins: int, pitches: int, channels: tuple[int, ...]):
        super().__init__()
        steps = len(channels) - 1
        widths = tuple(reversed(channels))  # finest first
        self.from_specgram = ScaledConv(2, widths[0], 1)
        self.blocks = nn.ModuleList(nn.ModuleList([ScaledConv(a, a, 3), ScaledConv(a, b, 3)])
                                    for a, b in itertools.pairwise(widths))
        self.last = ScaledConv(widths[-1] + 1, widths[-1], 3)
        self.head = ScaledLinear(widths[-1] * (frames >> steps) * (bins >> steps), 1 + pitches, gain=1.0)

    def forward(self, specgrams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """specgrams [batch, 2, frames, bins] -> (score [batch], pitch logits [batch, pitches])."""
        x = F.leaky_relu(self.from_specgram(specgrams), SLOPE)
        for convs in self.blocks:
            for conv in convs:
                x = F.leaky_relu(conv(x), SLOPE)
            x = F.avg_pool2d(x, 2)
        x = F.leaky_relu(self.last(minibatch_stddev(x)), SLOPE)
        out = self.head(x.flatten(1))
        return out[:, 0], out[:, 1:]


class GANSynth(nn.Module):
    """The generator and the discriminator of GANSynth; see the module's docstring."""

    def __init__(self, frames: int = DEFAULTS["frames"], bins: int = DEFAULTS["bins"],
                 z_size: int = DEFAULTS["z_size"], pitches: int = DEFAULTS["pitches"],
                 channels: tuple[int, ...] = DEFAULTS["channels"], templates: torch.Tensor | None = None):
        super().__init__()
        steps = len(channels) - 1
        if frames % (1 << steps) or bins % (1 << steps):
            raise ValueError(f"frames ({frames}) and bins ({bins}) must be multiples of {1 << steps} "
                             f"for {len(channels)} channel widths")
        self.frames, self.bins, self.z_size, self.pitches = frames, bins, z_size, pitches
        self.generator = Generator(frames, bins, z_size, pitches, tuple(channels), templates)
        self.discriminator = Discriminator(frames, bins, pitches, tuple(channels))

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent vectors from N(0, I), drawn with `generator` (None: torch's global one)."""
        device = next(self.parameters()).device
        drawn_on = generator.device if generator is not None else device
        return torch.randn(n, self.z_size, generator=generator, device=drawn_on).to(device)

    def generate(self, z: torch.Tensor, pitch_index: torch.Tensor) -> torch.Tensor:
        """Spectrograms [batch, 2, frames, bins] of notes at pitch indices [batch], for sampling:
        GENERATE_CHUNK notes at a time through the generator (on 2 CPU cores, 64 notes took 0.93 s
        in one call and 0.37 s in four: the activations of 16 notes stay in the caches)."""
        return torch.cat([self.generator(z[i: i + GENERATE_CHUNK], pitch_index[i: i + GENERATE_CHUNK])
                          for i in range(0, len(z), GENERATE_CHUNK)])

    def discriminate(self, specgrams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(realness score [batch], pitch logits [batch, pitches])."""
        return self.discriminator(specgrams)
