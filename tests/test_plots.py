"""Piano-roll pictures: a PNG on disk for pitched, drum and empty pieces."""

import numpy as np
import pytest

from tunesmith.notes import Piece, make_notes
from tunesmith.media.plots import piano_roll_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def check_png(path, min_bytes=2000):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > min_bytes
    width, height = png_size(data)
    assert 400 <= width <= 4000 and 200 <= height <= 3000
    assert not list(path.parent.glob(".*.tmp"))      # written atomically, nothing left behind


def test_piano_roll_of_a_melody(tmp_path):
    notes = make_notes([(i * 0.5, i * 0.5 + 0.5, 60 + (i * 5) % 17, 40 + 5 * i) for i in range(16)])
    path = tmp_path / "melody.png"
    piano_roll_png(Piece(notes, qpm=90, name="melody.mid"), path)
    check_png(path)


def test_piano_roll_with_drums_and_programs(tmp_path):
    notes = np.concatenate([
        make_notes([(0, 4, 48, 90, 32), (0, 1, 72, 100, 0), (1, 2, 74, 100, 0)]),
        make_notes([(b, b + 0.25, 36 if b % 2 == 0 else 38, 110, 0, True) for b in range(4)]),
    ])
    for color_by in ("program", "velocity"):
        path = tmp_path / f"band-{color_by}.png"
        piano_roll_png(Piece(notes, name="band"), path, color_by=color_by)
        check_png(path)
    drums_only = tmp_path / "drums.png"
    piano_roll_png(Piece(notes[notes["is_drum"]], name="drums"), drums_only)
    check_png(drums_only)


def test_piano_roll_of_an_empty_piece(tmp_path):
    path = tmp_path / "empty.png"
    piano_roll_png(Piece(name="silence"), path)
    check_png(path, min_bytes=1000)
    path.write_bytes(b"old")
    piano_roll_png(Piece(make_notes([(0, 1, 60)])), path)     # replaces an existing file
    check_png(path, min_bytes=1000)


def test_unknown_colouring_is_refused(tmp_path):
    with pytest.raises(ValueError):
        piano_roll_png(Piece(), tmp_path / "x.png", color_by="mood")
