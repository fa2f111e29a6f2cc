"""Audio statistics: level, DC, silence and brightness of synthetic clips with known answers, the
loop detector on tiled noise, white noise, a melody and a steady tone, the generated-versus-training
comparison and its table, and the cutting of reference excerpts."""

import json
import math

import numpy as np
import pytest

from tunesmith import audio_stats
from tunesmith.audio_stats import (LOOP_THRESHOLD, RMS_FLOOR_DB, SILENCE_FRAME_SECONDS, STATISTICS, clip_stats,
                                   compare, format_table, loop_score, reference_excerpts)

SR = 8000


def sine(freq=1000.0, amplitude=0.5, seconds=2.0, sample_rate=SR):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def white_noise(seconds=4.0, seed=0, amplitude=0.5):
    return np.random.default_rng(seed).uniform(-amplitude, amplitude, int(seconds * SR)).astype(np.float32)


def tiled_burst(burst_seconds=0.5, times=8, jitter=0.02, seed=0):
    """A noise burst repeated `times` times, plus a little fresh noise: a clip stuck in a loop."""
    rng = np.random.default_rng(seed)
    burst = rng.uniform(-0.5, 0.5, int(burst_seconds * SR))
    tiled = np.tile(burst, times)
    return (tiled + jitter * rng.standard_normal(len(tiled))).astype(np.float32)


def melody(seconds=4.0, seed=0):
    """Random sine notes of 0.1-0.6 s, each a different pitch from the one before, with 10 ms fades."""
    rng = np.random.default_rng(seed)
    notes, total, last = [], 0, None
    while total < seconds * SR:
        pitch = int(rng.integers(-12, 13))
        if pitch == last:
            continue
        last = pitch
        t = np.arange(int(rng.uniform(0.1, 0.6) * SR)) / SR
        fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
        notes.append(0.5 * np.sin(2 * np.pi * 440 * 2 ** (pitch / 12) * t) * fade)
        total += len(t)
    return np.concatenate(notes)[:int(seconds * SR)].astype(np.float32)


def test_rms_level_of_sines_and_silence():
    for amplitude in (0.5, 0.1, 1.0):
        expected = 20 * math.log10(amplitude / math.sqrt(2))
        assert clip_stats(sine(amplitude=amplitude), SR)["rms_db"] == pytest.approx(expected, abs=0.1)
    assert clip_stats(np.zeros(SR, dtype=np.float32), SR)["rms_db"] == RMS_FLOOR_DB


def test_dc_offset():
    assert clip_stats(sine() + np.float32(0.1), SR)["dc_offset"] == pytest.approx(0.1, abs=1e-3)
    assert clip_stats(sine(), SR)["dc_offset"] == pytest.approx(0.0, abs=1e-3)


def test_silence_share():
    frame_share = SILENCE_FRAME_SECONDS / 2.0   # one 50 ms frame of a 2 s clip
    loud = white_noise(1.0)
    half_silent = np.concatenate([loud, np.zeros(SR, dtype=np.float32)])
    assert clip_stats(half_silent, SR)["silence_share"] == pytest.approx(0.5, abs=frame_share)
    # The boundary inside a frame: still within one frame of the truth.
    off_grid = np.concatenate([white_noise(1.013), np.zeros(2 * SR - int(1.013 * SR), dtype=np.float32)])
    assert clip_stats(off_grid, SR)["silence_share"] == pytest.approx(0.4935, abs=frame_share)
    # The threshold is 0.01 RMS: quiet hiss below it is silence, a little louder is not.
    assert clip_stats(white_noise(2.0, amplitude=0.005), SR)["silence_share"] == 1.0
    assert clip_stats(white_noise(2.0, amplitude=0.05), SR)["silence_share"] == 0.0


def test_spectral_centroid():
    assert clip_stats(sine(1000.0), SR)["spectral_centroid_hz"] == pytest.approx(1000, abs=50)
    assert clip_stats(sine(250.0), SR)["spectral_centroid_hz"] == pytest.approx(250, abs=50)
    assert clip_stats(white_noise(2.0), SR)["spectral_centroid_hz"] == pytest.approx(SR / 4, rel=0.05)
    assert clip_stats(np.zeros(SR, dtype=np.float32), SR)["spectral_centroid_hz"] == 0.0


def test_high_frequency_share_is_the_whine_check():
    rate = 16000
    assert audio_stats.high_frequency_share(sine(6000.0, sample_rate=rate), rate) == pytest.approx(1.0, abs=0.01)
    assert audio_stats.high_frequency_share(sine(1000.0, sample_rate=rate), rate) == pytest.approx(0.0, abs=0.01)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 2 * rate)
    assert audio_stats.high_frequency_share(noise, rate) == pytest.approx(0.5, abs=0.03)  # flat: half the band
    assert audio_stats.high_frequency_share(np.zeros(rate), rate) == 0.0
    assert math.isnan(audio_stats.high_frequency_share(sine(1000.0), SR))  # 8 kHz: the band ends at 4 kHz


