"""GANSynth's spectral representation (media.spectral): shapes, an exact round trip through log
magnitude and instantaneous frequency, a pitch-preserving one through mel IF, and the phase
helpers against numpy."""

from __future__ import annotations

import math

import numpy as np
import torch

from tunesmith.media.spectral import Specgrams, instantaneous_frequency, mel_matrix, unwrap

RATE = 16000


def note(hz: float = 440.0, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return (0.5 * torch.exp(-t) * (torch.sin(2 * math.pi * hz * t) + 0.3 * torch.sin(4 * math.pi * hz * t)))[None]


def peak_hz(wave: torch.Tensor) -> float:
    x = wave[0, : RATE // 2].numpy()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 10 * len(x)))
    return float(np.argmax(spectrum) * RATE / (10 * len(x)))


def test_shapes_and_the_linear_round_trip_is_exact():
    helper = Specgrams(RATE, bins=256, sample_rate=RATE, mel=False)
    spec = helper.from_waves(note())
    assert spec.shape == (1, 2, 128, 256) and helper.frames % 8 == 0
    assert spec[:, 1].abs().max() <= 1.0 + 1e-6  # instantaneous frequency over pi
    back = helper.to_waves(spec)
    snr = 10 * math.log10(float(note().pow(2).mean() / (back - note()).pow(2).mean()))
    assert back.shape == (1, RATE) and snr > 40


def test_mel_if_keeps_the_pitch():
    helper = Specgrams(RATE, bins=256, sample_rate=RATE, mel=True)
    for hz in (220.0, 440.0, 880.0):
        back = helper.to_waves(helper.from_waves(note(hz)))
        assert abs(peak_hz(back) - hz) < 2.0, hz


def test_unwrap_and_instantaneous_frequency_match_numpy():
    rng = np.random.default_rng(0)
    phase = np.cumsum(rng.uniform(-3, 3, (4, 50)), axis=1)
    wrapped = np.angle(np.exp(1j * phase))
    assert np.allclose(unwrap(torch.tensor(wrapped), 1).numpy(), np.unwrap(wrapped, axis=1))
    frequency = instantaneous_frequency(torch.tensor(wrapped), 1).numpy()
    assert np.allclose(frequency[:, 0], wrapped[:, 0] / np.pi)
    assert np.allclose(frequency[:, 1:], np.diff(np.unwrap(wrapped, axis=1), axis=1) / np.pi)


def test_mel_matrix_bands_cover_the_spectrum():
    weights = mel_matrix(64, 256, RATE)
    assert weights.shape == (256, 64) and (weights >= 0).all()
    assert (weights.sum(0) > 0).all()  # every band catches a bin, even the narrow low ones
    assert weights[0].sum() == 0  # the DC bin is left out
    centers = weights.argmax(0)
    assert (np.diff(centers) >= 0).all()  # bands go up in frequency
