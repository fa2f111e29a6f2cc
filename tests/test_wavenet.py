"""WaveNet: the fast stepper (conv queues) equals the model's forward over the whole sequence, for
filter widths 2 and 3 and with global conditioning; primer at once then sample by sample; reorder;
causality; the receptive field; and it learns a repeating waveform."""

from __future__ import annotations

import pytest
import torch

from tunesmith.models.wavenet import WaveNet, WaveNetStepper

LEVELS = 16
BACKENDS = ["numpy", "torch"]  # the stepper's two ways of stepping on the CPU


def tiny(**settings) -> WaveNet:
    torch.manual_seed(0)
    config = dict(residual_channels=8, dilation_channels=8, skip_channels=16, filter_width=2,
                  layers_per_block=3, blocks=2) | settings
    return WaveNet(LEVELS, **config).eval()


def samples(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, LEVELS, (batch, length), generator=torch.Generator().manual_seed(seed))


def stepped_logits(model: WaveNet, sequence: torch.Tensor, primer: int, condition=None,
                   backend: str | None = None) -> torch.Tensor:
    """Logits [batch, time - primer + 1, vocab] from the stepper: the primer at once, then one by one."""
    stepper = WaveNetStepper(model, sequence.size(0), condition, backend=backend)
    logits = [stepper.feed(sequence[:, :primer])]
    for t in range(primer, sequence.size(1)):
        logits.append(stepper.feed(sequence[:, t:t + 1]))
    return torch.stack(logits, dim=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("filter_width", [2, 3])
@pytest.mark.parametrize("primer", [1, 5, 40])
def test_stepper_equals_forward(filter_width, primer, backend):
    model = tiny(filter_width=filter_width)
    sequence = samples(3, 60)  # longer than the receptive field (15 or 29), so the queues wrap
    expected = model(sequence)[:, primer - 1:]
    assert torch.allclose(stepped_logits(model, sequence, primer, backend=backend), expected, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stepper_equals_forward_with_global_conditioning(backend):
    model = tiny(filter_width=3, global_conditions=4)
    sequence, condition = samples(2, 50), torch.tensor([3, 1])
    expected = model(sequence, condition)
    assert torch.allclose(stepped_logits(model, sequence, 7, condition, backend)[:, 1:], expected[:, 7:], atol=1e-5)
    assert torch.allclose(stepped_logits(model, sequence[:1], 1, 3, backend), model(sequence[:1], condition[:1]),
                          atol=1e-5)
    assert not torch.allclose(model(sequence, torch.tensor([0, 0])), expected, atol=1e-3)
    with pytest.raises(ValueError):
        model(sequence)


@pytest.mark.parametrize("backend", BACKENDS)
def test_primers_in_pieces_equal_forward(backend):
    model = tiny(filter_width=3)
    sequence = samples(2, 45)
    stepper = WaveNetStepper(model, 2, backend=backend)
    stepper.feed(sequence[:, :10])
    stepper.feed(sequence[:, 10:11])
    last = stepper.feed(sequence[:, 11:45])  # a second primer after steps
    assert torch.allclose(last, model(sequence)[:, -1], atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rows", [[2, 2, 0], [1, 0]])  # the same batch size (kept in place), and a smaller one
def test_reorder_keeps_and_duplicates_rows(backend, rows):
    model = tiny(global_conditions=3)
    sequence, condition = samples(3, 40), torch.tensor([0, 1, 2])
    stepper = WaveNetStepper(model, 3, condition, backend=backend)
    stepper.feed(sequence[:, :12])
    for t in range(12, 20):  # steps before the reorder, so the queues hold stepped inputs
        stepper.feed(sequence[:, t:t + 1])
    rows = torch.tensor(rows)
    stepper.reorder(rows)
    for t in range(20, 39):
        stepper.feed(sequence[rows, t:t + 1])
    last = stepper.feed(sequence[rows, 39:40])
    assert stepper.batch_size == len(rows)
    assert torch.allclose(last, model(sequence[rows], condition[rows])[:, -1], atol=1e-5)


def test_numpy_and_torch_steps_agree_on_a_benchmark_sized_model():
    """The two step paths on the benchmark's layout (40 layers, 32/32/128 channels, 256 levels):
    the same logits as each other and as the forward, well past the receptive field."""
    torch.manual_seed(0)
    model = WaveNet(256, layers_per_block=6, blocks=2).eval()
    sequence = torch.randint(0, 256, (2, 200), generator=torch.Generator().manual_seed(4))
    expected = model(sequence)
    numpy_steps, torch_steps = (stepped_logits(model, sequence, 1, backend=b) for b in BACKENDS)
    assert torch.allclose(numpy_steps, torch_steps, atol=1e-5)
    assert torch.allclose(numpy_steps, expected, atol=1e-5)


def test_stepper_backend_and_returned_logits():
    model = tiny()
    assert model.stepper(2).backend == "numpy"  # the default on the CPU
    with pytest.raises(ValueError):
        WaveNetStepper(model, 2, backend="jax")
    for backend in BACKENDS:
        stepper = WaveNetStepper(model, 2, backend=backend)
        first = stepper.feed(samples(2, 1))
        kept = first.clone()
        first.fill_(0.0)  # the caller's to change: the stepper's state and next logits are not affected
        second = stepper.feed(samples(2, 1, seed=2))
        assert not second.is_inference() and second.shape == (2, LEVELS)
        assert torch.allclose(kept, stepped_logits(model, samples(2, 1), 1, backend=backend)[:, 0])
        assert torch.allclose(second, model(torch.cat([samples(2, 1), samples(2, 1, seed=2)], 1))[:, -1], atol=1e-5)


def test_stepper_made_in_inference_mode_steps_outside_it():
    model = tiny()
    with torch.inference_mode():
        stepper = WaveNetStepper(model, 1, backend="torch")
    sequence = samples(1, 5)
    logits = [stepper.feed(sequence[:, t:t + 1]) for t in range(5)]
    stepper.reorder(torch.tensor([0, 0]))
    assert torch.allclose(torch.stack(logits, 1), model(sequence), atol=1e-5)


def test_causal():
    model = tiny(filter_width=3)
    sequence = samples(1, 50)
    changed = sequence.clone()
    changed[0, 30] = (changed[0, 30] + 1) % LEVELS
    before, after = model(sequence), model(changed)
    assert torch.equal(before[:, :30], after[:, :30])
    assert not torch.allclose(before[:, 30], after[:, 30])
    # and the logits at t depend on no sample older than the receptive field allows
    far = sequence.clone()
    far[0, 0] = (far[0, 0] + 1) % LEVELS
    field = model.receptive_field
    assert not torch.equal(model(far)[:, field - 1], before[:, field - 1])  # a tiny but real effect
    assert torch.equal(model(far)[:, field:], before[:, field:])


def test_receptive_field():
    model = WaveNet(256, filter_width=2, layers_per_block=10, blocks=2)
    assert model.dilations == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] * 2
    assert model.receptive_field == 2047 + 1  # the dilated layers, plus the initial conv's one sample
    assert tiny(filter_width=3).receptive_field == 2 * (1 + 2 + 4) * 2 + 1 + 2


def test_loss_falls_on_a_repeating_waveform():
    torch.manual_seed(0)
    model = tiny(layers_per_block=4, blocks=1).train()
    period = torch.tensor([8, 11, 14, 15, 14, 11, 8, 5, 2, 1, 2, 5])  # a quantized sine, 12 samples a cycle
    wave = period.repeat(20)
    starts = torch.arange(0, 60, 6)
    inputs = torch.stack([wave[s:s + 100] for s in starts])
    targets = torch.stack([wave[s + 1:s + 101] for s in starts])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss((inputs, targets)).item()
    for _ in range(40):
        loss = model.loss((inputs, targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert first > 2.0 and loss.item() < 0.3 * first
    # every parameter is used (DistributedDataParallel requires it)
    assert all(parameter.grad is not None for parameter in model.parameters())


def test_conditioned_loss_takes_ids():
    model = tiny(global_conditions=2)
    inputs = samples(2, 30)
    loss = model.loss((inputs[:, :-1], inputs[:, 1:], torch.tensor([0, 1])))
    assert loss.ndim == 0 and torch.isfinite(loss)
