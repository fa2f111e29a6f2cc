"""SampleRNN: tiers build and learn, the stepper matches the training forward across frame
boundaries, truncated BPTT carries the tier states, beam-search reordering, every option runs."""

import itertools

import pytest
import torch

from tunesmith.models.samplernn import SampleRNN

Q = 16


def tiny(tiers=3, **options):
    torch.manual_seed(0)
    options = {"frame_size": 2, "big_frame_size": 4, "dim": 16, "emb_size": 8, **options}
    return SampleRNN(Q, tiers=tiers, **options)


def window(model, frames, batch=2, seed=1):
    """A window of L history samples and `frames` top frames, as (inputs, targets)."""
    g = torch.Generator().manual_seed(seed)
    samples = torch.randint(0, Q, (batch, model.lookback * (frames + 1)), generator=g)
    return samples[:, :-1], samples[:, 1:]


@pytest.mark.parametrize("tiers", [2, 3])
def test_loss_falls_on_a_repeating_pattern(tiers):
    model = tiny(tiers)
    pattern = torch.tensor([0, 3, 7, 12, 15, 12, 7, 3]).repeat(5)[None].repeat(2, 1)
    batch = pattern[:, :-1], pattern[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch).item()
    for _ in range(25):
        optimizer.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        optimizer.step()
    assert first > 2.0 and loss.item() < 0.5 * first


@pytest.mark.parametrize("tiers", [2, 3])
def test_stepper_matches_training_forward(tiers):
    model = tiny(tiers).eval()
    # The stepper starts from L samples of silence: give the training window the same history.
    g = torch.Generator().manual_seed(2)
    music = torch.randint(0, Q, (2, 21), generator=g)           # 21: ends inside a top frame
    silence = torch.full((2, model.lookback), Q // 2)
    samples = torch.cat([silence, music], 1)
    with torch.no_grad():
        expected, _ = model(samples[:, :-1])                     # logits of music[0..20]
    stepper = model.stepper(2)
    got = [stepper.feed(music[:, :3])]                           # a primer, then single samples
    for t in range(3, music.size(1) - 1):
        got.append(stepper.feed(music[:, t:t + 1]))
    torch.testing.assert_close(torch.stack(got, 1), expected[:, 3:], atol=1e-5, rtol=0)


def test_state_carries_across_truncated_bptt_windows():
    model = tiny(3, rnn_type="lstm", n_rnn=2).eval()
    inputs, targets = window(model, frames=6)
    whole, _ = model.loss_with_state((inputs, targets), None)
    n = 3 * model.lookback                                      # each half predicts 3 top frames
    first = inputs[:, :model.lookback + n - 1], targets[:, :model.lookback + n - 1]
    second = inputs[:, n:], targets[:, n:]                      # repeats the last L as history
    loss_a, state = model.loss_with_state(first, None)
    loss_b, state = model.loss_with_state(second, state)
    assert all(not t.requires_grad for t in _leaves(state))
    torch.testing.assert_close((loss_a + loss_b) / 2, whole, atol=1e-5, rtol=0)
    fresh, _ = model.loss_with_state(second, None)
    assert abs(fresh.item() - loss_b.item()) > 1e-6             # the state mattered
    with pytest.raises(ValueError):
        model.loss_with_state((inputs[:, :-1], targets[:, :-1]), state)


def _leaves(state):
    if isinstance(state, torch.Tensor):
        return [state]
    return [leaf for part in state for leaf in _leaves(part)]


def test_reorder_keeps_and_duplicates_rows():
    model = tiny(3).eval()
    g = torch.Generator().manual_seed(3)
    primer = torch.randint(0, Q, (3, 7), generator=g)
    stepper = model.stepper(3)
    stepper.feed(primer)
    stepper.reorder(torch.tensor([2, 2, 0]))
    following = torch.randint(0, Q, (3, 6), generator=g)
    reordered = [stepper.feed(following[:, t:t + 1]) for t in range(6)]
    reference = model.stepper(3)
    reference.feed(primer[[2, 2, 0]])
    expected = [reference.feed(following[:, t:t + 1]) for t in range(6)]
    torch.testing.assert_close(torch.stack(reordered), torch.stack(expected), atol=1e-6, rtol=0)


@pytest.mark.parametrize("rnn_type, learn_h0, skip_conn, weight_norm",
                         list(itertools.product(["gru", "lstm"], [False, True], [False, True], [False, True])))
def test_every_option_builds_trains_and_samples(rnn_type, learn_h0, skip_conn, weight_norm):
    model = tiny(3, rnn_type=rnn_type, learn_h0=learn_h0, skip_conn=skip_conn,
                 weight_norm=weight_norm, n_rnn=2, dropout=0.1)
    inputs, targets = window(model, frames=2)
    loss = model.loss((inputs, targets))
    loss.backward()
    assert torch.isfinite(loss)
    assert (model.frame_tiers[0].h0.grad is not None) == learn_h0
    model.eval()
    stepper = model.stepper(2)
    logits = stepper.feed(inputs[:, :5])
    assert logits.shape == (2, Q) and torch.isfinite(logits).all()


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError):
        SampleRNN(Q, tiers=4)
    with pytest.raises(ValueError):
        SampleRNN(Q, frame_sizes=(6, 4))
    with pytest.raises(ValueError):
        SampleRNN(Q, rnn_type="rnn")
