"""The library API alone: train, open, generate and evaluate without the CLI. Progress comes to a
callback, errors are UserErrors that name no CLI flag, and nothing is printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TINY
from tunesmith import api, console
from tunesmith.errors import UserError
from tunesmith.generation.lengths import Length
from tunesmith.generation.request import SampleRequest
from tunesmith.progress import Progress


def test_train_generate_and_evaluate_through_the_api_print_nothing(tmp_path: Path, lyrics_file: Path, capsys):
    console.detach()  # no front end: the library itself must stay silent
    events: list[Progress] = []
    result = api.train("char-rnn", str(lyrics_file), tmp_path / "run", steps=12, settings=TINY, progress=events.append)
    assert result["outcome"] == "finished" and result["step"] == 12 and Path(result["run"]).is_dir()
    training = [e for e in events if e.unit == "step"]
    assert training[-1].finished and training[-1].done == 12 and training[-1].total == 12
    assert training[-1].rate and "loss" in training[-1].stats

    opened = api.open_model(result["run"])
    assert opened.recipe.name == "char-rnn" and opened.checkpoint["step"] in (10, 12)
    samples = api.generate(opened, SampleRequest(length=Length(40), num_outputs=2, seed=3, out=tmp_path / "songs/"))
    assert [p.name for p in samples.paths] == ["sample-1.txt", "sample-2.txt"]
    assert [p.read_text(encoding="utf-8") for p in samples.paths] == samples.items and len(samples.items[0]) == 40
    heard: list[str] = []
    again = api.generate(result["run"], SampleRequest(length=Length(30), seed=3), echo=heard.append)
    assert again.paths == [] and again.streamed and "".join(heard) == again.items[0]  # text comes back

    evaluated = api.evaluate(opened)
    assert evaluated["loss_nats"] > 0 and Path(evaluated["saved"]).is_file()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("call, words", [
    (lambda tmp: api.train("char-rnn", steps=0), "budget of 0 steps"),
    (lambda tmp: api.train("char-rnn", settings=["hidden_size=big"]), "hidden_size takes a whole number"),
    (lambda tmp: api.generate("char-rnn-lyrics", SampleRequest(length=Length(seconds=3))), "in seconds"),
    (lambda tmp: api.open_model(tmp / "nowhere"), "no such run"),
])
def test_api_errors_name_no_cli_flag(tmp_path, call, words):
    with pytest.raises(UserError) as raised:
        call(tmp_path)
    assert words in str(raised.value) and "--" not in str(raised.value)
