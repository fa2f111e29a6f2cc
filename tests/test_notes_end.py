"""Every note ends: a NOTE_ON whose NOTE_OFF never comes (or comes too late) ends max_note_seconds
after it, a limit fitted from the training pieces and saved with the codec; the bundled Music
Transformer's continuations hold no note longer than that."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tunesmith import runs
from tunesmith.codecs import MiditokCodec, PerformanceCodec, load_codec
from tunesmith.codecs.performance import NOTE_OFF, NOTE_ON, TIME_SHIFT
from tunesmith.media.domains import SampleOptions
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes
from tunesmith import api
from tunesmith.generation.lengths import Length
from tunesmith.generation.request import SampleRequest

SECOND = TIME_SHIFT + 99  # a time shift of 1 s at 100 steps a second


def seconds_of(piece: Piece) -> list[tuple[float, float, int]]:
    """(start, end, pitch) of each note in seconds."""
    scale = 60.0 / piece.qpm
    return sorted((round(n["start"] * scale, 6), round(n["end"] * scale, 6), int(n["pitch"])) for n in piece.notes)


def test_a_note_whose_note_off_never_comes_ends_after_max_note_seconds():
    codec = PerformanceCodec.fit([], max_note_seconds=2.0)
    tokens = [codec.start_token, NOTE_ON + 60, *[SECOND] * 10]  # held to the end, 10 s later
    assert seconds_of(codec.decode(tokens)) == [(0.0, 2.0, 60)]
    assert seconds_of(codec.decode([NOTE_ON + 60, SECOND])) == [(0.0, 1.0, 60)]  # shorter: ends with the piece


def test_a_late_note_off_is_cut_and_ends_the_note_still_sounding():
    codec = PerformanceCodec.fit([], max_note_seconds=2.0)
    tokens = [NOTE_ON + 64, *[SECOND] * 5, NOTE_OFF + 64,  # 5 s: cut at 2 s
              NOTE_ON + 62, *[SECOND] * 3, NOTE_ON + 62, SECOND, NOTE_OFF + 62,  # the second 62 ends here
              NOTE_ON + 60, SECOND, SECOND, NOTE_OFF + 60]  # exactly 2 s: kept
    assert seconds_of(codec.decode(tokens)) == [(0.0, 2.0, 64), (5.0, 7.0, 62), (8.0, 9.0, 62), (9.0, 11.0, 60)]


def test_fit_takes_the_longest_pitched_note_rounded_up_but_not_a_stuck_one():
    slow = Piece(make_notes([(0.0, 2.3, 60), (2.0, 3.0, 62), (0.0, 30.0, 36, 100, 0, True)]), qpm=60)  # 2.3 s
    fast = Piece(make_notes([(0.0, 4.0, 67)]), qpm=240)  # 1 s
    assert PerformanceCodec.fit([slow, fast]).max_note_seconds == 3.0  # drums do not count
    assert PerformanceCodec.fit([fast]).max_note_seconds == 1.0
    tune = Piece(make_notes([(i, i + 1.0, 60 + i % 12) for i in range(1000)]), qpm=120)  # 1000 notes of 0.5 s
    stuck = Piece(make_notes([(0.0, 400.0, 60)]), qpm=120)  # and one held for 200 s in a broken file
    assert PerformanceCodec.fit([tune, stuck]).max_note_seconds == 1.0  # twice the 99.9th percentile, rounded up
    assert PerformanceCodec.fit([]).max_note_seconds == 4.0  # no notes: the default
    assert PerformanceCodec.fit([slow], max_note_seconds=6.5).max_note_seconds == 6.5  # given: kept
    assert MiditokCodec.fit([slow, fast], tokenization="MIDILike").max_note_seconds == 3.0
    with pytest.raises(UserError, match="max_note_seconds above 0"):
        PerformanceCodec.fit([], max_note_seconds=0)


def test_a_fitted_codec_encodes_its_pieces_unchanged():
    piece = Piece(make_notes([(0.0, 7.0, 60), (1.0, 2.0, 64)]), qpm=90)  # a 4.67 s note
    codec = PerformanceCodec.fit([piece])
    assert codec.max_note_seconds == 5.0
    assert seconds_of(codec.decode(codec.encode(piece))) == [(0.0, 4.67, 60), (0.67, 1.33, 64)]


def test_a_codec_saved_before_the_limit_loads_with_4_seconds(tmp_path):
    old = {"codec": "performance", "styles": [], "steps_per_second": 100, "max_shift_steps": 100, "velocity_bins": 32}
    (tmp_path / "codec.json").write_text(json.dumps(old), encoding="utf-8")
    assert load_codec(tmp_path / "codec.json").max_note_seconds == 4.0
    assert load_codec(runs.open_run("transformer-chorales") / runs.CODEC).max_note_seconds == 4.0  # saved without it
    fitted = PerformanceCodec.fit([Piece(make_notes([(0.0, 12.0, 60)]), qpm=120)])
    fitted.save(tmp_path / "new.json")
    assert json.loads((tmp_path / "new.json").read_text())["max_note_seconds"] == 6.0
    assert load_codec(tmp_path / "new.json") == fitted


@pytest.mark.parametrize("tokenization", ["MIDILike", "REMI"])
def test_miditok_decoding_cuts_notes_at_max_note_seconds(tokenization):
    long_note = Piece(make_notes([(0.0, 8.0, 60), (8.0, 9.0, 62)]), qpm=120)  # 4 s, then 0.5 s
    codec = MiditokCodec.fit([long_note], tokenization=tokenization, max_note_seconds=2.0)
    assert seconds_of(codec.decode(codec.encode(long_note))) == [(0.0, 2.0, 60), (4.0, 4.5, 62)]
    old = {key: value for key, value in codec.to_dict().items() if key != "max_note_seconds"}
    assert MiditokCodec.from_dict(old).max_note_seconds == 4.0


@pytest.fixture
def one_torch_thread():
    """A small model steps faster on one thread than on two fighting other processes for the cores
    (on a busy two-core machine, 25 times faster)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_bundled_transformer_holds_no_note_longer_than_its_limit(tmp_path: Path, one_torch_thread):
    primer = Path(__file__).resolve().parent.parent / "src" / "tunesmith" / "primers" / "chorale.mid"
    pieces = api.generate("transformer-chorales", SampleRequest(SampleOptions(primer=str(primer)), Length(seconds=20),
                                                                num_outputs=2, seed=3, out=tmp_path)).items
    limit = load_codec(runs.open_run("transformer-chorales") / runs.CODEC).max_note_seconds
    for piece in pieces:
        lengths = (piece.notes["end"] - piece.notes["start"]) * 60 / piece.qpm
        assert len(piece) > 20 and piece.seconds >= 20
        assert lengths.max() <= limit + 1e-9
    assert len(list(tmp_path.glob("*.mid"))) == 2
