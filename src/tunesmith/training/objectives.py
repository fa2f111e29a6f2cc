"""Objectives: what a family of models learns by. An objective owns its optimizers, one training
step, the validation metrics and which of them picks the best checkpoint, and any state carried
from batch to batch; the trainer (trainer.py) owns everything else."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

# update(optimizer, loss) -> gradient norm: the trainer's backward pass, clipping, check for a
# non-finite loss or gradient, and optimizer step
Update = Callable[[torch.optim.Optimizer, torch.Tensor], float]
# wrap(module, find_unused_parameters) -> module: DistributedDataParallel under torchrun, else the module
Wrap = Callable[[nn.Module, bool], nn.Module]


def adamw(model: nn.Module, hp: dict[str, Any]) -> torch.optim.AdamW:
    """AdamW at the recipe's learning rate, with weight decay on weight matrices only (not on
    biases, norms and embeddings' 1-d parameters)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}], lr=hp["lr"])


class Objective:
    """The base: one AdamW over the model. `best_metric` is the validation metric (lower is
    better) that picks the best checkpoint and drives early stopping and annealing."""

    best_metric = "loss"

    def __init__(self, model: nn.Module, hp: dict[str, Any]):
        self.model, self.hp = model, hp
        self.optimizers = {"model": adamw(model, hp)}

    def distribute(self, wrap: Wrap) -> None:
        """Wrap the modules whose gradients processes must share (DDP)."""

    def step(self, batch: tuple, step: int, update: Update) -> dict[str, float]:
        """One training step on a batch; the metrics to log (train/NAME), "loss" among them."""
        raise NotImplementedError

    @torch.no_grad()
    def validate(self, windows: Any, max_tokens: int, batch_size: int,
                 device: torch.device) -> tuple[dict[str, float], int]:
        """The validation metrics over about the first max_tokens units of `windows`, and how many
        units were scored."""
        raise NotImplementedError

    def state_dict(self) -> Any:
        """What the objective carries from step to step (saved in checkpoints for exact resume)."""
        return None

    def load_state_dict(self, state: Any) -> None:
        pass


class LossOf(nn.Module):
    """A model whose forward is its loss (and, when its state is carried, the state for the next
    window): DistributedDataParallel syncs gradients of what goes through forward."""

    def __init__(self, model: nn.Module, carry: bool):
        super().__init__()
        self.model, self.carry = model, carry

    def forward(self, batch, state=None):
        if self.carry:
            return self.model.loss_with_state(batch, state)
        return self.model.loss(batch), None


class NextToken(Objective):
    """Cross-entropy of the next token (RNNs, the Music Transformer, WaveNet): `model.loss(batch)`
    is the mean in nats per predicted token of a batch of (inputs, targets[, condition])."""

    carried = False

    def __init__(self, model: nn.Module, hp: dict[str, Any], unscored: int = 0):
        super().__init__(model, hp)
        self.unscored = unscored  # leading targets of each window that the loss does not score
        self.loss_module: nn.Module = LossOf(model, self.carried)
        self.carried_state = None

    def distribute(self, wrap: Wrap) -> None:
        # a carried state leaves the learned initial state (h0) unused in most steps
        self.loss_module = wrap(self.loss_module, self.carried)

    def step(self, batch: tuple, step: int, update: Update) -> dict[str, float]:
        loss, self.carried_state = self.loss_module(batch, self.carried_state)
        grad_norm = update(self.optimizers["model"], loss)
        return {"loss": loss.item(), "grad_norm": grad_norm}

    @torch.no_grad()
    def validate(self, windows: Any, max_tokens: int, batch_size: int,
                 device: torch.device) -> tuple[dict[str, float], int]:
        was_training = self.model.training
        self.model.eval()
        total, count, state = 0.0, 0, None
        for batch, fresh in windows.sequential(max_tokens, batch_size):
            batch = tuple(t.to(device) for t in batch)
            if self.carried:
                loss, state = self.model.loss_with_state(batch, None if fresh else state)
            else:
                loss = self.model.loss(batch)
            n = batch[1][:, self.unscored:].numel()
            total += loss.item() * n
            count += n
        self.model.train(was_training)
        loss = total / count if count else float("nan")
        return {"loss": loss, "bits": loss / math.log(2)}, count


class CarriedState(NextToken):
    """Next-token cross-entropy with the model's state carried from window to window of the same
    rows (truncated backpropagation through time: char-rnn's runs of windows, SampleRNN's chunks),
    through `model.loss_with_state(batch, state) -> (loss, detached state)`. The state starts
    afresh where the windows say so (`windows.fresh(step)`), and is saved with each checkpoint."""

    carried = True

    def __init__(self, model: nn.Module, hp: dict[str, Any], windows: Any, unscored: int = 0):
        super().__init__(model, hp, unscored)
        self.windows = windows

    def step(self, batch: tuple, step: int, update: Update) -> dict[str, float]:
        if self.windows.fresh(step):
            self.carried_state = None
        return super().step(batch, step, update)

    def state_dict(self) -> Any:
        return self.carried_state

    def load_state_dict(self, state: Any) -> None:
        device = next(self.model.parameters()).device
        self.carried_state = to_device(state, device)


def to_device(state, device: torch.device):
    """Nested tuples/lists of tensors (a carried model state) moved to a device; None stays None."""
    if state is None or isinstance(state, torch.Tensor):
        return None if state is None else state.to(device)
    return type(state)(to_device(part, device) for part in state)


