"""Reading a MIDI corpus twice: the second read comes from the note cache (by file content) and gives
the very pieces and tokens of the first; renamed files still hit, changed files miss, an unwritable
cache is warned about once; cache files are written atomically but not synced; the performance
encoder's passes give the tokens of a plain one-piece-at-a-time encoder; and the ingest benchmark
runs on a few files."""

from __future__ import annotations

import io
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_command
from tunesmith.codecs import MelodyCodec, PerformanceCodec, performance
from tunesmith import notes
from tunesmith.corpus import midi
from tunesmith.corpus.midi import read_midi_corpus
from tunesmith.notes import Piece, make_notes, parse_midi, read_midi, to_midi_bytes, transpose
from tunesmith.media.files import FILE_MODE, write_atomic
from tunesmith.training.data import encode_items

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "midi_ingest.py"


def song(*pitches: int, qpm: float = 120, metre: tuple[int, int] = (4, 4), program: int = 0) -> bytes:
    notes = [(i / 2, i / 2 + 1.5, p, 40 + 10 * i, program) for i, p in enumerate(pitches)]
    notes.append((0.0, 0.25, 38, 90, 0, True))  # a snare
    return to_midi_bytes(Piece(make_notes(notes), qpm=qpm, time_signature=metre))


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def songs(tmp_path: Path) -> Path:
    folder = tmp_path / "songs"
    for name, data in {"a.mid": song(60, 62, 64), "b.mid": song(67, 65, qpm=96, metre=(3, 4)),
                       "jazz/c.midi": song(48, 52, 55, 59, program=33), "jazz/d.mid": song(72, qpm=133.5),
                       "broken.mid": b"MThd\x00\x00\x00\x06 not MIDI", "empty.mid": b""}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def parses(monkeypatch) -> list[bytes]:
    """The bytes symusic is asked to parse, in order."""
    parsed = []

    def counting_parse(data: bytes):
        parsed.append(data)
        return parse_midi(data)

    monkeypatch.setattr(midi, "parse_midi", counting_parse)
    return parsed


def same_pieces(first: list, again: list) -> bool:
    return [d.name for d in first] == [d.name for d in again] and all(
        np.array_equal(a.content.notes, b.content.notes) and a.content.notes.dtype == b.content.notes.dtype
        and (a.content.qpm, a.content.time_signature, a.content.name, a.content.style)
        == (b.content.qpm, b.content.time_signature, b.content.name, b.content.style)
        for a, b in zip(first, again))


def test_a_corpus_read_again_comes_from_the_cache_with_the_same_pieces_and_tokens(songs, own_cache, parses, capsys):
    cold = read_midi_corpus(str(songs))
    assert len(parses) == 5  # the four songs and the broken file; the empty one is refused unparsed
    assert len(list((own_cache / "midi").glob("*.pack"))) == 1
    capsys.readouterr()
    parses.clear()
    warm = read_midi_corpus(str(songs))
    err = capsys.readouterr().err
    assert len(parses) == 1  # only the broken file is tried again
    assert "4 of 4 MIDI files from the note cache" in err and "skipped 2" in err
    assert same_pieces(cold, warm)
    assert [d.content.style for d in warm] == [None, None, "jazz", "jazz"]
    assert [(d.content.qpm, d.content.time_signature) for d in warm][:2] == [(120.0, (4, 4)), (96.0, (3, 4))]
    for doc in warm:  # what the one-file reader gives, too
        alone = read_midi(songs / doc.name)
        assert np.array_equal(alone.notes, doc.content.notes) and alone.qpm == doc.content.qpm
    codec = PerformanceCodec.fit([d.content for d in cold])
    tokens = encode_items(codec, [d.content for d in warm])
    assert tokens.tolist() == [t for d in cold for t in codec.encode(d.content)]
    assert encode_items(codec, [d.content for d in cold]).tolist() == tokens.tolist()


def test_a_renamed_file_hits_and_a_changed_file_misses(songs, own_cache, parses):
    first = read_midi_corpus(str(songs))
    (songs / "a.mid").rename(songs / "jazz" / "moved.mid")
    parses.clear()
    docs = read_midi_corpus(str(songs))
    assert len(parses) == 1  # the broken file only
    moved = next(d.content for d in docs if d.name == "jazz/moved.mid")
    assert np.array_equal(moved.notes, first[0].content.notes) and moved.style == "jazz"
    (songs / "b.mid").write_bytes(song(50, 53, qpm=80))  # new content, same name
    parses.clear()
    docs = read_midi_corpus(str(songs))
    assert len(parses) == 2
    changed = next(d.content for d in docs if d.name == "b.mid")
    assert changed.notes["pitch"].tolist() == [38, 50, 53] and changed.qpm == 80
    with open(next((own_cache / "midi").glob("*.pack")), "rb") as pack:
        assert len(np.load(pack)) == 4  # the index: the old b.mid is gone from the pack
    parses.clear()
    assert same_pieces(docs, read_midi_corpus(str(songs))) and len(parses) == 1


