"""MIDI corpora as a user meets them: a folder with bad files in it, style sub-folders, a bad file
given alone, and the bundled chorales and folk tunes converted, listed, read and exported."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tunesmith.corpus import bundled
from tunesmith.corpus.bundled import BUNDLED_MIDI, abc_tune, bundled_midi_folder, export_bundled, list_bundled
from tunesmith.corpus.midi import read_midi_corpus
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes, to_midi_bytes

# A few sources of each bundled corpus keep the tests fast; converting all of them takes about a minute.
CHORALES = ["bwv1.6.mxl",     # a horn part above the four voices, left out
            "bwv10.7.mxl", "bwv26.6.mxl",
            "bwv101.7.mxl",   # begins with a one-beat pickup
            "bwv277.krn",     # Humdrum, four unnamed parts
            "bwv27.6.mxl",    # five voices (two sopranos): not a four-part chorale
            "bwv846.mxl"]     # a keyboard prelude: not a chorale
FOLK = ["0487-0500.abc", "1116-1135_mh.abc", "1116-1135_ml.abc"]  # the last two print the same 20 tunes


def midi_bytes(*pitches: int, program: int = 0) -> bytes:
    return to_midi_bytes(Piece(make_notes([(i, i + 1, p, 100, program) for i, p in enumerate(pitches)])))


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "lakh"
    for name, data in {"jazz/a.mid": midi_bytes(60, 62), "jazz/deep/b.MID": midi_bytes(64),
                       "rock/c.midi": midi_bytes(40, 43, program=30), "loose.kar": midi_bytes(70),
                       "rock/broken.mid": b"MThd\x00\x00\x00\x06 this is not a MIDI file",
                       "empty.mid": b"", "silent.mid": to_midi_bytes(Piece()), "notes.txt": b"not music"}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_a_folder_skips_bad_files_by_name_and_tags_styles(midi_folder, capsys):
    docs = read_midi_corpus(str(midi_folder))
    err = capsys.readouterr().err
    assert [d.name for d in docs] == ["jazz/a.mid", "jazz/deep/b.MID", "loose.kar", "rock/c.midi"]
    assert [d.content.style for d in docs] == ["jazz", "jazz", None, "rock"]
    assert [d.content.notes["pitch"].tolist() for d in docs] == [[60, 62], [64], [70], [40, 43]]
    assert docs[3].content.notes["program"].tolist() == [30, 30]
    for bad, why in [("rock/broken.mid", "is not a readable MIDI file"), ("empty.mid", "is empty"),
                     ("silent.mid", "has no notes")]:
        assert f"{midi_folder / bad} {why}" in err
    assert "read 4 MIDI files" in err and "skipped 3" in err
    assert "notes.txt" not in err


@pytest.mark.parametrize("bad", ["rock/broken.mid", "empty.mid", "silent.mid"])
def test_a_bad_file_given_alone_is_an_error(midi_folder, bad):
    with pytest.raises(UserError, match=bad.split("/")[-1]):
        read_midi_corpus(str(midi_folder / bad))


def test_no_readable_file_or_no_such_source_is_an_error(tmp_path, midi_folder):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.mid").write_bytes(b"")
    with pytest.raises(UserError, match="no usable MIDI file"):
        read_midi_corpus(str(tmp_path / "bad"))
    with pytest.raises(UserError, match="chorales, folk"):
        read_midi_corpus(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="not a MIDI file"):
        read_midi_corpus(str(midi_folder / "notes.txt"))


def test_abc_tunes_keep_pickup_ties_tuplets_and_chord_tops():
    from music21 import abcFormat

    handler = abcFormat.ABCHandler()
    handler.process("X:1\nT:Test\nM:3/4\nL:1/8\nQ:1/4=90\nK:G\nD | G2 A2-A2 | (3Bcd {g}e2 [ce]2 | z2 f4 |]\n")
    tune = abc_tune(handler.splitByReferenceNumber()[1], "test.mid")
    third = 1 / 3
    expected = [(2.5, 3, 62), (3, 4, 67), (4, 6, 69), (6, 6 + third, 71), (6 + third, 6 + 2 * third, 72),
                (6 + 2 * third, 7, 74), (7, 8, 76), (8, 9, 76), (10, 12, 78)]
    assert np.allclose(tune.notes["start"], [s for s, _, _ in expected])
    assert np.allclose(tune.notes["end"], [e for _, e, _ in expected])
    assert tune.notes["pitch"].tolist() == [p for _, _, p in expected]
    assert tune.qpm == 90 and tune.time_signature == (3, 4)


@pytest.fixture(scope="module")
def bundled_cache(tmp_path_factory):
    """Both bundled corpora converted once, from a few of their music21 sources, into a temporary cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNESMITH_CACHE", str(tmp_path_factory.mktemp("cache")))
        for name, picks in (("chorales", CHORALES), ("folk", FOLK)):
            corpus = BUNDLED_MIDI[name]
            sources = [s for s in corpus.sources() if Path(s).name in picks]
            assert len(sources) == len(picks)
            patch.setitem(BUNDLED_MIDI, name, replace(corpus, sources=lambda sources=sources: sources))
        yield bundled.cache_folder()


