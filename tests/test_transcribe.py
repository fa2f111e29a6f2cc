"""Recordings transcribed to MIDI as a user meets it: known MIDI rendered with a piano through
FluidSynth and transcribed back by `tunesmith transcribe` (scored with mir_eval), bad files skipped
or named in one line, outputs that never overwrite, bad settings and a missing basic-pitch said in
one line, and `--set transcribe=true`'s reading of recordings through the transcription cache."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import mir_eval
import numpy as np
import pytest
from conftest import run_cli
from symusic import Score

from tunesmith.corpus.midi import read_midi_corpus
from tunesmith.errors import UserError
from tunesmith.media import transcribe
from tunesmith.media.render import find_fluidsynth, find_soundfont, render_midi

PRIMERS = Path(__file__).parents[1] / "src" / "tunesmith" / "primers"
PIANO = 0
# Onset F (50 ms) of the default settings (0.8, 0.3, 128 ms) on these primers rendered with the
# piano, measured: folk.mid (15 notes, a melody) 0.97, chorale.mid (21 notes in four voices) 0.89
# (note F, with pitch, the same); asserted 0.12-0.14 lower (a few notes), so a transcriber that loses
# or invents notes fails and a change of a frame here or there does not.
ONSET_F = {"folk": 0.85, "chorale": 0.75}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """folk.mid and chorale.mid rendered with a piano at 22050 Hz (skipped without FluidSynth or a SoundFont)."""
    try:
        find_fluidsynth(), find_soundfont()
    except UserError as err:
        pytest.skip(str(err))
    folder = tmp_path_factory.mktemp("recordings")
    for name in ONSET_F:
        render_midi(PRIMERS / f"{name}.mid", folder / f"{name}.wav", 22050, program=PIANO)
    return folder


def onsets_and_pitches(midi: Path) -> tuple[np.ndarray, np.ndarray]:
    """A MIDI file's notes as mir_eval intervals (seconds) and pitches (Hz), a unison counted once."""
    notes = sorted({(round(n.start, 3), n.pitch, n.start + n.duration)
                    for track in Score(str(midi)).to("second").tracks for n in track.notes})
    intervals = np.array([(start, end) for start, _, end in notes]).reshape(-1, 2)
    return intervals, mir_eval.util.midi_to_hz(np.array([pitch for _, pitch, _ in notes], float))


def test_piano_renderings_are_transcribed_into_their_notes(recordings, tmp_path, capsys):
    code, _, err = run_cli(capsys, "transcribe", str(recordings), "--out", str(tmp_path / "midi"))
    assert code == 0, err
    assert "transcribed 2 recordings" in err and "skipped" not in err
    for name, least in ONSET_F.items():
        truth, found = onsets_and_pitches(PRIMERS / f"{name}.mid"), onsets_and_pitches(tmp_path / "midi" / f"{name}.mid")
        onset_f = mir_eval.transcription.onset_precision_recall_f1(truth[0], found[0], onset_tolerance=0.05)[2]
        note_f = mir_eval.transcription.precision_recall_f1_overlap(*truth, *found, onset_tolerance=0.05,
                                                                    offset_ratio=None)[2]
        assert onset_f >= least and note_f >= least - 0.05, (name, onset_f, note_f)


def test_a_folder_skips_a_corrupt_recording_and_counts_it(recordings, tmp_path, capsys):
    folder = tmp_path / "takes"
    folder.mkdir()
    (folder / "good.wav").write_bytes((recordings / "folk.wav").read_bytes())
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVE this is not audio")
    code, _, err = run_cli(capsys, "transcribe", str(folder), "--out", str(tmp_path / "midi"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "midi").iterdir()) == ["good.mid"]
    assert len(re.findall(r"tunesmith: warning: skipped \S*corrupt.wav is not a readable audio file", err)) == 1
    assert "transcribed 1 recording " in err and "skipped 1" in err
    assert "Traceback" not in err


