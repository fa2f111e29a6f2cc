"""The MusicVAE model at toy sizes: shapes of its contract for melody, drums and trio, flat and
hierarchical; the KL against its closed form; memorizing four phrases and writing them back from
their latent vectors; slerp; repeatable sampling."""

from __future__ import annotations

import math

import pytest
import torch

from tunesmith.errors import UserError
from tunesmith.models.music_vae import MusicVAE, gaussian_kl, slerp

TINY = dict(z_size=8, encoder_size=16, encoder_layers=1, decoder_size=16, decoder_layers=2, conductor_size=12,
            conductor_layers=1, embedding_size=6)

KINDS = {"melody": [90], "drums": [512], "trio": [90, 90, 512]}


def random_phrases(class_counts: list[int], count: int, steps: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, classes, (count, steps), generator=generator) for classes in class_counts],
                       dim=-1)


@pytest.mark.parametrize("hierarchical", [False, True], ids=["flat", "hierarchical"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_contract_has_the_documented_shapes(kind, hierarchical):
    torch.manual_seed(0)
    class_counts = KINDS[kind]
    model = MusicVAE(class_counts, steps=24, bars=3, hierarchical=hierarchical, **TINY)
    phrases = random_phrases(class_counts, 5, 24)
    mu, sigma = model.encode(phrases)
    assert mu.shape == sigma.shape == (5, 8) and (sigma > 0).all()
    logits = model.reconstruction(phrases, mu)
    assert [tuple(track.shape) for track in logits] == [(5, 24, classes) for classes in class_counts]
    terms = model.loss_terms(phrases)
    assert set(terms) == {"nll", "kl", "accuracy"}
    assert all(term.shape == (5,) and torch.isfinite(term).all() for term in terms.values())
    assert (terms["nll"] > 0).all() and (terms["kl"] >= 0).all()
    assert ((terms["accuracy"] >= 0) & (terms["accuracy"] <= 1)).all()
    assert model.kl_per_dimension(phrases).shape == (5, 8)
    model.eval()
    written = model.decode(mu, generator=torch.Generator().manual_seed(1))
    assert written.shape == (5, 24, len(class_counts)) and written.dtype == torch.int64
    for track, classes in enumerate(class_counts):
        assert 0 <= written[..., track].min() and written[..., track].max() < classes
    assert model.sample_prior(3, temperature=0.5, generator=torch.Generator().manual_seed(2)).shape == (3, 24,
                                                                                                    len(class_counts))


def test_gaussian_kl_is_the_closed_form():
    mu, sigma = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.5])
    expected = [0.5 * (1 + 1 - 1 - 0), 0.5 * (0.25 + 0 - 1 - 2 * math.log(0.5))]
    assert torch.allclose(gaussian_kl(mu, sigma), torch.tensor(expected))
    assert gaussian_kl(torch.zeros(3), torch.ones(3)).abs().max() == 0  # the prior itself


def test_loss_terms_sum_what_the_parts_say():
    torch.manual_seed(0)
    model = MusicVAE([90, 512], steps=16, bars=2, **TINY).eval()
    phrases = random_phrases([90, 512], 4, 16)
    terms = model.loss_terms(phrases)
    mu, sigma = model.encode(phrases)
    assert torch.allclose(terms["kl"], gaussian_kl(mu, sigma).sum(-1))
    assert torch.allclose(terms["kl"], model.kl_per_dimension(phrases).sum(-1))
    logits = model.reconstruction(phrases, mu)  # eval mode: z = mu
    log_likelihood = sum(torch.log_softmax(track, -1).gather(-1, phrases[..., t, None]).sum((1, 2))
                         for t, track in enumerate(logits))
    assert torch.allclose(terms["nll"], -log_likelihood, atol=1e-4)
    assert torch.equal(model.loss_terms(phrases)["nll"], terms["nll"])  # eval: no sampling of z
    model.train()
    assert not torch.equal(model.loss_terms(phrases)["nll"], model.loss_terms(phrases)["nll"])  # z drawn