def test_a_damaged_pack_is_read_past_and_rewritten(songs, own_cache, parses):
    first = read_midi_corpus(str(songs))
    pack = next((own_cache / "midi").glob("*.pack"))
    pack.write_bytes(b"not a pack")
    assert same_pieces(first, read_midi_corpus(str(songs)))
    parses.clear()
    read_midi_corpus(str(songs))
    assert len(parses) == 1


def test_an_unwritable_cache_is_warned_about_once_and_the_corpus_still_read(songs, tmp_path, monkeypatch,
                                                                           parses, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "a-file" / "cache"))
    codec = PerformanceCodec.fit([])
    warnings = ""
    for _ in range(2):
        parses.clear()
        docs = read_midi_corpus(str(songs))
        tokens = encode_items(codec, [d.content for d in docs])
        warnings += capsys.readouterr().err
        assert len(docs) == 4 and len(parses) == 5  # without a cache, each read parses again
        assert tokens.tolist() == [t for d in docs for t in codec.encode(d.content)]
    assert warnings.count("cannot write the MIDI note cache") == 1
    assert warnings.count("cannot write the token cache") == 1


def test_a_token_stream_encoded_again_comes_from_the_token_cache(songs, own_cache, monkeypatch):
    pieces = [d.content for d in read_midi_corpus(str(songs))]
    codec = PerformanceCodec.fit(pieces)
    encoded = []
    encode_all = PerformanceCodec.encode_all
    monkeypatch.setattr(PerformanceCodec, "encode_all", lambda self, items: encoded.append(len(items)) or encode_all(
        self, items))
    first = encode_items(codec, pieces)
    again = encode_items(codec, pieces)
    assert encoded == [4] and torch.equal(first, again) and again.dtype == torch.long
    assert first.tolist() == [t for p in pieces for t in codec.encode(p)]
    assert len(list((own_cache / "tokens").glob("*.npy"))) == 1
    encode_items(PerformanceCodec.fit(pieces, velocity_bins=8), pieces)  # other settings: encoded anew
    encode_items(codec, pieces[:3] + [transpose(pieces[3], 2)])  # another piece: encoded anew
    encode_items(codec, pieces[:3] + [replace(pieces[3], style=None)])  # ... as is one whose style changed
    assert encoded == [4, 4, 4, 4]
    melody = MelodyCodec.fit(pieces)  # a codec without encode_all is kept, too
    assert torch.equal(encode_items(melody, pieces), encode_items(melody, pieces))
    assert len(list((own_cache / "tokens").glob("*.npy"))) == 5


@pytest.fixture
def fsyncs(monkeypatch) -> list[int]:
    """The file descriptors os.fsync is called on, in order."""
    synced, fsync = [], os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or fsync(fd))
    return synced


def test_write_atomic_syncs_outputs_and_not_cache_files_and_leaves_no_temporary_file(tmp_path, fsyncs, monkeypatch):
    data = bytes(range(256)) * 12_000  # 3 MB, written a MiB at a time
    write_atomic(tmp_path / "cache.bin", data, durable=False)
    assert (tmp_path / "cache.bin").read_bytes() == data and fsyncs == []
    write_atomic(tmp_path / "cache.bin", b"new", durable=False)  # replaced whole
    assert (tmp_path / "cache.bin").read_bytes() == b"new" and fsyncs == []
    write_atomic(tmp_path / "output.bin", data)  # outputs and checkpoints: synced before the rename
    assert (tmp_path / "output.bin").read_bytes() == data and len(fsyncs) == 1
    write_atomic(tmp_path / "empty.bin", b"", durable=False)
    assert (tmp_path / "empty.bin").read_bytes() == b""
    notes = np.arange(300_000, dtype=np.int64)  # a file given in parts, small and large (2.4 MB)
    write_atomic(tmp_path / "empty.bin", [b"head", notes[:10].data, b"", notes.data, bytearray(b"tail")], durable=False)
    assert (tmp_path / "empty.bin").read_bytes() == b"head" + notes[:10].tobytes() + notes.tobytes() + b"tail"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.bin", "empty.bin", "output.bin"]
    assert all((p.stat().st_mode & 0o777) == FILE_MODE for p in tmp_path.iterdir())

    def failing_rename(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_rename)
    with pytest.raises(OSError):
        write_atomic(tmp_path / "cache.bin", data, durable=False)
    assert (tmp_path / "cache.bin").read_bytes() == b"new"  # the old file stays, and no half-written one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.bin", "empty.bin", "output.bin"]


