"""A recurrent GAN over raw audio (the musicrgan project's idea, done so that training can be
watched): an LSTM generator that turns a sequence of noise vectors into a waveform, one frame of
samples per step, and an LSTM critic that scores a clip of real or generated audio. It is trained
by the adversarial objective (training/objectives.py `Adversarial`: WGAN-GP, unconditioned).

The model, top to bottom (defaults: frames of 64 samples, 250 a second at 16 kHz):

    generator      per frame a noise vector (noise_size, fresh at every step) and the clip's latent
                   vector (z_size, the same at every step: what the clip is like as a whole), the two
                   concatenated -> an LSTM (layers x hidden) -> with the frame's noise again, a
                   dense layer to frame_size samples -> tanh: each step writes the next frame of
                   the waveform, in (-1, 1) (or, with `overlap`, two frames cross-faded with the
                   next step's: see `Generator`)
    discriminator  the clip cut into the same frames; each frame's samples, with the log magnitude
                   spectrum of a Hann window of two frames centred on it (critic_spectrum: the
                   critic hears pitch and timbre without first learning a Fourier transform) -> a
                   dense layer with leaky ReLU -> an LSTM, bidirectional by default -> one score
                   per frame, averaged over the clip: one score per clip

The original (musicrgan) ended its generator in a sigmoid, so its waveform lay in (0, 1), all DC
offset, and trained the standard GAN loss, whose discriminator loss says nothing of how close the
generated audio is; it made "crowd noises" and no way to tell how training went. Here the output is
tanh (audio is centred on 0), the loss is WGAN-GP, whose critic estimate falls as the clips improve,
and validation compares generated and held-out audio by statistics no critic judges (objectives.py).

No batch norm anywhere: the gradient penalty treats each clip on its own. The generator's LSTM runs
any number of steps, so a clip of any length is one frame per noise step, and it is generated in
blocks with its state carried (`stream`), so a long clip costs no more memory than a short one.

Contract with the Adversarial objective (unconditioned: `conditioned` is False): `real(batch)`
decodes a batch of quantized windows (training.data.ChunkWindows: inputs, targets) to float
waveforms; `sample_z(n, generator, length)` draws the noise for n clips of `length` samples;
`generator(z)` and `discriminator(audio)` are modules (wrapped by DDP), the latter giving scores
[batch]; `penalty_options` are what the critic's call for the gradient penalty passes it (a
double backward through the LSTM: see `Discriminator.forward`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.2  # leaky ReLU's negative slope in the critic
SPECTRUM_FLOOR = 1e-4  # added to the squared magnitude before the log: the critic's input stays finite
# and its gradient bounded (at most 1 / (2 sqrt(floor)) per unit of magnitude) for near-silent frames
BLOCK_FRAMES = 256  # frames generated per block when streaming; the noise of a block is drawn whole,
# so a clip made with a seed begins as every longer clip made with that seed does


def lstm_by_steps(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """The output of `lstm` (batch_first, zero initial state) on x [batch, time, features], computed
    step by step from its weights with plain tensor operations. The same numbers as `lstm(x)[0]`,
    but twice differentiable on every device: cuDNN's LSTM has no double backward, which the
    gradient penalty needs (the gradient of the critic's score with respect to its input is itself
    differentiated). Slower than the fused kernel, so used for the penalty's call only."""
    directions = 2 if lstm.bidirectional else 1
    for layer in range(lstm.num_layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            w_ih, w_hh = getattr(lstm, f"weight_ih{suffix}"), getattr(lstm, f"weight_hh{suffix}")
            gates_in = F.linear(x, w_ih, getattr(lstm, f"bias_ih{suffix}") if lstm.bias else None)
            if lstm.bias:
                gates_in = gates_in + getattr(lstm, f"bias_hh{suffix}")
            h = x.new_zeros(len(x), lstm.hidden_size)
            c = x.new_zeros(len(x), lstm.hidden_size)
            steps = range(x.shape[1] - 1, -1, -1) if direction else range(x.shape[1])
            hs = [None] * x.shape[1]
            for t in steps:
                i, f, g, o = (gates_in[:, t] + h @ w_hh.T).chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                hs[t] = h
            outputs.append(torch.stack(hs, 1))
        x = torch.cat(outputs, -1) if directions == 2 else outputs[0]
    return x


def fused_lstm_twice_differentiable(device: torch.device) -> bool:
    """Whether torch's own LSTM on this device has a double backward: the CPU's has, cuDNN's has
    not, and MPS's is not known to."""
    return device.type == "cpu"


class Generator(nn.Module):
    """Noise [batch, frames, noise_size + z_size] -> waveform [batch, frames * frame_size] in (-1, 1).

    Each step's frame is a dense layer of the LSTM's output and of the frame's own noise vector.
    The LSTM alone, at the start of training, settles on nearly the same output at every step: the
    same frame written again and again, a buzz at the frame rate (250 Hz for frames of 64 at 16
    kHz) that the generator then has to unlearn. Measured on chorales-audio after 3 minutes on two
    busy CPU cores (lr 3e-4, stft_weight 1): without the noise reaching the frame, 94% of the
    clips' energy was that repeated frame and the Frechet distance of their log-mel frames to
    held-out audio was 5,300 dB^2; with it (noise_size 32), 33% and 3,400; at lr 1e-3, 6% and
    2,900 (held-out audio against training audio: 620; white noise at the corpus's level: 20,400).
    For the same reason the dense layer has no bias: a bias is one fixed frame added at every step.
    `overlap` made no difference there (3,400). With
    `overlap`, each step writes two frames' worth of samples through a periodic Hann window,
    overlapped and added at a hop of one frame (the windows sum to 1, so the waveform stays in
    (-1, 1)): consecutive frames cross-fade, with no edge between them; the clip's first half frame
    fades in from silence."""

    def __init__(self, frame_size: int, noise_size: int, z_size: int, hidden: int, layers: int,
                 overlap: bool = False):
        super().__init__()
        self.frame_size, self.noise_size, self.overlap = frame_size, noise_size, overlap
        self.lstm = nn.LSTM(noise_size + z_size, hidden, layers, batch_first=True)
        self.to_frame = nn.Linear(hidden + noise_size, frame_size * (2 if overlap else 1), bias=False)
        self.register_buffer("window", torch.hann_window(2 * frame_size, periodic=True), persistent=False)

    def run(self, z: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """(waveform of z's frames, the state after them: the LSTM's and, with `overlap`, the
        second half of the last step's window, still to be added): for generation in blocks."""
        lstm_state, tail = state if state is not None else (None, None)
        out, lstm_state = self.lstm(z, lstm_state)
        out = torch.cat([out, z[..., :self.noise_size]], -1)  # the frame's own noise (see the docstring)
        frames = torch.tanh(self.to_frame(out))  # [batch, steps, frame_size (x 2 with overlap)]
        if not self.overlap:
            return frames.flatten(1), (lstm_state, None)
        windowed = frames * self.window
        first, second = windowed[..., :self.frame_size], windowed[..., self.frame_size:]
        if tail is None:
            tail = torch.zeros_like(second[:, 0])
        previous = torch.cat([tail[:, None], second[:, :-1]], 1)
        return (first + previous).flatten(1), (lstm_state, second[:, -1])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.run(z)[0]


class Discriminator(nn.Module):
    """Waveform [batch, samples] (whole frames) -> realness score [batch] (the WGAN critic)."""

    def __init__(self, frame_size: int, hidden: int, layers: int, bidirectional: bool, spectrum: bool):
        super().__init__()
        self.frame_size, self.spectrum = frame_size, spectrum
        features = frame_size + (frame_size + 1 if spectrum else 0)
        self.embed = nn.Linear(features, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True, bidirectional=bidirectional)
        self.score = nn.Linear(hidden * (2 if bidirectional else 1), 1)
        self.register_buffer("window", torch.hann_window(2 * frame_size, periodic=True), persistent=False)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """[batch, frames, features]: each frame's samples and, with `spectrum`, the log magnitude
        of a Hann window of two frames centred on it (the clip padded with half a frame of zeros at
        each end)."""
        frames = audio.unflatten(1, (-1, self.frame_size))
        if not self.spectrum:
            return frames
        half = self.frame_size // 2
        padded = F.pad(audio, (half, 2 * self.frame_size - half))
        windows = padded.unfold(1, 2 * self.frame_size, self.frame_size)[:, :frames.shape[1]]
        spectrum = torch.fft.rfft(windows * self.window, dim=-1)
        # |X| through real and imaginary parts plus a floor: differentiable twice, also at 0
        power = spectrum.real.square() + spectrum.imag.square()
        return torch.cat([frames, 0.5 * torch.log(power + SPECTRUM_FLOOR)], -1)

    def forward(self, audio: torch.Tensor, twice_differentiable: bool = False) -> torch.Tensor:
        """Scores [batch]. With `twice_differentiable` (the gradient penalty's call) on a device
        whose LSTM kernel has no double backward, the LSTM runs step by step (`lstm_by_steps`); the
        CPU's own kernel already has one."""
        x = F.leaky_relu(self.embed(self.features(audio)), SLOPE)
        if twice_differentiable and not fused_lstm_twice_differentiable(x.device):
            out = lstm_by_steps(self.lstm, x)
        else:
            out = self.lstm(x)[0]
        return self.score(out).squeeze(-1).mean(1)


class RecurrentGAN(nn.Module):
    """The generator and the critic of the recurrent GAN; see the module's docstring. `levels` is
    the codec's table from quantization level to sample value (a buffer rebuilt from the codec, not
    saved), by which `real` decodes training windows."""

    conditioned = False  # no pitch or style: the Adversarial objective has no classifier term
    penalty_options = {"twice_differentiable": True}

    def __init__(self, levels: torch.Tensor, frame_size: int = 64, noise_size: int = 32, z_size: int = 32,
                 hidden: int = 256, layers: int = 2, critic_hidden: int = 128, critic_layers: int = 1,
                 bidirectional: bool = True, critic_spectrum: bool = True, overlap: bool = False):
        super().__init__()
        if frame_size < 2 or frame_size % 2:
            raise ValueError(f"frame_size must be an even number of samples, got {frame_size}")
        self.frame_size, self.noise_size, self.z_size = frame_size, noise_size, z_size
        self.generator = Generator(frame_size, noise_size, z_size, hidden, layers, overlap)
        self.discriminator = Discriminator(frame_size, critic_hidden, critic_layers, bidirectional, critic_spectrum)
        self.register_buffer("levels", levels.float(), persistent=False)

    def device(self) -> torch.device:
        return self.levels.device

    def real(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The real clips of a batch of quantized windows (inputs, targets[, ...]): the inputs'
        levels as float samples [batch, samples], cut to whole frames."""
        levels = batch[0]
        whole = levels.shape[1] // self.frame_size * self.frame_size
        return self.levels[levels[:, :whole].long()]

    def frames(self, length: int) -> int:
        """Generator steps that make `length` samples (the last frame cut where it runs over)."""
        return -(-length // self.frame_size)

    def sample_z(self, n: int, generator: torch.Generator | None = None, length: int = 0) -> torch.Tensor:
        """The generator's input for n clips of `length` samples [n, frames, noise_size + z_size]: a
        fresh noise vector per frame and one latent vector per clip, repeated at every frame, all
        N(0, I), drawn with `generator` (None: torch's global one) on its device."""
        drawn_on = generator.device if generator is not None else self.device()
        frames = self.frames(length)
        z = torch.randn(n, 1, self.z_size, generator=generator, device=drawn_on).expand(-1, frames, -1)
        noise = torch.randn(n, frames, self.noise_size, generator=generator, device=drawn_on)
        return torch.cat([noise, z], -1).to(self.device())

    @torch.no_grad()
    def stream(self, n: int, length: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """n clips of `length` samples, yielded in blocks [n, <= BLOCK_FRAMES * frame_size] as the
        generator's LSTM makes them, its state carried from block to block. The noise comes from
        `generator` (its device: the CPU for the same clips on any device): the clips' latent
        vectors first, then each block's noise, drawn whole (BLOCK_FRAMES frames) even for a last
        block that uses less, so that a clip's beginning does not depend on its length."""
        device = self.device()
        z = torch.randn(n, 1, self.z_size, generator=generator, device=generator.device)
        state, left = None, length
        while left > 0:
            noise = torch.randn(BLOCK_FRAMES, n, self.noise_size, generator=generator, device=generator.device)
            steps = min(BLOCK_FRAMES, self.frames(left))
            inputs = torch.cat([noise[:steps].transpose(0, 1), z.expand(-1, steps, -1)], -1).to(device)
            audio, state = self.generator.run(inputs, state)
            audio = audio[:, :left]
            left -= audio.shape[1]
            yield audio

    def generate(self, n: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """n whole clips [n, length] (see `stream`), for short clips (previews, eval)."""
        return torch.cat(list(self.stream(n, length, generator)), 1)
