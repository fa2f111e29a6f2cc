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
    better) that picks the best checkpoint and drives early stopping and annealing; `loss_unit`
    says what its "loss" is counted in (nats per unit for a likelihood, else empty)."""

    best_metric = "loss"
    loss_unit = "nats"

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


DB_PER_NEPER = 20 / math.log(10)  # a difference of natural logs of magnitudes, in dB


class SpectralLoss(CarriedState):
    """An fft-lstm's frame loss (models/fft_lstm.py, `FFTLSTM.loss_terms`) as the shared objective
    trains it, the LSTM state carried across the windows of a chunk with carry_state
    (CarriedState), else from zeros.
    Validation reports what the loss is, not bits: `loss`, the magnitude error in dB
    (`magnitude_error_db`), the phase term (`phase_error`), the same loss of repeating the last
    frame (`persistence_loss`: what the model must beat), and the `frames` predicted; its count is in
    samples (frames x hop), the codec's unit."""

    loss_unit = ""  # not a likelihood

    def __init__(self, model: nn.Module, hp: dict[str, Any], windows: Any):
        self.carried = bool(getattr(windows, "carry", False))
        super().__init__(model, hp, windows)

    @torch.no_grad()
    def validate(self, windows: Any, max_tokens: int, batch_size: int,
                 device: torch.device) -> tuple[dict[str, float], int]:
        model = self.model
        was_training = model.training
        model.eval()
        sums = {"loss": 0.0, "magnitude": 0.0, "phase": 0.0, "persistence": 0.0}
        count, state = 0, None
        for batch, fresh in windows.sequential(max_tokens, batch_size):
            frames = model.window_frames(tuple(t.to(device) for t in batch))
            predicted, state = model(frames[:, :-1], None if fresh or not self.carried else state)
            terms = model.loss_terms(predicted, frames[:, 1:])
            scored = frames.size(0) * (frames.size(1) - 1)
            for name in ("loss", "magnitude", "phase"):
                sums[name] += float(terms[name]) * scored
            sums["persistence"] += float(model.loss_terms(frames[:, :-1], frames[:, 1:])["loss"]) * scored
            count += scored
        model.train(was_training)
        if not count:
            return {"loss": float("nan")}, 0
        means = {name: total / count for name, total in sums.items()}
        return {"loss": means["loss"], "magnitude_error_db": means["magnitude"] * DB_PER_NEPER,
                "phase_error": means["phase"], "persistence_loss": means["persistence"],
                "frames": count}, count * model.frames.hop


def spectral_loss(model: nn.Module, hp: dict[str, Any], windows: Any) -> SpectralLoss:
    return SpectralLoss(model, hp, windows)



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


# -- an adversarial game (GANSynth, the recurrent GAN) ---------------------------------------------

# The loss is WGAN-GP (Gulrajani et al. 2017), GANSynth's choice: the critic estimates the Wasserstein
# distance between real and generated notes, a penalty keeps its gradient norm near 1 on points
# between them (so no batch norm, whose statistics would couple the samples the penalty treats one
# by one, and no weight clipping), and the estimate falls as the notes improve, so the loss tracks
# quality instead of swinging like the original GAN's. As GANSynth: penalty weight 10, a drift term
# 1e-3 * D(real)^2 that keeps the scores near 0, and an auxiliary pitch classifier (AC-GAN) whose
# cross-entropy, weight 10, the discriminator learns on real and generated notes and the generator
# on its own notes (so that it makes the pitch asked for). An unconditioned model (the recurrent
# GAN) has no classifier; its generator may add `stft_weight` times `spectrum_distance`.
GAN_SETTINGS = {"lr": 4e-4, "gradient_penalty": 10.0, "drift": 1e-3, "pitch_weight": 10.0, "stft_weight": 0.0}
STFT_SIZES = (2048, 1024, 512, 256, 128)  # FFT sizes of spectrum_distance (those longer than a clip are left out)
SPECTRUM_EPS = 1e-6  # added to mean powers before the log


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


