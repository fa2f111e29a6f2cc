"""The pipeline: incremental runs (nothing changed, a file added, removed, a setting changed, a
corrupt file, a run killed mid-stage), provenance, status, watch, the Ray executor against the
local one, spec errors, and a tiny spec from recordings to a rendered generated song."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import TUNESMITH, run_cli
from tunesmith.pipeline import runner
from tunesmith.media.render import find_fluidsynth, find_soundfont
from tunesmith.errors import UserError

RATE = 22050


def tone(path: Path, pitches: list[int], seconds: float = 0.6) -> Path:
    """A recording of plucked tones (a fundamental and an octave, quick attack, decay), one after
    the other: basic-pitch transcribes each as its pitch."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.minimum(1, t * 50) * np.exp(-t * 2)
    parts = []
    for pitch in pitches:
        f = 440 * 2 ** ((pitch - 69) / 12)
        parts.append(0.5 * envelope * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.concatenate(parts).astype(np.float32), RATE)
    return path


def recordings(folder: Path, count: int) -> list[Path]:
    return [tone(folder / f"take{i}.wav", [60 + i, 64 + i, 67 + i]) for i in range(count)]


def write_spec(path: Path, stages: str, input: str = "rec", store: str = "store") -> Path:
    path.write_text(f'input = "{input}"\nstore = "{store}"\n\n{stages}', encoding="utf-8")
    return path


TRANSCRIBE = """
[[stages]]
name = "decode"
kind = "decode"
sample_rate = 16000

[[stages]]
name = "transcribe"
kind = "transcribe"
"""

TRAIN_TO_RENDER = """
[[stages]]
name = "train"
kind = "train"
recipe = "performance-rnn"
steps = 6
settings = { hidden_size = 32, layers = 1, embedding_size = 16, seq_len = 16, batch_size = 2, eval_every = 3, sample_length = 8 }

[[stages]]
name = "generate"
kind = "generate"
count = 2
seconds = 3.0

[[stages]]
name = "render"
kind = "render"
program = "Pad 2 (warm)"
effects = "room"
sample_rate = 16000
"""


def counts(result) -> dict[str, tuple[int, int, int]]:
    return {s.stage: (s.new, s.cached, s.failed) for s in result.stages}


def run(spec: Path, **options):
    return runner.run_pipeline(spec, workers=options.pop("workers", 1), **options)


def test_incremental_runs_do_only_what_changed(tmp_path):
    recordings(tmp_path / "rec", 3)
    spec = write_spec(tmp_path / "p.toml", TRANSCRIBE)
    assert counts(run(spec)) == {"decode": (3, 0, 0), "transcribe": (3, 0, 0)}
    store = tmp_path / "store"
    first = {p.name: p.read_bytes() for p in (store / "out" / "transcribe").iterdir()}
    assert sorted(first) == ["take0.mid", "take1.mid", "take2.mid"]

    # nothing changed: nothing is done, and the outputs are the same files
    assert counts(run(spec)) == {"decode": (0, 3, 0), "transcribe": (0, 3, 0)}
    assert {p.name: p.read_bytes() for p in (store / "out" / "transcribe").iterdir()} == first

    # one file added: only it is decoded and transcribed
    tone(tmp_path / "rec" / "new.wav", [72, 76])
    assert counts(run(spec)) == {"decode": (1, 3, 0), "transcribe": (1, 3, 0)}
    assert (store / "out" / "transcribe" / "new.mid").is_file()

    # one removed: nothing to do, and its outputs leave the stage's set
    (tmp_path / "rec" / "take0.wav").unlink()
    assert counts(run(spec)) == {"decode": (0, 3, 0), "transcribe": (0, 3, 0)}
    assert not (store / "out" / "transcribe" / "take0.mid").exists()

    # a setting of the second stage changed: it re-runs, the first does not
    spec.write_text(spec.read_text().replace('kind = "transcribe"', 'kind = "transcribe"\nonset_threshold = 0.6'))
    assert counts(run(spec)) == {"decode": (0, 3, 0), "transcribe": (3, 0, 0)}
    # ... and a setting of the first: both re-run
    spec.write_text(spec.read_text().replace("sample_rate = 16000", "sample_rate = 22050"))
    assert counts(run(spec)) == {"decode": (3, 0, 0), "transcribe": (3, 0, 0)}

    # a renamed file is the same content: nothing to do, the output takes the new name
    (tmp_path / "rec" / "take1.wav").rename(tmp_path / "rec" / "renamed.wav")
    assert counts(run(spec)) == {"decode": (0, 3, 0), "transcribe": (0, 3, 0)}
    assert (store / "out" / "transcribe" / "renamed.mid").is_file()
    # ... and a copy of a file is content the store holds: nothing to do either
    (tmp_path / "rec" / "twin.wav").write_bytes((tmp_path / "rec" / "renamed.wav").read_bytes())
    assert counts(run(spec)) == {"decode": (0, 4, 0), "transcribe": (0, 4, 0)}
    assert (store / "out" / "transcribe" / "twin.mid").read_bytes() == (store / "out" / "transcribe" / "renamed.mid").read_bytes()


