"""An LSTM that predicts the next short-time spectrum of a recording from the ones before it (after
Padmaja Bhagwat's next-FFT-chunk LSTM, as musicrgan had it), made to work: its frames are
Hann-windowed and overlap, so that they can be added back together without a click at every frame
boundary, and each frame is read as log magnitude and instantaneous frequency, which a network
can predict, rather than as raw FFT values, whose phases it cannot.

**Frames** (`Frames`). Frame j holds samples [j * hop, j * hop + fft_size) times a periodic Hann
window; its real FFT has bins = fft_size / 2 + 1 bins (DC and Nyquist kept, so the round trip is
exact). Its features, [2 * bins] per frame:

* log magnitude, log(|X| / sum(window) + FLOOR): a full-scale sine's bin reads about log 0.5, and
  FLOOR (1e-5, -100 dB) keeps silence finite;
* instantaneous frequency as a deviation: the phase advance of each bin since the frame before,
  less the advance of a sine at the bin's centre frequency (2 pi k hop / fft_size), wrapped to
  [-pi, pi) and divided by pi. A steady tone at a bin's centre reads 0 whatever the bin, so the
  network sees the same number for the same steadiness in every bin (the plain phase difference
  that media/spectral.py gives GANSynth cycles with the bin number instead). The first frame of a
  recording reads its own phase (as if the frame before had phase minus one advance).

The wrapped difference is computed directly from the two frames' phases: media/spectral.py's
route (unwrap the phase along time, then difference) suits GANSynth's 1-second notes, but over a
recording the unwrapped phase grows to hundreds of thousands of radians and float32 loses digits
(up to 0.004 rad at 7.8 kHz after 3 minutes, measured), where the direct difference stays within
1e-6.

**Back to a waveform** (`Synthesis`): each frame's phase is the last one's plus its advance
(pi x deviation + the centre advance, wrapped at every frame, so nothing grows); the inverse FFT
is windowed again and overlap-added, and the sum is divided by the window's summed squares over
one hop (the weighted overlap-add, exact where frames overlap fully). Frames come in one block at
a time, so a clip of any length is made with a buffer of fft_size - hop samples; the first
fft_size - hop samples of a stream are covered by fewer frames and fade in.

**The model** (`FFTLSTM`): a linear layer, an LSTM stack and a linear head read the frames one
after another and predict the next frame as a change of the last one (the head starts at zero:
an untrained model repeats the last frame, which is the baseline it has to beat). Its loss
(`loss_terms`) is not a likelihood:

* the mean absolute error of the log magnitudes (L1: the median of what may come next, robust to
  the onsets no model can foresee; log, so quiet partials count as well as loud ones; in dB it is
  8.7 times that), plus
* `phase_weight` times the wrapped error of the instantaneous frequency, 1 - cos(pi x error),
  weighted by the target bin's share of its frame's magnitude: a frequency is an angle (a
  prediction of 0.99 for -0.99 is nearly right), and the phase of a bin without energy is noise
  that no loss should chase.

The original's mean squared error on raw FFT values has its optimum near zero for every phase the
network cannot foresee exactly, which is why it made noise.

**Training windows** (`window_samples`) come from the shared audio chunk windows: a window of
fft_size + (context + 1) x hop samples holds context + 2 frames, the first only as the phase
reference of the second; the LSTM reads `context` frames and predicts the `context` frames after
each. With `carry_state`, the chunks are read from start to end, each window repeating the last
fft_size + hop samples of the one before, and the LSTM state is carried from window to window
(truncated backpropagation through `context` frames), as generation carries it over a whole clip;
without, each window starts from a zero state, as the original read ten frames at a time.

**Rollout** (`rollout` N, `predict_window`): in training, the last N predictions of a window are
each made from the model's own prediction before it, fed back as generation feeds it, and scored
against the true frames, so that the model learns to keep its own output on course. Trained on
true frames alone (teacher forcing), its small errors compound in generation: on the chorales,
after 5 minutes of training on a CPU, the continuation of a 3-second chorale excerpt (-24 dBFS,
spectral centroid 0.86 kHz) rose to -2 dBFS and 2.8 kHz within 4 seconds; with 9 of 10 frames
rolled out it held at -15 dBFS and 0.65 kHz, though as a smeared chord rather than music. The
price is the one-step loss, which teacher forcing lowers more (0.476 against 0.535; repeating
the last frame scores 0.536). Validation reads true frames (one-step predictions), comparable
with that persistence baseline.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from tunesmith.errors import UserError

FLOOR = 1e-5  # magnitudes (relative to the window's sum) are floored here in the log: -100 dB
MAGNITUDE_CENTRE, MAGNITUDE_SCALE = -6.0, 3.0  # the network reads (log magnitude - centre) / scale


def wrap(angle: torch.Tensor) -> torch.Tensor:
    """Angles in radians wrapped to [-pi, pi)."""
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


# -- frames --------------------------------------------------------------------------------------

def frame_settings(hp: dict[str, Any]) -> tuple[int, int]:
    """(fft_size, hop) of a run's settings: fft_size 0 is 32 ms rounded to a power of 2 (512 at
    16 kHz, 256 at 8 kHz), hop 0 a quarter of it; a UserError for a pair that cannot be resynthesised."""
    fft_size = hp["fft_size"] or 2 ** round(math.log2(0.032 * hp["sample_rate"]))
    if fft_size < 16 or fft_size % (2 if hp["hop"] else 4):
        raise UserError(f"setting fft_size={fft_size}: give a multiple of 4 samples (of 2 with a hop set), 16 or "
                        "more (e.g. 512 at 16 kHz), or 0 for 32 ms")
    hop = hp["hop"] or fft_size // 4
    if hop < 1 or fft_size % hop or hop > fft_size // 2:
        raise UserError(f"setting hop={hop}: the hop must divide fft_size={fft_size} and be at most half of it "
                        f"(e.g. hop={fft_size // 4}), so that the overlapping windows add up again")
    if hp["context"] < 1:
        raise UserError(f"setting context={hp['context']}: the LSTM reads at least 1 frame per window (e.g. 10)")
    return fft_size, hop


def window_samples(hp: dict[str, Any]) -> int:
    """Samples of one training window: context + 2 frames (the first a phase reference only)."""
    fft_size, hop = frame_settings(hp)
    return fft_size + (hp["context"] + 1) * hop


def frame_lookback(hp: dict[str, Any]) -> int | None:
    """What a carried window repeats of the one before (the chunk windows' look-back): its last
    frame and the frame before it (the phase reference), so that the frames of consecutive
    windows follow on; None without carry_state (random windows from a zero state)."""
    if not hp["carry_state"]:
        return None
    fft_size, hop = frame_settings(hp)
    return fft_size + hop


class Frames:
    """The STFT of the model: Hann frames of `fft_size` samples every `hop`, as features [..., frames,
    2 * bins] (log magnitude, then instantaneous frequency deviation; see the module's docstring)."""

    def __init__(self, fft_size: int, hop: int):
        if fft_size % hop or hop > fft_size // 2:
            raise ValueError(f"hop {hop} must divide fft_size {fft_size} and be at most half of it")
        self.fft_size, self.hop = fft_size, hop
        self.bins = fft_size // 2 + 1
        self.size = 2 * self.bins  # features per frame

    def window(self, device: torch.device) -> torch.Tensor:
        return torch.hann_window(self.fft_size, periodic=True, device=device)

    def advance(self, device: torch.device) -> torch.Tensor:
        """[bins] the phase a sine at each bin's centre frequency advances by in one hop, mod 2 pi."""
        bins = torch.arange(self.bins, device=device)
        return (bins * self.hop % self.fft_size).float() * (2 * math.pi / self.fft_size)

    def envelope(self, device: torch.device) -> torch.Tensor:
        """[hop] the sum of the squared windows of the frames over each sample of a hop (steady state)."""
        return self.window(device).square().reshape(-1, self.hop).sum(0)

    def count(self, samples: int) -> int:
        """Whole frames in a waveform of this many samples."""
        return max(0, (samples - self.fft_size) // self.hop + 1)

    def analyse(self, waves: torch.Tensor) -> torch.Tensor:
        """Features [batch, frames, 2 * bins] of waveforms [batch, samples] (the first frame reads
        its own phase)."""
        window = self.window(waves.device)
        spectra = torch.fft.rfft(waves.unfold(-1, self.fft_size, self.hop) * window, dim=-1)
        log_magnitude = torch.log(spectra.abs() / window.sum() + FLOOR)
        phase = spectra.angle()
        before = torch.cat([(-self.advance(waves.device)).expand_as(phase[:, :1]), phase[:, :-1]], 1)
        deviation = wrap(phase - before - self.advance(waves.device)) / math.pi
        return torch.cat([log_magnitude, deviation], -1)

    def split(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log magnitude, deviation), each [..., bins]."""
        return features[..., :self.bins], features[..., self.bins:]


class Synthesis:
    """Features back to samples for `batch` streams, a block of frames at a time: each `push` of
    frames [batch, n, 2 * bins] returns the n x hop samples that no later frame changes; the phase
    and the overlap-add buffer carry over to the next push (see the module's docstring)."""

    def __init__(self, frames: Frames, batch: int, device: torch.device):
        self.frames, self.device = frames, device
        self.window, self.advance = frames.window(device), frames.advance(device)
        self.envelope = frames.envelope(device)
        self.phase = (-self.advance).expand(batch, -1).clone()
        self.tail = torch.zeros(batch, frames.fft_size - frames.hop, device=device)

    def push(self, features: torch.Tensor) -> torch.Tensor:
        frames = self.frames
        batch, count = features.shape[:2]
        log_magnitude, deviation = frames.split(features.float())
        magnitude = (torch.exp(log_magnitude) - FLOOR).clamp(min=0.0) * self.window.sum()
        steps = math.pi * deviation + self.advance
        phases = []
        for t in range(count):  # wrapped at every frame: the phase never grows
            self.phase = wrap(self.phase + steps[:, t])
            phases.append(self.phase)
        phase = torch.stack(phases, 1)
        spectra = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        pieces = torch.fft.irfft(spectra, n=frames.fft_size, dim=-1) * self.window  # [batch, n, fft_size]
        overlap = frames.fft_size // frames.hop
        pieces = pieces.reshape(batch, count, overlap, frames.hop)
        summed = torch.zeros(batch, count + overlap - 1, frames.hop, device=self.device)
        for j in range(overlap):  # piece j of frame t lands on hop t + j
            summed[:, j:j + count] += pieces[:, :, j]
        summed = summed.reshape(batch, -1)
        summed[:, :self.tail.size(1)] += self.tail
        self.tail = summed[:, count * frames.hop:].clone()
        done = summed[:, :count * frames.hop].reshape(batch, count, frames.hop) / self.envelope
        return done.reshape(batch, -1)


# -- the model -----------------------------------------------------------------------------------

class FFTLSTM(nn.Module):
    """The next frame's features from the frames before (see the module's docstring). `levels`:
    the waveform value of each quantization level of the run's codec, so that the shared audio
    windows (quantized) are turned into frames inside the loss."""

    def __init__(self, levels: np.ndarray, fft_size: int, hop: int, hidden_size: int = 512, layers: int = 2,
                 dropout: float = 0.0, phase_weight: float = 1.0, input_noise: float = 0.0, rollout: int = 0):
        super().__init__()
        self.frames = Frames(fft_size, hop)
        self.phase_weight, self.input_noise, self.rollout = phase_weight, input_noise, rollout
        self.register_buffer("levels", torch.as_tensor(np.asarray(levels), dtype=torch.float32), persistent=False)
        size = self.frames.size
        scale = torch.cat([torch.full((self.frames.bins,), MAGNITUDE_SCALE), torch.ones(self.frames.bins)])
        centre = torch.cat([torch.full((self.frames.bins,), MAGNITUDE_CENTRE), torch.zeros(self.frames.bins)])
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("centre", centre, persistent=False)
        self.project = nn.Linear(size, hidden_size)
        self.rnn = nn.LSTM(hidden_size, hidden_size, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, size)
        nn.init.zeros_(self.head.weight)  # an untrained model repeats the last frame
        nn.init.zeros_(self.head.bias)

    def forward(self, features: torch.Tensor, state=None) -> tuple[torch.Tensor, Any]:
        """Predicted next frames [batch, time, 2 * bins] after each of the frames [batch, time,
        2 * bins], and the LSTM state after them."""
        x = (features - self.centre) / self.scale
        seen = x + self.input_noise * torch.randn_like(x) if self.training and self.input_noise > 0 else x
        hidden, state = self.rnn(torch.tanh(self.project(seen)), state)
        change = self.head(self.dropout(hidden))
        return (x + change) * self.scale + self.centre, state

    def clean(self, frame: torch.Tensor) -> torch.Tensor:
        """A predicted frame as a frame can be: magnitudes between silence and full scale, the
        deviation wrapped to [-1, 1). What generation feeds back and resynthesises."""
        log_magnitude, deviation = self.frames.split(frame)
        log_magnitude = log_magnitude.clamp(math.log(FLOOR), math.log(1 + FLOOR))
        return torch.cat([log_magnitude, torch.remainder(deviation + 1, 2) - 1], -1)

    def window_frames(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The frames [batch, frames, 2 * bins] of a window of quantized samples (inputs, targets),
        without the first frame, which is only the phase reference of the second."""
        inputs, targets = batch[0], batch[1]
        waves = self.levels[torch.cat([inputs, targets[:, -1:]], 1)]
        return self.frames.analyse(waves)[:, 1:]

    def loss_terms(self, predicted: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The mean absolute error of the log magnitudes (`magnitude`), the magnitude-weighted
        wrapped error of the instantaneous frequency (`phase`) and the loss, their sum with
        `phase_weight` (see the module's docstring)."""
        predicted_magnitude, predicted_deviation = self.frames.split(predicted)
        target_magnitude, target_deviation = self.frames.split(target)
        magnitude = (predicted_magnitude - target_magnitude).abs().mean()
        energy = (torch.exp(target_magnitude) - FLOOR).clamp(min=0.0)
        weights = energy / energy.mean(-1, keepdim=True).clamp(min=FLOOR)
        phase = (weights * (1 - torch.cos(math.pi * (predicted_deviation - target_deviation)))).mean()
        return {"loss": magnitude + self.phase_weight * phase, "magnitude": magnitude, "phase": phase}

    def predict_window(self, frames: torch.Tensor, state=None) -> tuple[torch.Tensor, Any]:
        """The predictions [batch, frames - 1, 2 * bins] of a window's frames after the first, in
        training: the last `rollout` of them each from the model's own prediction before it (cleaned,
        as generation feeds it back), the others from the true frames; and the state after them."""
        inputs = frames[:, :-1]
        forced = max(1, inputs.size(1) - self.rollout) if self.training else inputs.size(1)
        predicted, state = self(inputs[:, :forced], state)
        made, last = [predicted], predicted[:, -1:]
        for _ in range(inputs.size(1) - forced):
            last, state = self(self.clean(last), state)
            made.append(last)
        return torch.cat(made, 1), state

    def loss_with_state(self, batch: tuple[torch.Tensor, ...], state=None) -> tuple[torch.Tensor, Any]:
        """The loss of a window's predictions from `state` (None: zeros), and the detached state
        after the window's input frames (where the next window's first prediction starts)."""
        frames = self.window_frames(batch)
        predicted, state = self.predict_window(frames, state)
        return self.loss_terms(predicted, frames[:, 1:])["loss"], tuple(part.detach() for part in state)

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.loss_with_state(batch)[0]

    def stepper(self, batch_size: int) -> FrameStepper:
        return FrameStepper(self, batch_size)


class FrameStepper:
    """Frame-by-frame prediction for `batch_size` streams, the LSTM state carried: `feed(frames)`
    reads frames [batch, n, 2 * bins] (a primer's, or the last prediction) and returns the next
    frame [batch, 2 * bins], cleaned (`FFTLSTM.clean`)."""

    def __init__(self, model: FFTLSTM, batch_size: int):
        self.model, self.batch_size, self.state = model, batch_size, None

    @torch.no_grad()
    def feed(self, frames: torch.Tensor) -> torch.Tensor:
        predicted, self.state = self.model(frames, self.state)
        return self.model.clean(predicted[:, -1])
