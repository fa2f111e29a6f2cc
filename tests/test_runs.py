"""Run directory: checkpoint round trip, atomic writes, retention, checkpoint choice."""

import pytest
import torch

from tunesmith import runs
from tunesmith.errors import UserError
from tunesmith.media.files import FILE_MODE, write_atomic
from tunesmith.models.rnn import RNNLanguageModel


def make_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    runs.write_config(run, {"recipe": "char-rnn", "seed": 1, "hparams": {"lr": 0.1}})
    return run


def test_checkpoint_round_trip(tmp_path):
    run = make_run(tmp_path)
    model = RNNLanguageModel(10, 4, 8, 1)
    state = {"step": 7, "optimizer": {"x": torch.arange(3)}}
    runs.save_checkpoint(run, 7, model.state_dict(), state, {"val_loss": 1.5})
    checkpoint = runs.find_checkpoint(run, "last")
    assert checkpoint["step"] == 7 and checkpoint["val_loss"] == 1.5
    other = RNNLanguageModel(10, 4, 8, 1)
    other.load_state_dict(runs.load_weights(checkpoint))
    for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(runs.load_trainer_state(checkpoint)["optimizer"]["x"], torch.arange(3))
    assert runs.read_config(run)["hparams"] == {"lr": 0.1}
    assert (run / runs.CONFIG).stat().st_mode & 0o777 == FILE_MODE  # not mkstemp's 0600
    assert checkpoint["path"].stat().st_mode & 0o777 == runs.DIR_MODE


def test_interrupted_checkpoint_write_leaves_nothing_half_written(tmp_path, monkeypatch):
    run = make_run(tmp_path)
    model = RNNLanguageModel(10, 4, 8, 1)
    runs.save_checkpoint(run, 1, model.state_dict(), {}, {"val_loss": 2.0})

    def power_cut(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs.torch, "save", power_cut)
    with pytest.raises(KeyboardInterrupt):
        runs.save_checkpoint(run, 2, model.state_dict(), {"step": 2}, {"val_loss": 1.0})
    assert [c["step"] for c in runs.list_checkpoints(run)] == [1]
    assert sorted(p.name for p in (run / runs.CHECKPOINTS).iterdir()) == ["step-00000001"]


def test_write_atomic_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    write_atomic(path, b"old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(runs.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(path, b"new and longer")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_retention_keeps_last_n_and_the_best(tmp_path):
    run = make_run(tmp_path)
    weights = RNNLanguageModel(10, 4, 8, 1).state_dict()
    for step, val in [(10, 3.0), (20, 1.0), (30, 2.0), (40, 2.5), (50, 2.6)]:
        runs.save_checkpoint(run, step, weights, None, {"val_loss": val})
        runs.prune_checkpoints(run, keep_last=2)
    assert [c["step"] for c in runs.list_checkpoints(run)] == [20, 40, 50]
    assert runs.find_checkpoint(run, "best")["step"] == 20
    assert runs.find_checkpoint(run, "last")["step"] == 50
    assert runs.find_checkpoint(run, "40")["step"] == 40
    with pytest.raises(UserError, match="no checkpoint at step 30; it has: 20, 40, 50"):
        runs.find_checkpoint(run, "30")
    with pytest.raises(UserError, match="holds weights only"):
        runs.load_trainer_state(runs.find_checkpoint(run, "best"))


def test_open_run_rejects_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(UserError, match="is not a run directory"):
        runs.open_run(tmp_path)
    with pytest.raises(UserError, match="no such run"):
        runs.open_run(tmp_path / "missing")
