"""The one training loop for every model: AdamW with warm-up and cosine decay, clipping,
validation in bits per token, checkpoints (best + last N), exact resume, budgets by steps, minutes
or epochs, Ctrl+C and NaN handling, TensorBoard and metrics.jsonl, and DDP under torchrun."""

from __future__ import annotations

import math
import random
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from tunesmith import __version__, runs
from tunesmith.codecs import load_codec
from tunesmith.corpus import split_by_document
from tunesmith.errors import UserError, info
from tunesmith.progress import Bar
from tunesmith.recipes import Recipe, get_recipe
from tunesmith.training.distributed import Group, join_group
from tunesmith.training.objectives import Objective


ANNEAL_FACTOR = 4  # the learning rate's divisor at each anneal (hp "anneal")


@dataclass
class Budget:
    steps: int | None = None
    minutes: float | None = None
    epochs: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    def total_steps(self, steps_per_epoch: int) -> int | None:
        limits = [self.steps] if self.steps is not None else []
        if self.epochs is not None:
            limits.append(max(1, round(self.epochs * steps_per_epoch)))
        return min(limits) if limits else None


class TrainingStopped(Exception):
    """Raised when the loss stops being finite; the message is for the user."""


class Interrupt:
    """First Ctrl+C (or SIGTERM) asks the loop to checkpoint and stop; a second one is immediate."""

    def __init__(self):
        self.requested = False
        self.previous: dict[int, Any] = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        info("stopping: finishing this step and saving a checkpoint (Ctrl+C again to abort)")

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Trainer:
    def __init__(self, run: Path, objective: Objective, train_data, val_data, hp: dict[str, Any], budget: Budget,
                 seed: int, group: Group, preview: Callable[[nn.Module, int, Any], None] | None = None):
        self.run, self.hp, self.budget, self.seed, self.group = run, hp, budget, seed, group
        self.objective, self.model = objective, objective.model
        self.train_data, self.val_data, self.preview = train_data, val_data, preview
        if group.active:
            ids = [group.device.index] if group.device.type == "cuda" else None
            objective.distribute(lambda module, find_unused: nn.parallel.DistributedDataParallel(
                module, device_ids=ids, find_unused_parameters=find_unused))
        self.steps_per_epoch = train_data.steps_per_epoch(hp["batch_size"] * group.world_size)
        self.total_steps = budget.total_steps(self.steps_per_epoch)
        self.step, self.elapsed_before, self.best_val, self.bad_evals = 0, 0.0, math.inf, 0
        self.anneals = 0  # times the learning rate was divided by ANNEAL_FACTOR (hp "anneal")
        self.started = time.monotonic()

    # -- state ------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def state(self) -> dict[str, Any]:
        return {
            "optimizers": {name: o.state_dict() for name, o in self.objective.optimizers.items()},
            "step": self.step, "elapsed": self.elapsed(),
            "best_val": self.best_val, "bad_evals": self.bad_evals, "anneals": self.anneals,
            "objective": self.objective.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        }

    def restore(self, state: dict[str, Any]) -> None:
        for name, optimizer in self.objective.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.step, self.elapsed_before = state["step"], state["elapsed"]
        self.best_val, self.bad_evals = state["best_val"], state["bad_evals"]
        self.anneals = state.get("anneals", 0)
        self.objective.load_state_dict(state["objective"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    # -- schedule ---------------------------------------------------------------------------
    def progress(self) -> float:
        """Share of the budget used, from steps, epochs or minutes, whichever is furthest."""
        shares = []
        if self.total_steps:
            shares.append(self.step / self.total_steps)
        if self.budget.minutes:
            shares.append(self.elapsed() / (60 * self.budget.minutes))
        return min(1.0, max(shares, default=0.0))

    def learning_rate(self) -> float:
        lr, warmup = self.hp["lr"], self.hp["warmup_steps"]
        if self.total_steps:  # a short run warms up for at most a fifth of it
            warmup = min(warmup, self.total_steps // 5)
        if self.step < warmup:
            return lr * (self.step + 1) / warmup
        floor = lr * self.hp["min_lr_ratio"]
        return (floor + (lr - floor) * 0.5 * (1 + math.cos(math.pi * self.progress()))) / ANNEAL_FACTOR ** self.anneals

    def done(self) -> bool:
        return self.progress() >= 1.0

    # -- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        from torch.utils.tensorboard import SummaryWriter

        main = self.group.is_main
        writer = SummaryWriter(str(self.run), purge_step=self.step or None) if main else None
        bar = Bar(self.run.name, self.total_steps, "step", initial=self.step, lasting=True, silent=not main)
        tokens_per_step = self.hp["batch_size"] * self.train_data.seq_len * self.group.world_size
        smoothed, val_loss, outcome, first_step = None, None, "finished", self.step
        try:
            with Interrupt() as interrupt:
                while not self.done():
                    batch = self.train_data.batch(self.step, self.hp["batch_size"], self.seed,
                                                  self.group.rank, self.group.world_size)
                    batch = tuple(t.to(self.group.device, non_blocking=True) for t in batch)
                    lr = self.learning_rate()
                    for optimizer in self.objective.optimizers.values():
                        for param_group in optimizer.param_groups:
                            param_group["lr"] = lr
                    metrics = self.objective.step(batch, self.step, self._update)
                    loss_value = metrics["loss"]
                    self.step += 1
                    smoothed = loss_value if smoothed is None else 0.98 * smoothed + 0.02 * loss_value
                    if main:
                        seconds = time.monotonic() - self.started
                        steps_per_second = (self.step - first_step) / max(seconds, 1e-9)
                        if self.budget.minutes and not self.total_steps:
                            left = 60 * self.budget.minutes - self.elapsed()
                            bar.set_total(self.step + max(0, round(steps_per_second * left)))
                        bar.update(1)
                        bar.set_stats(loss=f"{smoothed:.3f}", val="-" if val_loss is None else f"{val_loss:.3f}",
                                      lr=f"{lr:.1e}", tok_s=f"{steps_per_second * tokens_per_step:.0f}")
                        if self.step % 10 == 0:
                            for name, value in {**metrics, "lr": lr}.items():
                                writer.add_scalar(f"train/{name}", value, self.step)
                    stop = self.group.any(interrupt.requested)
                    evaluated = self.step % self.hp["eval_every"] == 0 or self.done()
                    if evaluated:
                        val_loss, improved = self._checkpoint(writer, loss_value)
                        if improved is False and self.hp.get("anneal", 0) > 0:
                            if self.anneals >= self.hp["anneal"]:
                                outcome = "converged"
                                break
                            self._anneal()
                        elif self._patience_ran_out(improved):
                            outcome = "stopped early"
                            break
                    if stop:
                        if not evaluated:
                            self._checkpoint(writer, loss_value, validate=False)
                        outcome = "interrupted"
                        break
        finally:
            bar.close()
            if writer:
                writer.close()
        return {"outcome": outcome, "step": self.step, "val_loss": val_loss,
                "best_val": None if math.isinf(self.best_val) else self.best_val,
                "best_metric": self.objective.best_metric, "loss_unit": self.objective.loss_unit}

    def _update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
        """The backward pass of a loss, gradient clipping, a check that the loss and the gradient
        are finite, and the optimizer's step; the gradient norm before clipping."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.hp["grad_clip"] if self.hp["grad_clip"] > 0 else math.inf
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        grad_norm = float(nn.utils.clip_grad_norm_(parameters, clip))
        loss_value = loss.item()
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            self._stop_on_nan(loss_value, grad_norm)
        optimizer.step()
        return grad_norm

    def _stop_on_nan(self, loss_value: float, grad_norm: float) -> None:
        last = runs.list_checkpoints(self.run)
        kept = f"the last good checkpoint is {last[-1]['path']}" if last else "no checkpoint was written yet"
        raise TrainingStopped(
            f"training stopped at step {self.step + 1}: the loss became {loss_value} (gradient norm "
            f"{grad_norm}); {kept}. Lower the learning rate (the setting lr) and resume or start again")

    def _anneal(self) -> None:
        """Back to the best weights, with the learning rate divided by ANNEAL_FACTOR once more: the
        model has begun to fit its training data better than it generalizes (a small corpus does
        that within minutes), so it goes on from its best point in smaller steps."""
        self.anneals += 1
        best = runs.find_checkpoint(self.run, "best")
        self.model.load_state_dict(runs.load_weights(best))
        self.objective.load_state_dict(None)
        if self.group.is_main:
            info(f"step {self.step}: validation loss {self.best_val:.4f} at step {best['step']} is still the best; "
                 f"going back to it with the learning rate divided by {ANNEAL_FACTOR ** self.anneals:g} "
                 f"(anneal {self.anneals} of {self.hp['anneal']})")

    def _patience_ran_out(self, improved: bool | None) -> bool:
        patience = self.hp["patience"]
        if improved is None or patience <= 0:
            return False
        self.bad_evals = 0 if improved else self.bad_evals + 1
        return self.bad_evals >= patience

    def _checkpoint(self, writer, train_loss: float, validate: bool = True) -> tuple[float | None, bool | None]:
        """Validate (rank 0), save a checkpoint, prune old ones, write a preview sample."""
        val_loss = improved = None
        if self.group.is_main:
            metrics = {}
            if validate and self.val_data is not None:
                metrics, _ = self.objective.validate(self.val_data, self.hp["eval_tokens"], self.hp["batch_size"],
                                                     self.group.device)
                val_loss = metrics[self.objective.best_metric]
                improved = val_loss < self.best_val
                self.best_val = min(self.best_val, val_loss)
            record = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 3),
                      "train_loss": train_loss, "lr": self.learning_rate(), "seconds": round(self.elapsed(), 1),
                      "time": datetime.now().isoformat(timespec="seconds")}
            for name, value in metrics.items():
                record[f"val_{name}"] = value
                writer.add_scalar(f"val/{name}", value, self.step)
            runs.append_metrics(self.run, record)
            runs.save_checkpoint(self.run, self.step, self.model.state_dict(), self.state(),
                                 {"val_loss": val_loss, "train_loss": train_loss})
            runs.prune_checkpoints(self.run, self.hp["keep_last"])
            if self.preview:
                self.preview(self.model, self.step, writer)
        val_loss, improved = self.group.share((val_loss, improved))
        self.group.barrier()
        return val_loss, improved


# -- from a recipe and a corpus to a trained run -------------------------------------------------

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_run(recipe: Recipe, run: Path | None, resume: bool, data: str | None, settings: list[str],
                seed: int | None, budget: Budget) -> tuple[Path, dict[str, Any]]:
    """The run directory and its config: a new one, or the one being resumed."""
    if resume:
        if run is None:
            found = sorted(Path("runs").glob(f"{recipe.name}-*"), key=lambda p: p.stat().st_mtime)
            found = [p for p in found if runs.is_run(p)]
            if not found:
                raise UserError(f"no {recipe.name} run under runs/ to resume; name the run folder to resume")
            run = found[-1]
        run = runs.open_run(run)
        config = runs.read_config(run)
        if config["recipe"] != recipe.name:
            raise UserError(f"{run} is a {config['recipe']} run, not {recipe.name}")
        if settings:
            raise UserError("settings cannot change in a run being resumed; start a new run to change them")
        if data is not None and data != config["data"]:
            raise UserError(f"the data cannot change when resuming; {run} trains on {config['data']}")
        if seed is not None and seed != config["seed"]:
            raise UserError(f"the seed cannot change when resuming; {run} uses seed {config['seed']}")
        if budget.to_dict():
            config["budget"] = budget.to_dict()
        return run, config
    hp = recipe.hparams(settings)
    if run is None:
        run = runs.new_run_dir(recipe.name)
    elif run.exists() and (not run.is_dir() or any(run.iterdir())):
        if runs.is_run(run):
            raise UserError(f"{run} is not empty; resume it to continue", option="resume")
        raise UserError(f"{run} is not empty; choose an empty or new folder")
    source = data if data is not None else recipe.default_data
    if source is None:
        raise UserError(f"{recipe.name} has no bundled corpus; give it a folder of your MIDI files as its data",
                        option="data")
    path = Path(source).expanduser()
    config = {
        "recipe": recipe.name,
        "data": str(path.resolve()) if path.exists() else source,  # a path, or a bundled corpus name
        "seed": seed if seed is not None else 1,
        "created": datetime.now().isoformat(timespec="seconds"),
        "tunesmith_version": __version__,
        "budget": budget.to_dict() or {"steps": recipe.default_steps},
        "hparams": hp,
    }
    return run, config


def train_recipe(recipe_name: str, data: str | None = None, run: Path | None = None,
                 budget: Budget | None = None, settings: list[str] | None = None, seed: int | None = None,
                 resume: bool = False, init_from: Path | None = None) -> dict[str, Any]:
    """Train a recipe into a run directory (new or resumed); returns a summary of the outcome.
    With `init_from` (a run of the same recipe), a new run fine-tunes that one: its settings, its
    codec and the weights of its best checkpoint, on `data`, with a fresh optimizer."""
    recipe = get_recipe(recipe_name)
    group = join_group()
    try:
        base = None
        if init_from is not None:
            base = runs.open_run(init_from)
            base_config = runs.read_config(base)
            if base_config["recipe"] != recipe.name:
                raise UserError(f"{base} is a {base_config['recipe']} run: fine-tune a {recipe.name} run")
            if settings or resume:
                raise UserError(f"fine-tuning {base} keeps its settings: give no settings and do not resume")
            settings = [f"{k}={v}" for k, v in base_config["hparams"].items()]
        run, config = group.on_main(
            lambda: prepare_run(recipe, run, resume, data, settings or [], seed, budget or Budget()))
        if base is not None:
            config["fine_tuned_from"] = str(base)
        hp, seed = config["hparams"], config["seed"]
        seed_everything(seed + group.rank)
        docs = recipe.read_corpus(config["data"], hp)
        train_docs, val_docs, _ = split_by_document(docs, hp["val_fraction"], hp.get("test_fraction", 0.0))
        codec = (load_codec(run / runs.CODEC) if resume else load_codec(base / runs.CODEC) if base is not None
                 else recipe.make_codec([d.content for d in docs], hp))
        train_items = [d.content for d in train_docs]
        if recipe.augment:
            train_items = recipe.augment(train_items, hp)
        try:
            train_data = recipe.make_windows(codec, train_items, hp, True)
        except UserError as err:
            raise UserError(f"{config['data']}: {err}") from None
        val_data = recipe.make_windows(codec, [d.content for d in val_docs], hp, False)
        model = recipe.build_model(hp, codec)
        checkpoint = (runs.list_checkpoints(run) or [None])[-1] if resume else None
        if checkpoint:
            model.load_state_dict(runs.load_weights(checkpoint))
        elif base is not None:
            model.load_state_dict(runs.load_weights(runs.find_checkpoint(base, "best")))
        if group.is_main:
            run.mkdir(parents=True, exist_ok=True)
            config["parameters"] = sum(p.numel() for p in model.parameters())
            runs.write_config(run, config)
            if not resume:
                codec.save(run / runs.CODEC)
            info(f"{'resuming' if checkpoint else 'training'} {recipe.name} in {run}: "
                 f"{config['parameters']:,} parameters, {describe(train_data, codec)} for training and "
                 f"{describe(val_data, codec)} for validation, on {group.device}" + (f" x{group.world_size}" if group.active else ""))
        group.barrier()
        trainer = Trainer(run, recipe.objective(model.to(group.device), hp, train_data), train_data, val_data, hp,
                          Budget(**config["budget"]), seed, group,
                          preview=recipe.generator.preview(recipe.domain, codec, run, seed, hp))
        if checkpoint:
            trainer.restore(runs.load_trainer_state(checkpoint))
        result = trainer.fit()
        return {"run": str(run), "recipe": recipe.name, **result}
    finally:
        group.close()


def describe(windows, codec) -> str:
    """How much data windows hold (tokens, phrases, chunks and hours of audio)."""
    return "nothing" if windows is None else windows.describe(codec)
