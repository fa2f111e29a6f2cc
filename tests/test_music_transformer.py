"""Music Transformer: relative attention by skewing equals the naive sum, the cached stepper equals
full recomputation (with local attention too, and past the window), reorder, and it learns."""

from __future__ import annotations

import torch

from tunesmith.models.music_transformer import (DEFAULTS, MusicTransformer, RelativeSelfAttention,
                                                allowed_keys, skew)

VOCAB = 24


def tiny(**settings) -> MusicTransformer:
    torch.manual_seed(0)
    config = dict(d_model=32, layers=2, heads=4, d_ff=64, max_relative=16, dropout=0.0) | settings
    return MusicTransformer(VOCAB, **config).eval()


def tokens(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def naive_relative_attention(attention: RelativeSelfAttention, x: torch.Tensor, window: int) -> torch.Tensor:
    """The definition, one (i, j) at a time: S_rel[i, j] = q_i . E_r[min(i - j, max_relative - 1)]."""
    batch, length, d_model = x.shape
    heads, head_dim, table = attention.heads, attention.head_dim, attention.relative
    q, k, v = (part.view(batch, length, heads, head_dim).transpose(1, 2)
               for part in attention.qkv(x).split(d_model, dim=-1))
    relative = torch.zeros(batch, heads, length, length)
    for i in range(length):
        for j in range(i + 1):
            distance = min(i - j, attention.max_relative - 1)
            row = attention.max_relative - 1 - distance  # the table is ordered longest distance first
            relative[:, :, i, j] = (q[:, :, i] * table[:, :, row]).sum(-1)
    logits = (q @ k.transpose(-2, -1) + relative) / head_dim ** 0.5
    mask = torch.ones(length, length, dtype=torch.bool).tril()
    if window:
        mask &= ~torch.ones(length, length, dtype=torch.bool).tril(-window)
    weights = logits.masked_fill(~mask, float("-inf")).softmax(-1)
    return attention.out((weights @ v).transpose(1, 2).reshape(batch, length, d_model))


def test_skew_moves_each_row_to_its_distances():
    t, keys = 3, 5
    by_distance = torch.arange(t * keys, dtype=torch.float).view(t, keys)  # column m: distance keys-1-m
    skewed = skew(by_distance)
    for i in range(t):
        for j in range(keys - t + i + 1):
            distance = (keys - t + i) - j
            assert skewed[i, j] == by_distance[i, keys - 1 - distance]


def test_relative_attention_by_skewing_equals_the_naive_sum():
    torch.manual_seed(0)
    for max_relative, window in [(8, 0), (4, 0), (8, 3)]:  # (4, 0): distances past the table are clipped
        attention = RelativeSelfAttention(d_model=16, heads=2, max_relative=max_relative, dropout=0.0)
        with torch.no_grad():
            attention.relative.normal_()  # large enough that a misplaced embedding would show
        x = torch.randn(3, 8, 16)
        fast = attention(x, window)
        naive = naive_relative_attention(attention, x, window)
        assert torch.allclose(fast, naive, atol=1e-5), (max_relative, window)


def test_allowed_keys_is_causal_and_local():
    assert allowed_keys(3, 3, 0, torch.device("cpu")).tolist() == [[True, False, False],
                                                                  [True, True, False],
                                                                  [True, True, True]]
    assert allowed_keys(2, 4, 2, torch.device("cpu")).tolist() == [[False, True, True, False],
                                                                  [False, False, True, True]]


def stepped_logits(model: MusicTransformer, sequence: torch.Tensor, primer: int) -> torch.Tensor:
    """Logits [batch, time - primer + 1, vocab] from a stepper fed the primer at once, then one
    token at a time: entry n predicts the token after sequence[:, :primer + n]."""
    stepper = model.stepper(sequence.size(0))
    out = [stepper.feed(sequence[:, :primer])]
    for position in range(primer, sequence.size(1)):
        out.append(stepper.feed(sequence[:, position:position + 1]))
    return torch.stack(out, dim=1)


def test_cached_steps_equal_recomputing_the_whole_prefix():
    model = tiny()
    sequence = tokens(3, 16)
    with torch.no_grad():
        full = model(sequence)
    stepped = stepped_logits(model, sequence, primer=5)
    assert torch.allclose(stepped, full[:, 4:], atol=1e-5)
    # Each prefix run on its own gives the same as well (no leak from later tokens in the full run).
    with torch.no_grad():
        assert torch.allclose(stepped[:, 3], model(sequence[:, :8])[:, -1], atol=1e-5)


def test_cached_steps_with_local_attention_equal_the_full_run_at_any_length():
    model = tiny(local_window=5)
    sequence = tokens(2, 40)  # longer than the window and than max_relative
    with torch.no_grad():
        full = model(sequence)
    assert torch.allclose(stepped_logits(model, sequence, primer=7), full[:, 6:], atol=1e-5)
    assert torch.allclose(stepped_logits(model, sequence, primer=1), full, atol=1e-5)


def test_sliding_past_the_window_equals_attention_limited_to_the_window():
    model = tiny()  # max_relative 16
    sequence = tokens(2, 50)
    with torch.no_grad():
        limited = model(sequence, window=16)
    assert torch.allclose(stepped_logits(model, sequence, primer=3), limited[:, 2:], atol=1e-5)
    # A primer longer than the window, fed at once, lands on the same state.
    assert torch.allclose(stepped_logits(model, sequence, primer=37), limited[:, 36:], atol=1e-5)
    # Within the window, that is the plain model; past it, it differs from the plain full-attention run.
    with torch.no_grad():
        full = model(sequence)
    assert torch.allclose(limited[:, :16], full[:, :16], atol=1e-5)
    assert not torch.allclose(limited[:, 20:], full[:, 20:], atol=1e-3)


def test_one_layer_stepper_past_the_window_equals_the_model_on_the_last_window_tokens():
    model = tiny(layers=1)
    sequence = tokens(2, 45)
    stepped = stepped_logits(model, sequence, primer=1)  # entry n predicts after n+1 tokens
    with torch.no_grad():
        for end in (17, 30, 45):
            last_window = model(sequence[:, end - 16:end])[:, -1]
            assert torch.allclose(stepped[:, end - 1], last_window, atol=1e-5)


def test_reorder_duplicates_a_row_for_beam_search():
    model = tiny()
    stepper = model.stepper(2)
    stepper.feed(tokens(2, 20))  # past the window, so the buffer has slid
    stepper.reorder(torch.tensor([0, 0, 1]))
    assert stepper.batch_size == 3
    following = torch.tensor([[3], [3], [4]])
    logits = stepper.feed(following)
    assert torch.allclose(logits[0], logits[1])
    reference = model.stepper(1)
    reference.feed(tokens(2, 20)[1:])
    assert torch.allclose(logits[2], reference.feed(following[2:]), atol=1e-5)


def test_a_tiny_model_learns_a_repeating_pattern():
    torch.manual_seed(0)
    model = MusicTransformer(VOCAB, d_model=32, layers=2, heads=4, d_ff=64, max_relative=32, dropout=0.1)
    pattern = torch.tensor([1, 5, 9, 5, 1, 7, 3, 7])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for step in range(60):
        offsets = torch.randint(0, len(pattern), (8,))
        index = (offsets[:, None] + torch.arange(33)) % len(pattern)
        window = pattern[index]
        loss = model.loss((window[:, :-1], window[:, 1:]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.5 and sum(losses[-5:]) / 5 < losses[0] / 4, losses
    model.eval()
    stepper = model.stepper(1)
    logits = stepper.feed(pattern[None, :8])
    predicted = []
    for _ in range(8):
        token = logits.argmax(-1)
        predicted.append(int(token))
        logits = stepper.feed(token[:, None])
    assert predicted == pattern.tolist()


def test_defaults_build_and_train_a_step_with_gradients_everywhere():
    model = MusicTransformer(VOCAB, **(DEFAULTS | dict(layers=1, max_relative=64)))
    inputs = tokens(2, 33)
    model.loss((inputs[:, :-1], inputs[:, 1:])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.blocks[0].attention.relative.grad.abs().sum() > 0


def test_untied_head_and_relu():
    model = tiny(tie_embeddings=False, activation="relu")
    assert model.head.weight is not model.embedding.weight
    assert torch.allclose(stepped_logits(model, tokens(1, 10), 4), model(tokens(1, 10))[:, 3:], atol=1e-5)


def test_tensors_are_made_on_the_inputs_device():
    """Under `with torch.device("meta")` any tensor made without naming a device lands on 'meta':
    an operation mixing it with the CPU model would fail or lose its values. The results must not
    change, so the model only makes tensors on the device of its inputs."""
    model = tiny(local_window=6)
    sequence = tokens(2, 20)
    with torch.no_grad():
        expected_logits = model(sequence)
    expected_loss = model.loss((sequence[:, :-1], sequence[:, 1:]))
    expected_steps = stepped_logits(model, sequence, primer=3)
    with torch.device("meta"):
        with torch.no_grad():
            logits = model(sequence)
        loss = model.loss((sequence[:, :-1], sequence[:, 1:]))
        steps = stepped_logits(model, sequence, primer=3)
    assert logits.device == loss.device == steps.device == sequence.device
    assert torch.allclose(logits, expected_logits) and torch.allclose(loss, expected_loss)
    assert torch.allclose(steps, expected_steps)
