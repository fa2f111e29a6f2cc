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


def lexsorted(notes_: np.ndarray) -> np.ndarray:
    """What Piece kept before it skipped sorting notes in order: a stable sort by (start, pitch, end)."""
    return notes_[np.lexsort((notes_["end"], notes_["pitch"], notes_["start"]))]


def random_notes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Notes with many ties of start, pitch and end, duplicates, a -0.0 and now and then a NaN."""
    rows = [(rng.integers(0, 6) / 2, rng.integers(1, 8) / 2, rng.integers(58, 62), rng.integers(1, 128))
            for _ in range(count)]
    made = make_notes(rows)
    if count and rng.random() < 0.2:
        made["start" if rng.random() < 0.5 else "end"][rng.integers(count)] = np.nan
    if count and rng.random() < 0.2:
        made["start"][made["start"] == 0] = -0.0
    return made


def test_a_piece_keeps_its_notes_sorted_exactly_as_the_stable_sort_did():
    rng = np.random.default_rng(7)
    for trial in range(400):
        made = random_notes(rng, int(rng.integers(0, 30)))
        for given in (made, lexsorted(made), made[::-1], lexsorted(made)[::-1], list(map(tuple, made.tolist()))):
            array = np.asarray(given, dtype=notes.NOTE_DTYPE)
            piece = Piece(given)
            assert piece.notes.tobytes() == lexsorted(array).tobytes()
            assert piece.notes.dtype == notes.NOTE_DTYPE and piece.notes.flags.c_contiguous
            assert piece.notes.flags.owndata and not np.shares_memory(piece.notes, array)  # never the caller's
        if notes.in_order(made):
            assert np.array_equal(np.lexsort((made["end"], made["pitch"], made["start"])), np.arange(len(made)))
    ordered = lexsorted(make_notes([(0, 1, 60), (0, 1, 60), (0, 2, 60), (0, 1, 62), (1, 2, 50)]))
    assert notes.in_order(ordered) and not notes.in_order(ordered[::-1])
    assert not notes.in_order(make_notes([(0, 2, 60), (0, 1, 60)]))  # same start and pitch: the earlier end first
    assert not notes.in_order(make_notes([(np.nan, 1, 60), (np.nan, 1, 60)]))


def random_scores(rng: np.random.Generator, count: int, huge: bool = False) -> list:
    from symusic import Note, Score, Tempo, TimeSignature, Track

    scores = []
    for n in range(count):
        quarter = int(rng.choice([7, 96, 480, 1000]))
        score = Score(quarter)
        if n % 3:
            score.tempos.append(Tempo(0, qpm=float(rng.uniform(40, 200)), ttype="tick"))
            score.time_signatures.append(TimeSignature(0, int(rng.integers(2, 8)), 4, ttype="tick"))
        for t in range(int(rng.integers(1, 5))):
            track = Track(f"t{t}", program=int(rng.integers(0, 128)), is_drum=bool(rng.random() < 0.2), ttype="tick")
            size = int(rng.integers(1, 60))
            times = rng.integers(0, 2 ** 30, size) if huge else rng.integers(0, 16, size) * quarter // 2
            durations = rng.integers(0, 2 ** 30, size) if huge else rng.choice([0, 1, quarter // 64, quarter], size)
            for time, duration, pitch, velocity in zip(times, durations, rng.integers(59, 63, size),
                                                       rng.integers(0, 128, size)):
                track.notes.append(Note(int(time), int(duration), int(pitch), int(velocity), ttype="tick"))
            track.notes.append(track.notes[0].copy())  # a duplicate
            score.tracks.append(track)
        scores.append(score)
    return scores


def converted_one_by_one(score) -> np.ndarray:
    """A score's notes as pieces_from_scores made them before it sorted all scores' notes at once:
    track by track, each Piece then sorting its own."""
    parts = []
    for track in score.tracks:
        columns = track.notes.numpy()
        made = np.empty(len(columns["time"]), notes.NOTE_DTYPE)
        starts, quarter = columns["time"].astype(np.float64), float(score.ticks_per_quarter)
        made["start"] = starts / quarter
        made["end"] = (starts + np.maximum(columns["duration"], quarter / 64)) / quarter
        made["pitch"], made["velocity"] = columns["pitch"], np.clip(columns["velocity"], 1, 127)
        made["program"], made["is_drum"] = track.program, track.is_drum
        parts.append(made)
    return lexsorted(np.concatenate(parts))


@pytest.mark.parametrize("huge", [False, True])
def test_scores_converted_together_give_the_notes_of_each_converted_alone(huge, monkeypatch):
    scores = random_scores(np.random.default_rng(11), 40, huge)
    assert all(score.note_num() for score in scores)
    for per_pass in (16384, 100, 1):  # all in one pass, a few scores a pass, one score a pass
        monkeypatch.setattr(notes, "NOTES_PER_PASS", per_pass)
        pieces = notes.pieces_from_scores(scores, [f"s{n}" for n in range(len(scores))])
        assert [p.name for p in pieces] == [f"s{n}" for n in range(len(scores))]
        for piece, score in zip(pieces, scores):
            assert piece.notes.tobytes() == converted_one_by_one(score).tobytes()
            assert piece.notes.dtype == notes.NOTE_DTYPE and notes.in_order(piece.notes)
            tempo = round(float(score.tempos[0].qpm), 3) if len(score.tempos) else 120.0
            assert piece.qpm == tempo and piece.time_signature == (
                (score.time_signatures[0].numerator, 4) if len(score.time_signatures) else (4, 4))
    # one int64 key sorts them all, unless times that large do not fit one (each piece then sorts its own)
    from symusic.core import NoteTickList

    gathered = NoteTickList()
    for score in scores:
        for track in score.tracks:
            gathered.extend(track.notes)
    quarters = np.repeat([s.ticks_per_quarter for s in scores for _ in s.tracks],
                         [len(t.notes) for s in scores for t in s.tracks])
    order = notes.score_order(gathered.numpy(), [s.note_num() for s in scores], quarters)
    assert (order is None) == huge
