"""The music codecs on real Bach chorales and hand-made drum patterns: each round trip is exact
after the codec's documented lossy steps, any token sequence decodes, and a saved codec encodes alike."""

from __future__ import annotations

from dataclasses import replace

import music21
import numpy as np
import pytest

from tunesmith.codecs import (CODECS, DrumsCodec, MelodyCodec, MiditokCodec, PerformanceCodec, PolyphonyCodec,
                              load_codec)
from tunesmith.codecs.drums import DRUM_CLASSES
from tunesmith.corpus.bundled import VOICE_PROGRAMS, chorale_pieces
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes, quantize, read_midi, skyline, write_midi

TOKENIZATIONS = ["REMI", "TSD", "MIDILike", "Structured"]


def chorale(work: str) -> Piece:
    """A Bach chorale from music21's corpus as the bundled corpus converts it (four voices, four
    programs), with velocities drawn at random so that velocity bins are exercised."""
    _, piece = next(chorale_pieces(str(music21.corpus.getWork(work))))
    notes = piece.notes.copy()
    notes["velocity"] = np.random.default_rng(0).integers(1, 128, len(notes))
    return piece.with_notes(notes)


@pytest.fixture(scope="module")
def chorales() -> list[Piece]:
    return [chorale("bach/bwv66.6"), chorale("bach/bwv269")]


def rows(piece: Piece, *fields: str) -> list[tuple]:
    return sorted(tuple(note[f].item() for f in fields) for note in piece.notes)


def earliest_ends_first(rows: list[tuple]) -> list[tuple]:
    """(start, end, pitch, ...) notes as a MIDI player pairs them: of the notes of one pitch, the
    n-th start (by time) with the n-th end."""
    out = []
    for pitch in {row[2] for row in rows}:
        same = sorted((row for row in rows if row[2] == pitch), key=lambda row: row[0])
        ends = sorted(row[1] for row in same)
        out += [(row[0], end, *row[2:]) for row, end in zip(same, ends)]
    return sorted(out)


def drum_pattern() -> Piece:
    """Two bars of a rock beat, slightly off the grid, with two sounds of one class on one step,
    a sound no class has (pitch 25) and a bass line the drums codec leaves out."""
    hits = []
    for bar in range(2):
        for eighth in range(8):
            beat = bar * 4 + eighth / 2
            hits.append((beat + 0.03, 42))  # closed hi-hat
            if eighth % 4 == 0:
                hits += [(beat + 0.02, 36), (beat, 35)]  # kick (two sounds, one class)
            if eighth % 4 == 2:
                hits.append((beat + 0.01, 38 if bar == 0 else 40))  # snare, then electric snare
    hits += [(0.0, 49), (7.75, 45), (7.75, 25)]  # crash, low tom, an unclassed sound
    drums = [(start, start + 0.1, pitch, 100, 0, True) for start, pitch in hits]
    bass = [(float(beat), beat + 1.0, 40, 80, 33, False) for beat in range(8)]
    return Piece(make_notes(drums + bass), qpm=110)


def fitted_codecs(pieces: list[Piece]) -> list:
    return [MelodyCodec.fit(pieces), DrumsCodec.fit(pieces), PolyphonyCodec.fit(pieces),
            PerformanceCodec.fit(pieces), *(MiditokCodec.fit(pieces, tokenization=t) for t in TOKENIZATIONS)]


def test_melody_round_trip_of_a_chorale_soprano(chorales):
    for piece in chorales:
        soprano = piece.with_notes(piece.notes[piece.notes["program"] == VOICE_PROGRAMS["soprano"]])
        codec = MelodyCodec.fit([soprano])
        tokens = codec.encode(soprano)
        pitches = soprano.notes["pitch"]
        assert (codec.min_pitch, codec.max_pitch) == (pitches.min(), max(pitches.max(), pitches.min() + 11))
        assert tokens[0] == codec.start_token
        assert codec.vocab_size == 2 + codec.max_pitch - codec.min_pitch + 1 + 1
        assert sum(codec.steps(t) for t in tokens) == len(tokens) - 1 == soprano.beats * 4 + 1
        decoded = codec.decode(tokens)
        assert rows(decoded, "start", "end", "pitch") == rows(soprano, "start", "end", "pitch")
        assert set(decoded.notes["velocity"]) == {100} and set(decoded.notes["program"]) == {0}
        assert codec.encode(decoded) == tokens


