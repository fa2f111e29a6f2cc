"""Note-sequence operations on hand-made pieces, checked note by note, and the MIDI round trip."""

import numpy as np
import pytest

from tunesmith import notes
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes


def rows(piece: Piece) -> list[tuple]:
    """(start, end, pitch) of every note, in the piece's order."""
    return [(float(n["start"]), float(n["end"]), int(n["pitch"])) for n in piece.notes]


def four_bars() -> Piece:
    """Four one-beat notes A B C D (pitches 60, 62, 64, 65) starting at 0, 1, 2, 3."""
    return Piece(make_notes([(0, 1, 60), (1, 2, 62), (2, 3, 64), (3, 4, 65)]), name="tune")


def test_quantize_snaps_to_the_grid_and_keeps_every_note():
    piece = Piece(make_notes([(0.1, 0.9, 60), (0.13, 0.2, 62), (0.5, 0.55, 64), (1.0, 1.375, 67)]))
    quantized = notes.quantize(piece, steps_per_quarter=4)
    assert rows(quantized) == [(0.0, 1.0, 60), (0.25, 0.5, 62), (0.5, 0.75, 64), (1.0, 1.5, 67)]
    assert rows(notes.quantize(piece, steps_per_quarter=1)) == [(0.0, 1.0, 60), (0.0, 1.0, 62),
                                                                (1.0, 2.0, 64), (1.0, 2.0, 67)]
    assert rows(piece)[0] == (0.1, 0.9, 60)  # the original is left alone


def test_transpose_moves_pitched_notes_only_and_drops_those_out_of_range():
    piece = Piece(make_notes([(0, 1, 60), (0, 1, 125), (0, 1, 36, 100, 0, True), (1, 2, 3)]))
    up = notes.transpose(piece, 5)
    assert sorted(zip(up.notes["pitch"].tolist(), up.notes["is_drum"].tolist())) == \
        [(8, False), (36, True), (65, False)]
    down = notes.transpose(piece, -5)
    assert sorted(down.notes["pitch"].tolist()) == [36, 55, 120]
    assert sorted(piece.notes["pitch"].tolist()) == [3, 36, 60, 125]  # the original is left alone


def test_trim_keeps_the_window_cuts_ends_and_moves_it_to_zero():
    piece = Piece(make_notes([(0, 1.5, 60), (1, 2.5, 62), (2.5, 4, 64), (3, 4, 65)]))
    assert rows(notes.trim(piece, 1, 3)) == [(0.0, 1.5, 62), (1.5, 2.0, 64)]


def test_shift_moves_later_or_earlier_and_drops_notes_before_zero():
    piece = four_bars()
    assert rows(notes.shift(piece, 2)) == [(2.0, 3.0, 60), (3.0, 4.0, 62), (4.0, 5.0, 64), (5.0, 6.0, 65)]
    assert rows(notes.shift(piece, -1.5)) == [(0.5, 1.5, 64), (1.5, 2.5, 65)]


def test_repeat_loops_a_section_in_place_and_moves_the_rest():
    looped = notes.repeat(four_bars(), 1, 3, 3)
    assert [p for _, _, p in rows(looped)] == [60, 62, 64, 62, 64, 62, 64, 65]
    assert [s for s, _, _ in rows(looped)] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert rows(notes.repeat(four_bars(), 1, 3, 0)) == [(0.0, 1.0, 60), (1.0, 2.0, 65)]
    held = Piece(make_notes([(0, 3, 60), (1, 2, 62)]))  # a note longer than the section is cut at its end
    assert rows(notes.repeat(held, 0, 2, 2)) == [(0.0, 2.0, 60), (1.0, 2.0, 62), (2.0, 4.0, 60), (3.0, 4.0, 62)]
    with pytest.raises(UserError):
        notes.repeat(four_bars(), 2, 2, 2)


def test_stretch_changes_the_tempo_not_the_notes():
    piece = Piece(four_bars().notes, qpm=120)
    slower = notes.stretch(piece, 1.1)
    assert slower.qpm == pytest.approx(120 / 1.1)
    assert slower.seconds == pytest.approx(piece.seconds * 1.1)
    assert rows(slower) == rows(piece) and piece.qpm == 120
    with pytest.raises(UserError):
        notes.stretch(piece, 0)


def test_skyline_takes_the_top_note_at_each_onset_and_cuts_held_notes():
    piece = Piece(make_notes([
        (0, 2, 60), (0, 2, 64), (0, 2, 67),          # a chord: its top note is the melody
        (0.5, 1, 38, 100, 0, True),                  # a drum hit is never melody
        (1, 3, 55),                                  # a later, lower note still cuts the held 67
        (3, 4, 72, 100, 40), (3, 3.5, 50),            # a flute note over a bass note
    ]))
    assert rows(notes.skyline(piece)) == [(0.0, 1.0, 67), (1.0, 3.0, 55), (3.0, 4.0, 72)]
    assert rows(notes.skyline(piece, program=0)) == [(0.0, 1.0, 67), (1.0, 3.0, 55), (3.0, 3.5, 50)]
    assert len(notes.skyline(notes.drum_track(piece))) == 0


def test_drum_track_keeps_only_drums():
    piece = Piece(make_notes([(0, 1, 60), (0, 0.1, 36, 100, 0, True), (1, 1.1, 42, 100, 0, True)]))
    drums = notes.drum_track(piece)
    assert rows(drums) == [(0.0, 0.1, 36), (1.0, 1.1, 42)] and drums.notes["is_drum"].all()


def test_split_cuts_consecutive_windows_named_by_position():
    piece = Piece(make_notes([(0, 1, 60), (3, 5, 62), (4, 5, 64), (13, 14, 67)]), qpm=90, name="song.mid")
    windows = notes.split(piece, 4)
    assert [w.name for w in windows] == ["song.mid#0", "song.mid#1", "song.mid#3"]  # window 2 is silent
    assert [rows(w) for w in windows] == [[(0.0, 1.0, 60), (3.0, 4.0, 62)], [(0.0, 1.0, 64)], [(1.0, 2.0, 67)]]
    assert all(w.qpm == 90 for w in windows)


def test_midi_round_trip_keeps_notes_programs_drums_and_tempo(tmp_path):
    piece = Piece(make_notes([
        (0, 1, 60, 100, 0), (0.5, 0.75, 36, 90, 0, True), (1, 2.5, 64, 70, 40), (1.25, 1.5, 42, 60, 0, True),
        (2, 3, 48, 110, 33),
    ]), qpm=96.5, time_signature=(3, 4), name="mine")
    path = tmp_path / "mine.mid"
    notes.write_midi(piece, path)
    back = notes.read_midi(path)
    assert back.qpm == 96.5 and back.time_signature == (3, 4)
    assert np.array_equal(back.notes, piece.notes)
