"""`tunesmith runs` on a first visit: no runs folder yet is no error; it says how to train one and
lists the bundled models that can be sampled right away. A folder the user names must exist."""

import json

from conftest import run_cli
from tunesmith import runs

BUNDLED = sorted(p.name for p in runs.PRETRAINED_DIR.iterdir() if runs.is_run(p))


def test_no_runs_folder_shows_how_to_start(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "runs")
    assert code == 0 and err == ""
    assert "no runs yet" in out and "tunesmith train melody-rnn --minutes 10" in out
    assert len(BUNDLED) >= 4
    for name in BUNDLED:
        assert f"tunesmith sample {name}" in out
    assert "char-rnn-lyrics" in out and ".txt" in out and ".mid" in out and ".wav" in out  # what each makes
    assert not (tmp_path / "runs").exists()  # looking made nothing


def test_an_empty_runs_folder_is_a_first_visit_too(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and "no runs yet" in out and all(name in out for name in BUNDLED)


def test_json_lists_bundled_models_marked_bundled(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "runs", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(row["run"] for row in rows) == BUNDLED and all(row["bundled"] is True for row in rows)
    assert {"recipe", "data", "step", "best_val_loss"} <= set(rows[0])


def test_runs_are_listed_with_the_bundled_models_below(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "runs" / "char-rnn-mine"
    mine.mkdir(parents=True)
    runs.write_config(mine, {"recipe": "char-rnn", "data": "lyrics", "created": "2026-11-22T10:00:00"})
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and "no runs yet" not in out
    assert "runs/char-rnn-mine" in out and "bundled models" in out and all(name in out for name in BUNDLED)
    code, out, _ = run_cli(capsys, "runs", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(row["run"], row["bundled"]) for row in rows] == [("runs/char-rnn-mine", False)] + [
        (name, True) for name in BUNDLED]


def test_a_named_folder_is_listed_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    code, out, _ = run_cli(capsys, "runs", "experiments")
    assert code == 0 and out == "no runs in experiments\n"
    code, out, _ = run_cli(capsys, "runs", "experiments", "--json")
    assert code == 0 and out == ""


def test_a_named_folder_that_does_not_exist_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "runs", "nowhere")
    assert code == 1 and out == ""
    assert err == "tunesmith: error: no such folder: nowhere\n"