def test_a_bad_file_given_alone_is_one_line_and_exit_1(tmp_path, capsys):
    bad = tmp_path / "take.wav"
    bad.write_bytes(b"RIFF\x24\x00\x00\x00WAVE this is not audio")
    code, out, err = run_cli(capsys, "transcribe", str(bad), "--out", str(tmp_path / "midi"))
    assert code == 1 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("tunesmith: error:")]
    assert len(errors) == 1 and "take.wav" in errors[0], err
    assert "Traceback" not in err and not list((tmp_path / "midi").glob("*.mid"))


def test_outputs_never_overwrite_a_file(recordings, tmp_path, capsys):
    out = tmp_path / "midi"
    out.mkdir()
    mine = out / "folk.mid"
    mine.write_bytes(b"my own MIDI file")
    code, _, err = run_cli(capsys, "transcribe", str(recordings / "folk.wav"), "--out", str(out))
    assert code == 0, err
    assert mine.read_bytes() == b"my own MIDI file"
    assert len(Score(str(out / "folk-2.mid")).tracks[0].notes) > 0


def test_a_bad_setting_is_one_clear_line(recordings, tmp_path, capsys):
    code, _, err = run_cli(capsys, "transcribe", str(recordings / "folk.wav"), "--out", str(tmp_path),
                           "--onset-threshold", "3")
    assert code == 1
    line = "tunesmith: error: onset threshold 3.0: give a number between 0 and 1 (--onset-threshold)"
    assert err.strip().splitlines() == [line]
    assert not list(tmp_path.glob("*.mid"))


def test_a_missing_basic_pitch_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "basic_pitch", None)  # `import basic_pitch` now fails
    monkeypatch.setattr(transcribe, "_TRANSCRIBERS", {})  # no model loaded before in this process
    with pytest.raises(UserError) as err:
        transcribe.Transcriber()
    message = str(err.value)
    assert "needs basic-pitch" in message and "make install" in message
    assert "pip install --no-deps basic-pitch" in message and "\n" not in message
    take = tmp_path / "take.wav"
    take.write_bytes(b"not even audio")  # the model is loaded, and found missing, first
    code, _, err_text = run_cli(capsys, "transcribe", str(take), "--out", str(tmp_path))
    assert code == 1 and err_text.strip().splitlines()[-1].startswith("tunesmith: error: transcription needs basic-pitch")
    assert "Traceback" not in err_text


def test_transcribe_true_reads_recordings_then_takes_them_from_the_cache(recordings, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "songs"
    (folder / "live").mkdir(parents=True)
    (folder / "live" / "folk.wav").write_bytes((recordings / "folk.wav").read_bytes())
    (folder / "chorale.mid").write_bytes((PRIMERS / "chorale.mid").read_bytes())
    first = read_midi_corpus(str(folder), transcribe=True)
    assert [doc.name for doc in first] == ["chorale.mid", "live/folk.wav"]
    heard = first[1].content
    assert heard.style == "live" and len(heard.notes) >= 12
    played = {note.pitch for note in Score(str(PRIMERS / "folk.mid")).tracks[0].notes}
    assert np.isin(heard.notes["pitch"], list(played)).mean() >= 0.85  # the tune's pitches (measured: 15 of 16)
    assert len(list((tmp_path / "cache" / "transcriptions").glob("*.mid"))) == 1

    def no_model(*args, **kwargs):
        raise AssertionError("transcribed again")

    monkeypatch.setattr(transcribe.Transcriber, "midi_bytes", no_model)
    second = read_midi_corpus(str(folder), transcribe=True)
    assert [doc.name for doc in second] == ["chorale.mid", "live/folk.wav"]
    assert np.array_equal(second[1].content.notes, heard.notes)
    assert [doc.name for doc in read_midi_corpus(str(folder))] == ["chorale.mid"]  # recordings only when asked