def next_token(model: nn.Module, hp: dict[str, Any], windows: Any) -> Objective:
    return NextToken(model, hp)


def carried_state(model: nn.Module, hp: dict[str, Any], windows: Any) -> Objective:
    return CarriedState(model, hp, windows)


# -- the ELBO of a variational autoencoder (MusicVAE) ---------------------------------------------

# what `preset` sets: "sampling" keeps the posterior close to the prior, so that phrases drawn from
# N(0, I) sound like the corpus (Magenta's low-KL models); "reconstruction" lets each phrase keep
# `free_bits` of information without cost under a lighter weight, for faithful reconstructions and
# smooth interpolations (its high-KL models); "custom" takes the max_beta and free_bits settings
# (96 free bits against 48 measured 0.731 free-running accuracy against 0.711, and 0.841 against
# 0.814 teacher-forced, on 2-bar folk melodies after 4 minutes: benchmarks/music_vae.py)
KL_PRESETS = {"sampling": {"max_beta": 0.5, "free_bits": 0.0}, "reconstruction": {"max_beta": 0.2, "free_bits": 96.0}}


def kl_weight(step: int, max_beta: float, beta_rate: float) -> float:
    """The KL term's weight at a step: (1 - beta_rate^step) * max_beta, rising from 0 to max_beta
    (Magenta's schedule)."""
    return (1.0 - beta_rate ** step) * max_beta


def kl_cost(kl: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The KL of each phrase [batch] in nats less the free bits it may keep without cost, never
    below zero (free bits: Kingma et al. 2016, as MusicVAE applies them to the whole code)."""
    return torch.clamp(kl - free_bits * math.log(2), min=0.0)


class ELBO(Objective):
    """The negative evidence lower bound of a VAE, per phrase: the reconstruction's negative log
    likelihood plus the KL of the posterior from the prior, weighted by `kl_weight` and less the
    free bits in training (`model.loss_terms(phrases)` gives nll, kl and accuracy per phrase).
    Validation reports the true bound (weight 1, no free bits) as `loss`, which picks the best
    checkpoint, with its nll and kl; the reconstruction accuracy (the share of steps whose every
    track is right) teacher-forced (`accuracy`), written freely from the mean z with the likeliest
    class at each step (`sampled_accuracy`) and the same from z = 0 (`z0_accuracy`: what the
    decoder makes without the code; far below `sampled_accuracy` unless the posterior collapsed);
    and how many latent dimensions are in use (`active_dims`: mean KL above ACTIVE_NATS)."""

    ACTIVE_NATS = 0.01

    def __init__(self, model: nn.Module, hp: dict[str, Any]):
        super().__init__(model, hp)
        preset = KL_PRESETS.get(hp["preset"], {"max_beta": hp["max_beta"], "free_bits": hp["free_bits"]})
        self.max_beta, self.free_bits, self.beta_rate = preset["max_beta"], preset["free_bits"], hp["beta_rate"]
        self.loss_module: nn.Module = model

    def distribute(self, wrap: Wrap) -> None:
        self.loss_module = wrap(self.model, False)

    def step(self, batch: tuple, step: int, update: Update) -> dict[str, float]:
        (phrases,) = batch
        terms = self.loss_module(phrases)
        beta = kl_weight(step, self.max_beta, self.beta_rate)
        loss = (terms["nll"] + beta * kl_cost(terms["kl"], self.free_bits)).mean()
        grad_norm = update(self.optimizers["model"], loss)
        return {"loss": loss.item(), "nll": terms["nll"].mean().item(), "kl": terms["kl"].mean().item(),
                "beta": beta, "accuracy": terms["accuracy"].mean().item(), "grad_norm": grad_norm}

    @torch.no_grad()
    def validate(self, windows: Any, max_tokens: int, batch_size: int,
                 device: torch.device) -> tuple[dict[str, float], int]:
        """Means over about max_tokens steps' worth of phrases; the count is of phrases."""
        was_training = self.model.training
        self.model.eval()
        sums, count, kl_per_dimension = {"nll": 0.0, "kl": 0.0, "accuracy": 0.0, "sampled_accuracy": 0.0,
                                         "z0_accuracy": 0.0}, 0, 0.0
        for (phrases,), _ in windows.sequential(max_tokens, batch_size):
            phrases = phrases.to(device)
            terms = self.model.loss_terms(phrases)
            mu, _ = self.model.encode(phrases)
            terms["sampled_accuracy"] = step_accuracy(self.model.decode(mu, argmax=True), phrases)
            terms["z0_accuracy"] = step_accuracy(self.model.decode(torch.zeros_like(mu), argmax=True), phrases)
            for name in sums:
                sums[name] += terms[name].sum().item()
            kl_per_dimension = kl_per_dimension + self.model.kl_per_dimension(phrases).sum(0)
            count += len(phrases)
        self.model.train(was_training)
        if not count:
            return {"loss": float("nan"), "bits": float("nan")}, 0
        means = {name: total / count for name, total in sums.items()}
        active = int((kl_per_dimension / count > self.ACTIVE_NATS).sum())
        loss = means["nll"] + means["kl"]
        return {"loss": loss, "bits": loss / math.log(2), **means, "active_dims": active}, count


def step_accuracy(decoded: torch.Tensor, phrases: torch.Tensor) -> torch.Tensor:
    """Per phrase [batch], the share of steps whose every track's class is right."""
    return (decoded == phrases).all(-1).float().mean(1)


def elbo(model: nn.Module, hp: dict[str, Any], windows: Any) -> Objective:
    return ELBO(model, hp)