def test_a_corrupt_file_fails_alone_and_is_retried(tmp_path, capsys):
    recordings(tmp_path / "rec", 2)
    (tmp_path / "rec" / "broken.wav").write_bytes(b"RIFF, but not really a wave file" * 10)
    spec = write_spec(tmp_path / "p.toml", TRANSCRIBE)
    code, out, err = run_cli(capsys, "pipeline", "run", str(spec), "--workers", "1")
    assert code == 1  # a failure is reported in the exit status
    assert out.splitlines() == ["decode: 2 new, 0 cached, 1 failed", "transcribe: 2 new, 0 cached, 0 failed"]
    assert "decode: broken.wav failed" in err and "Traceback" not in err
    # status names it; the next run tries only it again
    code, out, _ = run_cli(capsys, "pipeline", "status", str(spec))
    assert "decode: 2 done, 0 new, 1 failed" in out and "broken.wav" in out
    code, out, _ = run_cli(capsys, "pipeline", "run", str(spec), "--json")
    result = json.loads(out)
    assert [(s["stage"], s["new"], s["cached"], s["failed"]) for s in result["stages"]] == [
        ("decode", 0, 2, 1), ("transcribe", 0, 2, 0)]
    assert result["failures"][0]["name"] == "broken.wav"
    # mended, it is done and its failure forgotten
    tone(tmp_path / "rec" / "broken.wav", [62])
    assert counts(run(spec)) == {"decode": (1, 2, 0), "transcribe": (1, 2, 0)}
    status = runner.pipeline_status(spec)
    assert status.failures == [] and counts(status) == {"decode": (0, 3, 0), "transcribe": (0, 3, 0)}


