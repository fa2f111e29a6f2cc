"""The studio's server as the page uses it: list models and runs, generate and render from the
bundled models, follow a job's progress as Server-Sent Events, cancel one, and answer every bad
upload or request with one clear line while it keeps serving."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import TINY, run_cli
from fastapi.testclient import TestClient

from tunesmith import api
from tunesmith.notes import read_midi
from tunesmith.studio import server
from tunesmith.studio.server import UPLOAD_LIMIT, make_app

PRIMERS = Path(api.__file__).resolve().parent / "primers"


@pytest.fixture
def studio_folder(tmp_path: Path) -> Path:
    return tmp_path / "studio"


@pytest.fixture
def client(tmp_path: Path, studio_folder: Path):
    with TestClient(make_app(tmp_path / "runs", studio_folder)) as client:
        yield client


def finished(client: TestClient, job: dict, seconds: float = 60) -> dict:
    """The job's state once it is done, failed or cancelled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(f"/api/jobs/{job['id']}").json()
        if state["state"] in ("done", "failed", "cancelled"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job['title']} still {state['state']} after {seconds} s")


def upload(client: TestClient, name: str, data: bytes):
    return client.post("/api/uploads", files={"file": (name, data)})


def test_the_page_lists_bundled_models_with_what_each_takes(client):
    page = client.get("/")
    assert page.status_code == 200 and "tunesmith studio" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]  # nothing loads from another host
    for asset in ("/app.js", "/style.css"):
        assert client.get(asset).status_code == 200
    state = client.get("/api/state").json()
    models = {m["run"]: m for m in state["models"]}
    assert models["melody-folk"]["makes"] == ".mid" and "primer_midi" in models["melody-folk"]["controls"]
    assert models["char-rnn-lyrics"]["makes"] == ".txt" and "primer_text" in models["char-rnn-lyrics"]["controls"]
    assert models["music-vae-folk"]["generator"] == "latent"
    assert models["gansynth-notes"]["generator"] == "one-shot" and models["gansynth-notes"]["pitches"] == [24, 84]
    assert "seconds" in models["samplernn-chorales"]["controls"]
    assert all("path" not in m for m in state["models"])  # no server paths in the page
    assert len(state["programs"]) == 128 and state["effects"] == ["none", "room", "ambient"]
    assert {"p-jig-a", "p-jig-b"} <= {s["id"] for s in state["sources"]}
    runs = client.get("/api/runs").json()
    assert {r["run"] for r in runs} == set(models) and all(r["bundled"] for r in runs)  # no runs/ folder yet


def test_generate_a_melody_streams_its_progress_and_plays(client, studio_folder):
    job = client.post("/api/generate", json={"model": "melody-folk", "length": 32, "seed": 1}).json()
    assert job["state"] in ("queued", "running")
    seen = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        for line in events.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[len("data: "):]))
    assert seen[-1]["state"] == "done", seen[-1]["error"]
    assert len(seen) > 1 and {s["progress"]["task"] for s in seen if s["progress"]} <= {"sampling", "rendering"}
    result, = seen[-1]["results"]
    assert result["kind"] == "midi" and result["notes"]["notes"] and result["audio"]
    midi = client.get(f"/api/files/{result['id']}?download=1")
    assert midi.status_code == 200 and 'filename="melody-folk-sample.mid"' in midi.headers["content-disposition"]
    saved = studio_folder / "downloaded.mid"
    saved.write_bytes(midi.content)
    assert len(read_midi(saved).notes) == len(result["notes"]["notes"]) > 0
    played = client.get(f"/api/files/{result['audio']}")
    assert played.headers["content-type"] == "audio/wav"
    samples, rate = soundfile.read(io.BytesIO(played.content))
    assert rate == server.PLAYBACK_RATE and np.abs(samples).max() > 0.1
    assert [r["id"] for r in client.get("/api/state").json()["results"]] == [result["id"]]
    assert all(p.resolve().is_relative_to(studio_folder.resolve() / "results" / job["id"])
               for p in (studio_folder / "results").rglob("*") if p.is_file())


