"""The spectrogram codec of GANSynth's notes and its note windows: the pitch range and scaling it
fits, a note through it and back keeps its pitch, it saves and loads, and the windows' batches are
a pure function of (seed, step)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tunesmith.codecs import load_codec
from tunesmith.codecs.specgram import SpecgramCodec
from tunesmith.corpus.notes import Note
from tunesmith.errors import UserError
from tunesmith.training.data import NoteWindows, note_windows

RATE = 8000


def note(pitch: int, seconds: float = 1.0) -> Note:
    hz = 440 * 2 ** ((pitch - 69) / 12)
    t = np.arange(int(seconds * RATE)) / RATE
    samples = (0.5 * np.minimum(1, t * 100) * np.exp(-2 * t) * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return Note(samples, pitch, 100, "sine", "synth_lead")


def peak_hz(wave: np.ndarray) -> float:
    x = wave[: RATE // 2]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 10 * len(x)))
    return float(np.argmax(spectrum) * RATE / (10 * len(x)))


def test_fit_encode_decode_keep_the_pitch_and_the_scale():
    notes = [note(p) for p in (57, 60, 64, 69, 72)]
    codec = SpecgramCodec.fit(notes, sample_rate=RATE, seconds=1.0, bins=128)
    assert (codec.min_pitch, codec.max_pitch, codec.pitches, codec.samples) == (57, 72, 16, RATE)
    specgrams, pitches = codec.encode_notes(notes)
    assert specgrams.shape == (5, 2, codec.frames, 128) and codec.frames % 8 == 0
    assert pitches.tolist() == [0, 3, 7, 12, 15]
    magnitude = specgrams[:, 0]
    assert -1.5 < float(magnitude.quantile(0.01)) and float(magnitude.quantile(0.99)) < 1.5  # scaled into about [-1, 1]
    waves = codec.decode_specgrams(specgrams)
    assert waves.shape == (5, RATE) and waves.dtype == np.float32
    for wave, pitch in zip(waves, (57, 60, 64, 69, 72)):
        hz = 440 * 2 ** ((pitch - 69) / 12)
        assert abs(1200 * math.log2(peak_hz(wave) / hz)) < 50, pitch  # within 50 cents


def test_out_of_range_notes_are_left_out_and_named(tmp_path):
    codec = SpecgramCodec.fit([note(60), note(64)], sample_rate=RATE)
    specgrams, pitches = codec.encode_notes([note(60), note(90), note(64)])
    assert len(specgrams) == 2 and pitches.tolist() == [0, 4]
    with pytest.raises(UserError, match="outside the pitches this model knows, 60-64"):
        codec.pitch_index(90)
    codec.save(tmp_path / "codec.json")
    assert load_codec(tmp_path / "codec.json") == codec


def test_note_windows_batches_are_a_function_of_seed_and_step():
    notes = [note(p, 0.5) for p in range(60, 72)]
    codec = SpecgramCodec.fit(notes, sample_rate=RATE, seconds=0.5)
    windows = note_windows(codec, notes, {"batch_size": 4}, True)
    assert isinstance(windows, NoteWindows) and windows.count == 12
    a, b = windows.batch(5, 4, seed=1), windows.batch(5, 4, seed=1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].shape[0] == 4
    epoch = torch.cat([windows.batch(step, 4, seed=1)[1] for step in range(3)])
    assert sorted(epoch.tolist()) == list(range(12))  # an epoch shows every note once
    batches = list(windows.sequential(max_tokens=10, batch_size=4))
    assert [len(batch[1]) for batch, _ in batches] == [4, 4, 2]
    with pytest.raises(UserError, match="fewer than one batch"):
        note_windows(codec, notes[:2], {"batch_size": 4}, True)
    assert note_windows(codec, [], {"batch_size": 4}, False) is None


def test_pitch_templates_put_the_harmonics_where_the_pitch_is():
    """A template per pitch, in the model's units: its loudest band is at the fundamental (moving
    up with the pitch), and its IF channel is the one the codec makes of that tone."""
    codec = SpecgramCodec.fit([note(p) for p in (48, 60, 72)], sample_rate=RATE, seconds=1.0, bins=128)
    templates = codec.pitch_templates()
    assert templates.shape == (codec.pitches, 2, 128) and templates[:, 0].abs().max() <= 1.0
    mel_centres = codec.helper.to_mel.argmax(0)  # the linear bin each band weighs most
    for index in (0, 12, 24):
        hz = 440 * 2 ** ((codec.min_pitch + index - 69) / 12)
        strongest = int(templates[index, 0].argmax())
        assert abs(float(mel_centres[strongest]) - hz / (RATE / 256)) <= 2  # within 2 FFT bins of f0
