"""Musical statistics: features of hand-made pieces with known answers, overlapping areas of
sample sets, and a generated-versus-reference comparison that serialises to JSON."""

import json
import math

import numpy as np
import pytest

from tunesmith.music_stats import (STATISTICS, best_key, compare, format_table, overlapping_area,
                                   piece_stats)
from tunesmith.notes import Piece, make_notes

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def scale_piece(pitches=C_MAJOR, qpm=120.0, name="scale"):
    """One quarter note per pitch, one after another."""
    return Piece(make_notes([(i, i + 1, p) for i, p in enumerate(pitches)]), qpm=qpm, name=name)


def test_c_major_scale():
    stats = piece_stats(scale_piece())
    assert stats.in_scale_rate == 1.0
    assert stats.key in ("C major", "A minor")
    assert stats.pitch_range == 12
    assert piece_stats(scale_piece(C_MAJOR[:7])).pitch_range == 11
    assert stats.note_density == pytest.approx(2.0)      # 8 notes in 8 beats at 120 qpm = 4 s
    np.testing.assert_allclose(stats.inter_onset_intervals, [0.5] * 7)
    assert stats.mean_ioi == pytest.approx(0.5)
    assert stats.polyphony == 1.0
    assert stats.pitch_class_histogram.sum() == pytest.approx(1.0)
    assert stats.pitch_class_histogram[0] == pytest.approx(2 / 8)   # C4 and C5
    assert stats.pitch_class_histogram[1] == 0.0


def test_tempo_scales_times():
    stats = piece_stats(scale_piece(qpm=60.0))
    assert stats.note_density == pytest.approx(1.0)
    assert stats.mean_ioi == pytest.approx(1.0)


def test_triad_and_chromatic_notes():
    triad = Piece(make_notes([(0, 2, 60), (0, 2, 64), (0, 2, 67), (2, 4, 62), (2, 4, 65), (2, 4, 69)]))
    stats = piece_stats(triad)
    assert stats.polyphony == 3.0
    np.testing.assert_allclose(stats.inter_onset_intervals, [1.0])
    chromatic = piece_stats(scale_piece(list(range(60, 72))))
    assert chromatic.in_scale_rate == pytest.approx(7 / 12)
    assert best_key(np.array([62, 66, 69, 73])) == ("D major", 1.0)


def test_drums_are_ignored_and_empty_pieces_are_undefined():
    drums = make_notes([(0, 0.5, 36, 100, 0, True), (1, 1.5, 42, 100, 0, True)])
    with_drums = Piece(np.concatenate([make_notes([(0, 1, 60), (1, 2, 61)]), drums]))
    stats = piece_stats(with_drums)
    assert stats.pitch_range == 1 and stats.polyphony == 1.0
    drums_only = piece_stats(Piece(drums))
    assert drums_only.note_density == 0.0 and math.isnan(drums_only.pitch_range)
    empty = piece_stats(Piece())
    assert math.isnan(empty.in_scale_rate) and math.isnan(empty.mean_ioi) and empty.key == ""


def test_overlapping_area():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 200), rng.normal(0, 1, 300)
    assert overlapping_area(a, a) == pytest.approx(1.0, abs=1e-3)
    assert overlapping_area(a, b) > 0.85
    assert overlapping_area(a, a + 50) < 1e-3
    assert overlapping_area(a, b + 1) == pytest.approx(overlapping_area(b + 1, a), abs=1e-9)
    # two unit normals one sd apart overlap by 2 Phi(-1/2) = 0.617
    assert overlapping_area(rng.normal(0, 1, 2000), rng.normal(1, 1, 2000)) == pytest.approx(0.617, abs=0.05)
    assert overlapping_area(a, b, bandwidth="scott") > 0.85


def test_overlapping_area_degenerate_cases():
    assert overlapping_area([3.0, 3.0], [3.0]) == 1.0
    assert math.isnan(overlapping_area([], [1.0, 2.0]))
    assert math.isnan(overlapping_area([math.nan], [1.0]))
    assert 0.0 <= overlapping_area([1.0], [1.0, 2.0, 3.0]) <= 1.0
    assert overlapping_area([0.0] * 5, [100.0] * 5) == 0.0
    assert overlapping_area([2.0], [1.0, 2.0, 3.0]) > overlapping_area([9.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        overlapping_area([1.0, 2.0], [1.5, 3.0], bandwidth="guess")


def test_compare_sets():
    rng = np.random.default_rng(1)
    reference = [scale_piece(list(rng.choice(C_MAJOR, 16)), name=f"ref{i}") for i in range(6)]
    generated = [scale_piece(list(rng.integers(48, 84, 16)), name=f"gen{i}") for i in range(5)] + [Piece()]
    result = compare(generated, reference)
    assert set(result["statistics"]) == set(STATISTICS)
    for entry in result["statistics"].values():
        assert set(entry) == {"generated", "reference", "overlap"}
        assert entry["overlap"] is None or 0.0 <= entry["overlap"] <= 1.0
    assert 0.0 <= result["mean_overlap"] <= 1.0
    assert result["statistics"]["in_scale_rate"]["reference"]["mean"] == 1.0
    assert result["statistics"]["pitch_range"]["generated"]["n"] == 5    # the empty piece has none
    assert len(result["statistics"]["pitch_class_histogram"]["reference"]["mean"]) == 12
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    same = compare(reference, reference)
    assert same["mean_overlap"] > 0.99
    assert same["mean_overlap"] > result["mean_overlap"]
    table = format_table(result)
    for label in ("in-scale rate", "pitch range", "mean overlap", "C#"):
        assert label in table


def test_compare_empty_sets():
    result = compare([], [scale_piece()])
    assert result["mean_overlap"] is None
    assert "mean overlap" in format_table(result)


def test_register_entropy_and_note_lengths():
    stats = piece_stats(scale_piece())
    assert stats.mean_pitch == pytest.approx(np.mean(C_MAJOR))
    assert stats.pitch_count == 8
    assert stats.pitch_class_entropy == pytest.approx(-(0.25 * math.log2(0.25) + 6 * 0.125 * math.log2(0.125)))
    assert stats.note_length == pytest.approx(0.5) and stats.longest_note == pytest.approx(0.5)
    one_pitch_class = piece_stats(scale_piece([60, 72, 48]))
    assert one_pitch_class.pitch_class_entropy == 0.0 and one_pitch_class.pitch_count == 3
    # a note that never ends (a drone under the tune) shows in the longest note, not in the mean
    drone = Piece(np.concatenate([scale_piece().notes, make_notes([(0, 40, 36)])]))
    stats = piece_stats(drone)
    assert stats.longest_note == pytest.approx(20.0) and stats.mean_pitch < np.mean(C_MAJOR)


def test_compare_can_report_a_subset_of_statistics():
    pieces = [scale_piece(), scale_piece(C_MAJOR[::-1])]
    result = compare(pieces, pieces, statistics=("mean_pitch", "in_scale_rate"))
    assert list(result["statistics"]) == ["mean_pitch", "in_scale_rate"]
    assert result["mean_overlap"] == pytest.approx(1.0)
