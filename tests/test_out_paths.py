"""`--out` means what it looks like, for text, MIDI and audio: a path ending in /, an existing
folder, or (for several outputs) a name without a suffix is a folder, made if missing, that gets
sample.ext or sample-1.ext, sample-2.ext, ...; a name with a suffix is a file (several outputs:
name-1.ext, ... beside it). Nothing is ever overwritten. Every test opens the files written."""

from pathlib import Path

import pytest
import soundfile

from conftest import lyrics_text, run_cli, tiny_args
from test_audio_sampling import RATE, make_run
from test_music_cli import tune
from tunesmith.cli import main
from tunesmith.errors import UserError
from tunesmith.notes import read_midi, write_midi
from tunesmith.media.files import output_paths


@pytest.fixture(scope="module")
def melody_run(tmp_path_factory) -> Path:
    """A melody-rnn trained for 4 steps on a few tunes: enough to write real MIDI files."""
    root = tmp_path_factory.mktemp("melody")
    (root / "midi").mkdir()
    for shift in range(6):
        write_midi(tune(shift, drums=False), root / "midi" / f"tune{shift}.mid")
    run = root / "run"
    code = main(["train", "melody-rnn", "--data", str(root / "midi"), "--run", str(run), "--steps", "4",
                 "--set", "hidden_size=16", "--set", "embedding_size=8", "--set", "layers=1",
                 "--set", "batch_size=4", "--set", "seq_len=32", "--set", "eval_every=4",
                 "--set", "sample_length=8", "--set", "transpose=0"])
    assert code == 0
    return run


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("text")
    (root / "songs.txt").write_text(lyrics_text(), encoding="utf-8")
    run = root / "run"
    assert main(["train", "char-rnn", "--data", str(root / "songs.txt"), "--run", str(run), "--steps", "4",
                 *tiny_args()]) == 0
    return run


def sample(capsys, run: Path, out: Path | str, *extra: str) -> tuple[int, str, str]:
    """`tunesmith sample RUN --out OUT` with `out` passed exactly as typed (a trailing / kept)."""
    return run_cli(capsys, "sample", str(run), "--length", "16", "--seed", "1", *extra, "--out", str(out))


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_path_ending_in_a_slash_is_a_new_folder(melody_run, tmp_path, capsys):
    code, _, err = sample(capsys, melody_run, f"{tmp_path}/songs/new/")
    assert code == 0, err
    written = tmp_path / "songs" / "new" / "sample.mid"
    assert names(tmp_path / "songs" / "new") == ["sample.mid"] and len(read_midi(written).notes) > 0
    assert f"wrote {written}" in err


def test_an_existing_folder_gets_numbered_files(melody_run, tmp_path, capsys):
    folder = tmp_path / "songs"
    folder.mkdir()
    code, _, err = sample(capsys, melody_run, folder, "--num-outputs", "2")  # no trailing slash
    assert code == 0, err
    assert names(folder) == ["sample-1.mid", "sample-2.mid"]
    assert all(len(read_midi(folder / name).notes) > 0 for name in names(folder))


def test_a_name_without_suffix_is_a_folder_for_several_outputs(melody_run, tmp_path, capsys):
    code, _, err = sample(capsys, melody_run, tmp_path / "name", "--num-outputs", "3")
    assert code == 0, err
    assert (tmp_path / "name").is_dir() and names(tmp_path / "name") == ["sample-1.mid", "sample-2.mid",
                                                                         "sample-3.mid"]
    assert all(len(read_midi(tmp_path / "name" / n).notes) > 0 for n in names(tmp_path / "name"))


def test_a_name_without_suffix_is_a_file_for_one_output(melody_run, tmp_path, capsys):
    code, _, err = sample(capsys, melody_run, tmp_path / "name")
    assert code == 0, err
    assert names(tmp_path) == ["name.mid"] and len(read_midi(tmp_path / "name.mid").notes) > 0


def test_a_name_with_a_suffix_is_a_file(melody_run, tmp_path, capsys):
    code, _, err = sample(capsys, melody_run, tmp_path / "one.mid")
    assert code == 0, err
    code, _, err = sample(capsys, melody_run, tmp_path / "many.mid", "--num-outputs", "3")
    assert code == 0, err
    assert names(tmp_path) == ["many-1.mid", "many-2.mid", "many-3.mid", "one.mid"]
    assert all(len(read_midi(tmp_path / name).notes) > 0 for name in names(tmp_path))


def test_a_file_in_a_missing_folder_makes_the_folder(melody_run, tmp_path, capsys):
    code, _, err = sample(capsys, melody_run, tmp_path / "new" / "tune.mid")
    assert code == 0, err
    assert names(tmp_path / "new") == ["tune.mid"] and len(read_midi(tmp_path / "new" / "tune.mid").notes) > 0