def test_the_hierarchical_decoder_starts_every_bar_from_its_conductor_embedding():
    torch.manual_seed(0)
    phrases = random_phrases([90], 2, 16)
    changed = phrases.clone()
    changed[:, :8] = (changed[:, :8] + 1) % 90  # other classes in bar 0 only
    z = torch.randn(2, 8)
    hierarchical = MusicVAE([90], steps=16, bars=2, hierarchical=True, **TINY)
    before, after = hierarchical.reconstruction(phrases, z)[0], hierarchical.reconstruction(changed, z)[0]
    assert torch.equal(before[:, 8:], after[:, 8:]) and not torch.equal(before[:, 1:8], after[:, 1:8])
    flat = MusicVAE([90], steps=16, bars=2, hierarchical=False, **TINY)
    assert not torch.equal(flat.reconstruction(phrases, z)[0][:, 8:], flat.reconstruction(changed, z)[0][:, 8:])


@pytest.mark.parametrize("class_counts, hierarchical", [([90], False), ([90], True), ([90, 90, 512], True)],
                         ids=["flat melody", "hierarchical melody", "hierarchical trio"])
def test_four_phrases_are_learned_and_written_back_from_their_latent_vectors(class_counts, hierarchical):
    torch.manual_seed(0)
    steps = 16
    model = MusicVAE(class_counts, steps=steps, bars=2, hierarchical=hierarchical, z_size=16, encoder_size=32,
                     encoder_layers=1, decoder_size=64, decoder_layers=1, conductor_size=32, conductor_layers=1,
                     embedding_size=16)
    phrases = random_phrases(class_counts, 4, steps, seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        terms = model.loss_terms(phrases)
        loss = (terms["nll"] + 0.01 * terms["kl"]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert model.loss_terms(phrases)["accuracy"].min() >= 0.95
    mu, _ = model.encode(phrases)
    assert torch.equal(model.decode(mu, argmax=True), phrases)
    other = random_phrases(class_counts, 4, steps, seed=4)  # the decoder does not just write one phrase
    assert not torch.equal(model.decode(model.encode(other)[0], argmax=True), other)


def test_slerp_keeps_its_ends_and_interpolates_the_length():
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 5.0, 0.0])
    assert torch.allclose(slerp(a, b, 0.0), a) and torch.allclose(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    assert math.isclose(middle.norm().item(), 4.0, rel_tol=1e-6)
    assert torch.allclose(middle / middle.norm(), torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2))  # half the angle
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert path.shape == (5, 3) and torch.allclose(path[0], a) and torch.allclose(path[-1], b)
    angles = torch.atan2(path[:, 1], path[:, 0])
    assert torch.allclose(angles, torch.linspace(0, math.pi / 2, 5), atol=1e-6)  # evenly turned
    parallel = slerp(a, 2 * a, 0.5)
    assert torch.allclose(parallel, 1.5 * a) and torch.isfinite(parallel).all()  # the linear fallback
    batch = slerp(torch.randn(4, 8), torch.randn(4, 8), torch.tensor([0.0, 0.5, 1.0]))
    assert batch.shape == (3, 4, 8)


def test_decoding_with_one_seed_is_repeatable():
    torch.manual_seed(0)
    model = MusicVAE([90], steps=16, bars=2, hierarchical=True, **TINY).eval()
    z = torch.randn(3, 8)
    first = model.decode(z, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, model.decode(z, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(first, model.decode(z, generator=torch.Generator().manual_seed(8)))
    prior = model.sample_prior(4, temperature=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(prior, model.sample_prior(4, temperature=1.0, generator=torch.Generator().manual_seed(5)))
    cold = model.decode(z, temperature=1e-4, generator=torch.Generator().manual_seed(9))
    assert torch.equal(cold, model.decode(z, argmax=True))  # a cold temperature is argmax


def test_steps_must_make_whole_bars():
    with pytest.raises(UserError, match="30 steps make 4 whole bars"):
        MusicVAE([90], steps=30, bars=4, **TINY)
