"""SampleRNN: tiers build and learn, the stepper matches the training forward across frame
boundaries, truncated BPTT carries the tier states, beam-search reordering, every option runs."""

import itertools

import pytest
import torch

from tunesmith.models.samplernn import SampleRNN, SampleRNNStepper

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


def forward_logits(model, music):
    """The training forward's logits of music[0:] after L samples of silence (the stepper's start)."""
    silence = torch.full((music.size(0), model.lookback), model.q_levels // 2)
    with torch.no_grad():
        return model(torch.cat([silence, music], 1)[:, :-1])[0]   # logits of music[0..]


def stepped(stepper, music, primer):
    """The stepper's logits: a primer of `primer` samples at once, then single samples."""
    got = [stepper.feed(music[:, :primer])]
    for t in range(primer, music.size(1) - 1):
        got.append(stepper.feed(music[:, t:t + 1]))
    return torch.stack(got, 1)


@pytest.mark.parametrize("tiers", [2, 3])
def test_stepper_matches_training_forward(tiers):
    model = tiny(tiers).eval()
    # The stepper starts from L samples of silence: give the training window the same history.
    g = torch.Generator().manual_seed(2)
    music = torch.randint(0, Q, (2, 21), generator=g)           # 21: ends inside a top frame
    expected = forward_logits(model, music)
    torch.testing.assert_close(stepped(model.stepper(2), music, 3), expected[:, 3:], atol=1e-5, rtol=0)


@pytest.mark.parametrize("rnn_type, n_rnn, skip_conn, weight_norm",
                         [("lstm", 2, True, True), ("gru", 2, True, False), ("lstm", 1, False, False)])
def test_stepper_matches_training_forward_with_every_option(rnn_type, n_rnn, skip_conn, weight_norm):
    """The stepper's own cells (torch.gru_cell / lstm_cell), skip connections and plain weights."""
    model = tiny(3, rnn_type=rnn_type, n_rnn=n_rnn, skip_conn=skip_conn, weight_norm=weight_norm,
                 frame_size=4, big_frame_size=8).eval()
    music = torch.randint(0, Q, (3, 30), generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(stepped(model.stepper(3), music, 1), forward_logits(model, music)[:, 1:],
                               atol=1e-5, rtol=0)


def test_stepper_accumulator_moves_back_without_changing_logits(monkeypatch):
    """The MLP's input rows live in a buffer of ROWS rows that moves back to its start when full:
    a small one moves many times, at every phase of the frames."""
    monkeypatch.setattr(SampleRNNStepper, "ROWS", 3)
    model = tiny(3).eval()
    music = torch.randint(0, Q, (2, 41), generator=torch.Generator().manual_seed(6))
    expected = forward_logits(model, music)
    torch.testing.assert_close(stepped(model.stepper(2), music, 1), expected[:, 1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(stepped(model.stepper(2), music, 17), expected[:, 17:], atol=1e-5, rtol=0)


def test_stepper_uses_fixed_weights_and_copies_what_it_keeps():
    """Weight norm is evaluated when the stepper is made, not at every step; the caller may refill
    the tokens it fed and change the logits it got; and at the recipe's frame sizes (64 and 16,
    q_levels 256, weight norm) the stepper gives the forward's logits."""
    torch.manual_seed(0)
    model = SampleRNN(256, dim=32, emb_size=16).eval()
    music = torch.randint(0, 256, (2, 150), generator=torch.Generator().manual_seed(7))
    expected = forward_logits(model, music)
    evaluations = []
    for module in model.modules():
        if torch.nn.utils.parametrize.is_parametrized(module):
            module.parametrizations.weight.register_forward_hook(lambda *_: evaluations.append(1))
    stepper = model.stepper(2)
    made = len(evaluations)
    tokens = music[:, :1].clone()
    logits, got = stepper.feed(tokens), []
    for t in range(1, music.size(1) - 1):
        got.append(logits.clone())
        logits.fill_(0.0)                    # the logits are the caller's
        tokens.copy_(music[:, t:t + 1])      # one buffer, refilled: the stepper keeps its own copy
        logits = stepper.feed(tokens)
    got.append(logits)
    assert made > 0 and len(evaluations) == made
    torch.testing.assert_close(torch.stack(got, 1), expected[:, 1:], atol=1e-5, rtol=0)


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


def test_reorder_to_fewer_rows_matches_training_forward():
    model = tiny(3, rnn_type="lstm").eval()
    music = torch.randint(0, Q, (3, 23), generator=torch.Generator().manual_seed(8))
    stepper = model.stepper(3)
    stepper.feed(music[:, :5])
    for t in range(5, 10):                   # across a top frame boundary before the reorder
        stepper.feed(music[:, t:t + 1])
    rows = torch.tensor([1, 0])
    stepper.reorder(rows)
    got = [stepper.feed(music[rows, t:t + 1]) for t in range(10, 22)]
    torch.testing.assert_close(torch.stack(got, 1), forward_logits(model, music[rows])[:, 11:], atol=1e-5, rtol=0)


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