def test_melody_of_a_polyphonic_piece_is_its_quantized_skyline_folded_into_range(chorales):
    codec = MelodyCodec.fit(chorales, min_pitch=48, max_pitch=83)  # Magenta's range, as a setting
    piece = chorales[0]
    notes = piece.notes.copy()
    notes["start"] += 0.04  # off the grid
    notes["pitch"][notes["program"] == VOICE_PROGRAMS["soprano"]] += 24  # the soprano above the range
    shifted = piece.with_notes(notes)
    decoded = codec.decode(codec.encode(shifted))
    melody = skyline(quantize(shifted))
    assert rows(decoded, "start", "end") == rows(melody, "start", "end")
    pitches, expected = decoded.notes["pitch"], melody.notes["pitch"]  # both sorted by start
    assert ((pitches - expected) % 12 == 0).all() and (48 <= pitches).all() and (pitches <= 83).all()
    in_range = (48 <= expected) & (expected <= 83)
    assert (pitches[in_range] == expected[in_range]).all() and (~in_range).any()


def test_drums_round_trip_of_a_pattern_and_of_its_midi_file(tmp_path):
    pattern = drum_pattern()
    codec = DrumsCodec.fit([pattern])
    assert codec.vocab_size == 512 + 1
    tokens = codec.encode(pattern)
    assert len(tokens) == 1 + 31 + 1  # START, then steps 0..31 (the last onset)
    assert codec.unknown(pattern) == ["drum pitch 25"]
    decoded = codec.decode(tokens)
    assert decoded.notes["is_drum"].all() and set(decoded.notes["velocity"]) == {100}
    canonical = {pitch: pitches[0] for pitches in DRUM_CLASSES.values() for pitch in pitches}
    drums = pattern.notes[pattern.notes["is_drum"] & (pattern.notes["pitch"] != 25)]
    expected = sorted({(np.floor(n["start"] * 4 + 0.5) / 4, canonical[int(n["pitch"])]) for n in drums})
    assert rows(decoded, "start", "pitch") == expected
    assert (decoded.notes["end"] - decoded.notes["start"] == 0.25).all()
    assert decoded.notes["pitch"][decoded.notes["start"] == 0].tolist() == [36, 42, 49]
    assert codec.encode(decoded) == tokens
    write_midi(pattern, tmp_path / "beat.mid")
    assert codec.encode(read_midi(tmp_path / "beat.mid")) == tokens


def test_polyphony_round_trip_of_chorales(chorales):
    codec = PolyphonyCodec.fit(chorales)
    pitches = np.concatenate([p.notes["pitch"] for p in chorales])
    assert (codec.min_pitch, codec.max_pitch) == (pitches.min(), pitches.max())
    assert codec.vocab_size == 2 * (pitches.max() - pitches.min() + 1) + 1 + 1
    for piece in chorales:
        tokens = codec.encode(piece)
        decoded = codec.decode(tokens)
        assert rows(decoded, "start", "end", "pitch") == earliest_ends_first(rows(piece, "start", "end", "pitch"))
        assert set(decoded.notes["velocity"]) == {100} and set(decoded.notes["program"]) == {0}
        assert codec.encode(decoded) == tokens
        steps, events = [], []
        for token in tokens[1:]:
            if token == codec.step_end:
                steps.append(events)
                events = []
            else:
                events.append(token)
        assert len(steps) == piece.beats * 4 and not events
        for step, events in enumerate(steps):  # the notes sounding in each step, highest first
            now = step / 4
            sounding = (piece.notes["start"] <= now) & (piece.notes["end"] > now)
            count = codec.pitch_count
            assert len(events) == sounding.sum() and events == sorted(events, key=lambda e: -(e % count))
            assert sum(e < count for e in events) == (piece.notes["start"] == now).sum()


def test_polyphony_quantizes_and_pairs_notes_of_one_pitch_earliest_first():
    piece = Piece(make_notes([(0.1, 1.9, 60), (0.5, 1.0, 60), (0.5, 1.0, 60), (0.0, 0.05, 72), (1.0, 2.0, 48)]))
    codec = PolyphonyCodec.fit([piece])
    decoded = codec.decode(codec.encode(piece))
    expected = earliest_ends_first(rows(quantize(piece), "start", "end", "pitch"))
    assert rows(decoded, "start", "end", "pitch") == expected == [
        (0.0, 0.25, 72), (0.0, 1.0, 60), (0.5, 1.0, 60), (0.5, 2.0, 60), (1.0, 2.0, 48)]


