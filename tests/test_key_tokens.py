"""Key tokens (Magenta's transpose_to_key, made reversible): the melody and polyphony codecs move
each piece into C major / A minor for the model and say in a key token where it came from, so the
model learns one key while the decoded pieces keep their own key and register."""

import numpy as np
import pytest

from tunesmith.codecs import MelodyCodec, PolyphonyCodec
from tunesmith.codecs.events import KEYS, key_shift
from tunesmith.music_stats import best_key
from tunesmith.notes import Piece, make_notes, transpose

D_MAJOR_TUNE = [62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62]


def tune(pitches=D_MAJOR_TUNE) -> Piece:
    return Piece(make_notes([(k / 2, k / 2 + 0.5, p) for k, p in enumerate(pitches)]))


def test_key_shift_finds_the_major_key_within_a_tritone():
    assert key_shift(np.array(D_MAJOR_TUNE)) == 2
    assert key_shift(np.array(D_MAJOR_TUNE) + 5) == -5  # G major: down a fourth, not up a fifth
    assert key_shift(np.array([69, 71, 72, 74, 76, 77, 79])) == 0  # A minor is C major's scale
    assert key_shift(np.array([], dtype=np.int64)) == 0


@pytest.mark.parametrize("codec_class", [MelodyCodec, PolyphonyCodec])
@pytest.mark.parametrize("semitones", [0, 3, -4, 6])
def test_the_model_sees_c_major_and_the_piece_keeps_its_key(codec_class, semitones):
    piece = transpose(tune(), semitones)
    codec = codec_class.fit([piece], key_tokens=True)
    tokens = codec.encode(piece)
    key = tokens[1] - codec.music_event_count
    assert tokens[0] == codec.start_token and 0 <= key < KEYS and codec.steps(tokens[1]) == 0
    assert codec.vocab_size == codec.music_event_count + KEYS + 1
    seen = codec.decode_music(tokens[2:])  # what the model learns from: the tune in C
    assert best_key(seen.notes["pitch"])[0] == "C major"
    assert abs(seen.notes["pitch"].mean() - piece.notes["pitch"].mean()) <= 6
    decoded = codec.decode(tokens)  # exactly the piece again, in its key and register
    assert decoded.notes["pitch"].tolist() == piece.notes["pitch"].tolist()
    assert codec.encode(decoded) == tokens


def test_every_key_of_a_corpus_shares_one_vocabulary_of_events():
    pieces = [transpose(tune(), s) for s in range(-5, 7)]
    codec = MelodyCodec.fit(pieces, key_tokens=True)
    events = {tuple(codec.encode(p)[2:]) for p in pieces}
    assert len(events) == 2  # 12 keys, but the model sees one tune in C, in two registers an octave apart
    assert codec.max_pitch - codec.min_pitch == 12 + 12


def test_sequences_without_a_key_token_decode_in_c():
    codec = MelodyCodec.fit([tune()], key_tokens=True)
    tokens = codec.encode(tune())
    assert codec.decode([tokens[0]] + tokens[2:]).notes["pitch"].tolist() == (np.array(D_MAJOR_TUNE) - 2).tolist()


def test_a_second_piece_stays_in_the_first_key_near_its_own_register():
    codec = MelodyCodec.fit([tune(), transpose(tune(), 5)], key_tokens=True)
    d_major = codec.encode(tune())  # START, KEY(D), the tune in C
    g_major = codec.encode(transpose(tune(), 5))  # the tune a fourth higher, in G: moved down 5 into C
    decoded = codec.decode(d_major + g_major)
    second = decoded.notes[decoded.notes["start"] >= len(D_MAJOR_TUNE) / 2]
    assert best_key(second["pitch"])[0] == "D major"  # the first piece's key
    # in G it lay a fourth above the D tune: in D, the nearest octave is the D tune's own
    assert second["pitch"].tolist() == D_MAJOR_TUNE


def test_a_continuation_without_its_primer_stays_in_the_primers_key(tmp_path):
    """`sample --no-primer-in-output`: the output keeps the primer's key token, so a tune primed in
    D major goes on in D major (it came out in C before)."""
    from tunesmith.media.domains import MidiDomain, SampleOptions
    from tunesmith.notes import write_midi

    codec = MelodyCodec.fit([tune(), transpose(tune(), 5)], key_tokens=True)
    primer = tmp_path / "d-major.mid"
    write_midi(tune(), primer)
    context, prefix = MidiDomain().context(codec, SampleOptions(str(primer), primer_in_output=False))
    assert prefix == [codec.start_token, context[1]] and codec.music_event_count <= context[1] < codec.event_count
    continuation = codec.decode(prefix + context[2:])  # the model's events after the primer, in C
    assert best_key(continuation.notes["pitch"])[0] == "D major"
    assert MelodyCodec.fit([tune()]).carried(MelodyCodec.fit([tune()]).encode(tune())) == []  # no key tokens
