"""Sampler strategies over a stepper with known logits, and over a real RNN."""

import pytest
import torch
from torch import nn

from tunesmith.models.rnn import RNNLanguageModel
from tunesmith.generation.autoregressive import generate
from tunesmith.generation.strategies import Strategy, filter_logits

# the next-token distribution of the fixed model: token 0 likeliest, then 1, 2, ...
PROBS = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02])


class FixedModel(nn.Module):
    """A model whose stepper always returns the same logits, whatever came before."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(PROBS.log())

    def stepper(self, batch_size):
        model = self

        class Stepper:
            def feed(self, tokens):
                return model.logits.expand(tokens.size(0), -1)

        return Stepper()


def support(strategy: Strategy, n: int = 4000) -> set[int]:
    tokens = generate(FixedModel(), [0], n // 50, 50, strategy, seed=0)
    return {t for row in tokens for t in row}


def test_plain_sampling_reaches_every_token():
    assert support(Strategy()) == set(range(len(PROBS)))


def test_sampled_frequencies_follow_the_distribution():
    tokens = torch.tensor(generate(FixedModel(), [0], 400, 50, Strategy(), seed=1))  # 20,000 draws
    frequencies = torch.bincount(tokens.flatten(), minlength=len(PROBS)).float() / tokens.numel()
    assert torch.allclose(frequencies, PROBS, atol=0.012)  # about 3.5 standard errors of the likeliest


def test_top_k_restricts_the_support():
    assert support(Strategy(top_k=2)) == {0, 1}
    assert support(Strategy(top_k=1)) == {0}


def test_top_p_restricts_the_support():
    # 0.4 + 0.25 = 0.65 < 0.7, so the third token is needed to reach 0.7, not the fourth
    assert support(Strategy(top_p=0.7)) == {0, 1, 2}
    assert support(Strategy(top_p=0.3)) == {0}


def test_filter_logits_temperature_sharpens():
    cold = filter_logits(PROBS.log()[None], temperature=0.5).softmax(-1)[0]
    assert cold[0] > PROBS[0] and cold[-1] < PROBS[-1]


def test_argmax_is_deterministic_and_seed_repeats_output():
    torch.manual_seed(0)
    model = RNNLanguageModel(20, 8, 16, 1)
    a = generate(model, [1, 2, 3], 30, 3, Strategy(argmax=True), seed=1)
    b = generate(model, [1, 2, 3], 30, 3, Strategy(argmax=True), seed=2)
    assert a == b and a[0] == a[1] == a[2]
    s1 = generate(model, [1, 2, 3], 30, 3, Strategy(), seed=5)
    s2 = generate(model, [1, 2, 3], 30, 3, Strategy(), seed=5)
    s3 = generate(model, [1, 2, 3], 30, 3, Strategy(), seed=6)
    assert s1 == s2 and s1 != s3
    assert len({tuple(row) for row in s1}) > 1  # a batch of K gives K different outputs


def test_sample_on_spaces_is_greedy_inside_words():
    space = 6  # the least likely token is the word boundary
    tokens = generate(FixedModel(), [0], 2000, 4, Strategy(boundary_tokens=[space]), seed=3)
    for row in tokens:
        previous = 0
        for token in row:
            if previous != space:
                assert token == 0  # greedy: the likeliest token
            previous = token
    # after the primer (not a boundary) everything is greedy, so no boundary is ever reached
    assert all(t == 0 for row in tokens for t in row)
    primed = generate(FixedModel(), [space], 1, 400, Strategy(boundary_tokens=[space]), seed=3)
    assert len({row[0] for row in primed}) > 3  # sampled right after a boundary


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_rnn_stepper_matches_a_full_forward_pass(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(30, 8, 16, 2, cell).eval()
    tokens = torch.randint(0, 30, (2, 12))
    full, _ = model(tokens)
    stepper = model.stepper(2)
    first = stepper.feed(tokens[:, :5])
    assert torch.allclose(first, full[:, 4], atol=1e-5)
    for t in range(5, 12):
        assert torch.allclose(stepper.feed(tokens[:, t : t + 1]), full[:, t], atol=1e-5)


@torch.no_grad()
def sequence_log_prob(model, primer, tokens):
    logits, _ = model(torch.tensor([primer + tokens[:-1]]))
    log_probs = logits[0, len(primer) - 1 :].log_softmax(-1)
    return float(log_probs.gather(1, torch.tensor(tokens)[:, None]).sum())


def test_beam_search_finds_the_likeliest_sequence():
    import itertools

    from tunesmith.generation.autoregressive import beam_search

    torch.manual_seed(3)
    model = RNNLanguageModel(5, 4, 8, 1).eval()
    primer = [0]
    best = max(itertools.product(range(5), repeat=3), key=lambda seq: sequence_log_prob(model, primer, list(seq)))
    weights = torch.ones(5)
    wide = beam_search(model, primer, 1, 25, Strategy(argmax=True), None, 3, weights, 3)[0]
    assert tuple(wide) == best
    narrow = beam_search(model, primer, 1, 1, Strategy(argmax=True), None, 3, weights, 3)[0]
    assert narrow == generate(model, primer, 3, 1, Strategy(argmax=True))[0]  # a beam of one is greedy
    sampled = beam_search(model, primer, 4, 3, Strategy(), 7, 6, weights, 6)
    assert len(sampled) == 4 and all(len(row) == 6 for row in sampled)
    assert sampled == beam_search(model, primer, 4, 3, Strategy(), 7, 6, weights, 6)  # seeded
