"""The NSynth-style `notes` corpus: a tiny version rendered with FluidSynth and the General MIDI
SoundFont (names, examples.json, pitch, the 3 s held + 1 s release shape), the bundled corpus found
by name and listed, and read_notes on the corpus, on NSynth's layout and on a user's named files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tunesmith.cli import main
from tunesmith.corpus import bundled, notes
from tunesmith.corpus.audio import list_bundled_audio, resolve_audio_source
from tunesmith.corpus.notes import FAMILIES, build_notes, plan_notes, read_notes
from tunesmith.errors import UserError
from tunesmith.media.render import find_fluidsynth, find_soundfont

ORGAN, FLUTE, BASS = 19, 73, 33  # church organ, flute, electric bass (finger)
PITCHES, VELOCITIES = [45, 60, 69], [50, 110]
RATE = 16000


def need_fluidsynth() -> None:
    try:
        find_fluidsynth()
        find_soundfont()
    except UserError as err:
        pytest.skip(str(err))


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch) -> Path:
    """Each test builds into a fresh cache of its own, never the user's."""
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # "notes" is no path here, so it names the bundled corpus
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Organ, flute and bass at 3 pitches and 2 velocities: 18 notes, rendered once for the module."""
    need_fluidsynth()
    folder = tmp_path_factory.mktemp("tiny") / "notes"
    assert build_notes(folder, [ORGAN, FLUTE, BASS], PITCHES, VELOCITIES) == 18
    return folder


def note(folder: Path, name: str) -> np.ndarray:
    samples, rate = soundfile.read(folder / f"{name}.flac", dtype="float32")
    assert rate == RATE
    return samples


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def test_the_tiny_corpus_has_the_notes_asked_named_as_nsynth_names_them(tiny):
    expected = {f"{instrument}-{pitch:03d}-{velocity:03d}"
                for instrument in ("organ_synthetic_000", "flute_synthetic_000", "bass_synthetic_000")
                for pitch in PITCHES for velocity in VELOCITIES}
    assert sorted(p.name for p in tiny.iterdir()) == sorted([f"{name}.flac" for name in expected] + ["examples.json"])
    assert [p.name for p in tiny.parent.iterdir()] == ["notes"]  # built aside and renamed: nothing hidden left
    for name in expected:
        info = soundfile.info(tiny / f"{name}.flac")
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (RATE, 1, 4 * RATE, "PCM_16")
        assert rms(note(tiny, name)[:RATE]) > 0.005  # every note sounds


def test_examples_json_is_nsynths_format_with_the_gm_program(tiny):
    examples = json.loads((tiny / "examples.json").read_text(encoding="utf-8"))
    assert len(examples) == 18
    types = {"note_str": str, "pitch": int, "velocity": int, "sample_rate": int, "instrument_str": str,
             "instrument": int, "instrument_family_str": str, "instrument_family": int,
             "instrument_source_str": str, "instrument_source": int, "gm_program": int, "note": int}
    for name, entry in examples.items():
        assert {key: type(value) for key, value in entry.items()} == types
        assert entry["note_str"] == name and entry["sample_rate"] == RATE
        assert name == f"{entry['instrument_str']}-{entry['pitch']:03d}-{entry['velocity']:03d}"
        assert FAMILIES[entry["instrument_family"]] == entry["instrument_family_str"]
        assert entry["instrument_str"].startswith(entry["instrument_family_str"] + "_synthetic_")
        assert (entry["instrument_source_str"], entry["instrument_source"]) == ("synthetic", 2)
    flute = examples["flute_synthetic_000-069-110"]
    assert (flute["gm_program"], flute["instrument"], flute["instrument_family"], flute["pitch"]) == (FLUTE, 1, 2, 69)
    assert sorted(entry["note"] for entry in examples.values()) == list(range(18))


def test_a_held_flute_a4_sounds_at_440_hz(tiny):
    held = note(tiny, "flute_synthetic_000-069-110")[RATE // 10: 3 * RATE]
    spectrum = np.abs(np.fft.rfft(held * np.hanning(len(held)), 4 * len(held)))
    frequencies = np.fft.rfftfreq(4 * len(held), 1 / RATE)
    peak = frequencies[np.argmax(spectrum * (frequencies > 50))]
    assert abs(1200 * np.log2(peak / 440)) < 50


def test_each_note_is_held_three_seconds_then_released(tiny):
    for name in ("organ_synthetic_000-060-110", "flute_synthetic_000-069-050"):
        samples = note(tiny, name)
        first = rms(samples[:RATE])
        assert rms(samples[int(2.5 * RATE): 3 * RATE]) > 0.3 * first  # still held
        assert rms(samples[int(3.5 * RATE):]) < 0.05 * first  # released
        assert np.abs(samples[:16]).max() < 1e-3  # it starts in silence: nothing of the note before


def test_velocities_keep_their_levels(tiny):
    soft, loud = (rms(note(tiny, f"organ_synthetic_000-060-{v:03d}")[:RATE]) for v in VELOCITIES)
    assert loud > 1.5 * soft


def test_the_bundled_corpus_is_planned_as_nsynth_families_over_sensible_ranges():
    plan = plan_notes()
    assert 4000 <= sum(len(instrument.notes) for instrument in plan) <= 6000
    piano = next(instrument for instrument in plan if instrument.program == 0)
    assert sorted({pitch for pitch, _ in piano.notes}) == list(range(24, 97))  # every semitone, as NSynth
    assert {instrument.family for instrument in plan} == set(FAMILIES)
    lows = {instrument.program: min(pitch for pitch, _ in instrument.notes) for instrument in plan}
    assert lows[BASS] < 30 and lows[FLUTE] >= 60
    assert len({instrument.name for instrument in plan}) == len(plan)
    with pytest.raises(UserError, match="no NSynth family"):
        plan_notes([120])  # guitar fret noise: a sound effect


def test_notes_is_found_by_name_built_once_and_listed(tiny, own_cache, monkeypatch, capsys):
    row = next(row for row in list_bundled_audio() if row["name"] == "notes")
    assert row["minutes"] == "rendered on first use" and row["files"] == sum(len(i.notes) for i in plan_notes())
    assert not (own_cache / "corpora").exists()  # listing renders nothing
    built = []
    monkeypatch.setattr(notes, "build_notes", lambda folder: built.append(folder) or shutil.copytree(tiny, folder))
    folder = resolve_audio_source("notes")
    assert folder == own_cache / "corpora" / f"notes-v{notes.NOTES_VERSION}" and built == [folder]
    assert resolve_audio_source("notes") == folder and len(built) == 1  # built once
    row = next(row for row in list_bundled_audio() if row["name"] == "notes")
    assert row["files"] == 18 and row["minutes"] == 1.2 and row["megabytes"] > 0
    monkeypatch.setattr(bundled, "list_bundled", list)  # the MIDI corpora are not converted here
    assert main(["corpus", "list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("notes "))
    assert "18" in line and "1.2 min" in line


def test_read_notes_reads_the_corpus_and_nsynths_layout(tiny, tmp_path):
    docs = read_notes(tiny, sample_rate=8000, seconds=2.0)
    assert len(docs) == 18
    by_name = {doc.name: doc.content for doc in docs}
    flute = by_name["flute_synthetic_000-069-110.flac"]
    assert (flute.pitch, flute.velocity, flute.instrument, flute.family) == (69, 110, "flute_synthetic_000", "flute")
    assert flute.samples.dtype == np.float32 and flute.samples.shape == (16000,)
    nsynth = tmp_path / "nsynth-test"  # NSynth's own layout: examples.json beside an audio/ folder
    shutil.copytree(tiny, nsynth / "audio")
    (nsynth / "audio" / "examples.json").rename(nsynth / "examples.json")
    (nsynth / "audio" / "organ_synthetic_000-045-050.flac").rename(nsynth / "audio" / "renamed.flac")
    docs = read_notes(nsynth)
    assert len(docs) == 17  # the renamed file is in no entry and names no pitch: skipped
    bass = next(doc.content for doc in docs if doc.name == "audio/bass_synthetic_000-045-050.flac")
    assert (bass.pitch, bass.velocity, bass.family) == (45, 50, "bass") and bass.samples.shape == (4 * RATE,)


def test_read_notes_takes_pitch_and_velocity_from_a_users_file_names(tmp_path, capsys):
    folder = tmp_path / "mine"
    (folder / "pads").mkdir(parents=True)
    t = np.arange(44100) / 44100  # one second at 44.1 kHz
    tone = (0.5 * np.sin(2 * np.pi * 261.6 * t)).astype(np.float32)
    soundfile.write(folder / "piano-060-100.wav", tone, 44100)
    soundfile.write(folder / "piano-064.wav", tone, 44100)  # velocity 100 when not given
    soundfile.write(folder / "pads" / "warm-067-050.flac", np.stack([tone, tone], axis=1), 44100)  # stereo
    soundfile.write(folder / "noise.wav", tone, 44100)  # no pitch in its name
    capsys.readouterr()
    docs = read_notes(folder, sample_rate=RATE, seconds=1.5)
    err = capsys.readouterr().err
    assert [doc.name for doc in docs] == ["pads/warm-067-050.flac", "piano-060-100.wav", "piano-064.wav"]
    found = [(d.content.pitch, d.content.velocity, d.content.instrument, d.content.family) for d in docs]
    assert found == [(67, 50, "warm", "pads"), (60, 100, "piano", "piano"), (64, 100, "piano", "piano")]
    for doc in docs:  # mono, resampled, padded to 1.5 s
        assert doc.content.samples.shape == (int(1.5 * RATE),) and doc.content.samples.dtype == np.float32
        assert abs(rms(doc.content.samples[: RATE // 2]) - 0.5 / np.sqrt(2)) < 0.02
        assert np.abs(doc.content.samples[int(1.1 * RATE):]).max() == 0
    assert err.count("warning") == 1 and "noise.wav: no pitch in its name" in err
    assert "read 3 note files" in err and "skipped 1" in err


def test_a_folder_without_pitched_notes_and_a_missing_fluidsynth_are_one_line_errors(tmp_path, own_cache, monkeypatch):
    folder = tmp_path / "unnamed"
    folder.mkdir()
    soundfile.write(folder / "take.wav", np.zeros(100, np.float32), RATE)
    with pytest.raises(UserError, match="no usable note file"):
        read_notes(folder)
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth on this PATH
    with pytest.raises(UserError, match="FluidSynth is not installed"):
        resolve_audio_source("notes")
    assert not (own_cache / "corpora").exists()