def test_bundled_corpora_convert_once_into_the_cache(bundled_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path))  # a fresh cache, so this test sees the conversion
    folder = bundled_midi_folder("chorales")
    err = capsys.readouterr().err
    assert folder == tmp_path / "corpora" / f"chorales-v{bundled.CONVERSION_VERSION}"
    assert "one-time conversion" in err and "converted 5 chorales pieces, skipped 2" in err
    assert sorted(p.name for p in folder.iterdir()) == ["bwv1.6.mid", "bwv10.7.mid", "bwv101.7.mid",
                                                        "bwv26.6.mid", "bwv277.mid"]
    assert bundled_midi_folder("chorales") == folder and not capsys.readouterr().err  # cached: no second conversion
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no half-built folder left behind


def test_chorales_have_four_voices_and_real_lengths(bundled_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "chorales" is no path here, so it names the bundled corpus
    docs = read_midi_corpus("chorales")
    assert len(docs) == 5
    for doc in docs:
        piece = doc.content
        voices = [piece.notes[piece.notes["program"] == program] for program in (52, 53, 54, 19)]
        assert len(set(piece.notes["program"].tolist())) == 4 and all(len(v) > 20 for v in voices)
        mean_pitches = [v["pitch"].mean() for v in voices]
        assert mean_pitches == sorted(mean_pitches, reverse=True)  # soprano above alto above tenor above bass
        assert 24 <= piece.beats <= 200 and 20 <= piece.seconds <= 300
    pickup = next(d.content for d in docs if d.name == "bwv101.7.mid")
    assert pickup.notes["start"].min() == 3.0 and pickup.time_signature == (4, 4)  # bar lines on multiples of 4


def test_folk_tunes_are_monophonic_melodies(bundled_cache):
    docs = read_midi_corpus("folk")
    assert len(docs) == 34  # the tunes printed twice are kept once
    for doc in docs:
        notes = doc.content.notes
        assert (notes["program"] == 73).all() and len(notes) >= 16
        assert (np.diff(notes["start"]) > 0).all() and (notes["end"][:-1] <= notes["start"][1:] + 1e-9).all()


def test_list_bundled_measures_the_cached_files(bundled_cache):
    rows = {row["name"]: row for row in list_bundled()}
    assert set(rows) == {"lyrics", "chorales", "folk"}
    assert rows["lyrics"]["files"] == 2 and rows["lyrics"]["characters"] > 1_000_000
    for name, files in (("chorales", 5), ("folk", 34)):
        pieces = [d.content for d in read_midi_corpus(name)]
        assert rows[name]["files"] == files and rows[name]["description"] == BUNDLED_MIDI[name].description
        assert rows[name]["notes"] == sum(len(p) for p in pieces)
        assert rows[name]["minutes"] == round(sum(p.seconds for p in pieces) / 60, 1) > 0


def test_export_refuses_to_overwrite(bundled_cache, tmp_path, capsys):
    mine = tmp_path / "out" / "bwv10.7.mid"
    mine.parent.mkdir()
    mine.write_bytes(b"my own file")
    assert export_bundled("chorales", tmp_path / "out") == 4
    err = capsys.readouterr().err
    assert mine.read_bytes() == b"my own file" and f"kept {mine}" in err and "kept 1" in err
    assert len(read_midi_corpus(str(tmp_path / "out" / "bwv101.7.mid"))) == 1
    with pytest.raises(UserError, match="no bundled MIDI corpus named jazz"):
        export_bundled("jazz", tmp_path / "out")