def test_generate_text_and_continue_a_phrase(client):
    text = finished(client, client.post("/api/generate", json={"model": "char-rnn-lyrics", "length": 50, "seed": 2,
                                                               "primer": "The night"}).json())
    assert text["state"] == "done", text["error"]
    result, = text["results"]
    assert result["kind"] == "text" and result["text"].startswith("The night") and len(result["text"]) == 59
    assert client.get(f"/api/files/{result['id']}").text == result["text"]

    primer = upload(client, "tune.mid", (PRIMERS / "folk.mid").read_bytes()).json()
    assert primer["kind"] == "midi" and "notes" in primer["about"]
    continued = finished(client, client.post("/api/generate", json={"model": "melody-folk", "length": 16, "seed": 1,
                                                                    "primer": primer["id"]}).json())
    assert continued["state"] == "done" and continued["title"].startswith("continuing")
    assert len(continued["results"][0]["notes"]["notes"]) > api.midi_notes(PRIMERS / "folk.mid")["notes"].__len__()


def test_results_are_listed_again_when_the_studio_restarts(tmp_path, studio_folder):
    with TestClient(make_app(tmp_path / "runs", studio_folder)) as client:
        made = finished(client, client.post("/api/generate", json={"model": "char-rnn-lyrics", "length": 30,
                                                                   "seed": 4}).json())
        cancelled = client.post("/api/generate", json={"model": "samplernn-chorales", "seconds": 60}).json()
        client.post(f"/api/jobs/{cancelled['id']}/cancel")
        assert finished(client, cancelled)["state"] == "cancelled"
    (studio_folder / "results" / "damaged").mkdir()
    (studio_folder / "results" / "damaged" / "job.json").write_text("{not json")
    with TestClient(make_app(tmp_path / "runs", studio_folder)) as client:
        state = client.get("/api/state").json()
        assert [r["id"] for r in state["results"]] == [r["id"] for r in made["results"]]  # not the cancelled one
        assert client.get(f"/api/files/{made['results'][0]['id']}").text == made["results"][0]["text"]
        assert client.get(f"/api/jobs/{made['id']}").json()["state"] == "done"


def test_interpolate_and_render_through_a_program_and_a_neural_instrument(client):
    between = finished(client, client.post("/api/interpolate", json={"model": "music-vae-folk", "first": "p-jig-a",
                                                                     "last": "p-jig-b", "steps": 3}).json())
    assert between["state"] == "done", between["error"]
    assert [r["name"] for r in between["results"]] == ["interpolation-1.mid", "interpolation-2.mid",
                                                       "interpolation-3.mid", "interpolation-all.mid"]
    phrase = between["results"][1]
    rendered = finished(client, client.post("/api/render", json={"source": phrase["id"], "program": "Violin",
                                                                 "effects": "room"}).json())
    assert rendered["state"] == "done", rendered["error"]
    sound, = rendered["results"]
    assert sound["title"] == "interpolation-2 by Violin · interpolation-2.wav"
    assert sound["kind"] == "audio" and sound["audio"] == sound["id"] and len(sound["waveform"]["peaks"]) == 800
    assert max(high for _, high in sound["waveform"]["peaks"]) > 0.1
    played = finished(client, client.post("/api/render", json={"source": "p-jig-a",
                                                               "instrument": "gansynth-notes"}).json())
    assert played["state"] == "done", played["error"]
    assert played["results"][0]["waveform"]["seconds"] > 1
    for bad, words in (({"source": "p-jig-a", "effects": "hall"}, "effects hall"),
                       ({"source": "p-jig-a", "program": "Kazoo"}, "Kazoo"),
                       ({"source": sound["id"]}, "is not a MIDI file")):
        answer = client.post("/api/render", json=bad)
        assert answer.status_code == 400 and words in answer.json()["error"]


