"""The trainer as a user meets it: budgets, run directory contents, exact resume after Ctrl+C,
NaN handling, early stopping."""

import json
import math
import signal
import time

import torch

from conftest import TUNESMITH, run_cli, tiny_args
from tunesmith import runs
from tunesmith.models.rnn import RNNLanguageModel


def test_run_directory_holds_everything(trained_run):
    config = runs.read_config(trained_run)
    assert config["recipe"] == "char-rnn" and config["seed"] == 1
    assert config["hparams"]["hidden_size"] == 32 and config["hparams"]["cell"] == "lstm"
    assert config["budget"] == {"steps": 20} and config["tunesmith_version"]
    assert (trained_run / runs.CODEC).is_file()
    steps = [c["step"] for c in runs.list_checkpoints(trained_run)]
    assert steps[-3:] == [10, 15, 20] and len(steps) <= 4  # the last 3, and the best if older
    metrics = runs.read_metrics(trained_run)
    assert [m["step"] for m in metrics] == [5, 10, 15, 20]
    assert all(math.isclose(m["val_bits"], m["val_loss"] / math.log(2)) for m in metrics)
    assert metrics[-1]["val_loss"] < metrics[0]["val_loss"]  # it learns
    assert list(trained_run.glob("events.out.tfevents.*"))
    samples = sorted((trained_run / "samples").glob("step-*.txt"))
    assert len(samples) == 4 and len(samples[-1].read_text()) == 20


def test_tensorboard_events_hold_losses_and_samples(trained_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained_run), size_guidance={"tensors": 0}).Reload()
    tags = events.Tags()
    assert {"train/loss", "train/lr", "val/loss", "val/bits"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("val/loss")] == [5, 10, 15, 20]
    assert "sample/text_summary" in tags["tensors"]