def test_performance_round_trip_of_chorales_at_10_ms_and_velocity_bin_centres(chorales):
    codec = PerformanceCodec.fit(chorales)
    assert codec.vocab_size == 128 + 128 + 100 + 32 + 1
    centre = {}
    for velocity in range(1, 128):  # the middle of the velocities that share a bin
        same_bin = [v for v in range(1, 128) if (v - 1) * 32 // 127 == (velocity - 1) * 32 // 127]
        centre[velocity] = (same_bin[0] + same_bin[-1]) // 2
    for piece in chorales:
        tokens = codec.encode(piece)
        assert sum(codec.seconds(t, piece.qpm) for t in tokens) == pytest.approx(piece.seconds, abs=0.005)
        decoded = codec.decode(tokens)
        assert decoded.qpm == 120 and codec.encode(decoded) == tokens
        starts = np.floor(piece.notes["start"] * 60 / piece.qpm * 100 + 0.5).astype(int)  # in 10 ms steps
        ends = np.maximum(np.floor(piece.notes["end"] * 60 / piece.qpm * 100 + 0.5).astype(int), starts + 1)
        velocities = [centre[int(v)] for v in piece.notes["velocity"]]
        expected = list(zip(starts.tolist(), ends.tolist(), piece.notes["pitch"].tolist(), velocities))
        decoded_steps = [(round(start * 50), round(end * 50), pitch, velocity)  # beats = seconds * 2
                         for start, end, pitch, velocity in rows(decoded, "start", "end", "pitch", "velocity")]
        assert decoded_steps == earliest_ends_first(expected)


def test_performance_long_rests_and_drums():
    piece = Piece(make_notes([(0.0, 1.0, 60, 64), (6.0, 6.5, 62, 64), (1.0, 2.0, 36, 100, 0, True)]), qpm=120)
    codec = PerformanceCodec.fit([piece])
    tokens = codec.encode(piece)
    # START, VELOCITY, NOTE_ON 60, TIME_SHIFT 0.5 s, NOTE_OFF 60, TIME_SHIFT 1 s, 1 s, 0.5 s, NOTE_ON 62, ...
    shifts = [codec.seconds(t, 120) for t in tokens if codec.seconds(t, 120)]
    assert shifts == [0.5, 1.0, 1.0, 0.5, 0.25]
    assert rows(codec.decode(tokens), "start", "end", "pitch") == [(0.0, 1.0, 60), (6.0, 6.5, 62)]


@pytest.mark.parametrize("tokenization", TOKENIZATIONS)
def test_miditok_round_trip_of_chorales(chorales, tokenization, tmp_path):
    codec = MiditokCodec.fit(chorales, tokenization=tokenization)
    bins = codec.tokenizer.velocities
    for piece in chorales:
        tokens = codec.encode(piece)
        decoded = codec.decode(tokens)
        assert rows(decoded, "start", "end", "pitch", "program") == rows(piece, "start", "end", "pitch", "program")
        nearest = {v: max(bins.tolist(), key=lambda b: (-abs(b - v), b)) for v in range(1, 128)}  # ties go up
        assert rows(decoded, "start", "pitch", "program", "velocity") == sorted(
            (s, p, g, nearest[v]) for s, p, g, v in rows(piece, "start", "pitch", "program", "velocity"))
    codec.save(tmp_path / "codec.json")
    again = load_codec(tmp_path / "codec.json")
    assert again == codec and again.vocab_size == codec.vocab_size
    assert again.encode(chorales[1]) == codec.encode(chorales[1])


def test_miditok_refuses_unknown_and_multi_stream_tokenizations():
    with pytest.raises(UserError, match="unknown MidiTok tokenization 'Nope'.*REMI"):
        MiditokCodec.fit([], tokenization="Nope")
    with pytest.raises(UserError, match="one stream"):
        MiditokCodec.fit([], tokenization="Octuple")
    with pytest.raises(UserError, match="one stream"):
        MiditokCodec.fit([], tokenization="REMI", use_programs=False)


def test_any_token_sequence_decodes_to_a_valid_piece(chorales):
    codecs = fitted_codecs([replace(chorales[0], style="bach"), drum_pattern()])
    rng = np.random.default_rng(7)
    for codec in codecs:
        sequences = [[], [codec.start_token], [-3, codec.vocab_size, codec.vocab_size + 9]]
        sequences += [rng.integers(0, codec.vocab_size, rng.integers(1, 300)).tolist() for _ in range(30)]
        for tokens in sequences:
            piece = codec.decode(tokens)
            notes = piece.notes
            assert (notes["end"] > notes["start"]).all() and (notes["start"] >= 0).all(), codec.name
            assert ((0 <= notes["pitch"]) & (notes["pitch"] <= 127)).all(), codec.name
            assert ((1 <= notes["velocity"]) & (notes["velocity"] <= 127)).all(), codec.name
        decoded = [codec.decode(tokens) for tokens in sequences[3:]]
        if isinstance(codec, MelodyCodec):
            assert all(((codec.min_pitch <= p.notes["pitch"]) & (p.notes["pitch"] <= codec.max_pitch)).all()
                       for p in decoded)
        if isinstance(codec, DrumsCodec):
            assert all(p.notes["is_drum"].all() for p in decoded)
        assert sum(len(p) for p in decoded) > 0, codec.name


def test_style_tokens_round_trip_and_unknown_styles_are_refused(chorales):
    pieces = [replace(chorales[0], style="leipzig"), replace(chorales[1], style="bach"), drum_pattern()]
    for codec in fitted_codecs(pieces):
        assert codec.styles == ["bach", "leipzig"]
        assert codec.vocab_size == codec.start_token + 1 + 2
        tokens = codec.encode(pieces[0])
        assert all(type(token) is int for token in tokens + codec.encode(pieces[2]))
        assert tokens[:2] == codec.start_tokens("leipzig") == [codec.start_token, codec.start_token + 2]
        assert codec.decode(tokens).style == "leipzig"
        assert codec.decode(codec.encode(pieces[2])).style is None
        assert codec.start_tokens() == [codec.start_token]
        with pytest.raises(UserError, match="unknown style 'jazz'; this model knows: bach, leipzig"):
            codec.start_tokens("jazz")
        jazz = replace(pieces[1], style="jazz")
        assert codec.encode(jazz) == codec.encode(replace(jazz, style=None))
        assert "style jazz" in codec.unknown(jazz)


@pytest.mark.parametrize("name, options", [
    ("melody", {"steps_per_quarter": 3, "min_pitch": 36, "max_pitch": 95}),
    ("drums", {"steps_per_quarter": 2}),
    ("polyphony", {"min_pitch": 30, "max_pitch": 90}),
    ("performance", {"steps_per_second": 50, "max_shift_steps": 25, "velocity_bins": 8}),
])
def test_saved_codec_loads_with_its_options_and_encodes_alike(chorales, name, options, tmp_path):
    pieces = [replace(chorales[0], style="bach"), drum_pattern()]
    codec = CODECS[name].fit(pieces, **options)
    codec.save(tmp_path / "codec.json")
    again = load_codec(tmp_path / "codec.json")
    assert again == codec and type(again) is type(codec) and again.vocab_size == codec.vocab_size
    for piece in pieces + [chorales[1]]:
        assert again.encode(piece) == codec.encode(piece)


def test_grid_codecs_count_steps_and_seconds():
    melody, drums, polyphony = MelodyCodec.fit([]), DrumsCodec.fit([]), PolyphonyCodec.fit([])
    assert [melody.steps(t) for t in (0, 1, 2, melody.start_token)] == [1, 1, 1, 0]
    assert drums.steps(511) == 1 and drums.steps(drums.start_token) == 0
    assert polyphony.steps(polyphony.step_end) == 1 and polyphony.steps(0) == polyphony.steps(200) == 0
    assert melody.seconds(0, 120) == drums.seconds(5, 120) == polyphony.seconds(polyphony.step_end, 120) == 0.125
    assert melody.seconds(melody.start_token, 120) == polyphony.seconds(0, 120) == 0
    performance = PerformanceCodec.fit([])
    assert performance.seconds(256, 60) == 0.01 and performance.seconds(256 + 99, 60) == 1.0


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="the melody codec has no option velocity_bins; its options are "
                                        "key_tokens, max_pitch, min_pitch, steps_per_quarter"):
        MelodyCodec.fit([], velocity_bins=32)
    with pytest.raises(UserError, match="at least an octave"):
        MelodyCodec.fit([], min_pitch=60, max_pitch=65)
    with pytest.raises(UserError, match="velocity_bins"):
        PerformanceCodec.fit([], velocity_bins=0)