def test_a_cold_read_fills_both_caches_without_syncing_them(songs, own_cache, fsyncs):
    docs = read_midi_corpus(str(songs))
    tokens = encode_items(PerformanceCodec.fit([]), [d.content for d in docs])
    assert fsyncs == []
    pack = next((own_cache / "midi").glob("*.pack")).read_bytes()  # as np.save writes the index and the notes
    index, notes = io.BytesIO(), io.BytesIO()
    np.save(index, np.array([(midi.hashlib.sha1((songs / d.name).read_bytes()).hexdigest().encode(),
                              len(d.content.notes), d.content.qpm, *d.content.time_signature) for d in docs],
                            midi.PACK_INDEX))
    np.save(notes, np.concatenate([d.content.notes for d in docs]))
    assert pack == index.getvalue() + notes.getvalue()
    kept = np.load(next((own_cache / "tokens").glob("*.npy")))
    assert kept.dtype == np.int16 and kept.tolist() == tokens.tolist()  # tokens under 2**15 kept in 16 bits
    assert not [p for p in own_cache.rglob("*") if p.name.startswith(".")]  # no temporary file left


def performance_events(codec: PerformanceCodec, piece: Piece) -> list[int]:
    """A piece's performance events, the plain way, one note change at a time: the reference for the
    vectorized encoder. Pitched notes only, times in steps (halves up, a note lasts a step); at each
    step note-offs before note-ons, each by pitch, else in note order; time shifts of at most
    max_shift_steps; a VELOCITY event before a note-on whose bin is not the piece's last one."""
    per_beat = codec.steps_per_second * 60.0 / piece.qpm
    offs, ons = [], []
    for note in piece.notes[~piece.notes["is_drum"]]:
        start = int(np.floor(note["start"] * per_beat + 0.5))
        end = max(int(np.floor(note["end"] * per_beat + 0.5)), start + 1)
        bin_ = (min(max(int(note["velocity"]), 1), 127) - 1) * codec.velocity_bins // 127
        offs.append((end, 0, int(note["pitch"]) & 255, bin_))
        ons.append((start, 1, int(note["pitch"]) & 255, bin_))
    events, now, last_bin = [], 0, None
    for step, on, pitch, bin_ in sorted(offs + ons, key=lambda change: change[:3]):  # (a stable sort)
        while step > now:
            shift = min(step - now, codec.max_shift_steps)
            events.append(performance.TIME_SHIFT + shift - 1)
            now += shift
        if on and bin_ != last_bin:
            events.append(codec.first_velocity + bin_)
            last_bin = bin_
        events.append((performance.NOTE_ON if on else performance.NOTE_OFF) + pitch)
    return events


def test_encoding_in_passes_gives_the_events_of_a_plain_encoder(songs, monkeypatch):
    rng = np.random.default_rng(5)
    pieces = [d.content for d in read_midi_corpus(str(songs))]
    for n in range(60):  # ties of start, pitch and end, long rests, drums, one velocity and many
        count = int(rng.integers(0, 40))
        made = make_notes([(rng.integers(0, 200) / rng.choice([1, 3, 64]), 0.0, int(rng.integers(58, 63)),
                            int(rng.choice([90, rng.integers(0, 128)])), 0, bool(rng.random() < 0.1))
                           for _ in range(count)])
        made["end"] = made["start"] + rng.choice([0.0, 1e-3, 0.5, 3.0, 40.0], count)
        pieces.append(Piece(made, qpm=float(rng.choice([40, 100, 133.5])), style=[None, "jazz"][n % 2]))
    for codec in (PerformanceCodec.fit(pieces), PerformanceCodec.fit([], steps_per_second=7, max_shift_steps=3,
                                                                      velocity_bins=5)):
        expected = [t for p in pieces for t in codec.start_tokens(p.style if p.style in codec.styles else None)
                    + performance_events(codec, p)]
        for per_pass in (16384, 300, 1):  # all in one pass, a few pieces a pass, one piece a pass
            monkeypatch.setattr(notes, "NOTES_PER_PASS", per_pass)
            assert codec.encode_all(pieces).tolist() == expected
        assert [codec.encode(p) for p in pieces] == [codec.start_tokens(p.style if p.style in codec.styles else None)
                                                     + performance_events(codec, p) for p in pieces]


def test_the_benchmark_runs_on_a_few_files_without_pretty_midi(songs, tmp_path):
    done = run_command(sys.executable, str(BENCHMARK), "--data", str(songs), "--limit", "5", "--repeats", "1",
                       "--no-compare")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "midi_ingest" and result["files"] == 3  # of 5: a, b, broken, empty, jazz/c
    assert result["tokens"] > 3 * 5 and result["files_per_s_cold"] > 0 and result["files_per_s_warm"] > 0
    assert "speedup" not in result


def test_the_benchmark_compares_with_pretty_midi_token_for_token(songs):
    pytest.importorskip("pretty_midi")
    done = run_command(sys.executable, str(BENCHMARK), "--data", str(songs), "--repeats", "1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tokens"] == result["tokens_pretty_midi"] and result["files"] == 4
    assert result["speedup"] == result["speedup_warm"] > 0 and result["speedup_cold"] > 0
