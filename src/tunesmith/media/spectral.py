"""Waveforms as GANSynth sees them: a short-time Fourier transform turned into two channels, the log
magnitude and the instantaneous frequency (the time difference of the unwrapped phase, over pi),
optionally on a mel frequency axis (GANSynth's best setting, "mel IF"), and back to waveforms by the
inverse STFT. In torch, so the same code runs on cpu, cuda and mps and inside a model's graph.

Shapes: waves [batch, samples]; specgrams [batch, 2, frames, bins] (channel 0 log magnitude,
channel 1 instantaneous frequency in [-1, 1])."""

from __future__ import annotations

import math

import numpy as np
import torch

EPS = 1e-6
MEL_BREAK_HZ = 700.0
MEL_Q = 1127.0


def hz_to_mel(hz):
    return MEL_Q * np.log1p(np.asarray(hz, dtype=np.float64) / MEL_BREAK_HZ)


def mel_to_hz(mel):
    return MEL_BREAK_HZ * np.expm1(np.asarray(mel, dtype=np.float64) / MEL_Q)


def mel_matrix(mel_bins: int, linear_bins: int, sample_rate: int) -> np.ndarray:
    """[linear_bins, mel_bins] triangular weights on the HTK mel scale from 0 Hz to Nyquist, each band
    at least 1.5 linear bins wide (narrower low bands would catch no bin), the DC bin left out."""
    nyquist = sample_rate / 2
    freqs = np.linspace(0.0, nyquist, linear_bins)[1:, None]
    edges = np.linspace(hz_to_mel(0.0), hz_to_mel(nyquist), mel_bins + 2)
    lower, center, upper = edges[:-2].copy(), edges[1:-1], edges[2:].copy()
    least = 1.5 * nyquist / linear_bins
    for i in range(mel_bins):  # widen bands under `least` Hz symmetrically in mel around their centre
        if mel_to_hz(upper[i]) - mel_to_hz(lower[i]) < least:
            half = 0.5 * least / (mel_to_hz(center[i]) + MEL_BREAK_HZ)
            delta = MEL_Q * math.asinh(half)
            lower[i], upper[i] = center[i] - delta, center[i] + delta
    lo, mid, hi = (mel_to_hz(x)[None, :] for x in (lower, center, upper))
    weights = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return np.pad(weights, [(1, 0), (0, 0)])


def unwrap(phase: torch.Tensor, dim: int) -> torch.Tensor:
    """numpy.unwrap along `dim`: jumps over pi become their 2 pi complement."""
    step = phase.diff(dim=dim)
    wrapped = torch.remainder(step + math.pi, 2 * math.pi) - math.pi
    wrapped = torch.where((wrapped == -math.pi) & (step > 0), torch.full_like(wrapped, math.pi), wrapped)
    correction = torch.where(step.abs() < math.pi, torch.zeros_like(step), wrapped - step)
    first = torch.zeros_like(phase.narrow(dim, 0, 1))
    return phase + torch.cat([first, correction.cumsum(dim)], dim)


def instantaneous_frequency(phase: torch.Tensor, dim: int) -> torch.Tensor:
    """The first frame's phase, then the frame-to-frame change of the unwrapped phase, over pi."""
    steps = unwrap(phase, dim).diff(dim=dim)
    return torch.cat([phase.narrow(dim, 0, 1), steps], dim) / math.pi


class Specgrams:
    """Converts waves of `length` samples to [batch, 2, frames, bins] and back: an FFT of
    2 x `bins` with 75% overlap (GANSynth: 1024 bins, 128 frames for 4 s at 16 kHz), the DC bin
    dropped, frames a multiple of 16 by padding in front (as GANSynth pads: the frames end with the
    sound), and with
    `mel` the magnitude and phase moved onto `bins` mel bands (mel IF)."""

    def __init__(self, length: int, bins: int = 256, sample_rate: int = 16000, mel: bool = True):
        if bins & (bins - 1):
            raise ValueError(f"bins must be a power of 2, not {bins}")
        self.length, self.bins, self.sample_rate, self.mel = length, bins, sample_rate, mel
        self.n_fft, self.hop = 2 * bins, bins // 2
        self.frames = 16 * math.ceil((length / self.hop + 1) / 16)  # a multiple of 16, for a network's strides
        self.pad = self.hop * (self.frames - 1) - length  # samples added in front
        weights = mel_matrix(bins, bins, sample_rate) if mel else np.eye(bins)
        gram = weights.T @ weights
        self.to_mel = torch.tensor(weights, dtype=torch.float32)  # [linear, mel]
        # its pseudo-inverse as GANSynth takes it: the transpose, each column scaled by 1 / its gram's column sum
        sums = gram.sum(0)
        scale = np.divide(1.0, sums, out=sums.copy(), where=np.abs(sums) > 1e-8)
        self.from_mel = torch.tensor(weights @ np.diag(scale), dtype=torch.float32).T.contiguous()  # [mel, linear]

    def window(self, device: torch.device) -> torch.Tensor:
        return torch.hann_window(self.n_fft, periodic=True, device=device)

    def stft(self, waves: torch.Tensor) -> torch.Tensor:
        """[batch, frames, bins] complex."""
        padded = torch.nn.functional.pad(waves, (self.pad, 0))
        spec = torch.stft(padded, self.n_fft, self.hop, window=self.window(waves.device), center=True,
                          pad_mode="constant", return_complex=True)  # [batch, bins + 1, frames]
        return spec[:, 1:, :].transpose(1, 2)

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        full = torch.nn.functional.pad(spec.transpose(1, 2), (0, 0, 1, 0))  # the DC bin back, as zero
        waves = torch.istft(full, self.n_fft, self.hop, window=self.window(spec.device), center=True,
                            length=self.pad + self.length)
        return waves[:, self.pad:]

    def from_waves(self, waves: torch.Tensor) -> torch.Tensor:
        spec = self.stft(waves)
        magnitude, phase = spec.abs(), spec.angle()
        if not self.mel:
            return torch.stack([torch.log(magnitude + EPS), instantaneous_frequency(phase, 1)], 1)
        to_mel = self.to_mel.to(waves.device)
        power = (magnitude ** 2) @ to_mel
        mel_phase = unwrap(phase, 1) @ to_mel
        return torch.stack([torch.log(power + EPS), instantaneous_frequency(mel_phase, 1)], 1)

    def to_waves(self, specgrams: torch.Tensor) -> torch.Tensor:
        log_magnitude, frequency = specgrams[:, 0], specgrams[:, 1]
        phase = torch.cumsum(frequency * math.pi, dim=1)
        if self.mel:
            from_mel = self.from_mel.to(specgrams.device)
            magnitude = torch.sqrt(torch.clamp(torch.exp(log_magnitude) @ from_mel, min=0.0))
            phase = phase @ from_mel
        else:
            magnitude = torch.exp(log_magnitude)
        return self.istft(torch.polar(magnitude, phase))
