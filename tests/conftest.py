"""Shared fixtures: tiny corpora and tiny model settings, so every test trains in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith import console
from tunesmith.cli import main


@pytest.fixture(autouse=True)
def terminal():
    """Messages and progress on stderr, as the CLI shows them (tests read them with capsys); a test
    of the silent library detaches it."""
    console.attach()
    yield
    console.detach()

TINY = ["hidden_size=32", "embedding_size=16", "batch_size=8", "seq_len=32", "eval_every=5",
        "sample_length=20", "warmup_steps=2"]

VERSES = [
    "The night is long and the river sings,",
    "I walk alone where the cold wind rings.",
    "Oh my darling, come home to me,",
    "Over the hills and across the sea.",
    "Sing me a song of the morning light,",
    "Hold me close through the winter night.",
]


def lyrics_text(lines: int = 400) -> str:
    return "\n".join(VERSES[i % len(VERSES)] + ("\n" if i % 4 == 3 else "") for i in range(lines)) + "\n"


@pytest.fixture
def lyrics_file(tmp_path: Path) -> Path:
    path = tmp_path / "songs.txt"
    path.write_text(lyrics_text(), encoding="utf-8")
    return path


@pytest.fixture
def lyrics_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "lyrics"
    folder.mkdir()
    for i in range(6):
        (folder / f"song{i}.txt").write_text(lyrics_text(60 + 10 * i), encoding="utf-8")
    return folder


def tiny_args(*extra: str) -> list[str]:
    args = []
    for setting in TINY:
        args += ["--set", setting]
    return args + list(extra)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `tunesmith ARGV` in this process; returns (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_command(*argv: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command line in a fresh process, as a user's shell would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


TUNESMITH = [sys.executable, "-m", "tunesmith"]


@pytest.fixture
def trained_run(tmp_path: Path, lyrics_file: Path, capsys) -> Path:
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "char-rnn", "--data", str(lyrics_file), "--run", str(run),
                           "--steps", "20", *tiny_args())
    assert code == 0, err
    return run


def update(optimizer, loss) -> float:
    """The trainer's update, without its NaN stop: zero_grad, backward, clip, step (for tests that
    drive an objective's step by hand)."""
    import math

    from torch import nn

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    grad_norm = float(nn.utils.clip_grad_norm_(parameters, 1.0))
    assert math.isfinite(loss.item()) and math.isfinite(grad_norm)
    optimizer.step()
    return grad_norm


def assert_adversarial_resumes_exactly(make_model, hp, batches) -> None:
    """k steps of an Adversarial objective, save (model, optimizers, RNG), 2 more; restore into a
    fresh model and objective and run the same 2: identical weights, so the objective keeps nothing
    outside what is saved. `make_model(seed)` builds the model; five batches."""
    import copy

    import torch

    from tunesmith.training.objectives import Adversarial

    model = make_model(0)
    objective = Adversarial(model, hp)
    for step in range(3):
        objective.step(batches[step], step, update)
    saved = {"model": copy.deepcopy(model.state_dict()),
             "optimizers": {n: copy.deepcopy(o.state_dict()) for n, o in objective.optimizers.items()},
             "rng": torch.get_rng_state(), "objective": objective.state_dict()}
    for step in (3, 4):
        objective.step(batches[step], step, update)
    first = copy.deepcopy(model.state_dict())

    again = make_model(123)
    resumed = Adversarial(again, hp)
    again.load_state_dict(saved["model"])
    for name, optimizer in resumed.optimizers.items():
        optimizer.load_state_dict(saved["optimizers"][name])
    resumed.load_state_dict(saved["objective"])
    torch.set_rng_state(saved["rng"])
    for step in (3, 4):
        resumed.step(batches[step], step, update)
    for name, value in again.state_dict().items():
        assert torch.equal(value, first[name]), name
