"""Token models read pieces from their beginning with the RNN state carried across windows
(carry_windows), as generation runs from START: the chunks, the RNN's truncated BPTT, the trainer
carrying the state within a chunk and a resume in the middle of one."""

import shutil

import torch

from tunesmith import runs
from tunesmith.models.rnn import RNNLanguageModel
from tunesmith.notes import Piece, make_notes, write_midi
from tunesmith.training.data import piece_chunks
from tunesmith.training.trainer import Budget, train_recipe

START = 99


def test_chunks_begin_at_each_piece_and_continue_through_long_ones():
    # pieces of 10, 40 and 5 tokens: each begins with START
    stream = torch.tensor([START] + list(range(9)) + [START] + list(range(39)) + [START] + list(range(4)))
    chunks = piece_chunks(stream, seq_len=4, windows=3, start_token=START)  # chunks of 13 tokens
    assert chunks.carry and chunks.chunk_len == 13
    # piece 2 (at 10) is longer than a chunk: the next chunks go on where the one before ended;
    # the last one is moved back to end with the stream
    assert chunks.starts.tolist() == [0, 10, 22, 34, 42]
    assert stream[chunks.starts[:2]].tolist() == [START, START]
    windows = [chunks.batch(step, 2, seed=0) for step in range(3)]
    assert [chunks.fresh(step) for step in range(4)] == [True, False, False, True]
    for (_, first_targets), (second_inputs, _) in zip(windows, windows[1:]):  # the same rows, one after another
        assert torch.equal(first_targets[:, -1], second_inputs[:, 0])
    inputs = torch.cat([w[0] for w in windows], dim=1)
    targets = torch.cat([w[1] for w in windows], dim=1)
    for row in range(2):  # the three windows read one chunk from its start, without a gap
        start = int(torch.nonzero((stream.unfold(0, 12, 1) == inputs[row]).all(1))[0])
        assert start in chunks.starts.tolist()
        assert torch.equal(targets[row], stream[start + 1: start + 13])
    assert piece_chunks(stream[:12], seq_len=4, windows=3, start_token=START) is None  # shorter than a chunk


def test_chunks_of_short_pieces_tile_the_stream_from_piece_starts():
    stream = torch.tensor(([START] + [1, 2, 3]) * 10)  # ten pieces of 4 tokens
    chunks = piece_chunks(stream, seq_len=4, windows=3, start_token=START)
    # each chunk begins at the last piece start the one before reached; the last ends with the stream
    assert chunks.starts.tolist() == [0, 12, 24, 27]


def test_rnn_state_carried_across_windows_gives_the_loss_of_the_whole_sequence():
    torch.manual_seed(0)
    model = RNNLanguageModel(20, 8, 16, 2).eval()
    tokens = torch.randint(20, (3, 31))
    whole = model.loss((tokens[:, :-1], tokens[:, 1:]))
    first, state = model.loss_with_state((tokens[:, :15], tokens[:, 1:16]), None)
    second, _ = model.loss_with_state((tokens[:, 15:30], tokens[:, 16:31]), state)
    assert torch.allclose((first + second) / 2, whole, atol=1e-6)
    assert not state[0].requires_grad  # detached: backpropagation stops at the window's start


def tunes(folder, count=6):
    folder.mkdir()
    for k in range(count):
        rows = [(i / 2, i / 2 + 0.5, 60 + (i * (k + 2)) % 12) for i in range(64)]
        write_midi(Piece(make_notes(rows)), folder / f"tune{k}.mid")
    return folder


MELODY = ["hidden_size=16", "embedding_size=8", "layers=1", "batch_size=2", "seq_len=16", "carry_windows=4",
          "eval_every=3", "sample_length=16", "warmup_steps=1", "transpose=0"]


def test_trainer_carries_the_state_within_a_chunk_and_resumes_exactly(tmp_path, monkeypatch):
    seen = []
    original = RNNLanguageModel.loss_with_state

    def spy(self, batch, state):
        if self.training:
            seen.append(state is None)
        return original(self, batch, state)

    monkeypatch.setattr(RNNLanguageModel, "loss_with_state", spy)
    data = tunes(tmp_path / "tunes")
    whole = tmp_path / "whole"
    train_recipe("melody-rnn", str(data), whole, settings=MELODY, budget=Budget(steps=6))
    assert seen == [True, False, False, False, True, False]  # chunks of 4 windows
    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-00000006")  # as if stopped after step 3, mid-chunk
    train_recipe("melody-rnn", resume=True, run=resumed)
    final = [runs.load_weights(runs.find_checkpoint(r, "last")) for r in (whole, resumed)]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])