def test_a_run_killed_mid_stage_is_continued(tmp_path):
    recordings(tmp_path / "rec", 8)
    spec = write_spec(tmp_path / "p.toml", '[[stages]]\nname = "transcribe"\nkind = "transcribe"\n')
    objects = tmp_path / "store" / "objects"
    process = subprocess.Popen([*TUNESMITH, "pipeline", "run", str(spec), "--workers", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 120
        while len(list(objects.glob("*/*/record.json"))) < 2 and process.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    done = len(list(objects.glob("*/*/record.json")))
    assert 2 <= done < 8, "the run should be killed part way through the stage"
    result = run(spec)
    (new, cached, failed), = counts(result).values()
    assert (cached, new, failed) == (done, 8 - done, 0)
    assert sorted(p.name for p in (tmp_path / "store" / "out" / "transcribe").iterdir()) == [
        f"take{i}.mid" for i in range(8)]
    assert counts(run(spec)) == {"transcribe": (0, 8, 0)}


def test_status_and_provenance(tmp_path, capsys):
    takes = recordings(tmp_path / "rec", 2)
    spec = write_spec(tmp_path / "p.toml", TRANSCRIBE)
    code, out, _ = run_cli(capsys, "pipeline", "status", str(spec))
    assert out.splitlines()[:2] == ["decode: 0 done, 2 new, 0 failed",
                                    "transcribe: 0 done, 0 new, 0 failed (and what the stages before it will make)"]
    assert not list((tmp_path / "store").glob("objects/*/*/record.json"))  # status does no work
    run(spec)
    code, out, _ = run_cli(capsys, "pipeline", "status", str(spec))
    assert out.splitlines() == ["decode: 2 done, 0 new, 0 failed", "transcribe: 2 done, 0 new, 0 failed"]
    output = tmp_path / "store" / "out" / "transcribe" / "take1.mid"
    found = runner.why(spec, output)
    assert found["output"] == "transcribe/take1.mid"
    assert [link["stage"] for link in found["chain"]] == ["transcribe", "decode"]
    assert found["chain"][1]["datums"][0]["name"] == "take1.flac"
    assert found["inputs"] == [{"name": "take1.wav", "digest": hashlib.sha1(takes[1].read_bytes()).hexdigest()}]
    code, out, _ = run_cli(capsys, "pipeline", "status", str(spec), "--why", "decode/take0.flac")
    assert code == 0 and "take0.wav" in out and "take1.wav" not in out
    code, _, err = run_cli(capsys, "pipeline", "status", str(spec), "--why", "render/x.wav")
    assert code == 1 and err.startswith("tunesmith: error: no output render/x.wav")


def test_watch_runs_when_files_appear(tmp_path):
    recordings(tmp_path / "rec", 1)
    spec = write_spec(tmp_path / "p.toml", '[[stages]]\nname = "decode"\nkind = "decode"\n')
    results = []
    watcher = threading.Thread(target=runner.watch, args=(spec,),
                               kwargs={"interval": 0.05, "report": results.append, "max_runs": 2})
    watcher.start()
    deadline = time.time() + 60
    while not results and time.time() < deadline:
        time.sleep(0.05)
    tone(tmp_path / "rec" / "later.wav", [70])
    watcher.join(60)
    assert not watcher.is_alive()
    assert [counts(r) for r in results] == [{"decode": (1, 0, 0)}, {"decode": (1, 1, 0)}]


def test_ray_executor_makes_what_the_local_one_makes(tmp_path):
    pytest.importorskip("ray", reason="Ray is the ray extra, which make test installs")
    recordings(tmp_path / "rec", 3)
    spec = write_spec(tmp_path / "p.toml", TRANSCRIBE)
    local = run(spec, store=tmp_path / "local", workers=2)
    remote = runner.run_pipeline(spec, store=tmp_path / "ray", executor="ray")
    assert counts(local) == counts(remote) == {"decode": (3, 0, 0), "transcribe": (3, 0, 0)}
    for stage in ("decode", "transcribe"):
        mine = {p.name: p.read_bytes() for p in (tmp_path / "local" / "out" / stage).iterdir()}
        theirs = {p.name: p.read_bytes() for p in (tmp_path / "ray" / "out" / stage).iterdir()}
        assert mine == theirs and len(mine) == 3


def test_spec_errors_are_one_line(tmp_path, capsys):
    recordings(tmp_path / "rec", 1)
    cases = {
        '[[stages]]\nkind = "mix"\n': "has kind 'mix'",
        '[[stages]]\nkind = "decode"\nloudness = 3\n': "no setting 'loudness'",
        '[[stages]]\nkind = "decode"\nsample_rate = "fast"\n': "setting sample_rate = 'fast'",
        '[[stages]]\nkind = "decode"\n\n[[stages]]\nkind = "render"\n': "cannot take what decode",
        'stages = 3\n': "no stages",
    }
    for text, expected in cases.items():
        spec = write_spec(tmp_path / "bad.toml", text)
        code, out, err = run_cli(capsys, "pipeline", "run", str(spec))
        assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, (text, err)
    code, _, err = run_cli(capsys, "pipeline", "run", str(write_spec(tmp_path / "ok.toml", '[[stages]]\nkind = "decode"\n')),
                           "--workers", "0")
    assert code == 1 and "0 workers: give 1 or more (--workers)" in err
    code, _, err = run_cli(capsys, "pipeline", "run", str(tmp_path / "missing.toml"))
    assert code == 1 and "no such pipeline spec" in err
    spec = write_spec(tmp_path / "noinput.toml", '[[stages]]\nkind = "decode"\n', input="nowhere")
    code, _, err = run_cli(capsys, "pipeline", "run", str(spec))
    assert code == 1 and "no input folder" in err


def test_one_run_at_a_time(tmp_path):
    recordings(tmp_path / "rec", 1)
    spec = write_spec(tmp_path / "p.toml", '[[stages]]\nkind = "decode"\n')
    from tunesmith.pipeline.store import Store

    with Store(tmp_path / "store").locked():
        with pytest.raises(UserError, match="another pipeline run"):
            run(spec)


def test_from_recordings_to_a_rendered_song_and_a_removed_file_leaves_the_training_set(tmp_path):
    try:
        find_fluidsynth(), find_soundfont()
    except UserError as err:
        pytest.skip(f"rendering needs FluidSynth and a SoundFont: {err}")
    recordings(tmp_path / "rec", 3)
    spec = write_spec(tmp_path / "p.toml", TRANSCRIBE + TRAIN_TO_RENDER)
    result = run(spec)
    assert counts(result) == {"decode": (3, 0, 0), "transcribe": (3, 0, 0), "train": (1, 0, 0),
                              "generate": (1, 0, 0), "render": (2, 0, 0)}
    out = tmp_path / "store" / "out"
    songs = sorted((out / "render").iterdir())
    assert [p.name for p in songs] == ["song-1.wav", "song-2.wav"]
    audio, rate = soundfile.read(songs[0])
    assert rate == 16000 and len(audio) / rate > 1.0 and np.abs(audio).max() > 0.1
    trained_on = sorted(p.name for p in (out / "train" / "run").resolve().parent.joinpath("data").iterdir())
    assert trained_on == ["take0.mid", "take1.mid", "take2.mid"]
    found = runner.why(spec, "render/song-1.wav")
    assert [link["stage"] for link in found["chain"]] == ["render", "generate", "train", "transcribe", "decode"]
    assert [i["name"] for i in found["inputs"]] == ["take0.wav", "take1.wav", "take2.wav"]

    (tmp_path / "rec" / "take2.wav").unlink()
    again = counts(run(spec))
    assert {stage: again[stage] for stage in ("decode", "transcribe", "train", "generate")} == {
        "decode": (0, 2, 0), "transcribe": (0, 2, 0), "train": (1, 0, 0), "generate": (1, 0, 0)}
    # (a song the new model makes note for note as the old one did is the same datum: cached)
    assert sum(again["render"][:2]) == 2 and again["render"][2] == 0
    trained_on = sorted(p.name for p in (out / "train" / "run").resolve().parent.joinpath("data").iterdir())
    assert trained_on == ["take0.mid", "take1.mid"]


def test_fine_tune_starts_from_the_last_run(tmp_path):
    recordings(tmp_path / "rec", 2)
    spec = write_spec(tmp_path / "p.toml", TRANSCRIBE + TRAIN_TO_RENDER.split("[[stages]]\nname = \"generate\"")[0]
                      .replace('recipe = "performance-rnn"', 'recipe = "performance-rnn"\non_change = "fine-tune"'))
    run(spec)
    first = (tmp_path / "store" / "out" / "train" / "run").resolve()
    tone(tmp_path / "rec" / "more.wav", [65, 69])
    assert counts(run(spec))["train"] == (1, 0, 0)
    second = (tmp_path / "store" / "out" / "train" / "run").resolve()
    from tunesmith import runs

    config = runs.read_config(second)
    assert second != first and config["fine_tuned_from"] == str(first)
    assert (second / runs.CODEC).read_bytes() == (first / runs.CODEC).read_bytes()