def test_epoch_and_minute_budgets(tmp_path, lyrics_file, capsys):
    code, out, err = run_cli(capsys, "train", "char-rnn", "--data", str(lyrics_file), "--run", str(tmp_path / "e"),
                             "--epochs", "1", *tiny_args())
    assert code == 0, err
    windows = (len(lyrics_file.read_text()) * 0.9) // 32  # about the training split, in windows
    steps = runs.list_checkpoints(tmp_path / "e")[-1]["step"]
    assert abs(steps - windows // 8) <= windows // 8 * 0.15 + 1
    start = time.monotonic()
    code, out, err = run_cli(capsys, "train", "char-rnn", "--data", str(lyrics_file), "--run", str(tmp_path / "m"),
                             "--minutes", "0.05", *tiny_args("--set", "eval_every=100000"))
    assert code == 0, err
    assert 3 <= time.monotonic() - start < 30
    assert runs.list_checkpoints(tmp_path / "m")  # the final checkpoint at the end of the budget


def final_weights(run):
    return runs.load_weights(runs.find_checkpoint(run, "last"))


def test_ctrl_c_saves_and_resume_is_exact(tmp_path, lyrics_file):
    import subprocess

    common = ["train", "char-rnn", "--data", str(lyrics_file), "--steps", "400", "--seed", "3",
              *tiny_args("--set", "dropout=0.1", "--set", "layers=2", "--set", "eval_every=50")]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    done = subprocess.run([*TUNESMITH, *common, "--run", str(straight)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    process = subprocess.Popen([*TUNESMITH, *common, "--run", str(stopped)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (stopped / runs.METRICS).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "interrupted at step" in out and "Traceback" not in err
    interrupted_at = runs.list_checkpoints(stopped)[-1]["step"]
    assert 50 <= interrupted_at < 400

    resumed = subprocess.run([*TUNESMITH, "train", "char-rnn", "--run", str(stopped), "--resume"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "finished at step 400" in resumed.stdout
    a, b = final_weights(straight), final_weights(stopped)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    loss = lambda run: [m for m in runs.read_metrics(run) if m["step"] == 400][-1]["val_loss"]  # noqa: E731
    assert loss(straight) == loss(stopped)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
        tmp_path, lyrics_file, capsys, monkeypatch):
    calls = {"n": 0}
    real_loss = RNNLanguageModel.loss

    def loss_that_explodes(self, batch):
        value = real_loss(self, batch)
        if self.training:
            calls["n"] += 1
            if calls["n"] > 12:
                return value * float("nan")
        return value

    real_carried = RNNLanguageModel.loss_with_state

    def carried_loss_that_explodes(self, batch, state=None):  # char-rnn carries its state (carry_windows)
        value, state = real_carried(self, batch, state)
        if self.training:
            calls["n"] += 1
            if calls["n"] > 12:
                return value * float("nan"), state
        return value, state

    monkeypatch.setattr(RNNLanguageModel, "loss", loss_that_explodes)
    monkeypatch.setattr(RNNLanguageModel, "loss_with_state", carried_loss_that_explodes)
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "char-rnn", "--data", str(lyrics_file), "--run", str(run),
                             "--steps", "40", *tiny_args())
    assert code == 1
    assert "training stopped at step 13: the loss became nan" in err and "lower the learning rate" in err.lower()
    assert err.count("\n") <= 3
    assert [c["step"] for c in runs.list_checkpoints(run)] == [5, 10]
    weights = runs.load_weights(runs.find_checkpoint(run, "last"))
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_early_stopping(tmp_path, lyrics_file, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "char-rnn", "--data", str(lyrics_file), "--run", str(run),
                             "--steps", "100", *tiny_args("--set", "lr=0", "--set", "patience=2"))
    assert code == 0, err
    assert "stopped early at step 15" in out


def test_resume_refuses_new_settings(trained_run, capsys):
    code, out, err = run_cli(capsys, "train", "char-rnn", "--run", str(trained_run), "--resume",
                             "--set", "lr=0.1")
    assert code == 1 and "settings cannot change in a run being resumed" in err
    code, out, err = run_cli(capsys, "train", "char-rnn", "--run", str(trained_run))
    assert code == 1 and "resume it to continue (--resume)" in err


def test_resume_with_a_larger_budget_continues(trained_run, capsys):
    code, out, err = run_cli(capsys, "train", "char-rnn", "--run", str(trained_run), "--resume", "--steps", "30")
    assert code == 0, err
    assert "finished at step 30" in out
    assert runs.read_config(trained_run)["budget"] == {"steps": 30}
    assert [m["step"] for m in runs.read_metrics(trained_run)][-2:] == [25, 30]


def test_runs_lists_the_run(trained_run, capsys):
    code, out, err = run_cli(capsys, "runs", str(trained_run.parent), "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1 and rows[0]["recipe"] == "char-rnn" and rows[0]["step"] == 20
    assert rows[0]["best_val_loss"] == min(m["val_loss"] for m in runs.read_metrics(trained_run))
    code, out, err = run_cli(capsys, "runs", str(trained_run.parent))
    assert "char-rnn" in out and "20" in out


def test_anneal_goes_back_to_the_best_weights_with_a_smaller_rate(tmp_path, lyrics_file, capsys):
    """With lr=0 no validation improves on the first: each later one anneals (the learning rate
    divided by 4 each time), and the one after the last anneal stops the run as converged."""
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "char-rnn", "--data", str(lyrics_file), "--run", str(run),
                             "--steps", "100", *tiny_args("--set", "lr=0", "--set", "anneal=2"))
    assert code == 0, err
    assert "converged at step 20" in out
    assert "going back to it with the learning rate divided by 4 (anneal 1 of 2)" in err
    assert "divided by 16 (anneal 2 of 2)" in err


def test_anneal_restores_the_best_checkpoint(tmp_path, lyrics_file, capsys):
    from tunesmith.codecs import load_codec
    from tunesmith.recipes import get_recipe
    from tunesmith.training.distributed import join_group
    from tunesmith.training.objectives import NextToken
    from tunesmith.training.trainer import Budget, Trainer

    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "char-rnn", "--data", str(lyrics_file), "--run", str(run),
                             "--steps", "10", *tiny_args())
    assert code == 0, err
    config = runs.read_config(run)
    hp = {**config["hparams"], "anneal": 1}
    model = get_recipe("char-rnn").build_model(hp, load_codec(run / runs.CODEC))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)

    class Data:
        def steps_per_epoch(self, batch):
            return 10

    trainer = Trainer(run, NextToken(model, hp), Data(), None, hp, Budget(steps=100), 1, join_group())
    trainer.step = 50
    rate = trainer.learning_rate()
    trainer._anneal()
    best = runs.load_weights(runs.find_checkpoint(run, "best"))
    assert all(torch.equal(model.state_dict()[k], w) for k, w in best.items())
    assert math.isclose(trainer.learning_rate(), rate / 4)