def test_mix_two_sounds_with_an_nsynth_run(tmp_path, capsys):
    from test_nsynth import RATE, wave
    from test_nsynth import TINY as TINY_NSYNTH

    notes = tmp_path / "notes"
    notes.mkdir()
    for kind in ("sine", "saw"):
        for pitch in range(60, 63):
            soundfile.write(notes / f"{kind}-{pitch:03d}-100.wav", wave(kind, pitch), RATE)
    code, _, err = run_cli(capsys, "train", "nsynth", "--data", str(notes), "--steps", "2", "--run",
                           str(tmp_path / "runs" / "nsynth"), *TINY_NSYNTH)
    assert code == 0, err
    with TestClient(make_app(tmp_path / "runs", tmp_path / "studio")) as client:
        models = {m["run"]: m for m in client.get("/api/state").json()["models"]}
        name = str(tmp_path / "runs" / "nsynth")
        assert models[name]["generator"] == "autoencoder" and models[name]["controls"] == []
        sounds = [upload(client, f"{kind}.wav", (notes / f"{kind}-060-100.wav").read_bytes()).json()["id"]
                  for kind in ("sine", "saw")]
        mixed = finished(client, client.post("/api/mix", json={"model": name, "first": sounds[0],
                                                               "second": sounds[1], "weight": 0.3}).json())
        assert mixed["state"] == "done", mixed["error"]
        result, = mixed["results"]
        assert result["name"] == "mix.wav" and result["waveform"]["seconds"] == pytest.approx(0.25, abs=0.04)
        refused = client.post("/api/mix", json={"model": "melody-folk", "first": sounds[0], "second": sounds[1]})
        assert "needs an NSynth run" in finished(client, refused.json())["error"]


def test_bad_uploads_get_one_clear_line_and_the_server_keeps_serving(client):
    for name, data, words in (("x.mid", b"garbage bytes, not music", "x.mid is not a MIDI file or a recording"),
                              ("x.mid", b"", "x.mid is empty"),
                              ("x.mid", b"MThd" + b"\x00" * 40, "x.mid is not a readable MIDI file"),
                              ("take.wav", b"RIFF" + b"\x01" * 60, "take.wav is not a readable audio file")):
        answer = upload(client, name, data)
        assert 400 <= answer.status_code < 500, answer.text
        error = answer.json()["error"]
        assert words in error and "\n" not in error and "Traceback" not in error and "uploads" not in error
        assert client.get("/api/state").status_code == 200
    answer = client.post("/api/generate", json={"model": "melody-folk", "temperature": 0})
    assert answer.status_code == 422 and answer.json()["error"] == "temperature: Input should be greater than 0"
    assert client.post("/api/uploads", data={"note": "no file"}).json()["error"].startswith("no file in the upload")
    failed = finished(client, client.post("/api/generate", json={"model": "gansynth-notes", "pitch": 5}).json())
    assert failed["state"] == "failed" and failed["error"] == "pitch 5 is outside the pitches this model knows, 24-84"


def test_recordings_are_decoded_and_kept_as_wav(client, studio_folder, tmp_path):
    tone = (0.5 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 16000)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([tone, tone], axis=1), 16000, format="FLAC")
    stored = upload(client, "take.flac", buffer.getvalue()).json()
    assert stored["kind"] == "audio" and stored["about"] == "0.5 s"
    if shutil.which("ffmpeg"):  # the browser's recorder sends WebM (Opus), which ffmpeg decodes
        webm = tmp_path / "take.webm"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a",
                        "libopus", str(webm)], check=True)
        recorded = upload(client, "recording.webm", webm.read_bytes()).json()
        assert recorded["kind"] == "audio", recorded
    kept = sorted(p.suffix for p in (studio_folder / "uploads").iterdir())
    assert set(kept) == {".wav"}  # every recording kept as WAV under a generated name


def test_names_from_the_page_never_become_paths(client, studio_folder, tmp_path):
    stored = upload(client, "../../etc/passwd", (PRIMERS / "jig-a.mid").read_bytes()).json()
    assert stored["name"] == "passwd" and stored["kind"] == "midi"
    uploads = list((studio_folder / "uploads").iterdir())
    assert [p.name for p in uploads] == [f"{stored['id']}.mid"]
    assert not (tmp_path / "etc").exists()
    for path in ("/api/files/..%2F..%2Fetc%2Fpasswd", "/api/files/" + stored["id"], "/..%2F..%2Fetc%2Fpasswd",
                 "/api/losses?run=../../etc", "/api/jobs/..%2F..%2Fetc"):
        answer = client.get(path)
        assert answer.status_code == 404 and "error" in answer.json(), path
    for form in ({"model": "../../etc/passwd"}, {"model": "melody-folk", "primer": "../../etc/passwd"}):
        answer = client.post("/api/generate", json=form)
        assert answer.status_code == 404 and "\n" not in answer.json()["error"]


def test_an_upload_over_the_limit_is_refused(client):
    answer = upload(client, "huge.wav", b"RIFF" + b"\x00" * (UPLOAD_LIMIT + 1024))
    assert answer.status_code == 413 and "over the upload limit of 20 MB" in answer.json()["error"]
    assert client.get("/api/state").status_code == 200