def test_a_second_run_never_overwrites(melody_run, tmp_path, capsys):
    folder = f"{tmp_path}/songs/"
    assert sample(capsys, melody_run, folder, "--seed", "1")[0] == 0
    first = (tmp_path / "songs" / "sample.mid").read_bytes()
    assert sample(capsys, melody_run, folder, "--seed", "2")[0] == 0
    assert names(tmp_path / "songs") == ["sample-2.mid", "sample.mid"]
    assert (tmp_path / "songs" / "sample.mid").read_bytes() == first
    assert len(read_midi(tmp_path / "songs" / "sample-2.mid").notes) > 0

    mine = tmp_path / "mine.mid"
    mine.write_bytes(b"the user's own file")
    for _ in range(2):
        assert sample(capsys, melody_run, mine, "--num-outputs", "2")[0] == 0
    assert mine.read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.glob("mine*")) == ["mine-1-2.mid", "mine-1.mid", "mine-2-2.mid",
                                                               "mine-2.mid", "mine.mid"]


def test_a_folder_that_is_a_file_is_one_line(melody_run, tmp_path, capsys):
    taken = tmp_path / "songs"
    taken.write_bytes(b"not a folder")
    for out, extra in ((f"{taken}/", ()), (taken, ("--num-outputs", "2")), (taken / "x.mid", ())):
        code, _, err = sample(capsys, melody_run, out, *extra)
        assert code == 1 and err.startswith("tunesmith: error: out ") and "is a file" in err, err  # before sampling
        assert len(err.strip().splitlines()) == 1
    assert names(tmp_path) == ["songs"] and taken.read_bytes() == b"not a folder"


def test_text_goes_into_a_folder(text_run, tmp_path, capsys):
    code, out, err = sample(capsys, text_run, f"{tmp_path}/lyrics/", "--num-outputs", "2")
    assert code == 0, err
    assert out == ""  # to the files, not to stdout
    folder = tmp_path / "lyrics"
    assert names(folder) == ["sample-1.txt", "sample-2.txt"]
    assert all(len((folder / name).read_text(encoding="utf-8")) == 16 for name in names(folder))
    code, out, err = sample(capsys, text_run, folder)
    assert code == 0, err
    assert names(folder) == ["sample-1.txt", "sample-2.txt", "sample.txt"]


def test_audio_goes_into_a_folder(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    code, _, err = sample(capsys, run, f"{tmp_path}/clips.v2/", "--num-outputs", "2")  # the / wins over .v2
    assert code == 0, err
    folder = tmp_path / "clips.v2"
    assert names(folder) == ["sample-1.wav", "sample-2.wav"]
    assert all(soundfile.info(folder / name).frames == 16 for name in names(folder))

    code, _, err = sample(capsys, run, tmp_path / "flacs", "--num-outputs", "2", "--format", "flac")
    assert code == 0, err
    assert names(tmp_path / "flacs") == ["sample-1.flac", "sample-2.flac"]
    assert all(soundfile.info(tmp_path / "flacs" / name).format == "FLAC" for name in names(tmp_path / "flacs"))
    assert soundfile.info(tmp_path / "flacs" / "sample-1.flac").samplerate == RATE

    code, _, err = sample(capsys, run, folder)  # an existing folder; a second run never overwrites
    assert code == 0, err
    assert names(folder) == ["sample-1.wav", "sample-2.wav", "sample.wav"]


@pytest.mark.parametrize("out, count, expected", [
    ("songs/", 1, ["songs/sample.mid"]),
    ("songs/", 2, ["songs/sample-1.mid", "songs/sample-2.mid"]),
    ("songs", 1, ["songs.mid"]),
    ("songs", 2, ["songs/sample-1.mid", "songs/sample-2.mid"]),
    ("song.mid", 1, ["song.mid"]),
    ("song.mid", 2, ["song-1.mid", "song-2.mid"]),
    ("song.midi", 1, ["song.midi"]),
    ("a/b/song.mid", 1, ["a/b/song.mid"]),
    (None, 2, ["sample-1.mid", "sample-2.mid"]),
])
def test_output_paths(out, count, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert [p.as_posix() for p in output_paths(out, count, ".mid")] == expected
    assert all((tmp_path / p).parent.is_dir() for p in expected)  # folders made, no file written
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_output_paths_refuses_a_file_for_a_folder(tmp_path):
    (tmp_path / "taken").write_bytes(b"x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        output_paths(f"{tmp_path}/taken/", 1, ".mid")
