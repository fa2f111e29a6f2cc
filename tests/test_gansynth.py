"""GANSynth (models.gansynth) and its WGAN-GP objective (training.objectives.Adversarial): shapes,
the IF channel's range, both optimizers stepping, the gradient penalty, an exact resume from saved
optimizer, model and RNG states, validation, and a tiny overfit of the pitch classifier."""

from __future__ import annotations

import copy
import math

import torch

from conftest import assert_adversarial_resumes_exactly, update
from tunesmith.media.spectral import Specgrams
from tunesmith.models.gansynth import DEFAULTS, GANSynth
from tunesmith.training.objectives import Adversarial, adversarial, gradient_penalty

TINY = {"frames": 16, "bins": 32, "z_size": 16, "pitches": 4, "channels": (32, 16, 8)}


def tiny_model(seed: int = 0) -> GANSynth:
    torch.manual_seed(seed)
    return GANSynth(**TINY)


def fake_batch(n: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    draw = torch.Generator().manual_seed(seed)
    specgrams = torch.randn(n, 2, TINY["frames"], TINY["bins"], generator=draw)
    specgrams[:, 1] = specgrams[:, 1].tanh()
    return specgrams, torch.randint(0, TINY["pitches"], (n,), generator=draw)


class Windows:
    """A stand-in for held-out windows: `sequential` yields ((specgrams, pitch), fresh) batches."""

    def __init__(self, specgrams: torch.Tensor, pitch: torch.Tensor):
        self.specgrams, self.pitch = specgrams, pitch

    def sequential(self, max_tokens: int, batch_size: int):
        for start in range(0, len(self.pitch), batch_size):
            yield (self.specgrams[start:start + batch_size], self.pitch[start:start + batch_size]), True


def test_shapes_and_the_if_channel_range():
    model = tiny_model()
    z = model.sample_z(5)
    pitch = torch.tensor([0, 1, 2, 3, 0])
    specgrams = model.generate(z * 10, pitch)  # large z: tanh still bounds the IF channel
    assert specgrams.shape == (5, 2, TINY["frames"], TINY["bins"])
    assert specgrams[:, 1].abs().max() <= 1.0
    score, logits = model.discriminate(specgrams)
    assert score.shape == (5,) and logits.shape == (5, TINY["pitches"])
    assert model.sample_z(3, torch.Generator().manual_seed(0)).shape == (3, TINY["z_size"])


def test_the_generator_plays_from_its_pitch_templates():
    """Each pitch's template reaches the output: the same z and pitch with another template row
    give another note, and only that pitch's notes change; a table of the wrong shape is refused."""
    torch.manual_seed(0)
    templates = torch.rand(TINY["pitches"], 2, TINY["bins"])
    model = GANSynth(**TINY, templates=templates)
    z, pitch = model.sample_z(2), torch.tensor([1, 2])
    with torch.no_grad():
        before = model.generate(z, pitch)
        model.generator.templates[1] = -templates[1]
        after = model.generate(z, pitch)
    assert not torch.allclose(before[0], after[0]) and torch.allclose(before[1], after[1])
    assert "generator.templates" not in model.state_dict()  # rebuilt from the codec, not saved
    try:
        GANSynth(**TINY, templates=torch.zeros(TINY["pitches"], 2, 7))
    except ValueError as err:
        assert "pitch templates" in str(err)
    else:
        raise AssertionError("a template table of the wrong shape was accepted")


def test_default_size_fits_a_cpu():
    model = GANSynth()
    weights = sum(p.numel() for p in model.parameters())
    assert 3e5 < weights < 2.5e6
    with torch.no_grad():
        specgrams = model.generate(model.sample_z(2), torch.tensor([0, 60]))
    assert specgrams.shape == (2, 2, DEFAULTS["frames"], DEFAULTS["bins"])


def test_both_optimizers_step_and_metrics_are_finite():
    model = tiny_model()
    objective = adversarial(model, {"lr": 1e-3}, None)
    assert set(objective.optimizers) == {"generator", "discriminator"}
    g_before = copy.deepcopy(model.generator.state_dict())
    d_before = copy.deepcopy(model.discriminator.state_dict())
    metrics = objective.step(fake_batch(), 0, update)
    for name in ("loss", "g_loss", "wasserstein", "pitch_accuracy_real", "grad_norm_d", "grad_norm_g"):
        assert math.isfinite(metrics[name]), name
    assert any(not torch.equal(g_before[k], v) for k, v in model.generator.state_dict().items())
    assert any(not torch.equal(d_before[k], v) for k, v in model.discriminator.state_dict().items())


def test_gradient_penalty_is_finite_and_positive():
    model = tiny_model()
    real, _ = fake_batch()
    fake = model.generate(model.sample_z(len(real)), torch.zeros(len(real), dtype=torch.long))
    penalty = gradient_penalty(model.discriminator, real, fake)
    assert math.isfinite(penalty.item()) and penalty.item() > 0
    penalty.backward()  # differentiable in the discriminator's weights
    assert model.discriminator.head.weight.grad is not None


def test_resume_is_exact():
    """Restored from a checkpoint mid-run, two more steps give the same weights."""
    assert_adversarial_resumes_exactly(tiny_model, {"lr": 1e-3}, [fake_batch(seed=s) for s in range(5)])


def test_validate_reports_finite_metrics():
    model = tiny_model()
    objective = adversarial(model, {}, None)  # a minimal hp dict works
    specgrams, pitch = fake_batch(n=10)
    state = torch.get_rng_state()
    metrics, count = objective.validate(Windows(specgrams, pitch), 10_000, 4, torch.device("cpu"))
    assert count == 10
    assert all(math.isfinite(value) for value in metrics.values())
    assert 0.0 <= metrics["pitch_accuracy_fake"] <= 1.0
    assert objective.best_metric in metrics
    assert torch.equal(torch.get_rng_state(), state)  # validation leaves the global RNG alone
    again, _ = objective.validate(Windows(specgrams, pitch), 10_000, 4, torch.device("cpu"))
    assert again == metrics  # the same latent vectors at every validation


def test_discriminator_learns_the_pitch_of_real_notes():
    """8 sine notes of 2 pitches through Specgrams: after 100 steps the classifier is right on all."""
    rate, length = 16000, 240
    helper = Specgrams(length, bins=TINY["bins"], sample_rate=rate, mel=True)
    assert helper.frames == TINY["frames"]
    draw = torch.Generator().manual_seed(0)
    t = torch.arange(length) / rate
    pitch = torch.tensor([0, 1] * 4)
    hz = torch.where(pitch == 0, 440.0, 1760.0)[:, None]
    phase = 2 * math.pi * torch.rand(8, 1, generator=draw)
    waves = 0.5 * torch.sin(2 * math.pi * hz * t + phase)
    specgrams = helper.from_waves(waves)
    specgrams[:, 0] = specgrams[:, 0] / 10  # log power of about -14..4 to about -1.4..0.4
    model = tiny_model()
    objective = Adversarial(model, {"lr": 1e-3})
    for step in range(100):
        metrics = objective.step((specgrams, pitch), step, update)
    assert metrics["pitch_accuracy_real"] == 1.0
    validation, count = objective.validate(Windows(specgrams, pitch), 10_000, 8, torch.device("cpu"))
    assert count == 8 and validation["pitch_accuracy_real"] == 1.0