def test_cancel_a_long_audio_generation(client, studio_folder):
    job = client.post("/api/generate", json={"model": "samplernn-chorales", "seconds": 120, "seed": 1}).json()
    deadline = time.monotonic() + 60
    while not (progress := client.get(f"/api/jobs/{job['id']}").json()["progress"] or {}).get("done"):
        assert time.monotonic() < deadline, "the generation never started"
        time.sleep(0.05)
    assert progress["task"] == "sampling" and progress["unit"] == "s" and progress["total"] == 120
    asked = time.monotonic()
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    state = finished(client, job, seconds=10)
    assert state["state"] == "cancelled" and time.monotonic() - asked < 3
    assert not state["results"] and not (studio_folder / "results" / job["id"]).exists()  # no half-made clip
    assert client.get("/api/state").json()["results"] == []
    after = finished(client, client.post("/api/generate", json={"model": "melody-folk", "length": 16}).json())
    assert after["state"] == "done"  # the worker is still there


def test_without_fluidsynth_the_page_says_so_and_still_offers_the_midi(client, monkeypatch):
    from tunesmith.errors import UserError
    from tunesmith.media import render

    def missing() -> str:
        raise UserError("cannot render MIDI to audio: FluidSynth is not installed")

    monkeypatch.setattr(render, "find_fluidsynth", missing)
    player = client.get("/api/state").json()["player"]
    assert not player["ok"] and "FluidSynth is not installed" in player["message"]
    made = finished(client, client.post("/api/generate", json={"model": "melody-folk", "length": 16}).json())
    result, = made["results"]
    assert "audio" not in result and "FluidSynth is not installed" in result["player_error"]
    assert client.get(f"/api/files/{result['id']}?download=1").status_code == 200


def test_an_unexpected_error_in_a_job_is_one_line(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the model fell over\nsecond line")

    monkeypatch.setattr(api, "generate", broken)
    failed = finished(client, client.post("/api/generate", json={"model": "melody-folk"}).json())
    assert failed["state"] == "failed"
    assert failed["error"].startswith("unexpected error (RuntimeError: the model fell over)")
    assert "\n" not in failed["error"]
    assert client.get("/api/state").status_code == 200


def test_runs_show_their_loss_history(tmp_path, lyrics_file):
    trained = api.train("char-rnn", str(lyrics_file), tmp_path / "runs" / "tiny", steps=10, settings=TINY)
    assert trained["step"] == 10
    with TestClient(make_app(tmp_path / "runs", tmp_path / "studio")) as client:
        runs = {r["run"]: r for r in client.get("/api/runs").json()}
        name = str(tmp_path / "runs" / "tiny")
        assert runs[name]["recipe"] == "char-rnn" and runs[name]["step"] == 10 and not runs[name]["bundled"]
        assert runs[name]["best_val_loss"] > 0
        losses = client.get("/api/losses", params={"run": name}).json()
        assert [step for step, _ in losses["train"]] == [5, 10] == [step for step, _ in losses["validation"]]
        assert all(loss > 0 for _, loss in losses["train"] + losses["validation"])
        bundled = client.get("/api/losses", params={"run": "melody-folk"}).json()
        assert len(bundled["validation"]) > 3


def test_the_studio_command(capsys, monkeypatch, tmp_path):
    served = []
    monkeypatch.setattr(server, "serve", lambda *args: served.append(args))
    code, _, err = run_cli(capsys, "studio", "--host", "0.0.0.0", "--port", "9001", "--runs", str(tmp_path),
                             "--no-browser")
    assert code == 0 and "warning: serving on 0.0.0.0" in err and "no login" in err
    host, port, runs, folder, ready = served[0]
    assert (host, port, runs, folder) == ("0.0.0.0", 9001, tmp_path, Path("studio"))
    ready()
    assert "http://127.0.0.1:9001/" in capsys.readouterr().out
    code, _, err = run_cli(capsys, "studio", "--port", "0")
    assert code == 1 and "give a port from 1 to 65535" in err
    check = "import sys, tunesmith.cli; print(sorted({'fastapi', 'torch', 'uvicorn'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"  # the CLI starts without the studio's server or torch
