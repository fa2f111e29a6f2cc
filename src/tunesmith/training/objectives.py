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


# -- an adversarial game (GANSynth) ----------------------------------------------------------------

# The loss is WGAN-GP (Gulrajani et al. 2017), GANSynth's choice: the critic estimates the Wasserstein
# distance between real and generated notes, a penalty keeps its gradient norm near 1 on points
# between them (so no batch norm, whose statistics would couple the samples the penalty treats one
# by one, and no weight clipping), and the estimate falls as the notes improve, so the loss tracks
# quality instead of swinging like the original GAN's. As GANSynth: penalty weight 10, a drift term
# 1e-3 * D(real)^2 that keeps the scores near 0, and an auxiliary pitch classifier (AC-GAN) whose
# cross-entropy, weight 10, the discriminator learns on real and generated notes and the generator
# on its own notes (so that it makes the pitch asked for).
GAN_SETTINGS = {"lr": 4e-4, "gradient_penalty": 10.0, "drift": 1e-3, "pitch_weight": 10.0}


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty: the mean over a batch of (|grad of D's score at x| - 1)^2, x a random point
    on the line between each real and generated sample; differentiable (create_graph)."""
    between = interpolate(real.detach(), fake.detach())
    score, _ = discriminator(between)
    return penalty_at(score, between)


def interpolate(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """A random point on the line from each real sample to its generated one, requiring grad."""
    mix = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    return (real + mix * (fake - real)).requires_grad_(True)


def penalty_at(score: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """mean (|d score / d point| - 1)^2 over the batch, keeping the graph for the backward pass."""
    (grad,) = torch.autograd.grad(score.sum(), points, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).square().mean()


class Adversarial(Objective):
    """WGAN-GP with an auxiliary pitch classifier (above) for a model with a `generator(z, pitch)` and
    a `discriminator(specgrams) -> (score, pitch logits)` (models/gansynth.py). Each trainer step is
    one discriminator step then one generator step, each with its own Adam (betas 0.0, 0.99 as
    GANSynth; the trainer's learning rate schedule sets both, from `lr`). A batch is (specgrams
    [batch, 2, frames, bins], pitch indices [batch]); z is drawn from torch's global generator, whose
    state the trainer saves, so a resumed run draws the same. Training's "loss" is the
    discriminator's (minus the Wasserstein estimate, plus the penalty, the drift and the pitch
    term). Validation's "loss" is the critic's Wasserstein estimate, mean D(real) - mean D(generated
    at the same pitches from a fixed seed) over held-out notes: lower is better (the critic of that
    checkpoint tells them apart less), with the classifier's accuracy on generated notes
    (`pitch_accuracy_fake`: does the generator play the pitch asked for) and on real ones. The
    best checkpoint is the one with the fewest generated notes the classifier hears off their pitch
    (`pitch_error_fake`): the Wasserstein estimate of one checkpoint's critic says little of another
    checkpoint's notes (it rose from 1.7 to 12.6 between steps 200 and 400 of a run while the notes
    heard at their pitch went from 8% to 59%)."""

    best_metric = "pitch_error_fake"

    def __init__(self, model: nn.Module, hp: dict[str, Any]):
        self.model, self.hp = model, hp
        setting = {name: hp.get(name, default) for name, default in GAN_SETTINGS.items()}
        self.penalty_weight, self.drift, self.pitch_weight = (setting["gradient_penalty"], setting["drift"],
                                                              setting["pitch_weight"])
        betas = (hp.get("beta1", 0.0), hp.get("beta2", 0.99))
        self.optimizers = {"generator": torch.optim.Adam(model.generator.parameters(), lr=setting["lr"], betas=betas),
                           "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=setting["lr"],
                                                             betas=betas)}
        self.generator: nn.Module = model.generator
        self.discriminator: nn.Module = model.discriminator

    def distribute(self, wrap: Wrap) -> None:
        self.generator = wrap(self.model.generator, False)
        self.discriminator = wrap(self.model.discriminator, False)

    def step(self, batch: tuple, step: int, update: Update) -> dict[str, float]:
        real, pitch = batch
        n = len(real)
        # the discriminator's step: real and generated notes through it in one call, the in-between
        # ones in another (the penalty's double backward then runs over n notes, not 3n: half the time)
        with torch.no_grad():
            fake = self.generator(self.model.sample_z(n), pitch)
        score, logits = self.discriminator(torch.cat([real, fake]))
        real_score, fake_score = score.split(n)
        between = interpolate(real, fake)
        penalty = penalty_at(self.discriminator(between)[0], between)
        wasserstein = real_score.mean() - fake_score.mean()
        pitch_loss = (nn.functional.cross_entropy(logits[:n], pitch) + nn.functional.cross_entropy(logits[n:2 * n], pitch)) / 2
        critic_loss = -wasserstein + self.penalty_weight * penalty
        d_loss = critic_loss + self.drift * real_score.square().mean() + self.pitch_weight * pitch_loss
        grad_norm_d = update(self.optimizers["discriminator"], d_loss)
        # the generator's step, through the discriminator just updated
        fake = self.generator(self.model.sample_z(n), pitch)
        fake_score, fake_logits = self.discriminator(fake)
        g_loss = -fake_score.mean() + self.pitch_weight * nn.functional.cross_entropy(fake_logits, pitch)
        grad_norm_g = update(self.optimizers["generator"], g_loss)
        accuracy = (logits[:n].argmax(-1) == pitch).float().mean()
        return {"loss": critic_loss.item(), "d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "wasserstein": wasserstein.item(), "gradient_penalty": penalty.item(),
                "pitch_accuracy_real": accuracy.item(), "grad_norm_d": grad_norm_d, "grad_norm_g": grad_norm_g}

    @torch.no_grad()
    def validate(self, windows: Any, max_tokens: int, batch_size: int,
                 device: torch.device) -> tuple[dict[str, float], int]:
        """Over about max_tokens units' worth of held-out notes; the count is of notes. The latent
        vectors come from a generator seeded 0, so every checkpoint is shown the same ones and the
        global random state is left alone."""
        was_training = self.model.training
        self.model.eval()
        draw = torch.Generator().manual_seed(0)
        sums, count = {"real": 0.0, "fake": 0.0, "pitch_accuracy_fake": 0.0, "pitch_accuracy_real": 0.0}, 0
        for (real, pitch), _ in windows.sequential(max_tokens, batch_size):
            real, pitch = real.to(device), pitch.to(device)
            fake = self.model.generator(self.model.sample_z(len(real), draw), pitch)
            real_score, real_logits = self.model.discriminator(real)
            fake_score, fake_logits = self.model.discriminator(fake)
            sums["real"] += real_score.sum().item()
            sums["fake"] += fake_score.sum().item()
            sums["pitch_accuracy_real"] += (real_logits.argmax(-1) == pitch).sum().item()
            sums["pitch_accuracy_fake"] += (fake_logits.argmax(-1) == pitch).sum().item()
            count += len(real)
        self.model.train(was_training)
        if not count:
            return {"loss": float("nan"), "pitch_error_fake": float("nan")}, 0
        means = {name: total / count for name, total in sums.items()}
        return {"loss": means["real"] - means["fake"], "pitch_accuracy_fake": means["pitch_accuracy_fake"],
                "pitch_accuracy_real": means["pitch_accuracy_real"],
                "pitch_error_fake": 1.0 - means["pitch_accuracy_fake"]}, count


def adversarial(model: nn.Module, hp: dict[str, Any], windows: Any) -> Objective:
    return Adversarial(model, hp)