def mean_power_spectrum(audio: torch.Tensor, n_fft: int) -> torch.Tensor:
    """The power spectrum [n_fft // 2 + 1] of clips [batch, samples], averaged over the batch and
    over Hann-windowed frames (hop n_fft / 4)."""
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    spectrum = torch.stft(audio, n_fft, n_fft // 4, window=window, center=False, return_complex=True)
    return (spectrum.real.square() + spectrum.imag.square()).mean((0, 2))


def spectrum_distance(fake: torch.Tensor, real: torch.Tensor, sizes: tuple[int, ...] = STFT_SIZES) -> torch.Tensor:
    """A multi-resolution STFT loss for an unconditioned generator: over the FFT sizes that fit the
    clips, the mean absolute difference of the log of the batch-average power spectra of generated
    and real clips [batch, samples]. An unconditioned GAN has no paired target (a generated clip is
    not a version of any real one), so the clips are not compared one to one, as in a vocoder's
    STFT loss, but as two collections: it pulls the generator's average spectrum (its level, its
    brightness, its balance of tone and noise bands) towards the corpus's, and says nothing of the
    order of events, which the critic judges. Differentiable in `fake`; `real` is a constant."""
    sizes = [n for n in sizes if n <= fake.shape[1]] or [fake.shape[1]]
    terms = [(torch.log(mean_power_spectrum(fake, n) + SPECTRUM_EPS)
              - torch.log(mean_power_spectrum(real.detach(), n) + SPECTRUM_EPS)).abs().mean() for n in sizes]
    return torch.stack(terms).mean()


class Adversarial(Objective):
    """WGAN-GP (above) for a model with a `generator` and a `discriminator` (the critic), one
    training step being one critic step then one generator step, each with its own Adam (betas
    `beta1`, `beta2`, default 0.0, 0.99 as GANSynth; the trainer's learning rate schedule sets
    both, from `lr`). Noise is drawn from torch's global generator, whose state the trainer saves,
    so a resumed run draws the same. Training's "loss" is the critic's (minus the Wasserstein
    estimate plus the penalty). Why WGAN-GP: it trains stably without a balance of the two networks
    to tune by hand, and its critic's estimate of the distance between real and generated material
    is a number to watch that falls as the material improves, where the original GAN's losses say
    nothing of how close the two are (a recurrent GAN trained that way, musicrgan, made noise and
    gave no sign of how training went). Two kinds of model:

    * Conditioned on a pitch (GANSynth, models/gansynth.py): `generator(z, pitch)`,
      `discriminator(specgrams) -> (score, pitch logits)`, `sample_z(n, generator)`. A batch is
      (specgrams [batch, 2, frames, bins], pitch indices [batch]); the critic's loss adds the drift
      and the auxiliary classifier's cross-entropy, the generator's the classifier's on its own
      notes. Validation's "loss" is the critic's Wasserstein estimate, mean D(real) - mean
      D(generated at the same pitches from a fixed seed) over held-out notes: lower is better (the
      critic of that checkpoint tells them apart less), with the classifier's accuracy on
      generated notes (`pitch_accuracy_fake`: does the generator play the pitch asked for) and on
      real ones. The best checkpoint is the one with the fewest generated notes the classifier
      hears off their pitch (`pitch_error_fake`): the Wasserstein estimate of one checkpoint's
      critic says little of another checkpoint's notes (it rose from 1.7 to 12.6 between steps 200
      and 400 of a run while the notes heard at their pitch went from 8% to 59%).
    * Unconditioned (a model whose `conditioned` is False: the recurrent GAN, models/rgan.py):
      `real(batch)` the batch's real clips (decoded from quantized windows), `sample_z(n,
      generator, length)`, `generator(z) -> clips`, `discriminator(clips) -> score`, and
      `penalty_options`, keywords of the critic's call for the penalty. No classifier; the critic's
      loss has the drift; with `stft_weight` above 0 the generator's adds that times
      `spectrum_distance` to the batch's real clips. Validation generates as many clips as it
      reads held-out ones, from noise of a generator seeded 0 (the same at every checkpoint), and
      reports the critic's Wasserstein estimate ("loss"), the RMS level and spectral centroid of
      generated and held-out clips (`rms_db_fake`, `rms_db_real`, `centroid_hz_fake`,
      `centroid_hz_real`: loud, silent, dull or hissing at a glance) and the Frechet distance of
      their log-mel frames (`frechet_log_mel`, audio_stats.frechet_distance, in dB^2; the hparam
      `sample_rate` gives the rate), which picks the best checkpoint: it judges the generated
      audio by statistics no critic learned, so checkpoints compare fairly (as for GANSynth, one
      checkpoint's critic says little of another's clips)."""

    best_metric = "pitch_error_fake"

    def __init__(self, model: nn.Module, hp: dict[str, Any]):
        self.model, self.hp = model, hp
        self.conditioned = getattr(model, "conditioned", True)
        if not self.conditioned:
            self.best_metric = "frechet_log_mel"
        self.penalty_options = getattr(model, "penalty_options", {})
        setting = {name: hp.get(name, default) for name, default in GAN_SETTINGS.items()}
        self.penalty_weight, self.drift, self.pitch_weight, self.stft_weight = (
            setting["gradient_penalty"], setting["drift"], setting["pitch_weight"], setting["stft_weight"])
        betas = (hp.get("beta1", 0.0), hp.get("beta2", 0.99))
        self.optimizers = {"generator": torch.optim.Adam(model.generator.parameters(), lr=setting["lr"], betas=betas),
                           "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=setting["lr"],
                                                             betas=betas)}
        self.generator: nn.Module = model.generator
        self.discriminator: nn.Module = model.discriminator

    def distribute(self, wrap: Wrap) -> None:
        self.generator = wrap(self.model.generator, False)
        self.discriminator = wrap(self.model.discriminator, False)

    def critic(self, x: torch.Tensor, **options: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(scores [batch], pitch logits or None for an unconditioned model)."""
        out = self.discriminator(x, **options)
        return out if self.conditioned else (out, None)

    def fake(self, real: torch.Tensor, pitch: torch.Tensor | None) -> torch.Tensor:
        """Generated material for a batch: notes at its pitches, or clips as long as its clips."""
        if self.conditioned:
            return self.generator(self.model.sample_z(len(real)), pitch)
        return self.generator(self.model.sample_z(len(real), None, real.shape[-1]))

    def step(self, batch: tuple, step: int, update: Update) -> dict[str, float]:
        real, pitch = batch if self.conditioned else (self.model.real(batch), None)
        n = len(real)
        # the discriminator's step: real and generated material through it in one call, the in-between
        # ones in another (the penalty's double backward then runs over n examples, not 3n: half the time)
        with torch.no_grad():
            fake = self.fake(real, pitch)
        score, logits = self.critic(torch.cat([real, fake]))
        real_score, fake_score = score.split(n)
        between = interpolate(real, fake)
        penalty = penalty_at(self.critic(between, **self.penalty_options)[0], between)
        wasserstein = real_score.mean() - fake_score.mean()
        critic_loss = -wasserstein + self.penalty_weight * penalty
        d_loss = critic_loss + self.drift * real_score.square().mean()
        if self.conditioned:
            pitch_loss = (nn.functional.cross_entropy(logits[:n], pitch)
                          + nn.functional.cross_entropy(logits[n:2 * n], pitch)) / 2
            d_loss = d_loss + self.pitch_weight * pitch_loss
        grad_norm_d = update(self.optimizers["discriminator"], d_loss)
        # the generator's step, through the discriminator just updated
        fake = self.fake(real, pitch)
        fake_score, fake_logits = self.critic(fake)
        g_loss = -fake_score.mean()
        extra = {}
        if self.conditioned:
            g_loss = g_loss + self.pitch_weight * nn.functional.cross_entropy(fake_logits, pitch)
            extra["pitch_accuracy_real"] = (logits[:n].argmax(-1) == pitch).float().mean().item()
        elif self.stft_weight > 0:
            distance = spectrum_distance(fake, real)
            g_loss = g_loss + self.stft_weight * distance
            extra["spectrum_distance"] = distance.item()
        grad_norm_g = update(self.optimizers["generator"], g_loss)
        metrics = {"loss": critic_loss.item(), "d_loss": d_loss.item(), "g_loss": g_loss.item(),
                   "wasserstein": wasserstein.item(), "gradient_penalty": penalty.item(), **extra,
                   "grad_norm_d": grad_norm_d, "grad_norm_g": grad_norm_g}
        if not self.conditioned:
            metrics["rms_db_fake"] = 10 * math.log10(max(fake.detach().square().mean().item(), 1e-12))
        return metrics

    @torch.no_grad()
    def validate(self, windows: Any, max_tokens: int, batch_size: int,
                 device: torch.device) -> tuple[dict[str, float], int]:
        """Over about max_tokens units' worth of held-out material; the count is of notes, or of
        samples for an unconditioned model. The latent vectors come from a generator seeded 0, so
        every checkpoint is shown the same ones and the global random state is left alone."""
        was_training = self.model.training
        self.model.eval()
        try:
            if not self.conditioned:
                return self.validate_unconditioned(windows, max_tokens, batch_size, device)
            return self.validate_conditioned(windows, max_tokens, batch_size, device)
        finally:
            self.model.train(was_training)

    def validate_conditioned(self, windows: Any, max_tokens: int, batch_size: int,
                             device: torch.device) -> tuple[dict[str, float], int]:
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
        if not count:
            return {"loss": float("nan"), "pitch_error_fake": float("nan")}, 0
        means = {name: total / count for name, total in sums.items()}
        return {"loss": means["real"] - means["fake"], "pitch_accuracy_fake": means["pitch_accuracy_fake"],
                "pitch_accuracy_real": means["pitch_accuracy_real"],
                "pitch_error_fake": 1.0 - means["pitch_accuracy_fake"]}, count

    def validate_unconditioned(self, windows: Any, max_tokens: int, batch_size: int,
                               device: torch.device) -> tuple[dict[str, float], int]:
        from tunesmith.audio_stats import frechet_distance, log_mel_frames, rms_db, spectral_centroid

        draw = torch.Generator().manual_seed(0)
        scores, clips = {"real": 0.0, "fake": 0.0}, {"real": [], "fake": []}
        for batch, _ in windows.sequential(max_tokens, batch_size):
            real = self.model.real(tuple(t.to(device) for t in batch))
            fake = self.model.generator(self.model.sample_z(len(real), draw, real.shape[-1]))
            for side, audio in (("real", real), ("fake", fake)):
                scores[side] += self.model.discriminator(audio).sum().item()
                clips[side] += list(audio.float().cpu().numpy())
        count = len(clips["real"])
        if not count:
            return {"loss": float("nan"), self.best_metric: float("nan")}, 0
        rate = self.hp["sample_rate"]
        metrics = {"loss": (scores["real"] - scores["fake"]) / count,
                   "frechet_log_mel": frechet_distance(log_mel_frames(clips["fake"], rate),
                                                       log_mel_frames(clips["real"], rate))}
        for side in ("fake", "real"):
            metrics[f"rms_db_{side}"] = sum(rms_db(clip) for clip in clips[side]) / count
            metrics[f"centroid_hz_{side}"] = sum(spectral_centroid(clip, rate) for clip in clips[side]) / count
        return metrics, sum(len(clip) for clip in clips["real"])


def adversarial(model: nn.Module, hp: dict[str, Any], windows: Any) -> Objective:
    return Adversarial(model, hp)