def test_frechet_distance_of_log_mel_frames():
    rate = 16000
    tones = [sine(440.0 * 2 ** (k / 12), sample_rate=rate) for k in range(4)]
    more_tones = [sine(440.0 * 2 ** ((k + 0.1) / 12), sample_rate=rate) for k in range(4)]
    noise = [np.random.default_rng(k).uniform(-0.5, 0.5, 2 * rate).astype(np.float32) for k in range(4)]
    frames = audio_stats.log_mel_frames(tones, rate)
    assert frames.shape == (4 * (1 + (2 * rate - 1024) // 256), audio_stats.FRECHET_MELS)
    assert audio_stats.frechet_distance(frames, frames) == pytest.approx(0.0, abs=1e-6)
    near = audio_stats.frechet_distance(frames, audio_stats.log_mel_frames(more_tones, rate))
    far = audio_stats.frechet_distance(frames, audio_stats.log_mel_frames(noise, rate))
    noise_frames = audio_stats.log_mel_frames(noise, rate)
    quieter = audio_stats.frechet_distance(noise_frames, audio_stats.log_mel_frames([n / 10 for n in noise], rate))
    assert 0 < near < far
    assert quieter == pytest.approx(20.0 ** 2 * audio_stats.FRECHET_MELS, rel=0.01)  # -20 dB in every band
    assert math.isnan(audio_stats.frechet_distance(frames[:1], frames))
    result = compare(noise, tones, rate)
    assert result["frechet_log_mel"] == pytest.approx(far)
    assert f"{far:.1f} dB^2" in format_table(result)


def test_tiled_noise_burst_is_looping():
    stats = clip_stats(tiled_burst(), SR)
    assert stats["looping"] and stats["loop_score"] > 0.9
    # A period that does not divide the clip evenly, and more fresh noise on top.
    odd = tiled_burst(burst_seconds=0.37, times=11, jitter=0.1, seed=1)
    assert clip_stats(odd, SR)["looping"]


def test_music_falling_into_a_loop_is_looping():
    stuck = np.concatenate([melody(1.5, seed=3), tiled_burst(times=5)])
    assert clip_stats(stuck, SR)["looping"]


def test_white_noise_is_not_looping():
    for seed in range(2):
        stats = clip_stats(white_noise(seed=seed), SR)
        assert not stats["looping"] and stats["loop_score"] < 0.1


def test_melody_of_varied_notes_is_not_looping():
    for seed in range(3):
        stats = clip_stats(melody(seed=seed), SR)
        assert not stats["looping"] and stats["loop_score"] < LOOP_THRESHOLD / 2


def test_steady_tone_counts_as_looping():
    """By design (see loop_score): an unchanging tone is a stuck clip, the buzz failure."""
    assert clip_stats(sine(440.0, seconds=3.0), SR)["looping"]
    assert clip_stats(sine(437.3, seconds=3.0), SR)["loop_score"] > 0.99


def test_loop_score_of_silence_and_short_clips():
    assert loop_score(np.zeros(2 * SR, dtype=np.float32), SR) == 0.0
    assert loop_score(np.full(2 * SR, 0.2, dtype=np.float32), SR) == 0.0   # constant DC is not a loop
    short = clip_stats(tiled_burst(burst_seconds=0.1, times=9), SR)      # 0.9 s: under twice the shortest lag
    assert math.isnan(short["loop_score"]) and not short["looping"]


def test_mono_only():
    with pytest.raises(ValueError):
        clip_stats(np.zeros((2, SR), dtype=np.float32), SR)


def compared():
    generated = [sine(amplitude=0.5), sine(amplitude=0.5) + np.float32(0.1)]
    reference = [white_noise(2.0, seed=1), white_noise(2.0, seed=2), np.zeros(SR // 2, dtype=np.float32)]
    return compare(generated, reference, SR)


@pytest.mark.filterwarnings("error")
def test_compare_shapes_and_values():
    result = compared()
    assert json.loads(json.dumps(result)) == result
    assert result["clips"] == {"generated": 2, "reference": 3}
    assert list(result["statistics"]) == list(STATISTICS)
    stats = result["statistics"]
    dc = stats["dc_offset"]["generated"]
    assert dc["mean"] == pytest.approx(0.05, abs=1e-3) and dc["std"] == pytest.approx(0.05, abs=1e-3)
    assert dc["n"] == 2
    assert stats["silence_share"]["reference"]["mean"] == pytest.approx(1 / 3)   # the zeros clip
    assert stats["spectral_centroid_hz"]["generated"]["mean"] == pytest.approx(1000, abs=50)
    # Two noise clips near SR/4, and 0 for the silent clip.
    assert stats["spectral_centroid_hz"]["reference"]["mean"] == pytest.approx(2 / 3 * SR / 4, rel=0.1)
    # Both generated clips are steady tones; the 0.5 s reference clip is too short to judge.
    assert stats["looping"]["generated"] == {"share": 1.0, "count": 2, "n": 2}
    assert stats["looping"]["reference"] == {"share": 0.0, "count": 0, "n": 2}
    assert stats["loop_score"]["reference"]["n"] == 2
    assert stats["rms_db"]["overlap"] == pytest.approx(0.0, abs=0.02)   # -9 dB against -120 and -10.8
    # Loop scores 1 - 1e-15 and 1 count as one value, not as a kernel too narrow to resolve.
    assert stats["loop_score"]["overlap"] == pytest.approx(0.0, abs=0.01)
    overlaps = [entry["overlap"] for entry in stats.values() if entry["overlap"] is not None]
    # looping has no overlap, and at 8 kHz nothing lies above the whine check's 4 kHz
    assert stats["high_frequency_share"]["generated"]["mean"] is None
    assert len(overlaps) == len(STATISTICS) - 2
    assert result["mean_overlap"] == pytest.approx(np.mean(overlaps))


def test_compare_of_identical_sets_overlaps_fully():
    clips = [white_noise(2.0, seed=s) for s in range(3)]
    result = compare(clips, clips, SR)
    for name in ("rms_db", "spectral_centroid_hz", "loop_score"):
        entry = result["statistics"][name]
        assert entry["generated"] == entry["reference"] and entry["overlap"] == pytest.approx(1.0, abs=1e-3)


def test_format_table():
    table = format_table(compared())
    for label in STATISTICS.values():
        assert label in table
    assert "generated (2)" in table and "training audio (3)" in table
    assert "-8.9 ± 0.2" in table            # the generated sines' level (one with DC on top)
    assert "1.00 ± 0.00" in table           # their loop score
    assert "100% (2/2)" in table and "0% (0/2)" in table
    assert "mean overlap" in table


def test_reference_excerpts():
    rng = np.random.default_rng(0)
    recordings = [rng.uniform(-1, 1, n).astype(np.float32) for n in (5 * SR, 3 * SR, SR // 2)]
    excerpts = reference_excerpts(recordings, SR, seconds=2.0, count=6, seed=7)
    assert len(excerpts) == 6 and all(len(e) == 2 * SR and e.dtype == np.float32 for e in excerpts)
    again = reference_excerpts(recordings, SR, seconds=2.0, count=6, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(excerpts, again))
    other = reference_excerpts(recordings, SR, seconds=2.0, count=6, seed=8)
    assert not all(np.array_equal(a, b) for a, b in zip(excerpts, other))
    # Each excerpt is a stretch of one of the long-enough recordings (never the 0.5 s one).
    for excerpt in excerpts:
        windows = [np.lib.stride_tricks.sliding_window_view(r, 2 * SR) for r in recordings[:2]]
        assert any((w == excerpt).all(axis=1).any() for w in windows)
    # None long enough: cut at the longest recording's length. Nothing asked: nothing given.
    short = reference_excerpts(recordings, SR, seconds=10.0, count=2, seed=0)
    assert [len(e) for e in short] == [5 * SR, 5 * SR]
    assert reference_excerpts(recordings, SR, seconds=2.0, count=0) == []


def test_ndb_tells_a_shifted_set_from_one_drawn_alike():
    """NDB: notes drawn like the training ones fall into the k-means cells in like shares (few
    cells differ); notes of another kind crowd into a few cells (most differ)."""
    rng = np.random.default_rng(0)
    training = rng.normal(size=(2000, 8))
    alike = audio_stats.ndb(training, rng.normal(size=(1000, 8)))
    shifted = audio_stats.ndb(training, rng.normal(size=(1000, 8)) * 0.3 + 1.5)
    assert alike["bins"] == 50 and alike["different"] <= 8
    assert shifted["different"] >= 30 and shifted["share"] == shifted["different"] / 50
    assert audio_stats.ndb(training[:10], training)["different"] is None  # fewer notes than bins


def test_log_mel_features_of_notes():
    """One vector per note, and a note an octave up lands elsewhere than one at its pitch."""
    t = np.arange(8000) / 8000
    notes = [np.sin(2 * np.pi * hz * t) for hz in (220, 225, 440)]
    features = audio_stats.log_mel_features(notes, 8000)
    assert features.shape == (3, audio_stats.NDB_MELS * audio_stats.NDB_SEGMENTS)
    assert np.linalg.norm(features[0] - features[1]) < np.linalg.norm(features[0] - features[2])
