"""The melody RNN's Lookback inputs (Magenta's Lookback RNN): the tokens some steps back and the
position since START, computed from the tokens alone; the same logits whole, in carried windows
and step by step; nothing looked back across a START; beam search reorders the longer state."""

import pytest
import torch

from conftest import run_cli
from tunesmith.models.rnn import RNNLanguageModel
from tunesmith.recipes import get_recipe

START, VOCAB = 19, 20


def model(**options) -> RNNLanguageModel:
    torch.manual_seed(0)
    return RNNLanguageModel(VOCAB, 8, 16, 2, "lstm", 0.0, **{"lags": (2, 3), "period": 4, "start_token": START,
                                                              **options}).eval()


TOKENS = torch.tensor([[START, 5, 6, 7, 8, 9, START, 4, 4, 5, 6, 7],
                       [START, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]])


@torch.no_grad()
def test_whole_windows_and_steps_give_the_same_logits():
    lookback = model()
    whole, _ = lookback(TOKENS)
    first, state = lookback(TOKENS[:, :5])
    second, _ = lookback(TOKENS[:, 5:], state)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)
    stepper = lookback.stepper(2)
    steps = [stepper.feed(TOKENS[:, :1])] + [stepper.feed(TOKENS[:, t:t + 1]) for t in range(1, 12)]
    assert torch.allclose(torch.stack(steps, dim=1), whole, atol=1e-6)


@torch.no_grad()
def test_inputs_look_back_within_the_piece_and_count_from_its_start():
    lookback = model()
    x, _, (history, count) = lookback.inputs(TOKENS, None)
    e = 8  # embedding size: token, lag 2, lag 3, position
    pad = VOCAB
    row = 0
    # position 1 after the first START: nothing 2 or 3 back in this piece
    assert torch.equal(x[row, 1, e:2 * e], lookback.lag_embeddings[0].weight[pad])
    # position 4 (token 8): 2 back is 6, 3 back is 5
    assert torch.equal(x[row, 4, e:2 * e], lookback.lag_embeddings[0].weight[6])
    assert torch.equal(x[row, 4, 2 * e:3 * e], lookback.lag_embeddings[1].weight[5])
    # the second START restarts the count: its next token sees no lag, and position 1
    assert torch.equal(x[row, 7, e:2 * e], lookback.lag_embeddings[0].weight[pad])
    assert torch.equal(x[row, 7, 3 * e:], lookback.position_embedding.weight[1])
    assert torch.equal(x[1, 11, 3 * e:], lookback.position_embedding.weight[11 % 4])
    assert count.tolist() == [6, 12] and history.tolist() == [[5, 6, 7], [9, 10, 11]]
    # what came before a START changes no lookback input after it
    other = TOKENS.clone()
    other[0, 1:6] = torch.tensor([1, 1, 1, 1, 1])
    y, _, _ = lookback.inputs(other, None)
    assert torch.equal(x[0, 6:], y[0, 6:])


@torch.no_grad()
def test_reorder_keeps_the_lookback_state_with_its_rows():
    lookback = model()
    stepper = lookback.stepper(2)
    stepper.feed(TOKENS[:, :6])
    stepper.reorder(torch.tensor([1, 1]))
    swapped = stepper.feed(torch.tensor([[3], [3]]))
    fresh = lookback.stepper(1)
    fresh.feed(TOKENS[1:, :6])
    assert torch.allclose(swapped, fresh.feed(torch.tensor([[3]])).expand(2, -1), atol=1e-6)


def test_melody_rnn_looks_back_by_default_and_checks_the_setting(capsys):
    hp = get_recipe("melody-rnn").hparams([])
    assert hp["lookback"] == "12,16,24,32" and hp["bar_position"] == 48
    code, out, err = run_cli(capsys, "train", "melody-rnn", "--set", "lookback=16,x")
    assert code == 1 and err.count("\n") == 1 and "lookback=16,x" in err and "e.g. 12,16,24,32" in err
    with pytest.raises(ValueError):
        RNNLanguageModel(VOCAB, 8, 16, 1, lags=(2,))  # no start token to count from
