"""MusicVAE's bars codec on hand-made MIDI files: which windows become phrases, the metre it is
fitted to, the melody, drums and trio encodings, decoding back to MIDI, and the clear reasons
given for a file that has no phrase."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from tunesmith.codecs import CODECS, BarsCodec, load_codec
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes, read_midi, write_midi

HOLD, REST = 0, 1


def note_on(pitch: int) -> int:
    return 2 + pitch - 21


def midi(folder: Path, name: str, rows: list[tuple], metre: tuple[int, int] = (4, 4)) -> Piece:
    """Write notes (start, end, pitch[, velocity, program, is_drum]) in quarter notes to a MIDI
    file and read it back, as a corpus would."""
    path = folder / name
    write_midi(Piece(make_notes(rows), qpm=100.0, time_signature=metre), path)
    return read_midi(path)


def quarter_notes(bars: list[int], first_pitch: int = 60, beats_per_bar: int = 4) -> list[tuple]:
    """Four (or beats_per_bar) quarter notes in each of these bars, a different pitch for every note."""
    return [(bar * beats_per_bar + beat, bar * beats_per_bar + beat + 1, first_pitch + bar * beats_per_bar + beat)
            for bar in bars for beat in range(beats_per_bar)]


def test_windows_with_an_empty_bar_are_skipped(tmp_path):
    piece = midi(tmp_path, "gap.mid", quarter_notes([0, 1, 3]))  # four bars, the third empty
    codec = BarsCodec.fit([piece], kind="melody", bars=2)
    assert codec.phrase_starts(piece) == [0]  # bars 1-2 and 2-3 hold the empty bar
    (phrase,) = codec.phrases(piece)
    assert phrase.shape == (32, 1) and phrase.dtype == np.int64
    assert phrase[:4, 0].tolist() == [note_on(60), HOLD, HOLD, HOLD]
    assert phrase[16, 0] == note_on(64)  # bar 1 begins with its first note
    one_bar = BarsCodec.fit([piece], kind="melody", bars=1)
    assert one_bar.phrase_starts(piece) == [0, 1, 3]


def test_six_bars_give_five_two_bar_windows_moved_one_bar_at_a_time(tmp_path):
    piece = midi(tmp_path, "six.mid", quarter_notes(range(6)))
    codec = BarsCodec.fit([piece], kind="melody", bars=2)
    phrases = codec.phrases(piece)
    assert len(phrases) == 5
    assert [int(p[0, 0]) for p in phrases] == [note_on(60 + 4 * bar) for bar in range(5)]
    assert all(np.array_equal(a[16:], b[:16]) for a, b in pairwise(phrases))
    assert len(BarsCodec.fit([piece], kind="melody", bars=4).phrases(piece)) == 3


def test_identical_windows_of_a_piece_are_kept_once(tmp_path):
    riff = [(bar * 4 + beat, bar * 4 + beat + 1, 60 + beat) for bar in range(4) for beat in range(4)]
    piece = midi(tmp_path, "riff.mid", riff)
    assert len(BarsCodec.fit([piece], bars=2).phrases(piece)) == 1


def test_a_held_note_fills_the_bar_it_sounds_in(tmp_path):
    piece = midi(tmp_path, "long.mid", [(0, 8, 60), (8, 12, 62)])  # a two-bar note, then a bar
    codec = BarsCodec.fit([piece], bars=2)
    phrase, bar = codec.first_phrase(piece)
    assert bar == 0
    assert phrase[:, 0].tolist() == [note_on(60)] + [HOLD] * 31
    assert codec.phrase_starts(piece) == [0, 1]


@pytest.mark.parametrize("metre, steps_per_bar", [((3, 4), 12), ((6, 8), 12), ((4, 4), 16), ((2, 2), 16)])
def test_the_metre_sets_the_bar_length(tmp_path, metre, steps_per_bar):
    beats = round(metre[0] * 4 / metre[1])
    piece = midi(tmp_path, "waltz.mid", quarter_notes(range(3), beats_per_bar=beats), metre=metre)
    codec = BarsCodec.fit([piece], kind="melody", bars=2)
    assert codec.metre == metre and codec.steps_per_bar == steps_per_bar and codec.phrase_steps == 2 * steps_per_bar
    phrases = codec.phrases(piece)
    assert len(phrases) == 2 and phrases[0].shape == (2 * steps_per_bar, 1)
    assert phrases[1][0, 0] == note_on(60 + beats)  # the second window begins on the second bar line


def test_the_most_common_metre_wins_and_other_metres_give_no_phrases(tmp_path):
    waltzes = [midi(tmp_path, f"waltz{i}.mid", quarter_notes(range(4), beats_per_bar=3), metre=(3, 4))
               for i in range(2)]
    march = midi(tmp_path, "march.mid", quarter_notes(range(4)))
    codec = BarsCodec.fit([march] + waltzes, kind="melody", bars=2)
    assert codec.metre == (3, 4) and codec.steps_per_bar == 12
    assert not codec.in_metre(march) and codec.phrases(march) == []
    assert codec.why_no_phrases(march) == "it is in 4/4 and the phrases are in 3/4"
    assert codec.why_no_phrases(waltzes[0]) == ""


def test_a_melody_phrase_decodes_and_reads_back_as_the_same_phrase(tmp_path):
    rows = [(0, 0.5, 67), (0.5, 1, 69), (1, 3, 71), (3.5, 4, 72),  # a rest between beats 3 and 3.5
            (4, 4.25, 74), (4.25, 6, 72), (7, 9, 71)]  # the last note crosses into a third bar
    piece = midi(tmp_path, "tune.mid", rows)
    codec = BarsCodec.fit([piece], kind="melody", bars=2)
    phrase, bar = codec.first_phrase(piece)
    assert bar == 0
    assert phrase[12:15, 0].tolist() == [REST, HOLD, note_on(72)]
    assert phrase[-1, 0] == HOLD  # the last note is still sounding at the phrase's end
    decoded = codec.decode(phrase, qpm=90.0, program=40)
    assert decoded.time_signature == (4, 4) and decoded.qpm == 90.0
    assert set(decoded.notes["program"].tolist()) == {40}
    assert decoded.notes["end"].max() == 8.0  # cut at the phrase's end
    write_midi(decoded, tmp_path / "decoded.mid")
    assert [p.tolist() for p in codec.phrases(read_midi(tmp_path / "decoded.mid"))] == [phrase.tolist()]


def test_pitches_outside_the_piano_move_by_octaves_into_it(tmp_path):
    piece = midi(tmp_path, "wide.mid", [(0, 4, 10), (4, 8, 120)])
    phrase = BarsCodec.fit([piece], bars=2).phrases(piece)[0]
    assert phrase[0, 0] == note_on(22) and phrase[16, 0] == note_on(108)
    assert phrase.max() < 90


def test_drums_are_sets_of_drum_classes(tmp_path):
    hits = [(0, 0.25, 36), (0, 0.25, 42), (1, 1.25, 38), (1, 1.25, 25),  # 25 is in no class
            (4, 4.25, 49), (5, 5.25, 35)]
    piece = midi(tmp_path, "beat.mid", [(start, end, pitch, 100, 0, True) for start, end, pitch in hits])
    codec = BarsCodec.fit([piece], kind="drums", bars=2)
    assert codec.class_counts == [512]
    (phrase,) = codec.phrases(piece)
    assert phrase.shape == (32, 1)
    kick, snare, closed_hat, crash = 1, 2, 4, 128
    assert {step: int(c) for step, c in enumerate(phrase[:, 0]) if c} == {
        0: kick | closed_hat, 4: snare, 16: crash, 20: kick}
    decoded = codec.decode(phrase)
    assert decoded.notes["is_drum"].all()
    assert sorted(zip(decoded.notes["start"].tolist(), decoded.notes["pitch"].tolist())) == [
        (0.0, 36), (0.0, 42), (1.0, 38), (4.0, 49), (5.0, 36)]


def trio_rows(bass_program: int) -> list[tuple]:
    """Two bars: a high piano line, a middle string part, a low part on `bass_program`, drums."""
    rows = []
    for beat in range(8):
        rows.append((beat, beat + 1, 72 + beat % 3, 100, 0, False))  # piano, the highest
        rows.append((beat, beat + 1, 60 + beat % 2, 100, 48, False))  # strings, in the middle
        rows.append((beat, beat + 1, 36 + beat % 4, 100, bass_program, False))  # the lowest
        rows.append((beat, beat + 0.25, 36 if beat % 2 == 0 else 38, 100, 0, True))
    return rows


def test_a_trio_takes_the_highest_program_the_bass_and_the_drums(tmp_path):
    piece = midi(tmp_path, "band.mid", trio_rows(bass_program=33))
    codec = BarsCodec.fit([piece], kind="trio", bars=2)
    assert codec.class_counts == [90, 90, 512]
    (phrase,) = codec.phrases(piece)
    assert phrase.shape == (32, 3)
    assert phrase[::4, 0].tolist() == [note_on(72 + beat % 3) for beat in range(8)]  # piano, not strings
    assert phrase[::4, 1].tolist() == [note_on(36 + beat % 4) for beat in range(8)]
    assert phrase[::4, 2].tolist() == [1, 2] * 4  # kick, snare
    decoded = codec.decode(phrase, program=0)
    pitched = decoded.notes[~decoded.notes["is_drum"]]
    assert sorted(set(pitched["program"].tolist())) == [0, 33]
    assert pitched["pitch"][pitched["program"] == 33].max() < 40
    assert decoded.notes["is_drum"].sum() == 8


def test_without_a_bass_program_the_lowest_program_is_the_bass(tmp_path):
    piece = midi(tmp_path, "no-bass.mid", trio_rows(bass_program=24))  # a low guitar
    phrase = BarsCodec.fit([piece], kind="trio", bars=2).phrases(piece)[0]
    assert phrase[::4, 1].tolist() == [note_on(36 + beat % 4) for beat in range(8)]
    assert phrase[::4, 0].tolist() == [note_on(72 + beat % 3) for beat in range(8)]


def test_a_trio_needs_all_three_parts_in_every_bar(tmp_path):
    rows = [row for row in trio_rows(bass_program=33) if not (row[5] and row[0] >= 4)]  # drums stop after bar 0
    piece = midi(tmp_path, "no-drums-later.mid", rows)
    codec = BarsCodec.fit([piece], kind="trio", bars=2)
    assert codec.phrases(piece) == []
    assert "the melody, the bass and the drums play in every bar" in codec.why_no_phrases(piece)
    solo = midi(tmp_path, "piano.mid", quarter_notes([0, 1]) + [(0, 0.25, 36, 100, 0, True)])
    assert "a trio needs a melody and a bass" in codec.why_no_phrases(solo)


def test_first_phrase_skips_leading_empty_bars_and_says_where_it_begins(tmp_path):
    piece = midi(tmp_path, "late.mid", quarter_notes([2, 3, 4, 5]))
    codec = BarsCodec.fit([piece], kind="melody", bars=2)
    phrase, bar = codec.first_phrase(piece)
    assert bar == 2 and phrase[0, 0] == note_on(68)
    phrase, bar = codec.first_phrase(piece, start_bar=3)
    assert bar == 3 and phrase[0, 0] == note_on(72)
    with pytest.raises(UserError, match=r"^late\.mid: no 2-bar melody phrase from bar 5 .*earlier start bar"):
        codec.first_phrase(piece, start_bar=5)


def test_a_drum_only_file_gives_no_melody_and_says_why(tmp_path):
    piece = midi(tmp_path, "drums.mid", [(beat, beat + 0.25, 36, 100, 0, True) for beat in range(8)])
    codec = BarsCodec(kind="melody", bars=2)
    assert codec.phrases(piece) == []
    assert codec.why_no_phrases(piece) == "it has only drum notes"
    with pytest.raises(UserError) as error:
        codec.first_phrase(piece)
    assert str(error.value) == "drums.mid: no 2-bar melody phrase: it has only drum notes; choose another piece"
    assert "\n" not in str(error.value)


def test_the_codec_saves_and_loads(tmp_path):
    piece = midi(tmp_path, "waltz.mid", quarter_notes(range(3), beats_per_bar=3), metre=(3, 4))
    codec = BarsCodec.fit([piece], kind="trio", bars=16, steps_per_quarter=4)
    assert CODECS["bars"] is BarsCodec
    assert BarsCodec.from_dict(codec.to_dict()) == codec
    codec.save(tmp_path / "codec.json")
    loaded = load_codec(tmp_path / "codec.json")
    assert loaded == codec and loaded.metre == (3, 4) and loaded.phrase_steps == 16 * 12


def test_bad_options_are_one_clear_line():
    with pytest.raises(UserError, match="no kind 'choir'; give one of melody, drums, trio"):
        BarsCodec(kind="choir")
    with pytest.raises(UserError, match="no option bar"):
        BarsCodec.fit([], bar=2)
    with pytest.raises(UserError, match="not a whole number of steps"):
        BarsCodec(metre=(7, 32))


def test_encode_is_the_whole_piece_on_the_grid_and_decode_reads_it(tmp_path):
    piece = midi(tmp_path, "gap.mid", quarter_notes([0, 1, 3]))
    codec = BarsCodec.fit([piece], kind="melody", bars=2)
    tokens = codec.encode(piece)
    assert len(tokens) == 4 * 16
    decoded = codec.decode(tokens)
    assert decoded.notes["pitch"].tolist() == piece.notes["pitch"].tolist()
    assert decoded.notes["start"].tolist() == piece.notes["start"].tolist()
