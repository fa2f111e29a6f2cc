"""The gansynth recipe end to end on tiny one-shot notes: train, the preview sweep, sample notes at
a pitch, eval, and what a GANSynth run refuses (and what other runs refuse of it) in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import run_cli

RATE = 4000
TINY = ["--set", "sample_rate=4000", "--set", "seconds=0.5", "--set", "bins=64", "--set", "batch_size=8",
        "--set", "eval_every=5"]


@pytest.fixture(scope="module")
def gansynth_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gansynth")
    notes = folder / "notes"
    notes.mkdir()
    t = np.arange(RATE // 2) / RATE
    for pitch in range(60, 66):
        for velocity in (80, 110):
            hz = 440 * 2 ** ((pitch - 69) / 12)
            wave = velocity / 127 * 0.6 * np.exp(-2 * t) * np.sin(2 * np.pi * hz * t)
            soundfile.write(notes / f"sine-{pitch:03d}-{velocity:03d}.wav", wave.astype(np.float32), RATE)
    from tunesmith.cli import main

    run = folder / "run"
    assert main(["train", "gansynth", "--data", str(notes), "--steps", "10", "--run", str(run), *TINY]) == 0
    return run


def test_training_writes_checkpoints_and_a_sweep_of_notes(gansynth_run):
    sweeps = sorted((gansynth_run / "samples").glob("step-*.wav"))
    assert [p.name for p in sweeps] == ["step-00000005.wav", "step-00000010.wav"]
    audio, rate = soundfile.read(sweeps[-1])
    assert rate == RATE and len(audio) == 5 * RATE // 2  # five notes of 0.5 s across the range
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.1


def test_sample_writes_notes_at_the_pitch_asked(gansynth_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", str(gansynth_run), "--pitch", "62", "--num-outputs", "3", "--seed", "1",
                           "--out", str(tmp_path / "notes/"))
    assert code == 0, err
    made = sorted((tmp_path / "notes").iterdir())
    assert [p.name for p in made] == ["sample-1.wav", "sample-2.wav", "sample-3.wav"]
    first, rate = soundfile.read(made[0])
    assert rate == RATE and len(first) == RATE // 2
    again_code, _, _ = run_cli(capsys, "sample", str(gansynth_run), "--pitch", "62", "--num-outputs", "3", "--seed", "1",
                               "--out", str(tmp_path / "again/"))
    assert again_code == 0
    assert np.array_equal(soundfile.read(tmp_path / "again" / "sample-1.wav")[0], first)  # the seed repeats them
    assert not np.array_equal(soundfile.read(made[1])[0], first)  # each note its own timbre


def test_interpolate_moves_from_one_timbre_to_another(gansynth_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", str(gansynth_run), "--pitch", "63", "--interpolate", "5", "--seed", "2",
                           "--out", str(tmp_path / "blend/"))
    assert code == 0, err
    made = sorted((tmp_path / "blend").iterdir())
    assert [p.name for p in made] == [f"sample-{i}.wav" for i in range(1, 6)]
    waves = [soundfile.read(p)[0] for p in made]
    assert all(not np.array_equal(a, b) for a, b in zip(waves, waves[1:]))
    # the path is smooth in what the model makes, the log magnitude (the waveform's phase, the
    # running sum of the IF, moves more: a small change of frequency adds up over the note)
    import torch

    from tunesmith import api
    from tunesmith.generation.strategies import make_generator
    from tunesmith.models.music_vae import slerp

    opened = api.open_model(gansynth_run)
    ends = opened.model.sample_z(2, make_generator(torch.device("cpu"), 2))
    with torch.no_grad():
        magnitude = opened.model.generate(slerp(ends[0], ends[1], torch.linspace(0, 1, 5)),
                                          torch.full((5,), opened.codec.pitch_index(63)))[:, 0]
    steps = [float((a - b).abs().sum()) for a, b in zip(magnitude, magnitude[1:])]
    assert max(steps) < float((magnitude[0] - magnitude[-1]).abs().sum())  # each step smaller than the whole way


def test_render_a_midi_file_through_the_gansynth_instrument(gansynth_run, tmp_path, capsys):
    from tunesmith.notes import NOTE_DTYPE, Piece, write_midi

    song = tmp_path / "tune.mid"
    notes = [(0.0, 0.4, 62), (0.5, 0.9, 65), (1.0, 1.8, 86)]  # 86: out of the instrument's range (60-65)
    write_midi(Piece(np.array([(a * 2, b * 2, p, 100, 0, False) for a, b, p in notes], NOTE_DTYPE), 120.0), song)
    code, _, err = run_cli(capsys, "render", str(song), "--instrument", str(gansynth_run), "--sample-rate", "8000",
                           "--timbre-path", "1,2", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "1 notes outside the instrument's pitches 60-65 were moved by octaves" in err
    audio, rate = soundfile.read(tmp_path / "out" / "tune.wav")
    assert rate == 8000 and 1.8 < len(audio) / rate < 2.2 and np.abs(audio).max() > 0.5
    assert np.abs(audio[int(0.05 * rate): int(0.35 * rate)]).max() > 0.01  # the first note sounds
    code, _, err = run_cli(capsys, "render", str(song), "--instrument", "melody-folk", "--out", str(tmp_path))
    assert code == 1 and "an instrument run is a GANSynth one" in err
    code, _, err = run_cli(capsys, "render", str(song), "--instrument", str(gansynth_run), "--timbre-path", "1",
                           "--out", str(tmp_path))
    assert code == 1 and "give two seeds" in err


def test_eval_reports_the_critic_the_pitch_classifier_and_measured_pitch(gansynth_run, capsys):
    code, out, err = run_cli(capsys, "eval", str(gansynth_run), "--samples", "0")
    assert code == 0, err
    assert "pitch accuracy fake" in out and "pitch accuracy real" in out and "bits" not in out
    assert "generated notes" not in out
    code, out, err = run_cli(capsys, "eval", str(gansynth_run), "--samples", "3", "--json")
    assert code == 0, err
    import json

    generated = json.loads(out)["generated"]
    assert generated["notes"] == 3 and 0 <= generated["pitch_accuracy"] <= 1 and 0 <= generated["voiced_frames"] <= 1
    # as many generated notes as held-out ones, timed (too few training notes here for 50 NDB bins)
    assert generated["ndb_notes"] >= 1 and generated["notes_per_second"] > 0 and generated["ndb"] is None


def test_pitch_accuracy_counts_a_note_at_its_pitch():
    """The measure eval's pitch accuracy is: sine tones at the pitch asked for score 1, a fifth away 0."""
    from tunesmith.generation import oneshot

    def sines(pitches, shift=0):
        t = np.arange(RATE) / RATE
        return np.stack([0.5 * np.sin(2 * np.pi * 440 * 2 ** ((p + shift - 69) / 12) * t) for p in pitches])

    right = oneshot.pitch_accuracy(sines([60, 66, 72]), [60, 66, 72], RATE)
    assert right["pitch_accuracy"] == 1.0 and right["median_cents_off"] < 10
    assert oneshot.pitch_accuracy(sines([60, 66, 72], shift=7), [60, 66, 72], RATE)["pitch_accuracy"] == 0.0


def test_what_gansynth_refuses_and_what_others_refuse_of_it(gansynth_run, capsys):
    cases = [
        (["sample", str(gansynth_run), "--pitch", "90"], "outside the pitches this model knows, 60-65"),
        (["sample", str(gansynth_run), "--seconds", "3"], "is not for a GANSynth run"),
        (["sample", "melody-folk", "--pitch", "60"], "only a GANSynth run makes notes"),
        (["sample", str(gansynth_run), "--interpolate", "3", "--num-outputs", "2"], "without a number of outputs"),
        (["sample", "music-vae-folk", "--pitch", "60"], "a pitch (that is for a GANSynth run)"),
    ]
    for argv, expected in cases:
        code, _, err = run_cli(capsys, *argv)
        assert code == 1 and expected in err and "Traceback" not in err, (argv, err)
