"""Audio training data: chunking of the quantized corpus, random and carried windows, the trainer
carrying SampleRNN's state across consecutive windows (and through a resume), style conditioning."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from tunesmith import runs
from tunesmith.codecs.quantize import QuantizeCodec
from tunesmith.errors import UserError
from tunesmith.models.samplernn import SampleRNN
from tunesmith.corpus.audio import Recording
from tunesmith.recipes import get_recipe, read_audio
from tunesmith.training.data import ChunkWindows, audio_windows
from tunesmith.training.trainer import Budget, train_recipe

RATE = 8000


def ramp_windows(lookback=None, chunk_len=100, seq_len=19, styles=None):
    """Chunks of a stream whose value is its position (so windows show where they come from)."""
    stream = torch.arange(1000, dtype=torch.int32)
    starts = torch.tensor([0, 90, 500, 700])
    return ChunkWindows(stream, starts, chunk_len, seq_len, styles, lookback)


def test_carried_windows_walk_each_chunk_from_start_to_end():
    data = ramp_windows(lookback=4)  # windows of 20 samples, hop 16: offsets 0, 16, ..., 80
    assert data.hop == 16 and data.windows_per_chunk == 6
    first, *_ = data.batch(0, 2, seed=3)
    rows = first[:, 0].tolist()
    previous = None
    for step in range(6):
        inputs, targets = data.batch(step, 2, seed=3)
        assert inputs[:, 0].tolist() == [r + 16 * step for r in rows]  # same chunks, 16 samples on
        assert torch.equal(targets[:, :-1], inputs[:, 1:])
        assert data.fresh(step) == (step == 0)
        if previous is not None:  # a window repeats the last `lookback` samples of the one before as its history
            assert torch.equal(inputs[:, :4], previous[:, -4:])
        previous = torch.cat([inputs, targets[:, -1:]], 1)
    assert data.fresh(6) and data.batch(6, 2, seed=3)[0][:, 0].tolist() != rows
    assert set(rows) <= {0, 90, 500, 700}
    assert torch.equal(data.batch(4, 2, seed=3)[0], data.batch(4, 2, seed=3)[0])  # a pure function of the step


def test_random_windows_stay_inside_chunks_and_carry_style_ids():
    data = ramp_windows(styles=torch.tensor([0, 0, 1, 1]))
    for step in range(20):
        inputs, targets, ids = data.batch(step, 4, seed=1)
        start = inputs[:, 0]
        chunk = torch.tensor([max(s for s in (0, 90, 500, 700) if s <= int(x)) for x in start])
        assert bool(((start - chunk + 20) <= 100).all())  # the whole window lies in its chunk
        assert ids.tolist() == [0 if c < 500 else 1 for c in chunk.tolist()]
    ranks = [data.batch(5, 2, seed=1, rank=r, world_size=2)[0] for r in (0, 1)]
    assert torch.equal(torch.cat(ranks), data.batch(5, 4, seed=1)[0])  # ranks split one global batch


def test_sequential_validation_covers_chunks_in_order():
    data = ramp_windows(lookback=4)
    batches = list(data.sequential(10**9, batch_size=3))
    assert len(batches) == 2 * 6 and [fresh for _, fresh in batches[:7]] == [True] + [False] * 5 + [True]
    plain = ramp_windows()
    starts = [int(s) for (inputs, _), _ in plain.sequential(10**9, batch_size=100) for s in inputs[:, 0]]
    assert starts[:5] == [0, 19, 38, 57, 76] and len(starts) == 4 * plain.windows_per_chunk


def test_audio_windows_chunk_each_style_and_overlap():
    codec = QuantizeCodec(q_levels=64, sample_rate=RATE, styles=["a", "b"])
    rng = np.random.default_rng(0)
    recordings = [Recording(rng.uniform(-0.5, 0.5, n).astype(np.float32), style)
                  for n, style in [(1000, "a"), (700, "b"), (450, "a")]]
    data = audio_windows(codec, recordings, chunk_len=400, overlap=100, seq_len=99)
    # style a: 1450 samples -> 1 + (1450 - 400) // 300 = 4 chunks; style b: 700 -> 2 chunks
    assert data.count == 6 and data.styles.tolist() == [0, 0, 0, 0, 1, 1]
    assert data.starts.tolist() == [0, 300, 600, 900, 1450, 1750]
    assert int(data.starts[-1]) + 400 <= len(data.stream)  # no chunk runs past its style's audio
    expected = codec.encode_array(np.concatenate([recordings[1].samples]))
    assert np.array_equal(data.stream[1450:].numpy(), expected)
    assert audio_windows(codec, recordings[:1], chunk_len=2000, overlap=0, seq_len=99) is None


def test_few_recordings_are_cut_into_sections(tmp_path, monkeypatch):
    import tunesmith.corpus.audio as recipes

    monkeypatch.setattr(recipes, "SECTION_SECONDS", 1)
    (tmp_path / "live").mkdir()
    t = np.arange(int(3.4 * RATE)) / RATE
    soundfile.write(tmp_path / "live" / "set.wav", 0.5 * np.sin(2 * np.pi * 220 * t), RATE)
    hp = get_recipe("samplernn").hparams([f"sample_rate={RATE}"])
    docs = read_audio(str(tmp_path), hp)
    assert [d.name for d in docs] == ["live/set.wav#1", "live/set.wav#2", "live/set.wav#3"]
    assert [len(d.content.samples) for d in docs][:2] == [RATE, RATE] and len(docs[2].content.samples) > RATE
    assert {d.content.style for d in docs} == {"live"}


def tone_folder(folder: Path, styles: dict[str, float]) -> Path:
    """Five 1-second recordings per style, each a sine at the style's pitch."""
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    for style, pitch in styles.items():
        (folder / style).mkdir(parents=True)
        for k in range(5):
            wave = 0.5 * np.sin(2 * np.pi * pitch * (1 + 0.05 * k) * t) + 0.02 * rng.standard_normal(RATE)
            soundfile.write(folder / style / f"take{k}.wav", wave, RATE)
    return folder


SAMPLERNN = ["sample_rate=8000", "q_levels=32", "dim=16", "emb_size=8", "frame_size=4", "big_frame_size=16",
             "seq_len=79", "batch_size=2", "chunk_seconds=0.5", "chunk_overlap=0.1", "eval_every=3",
             "sample_length=64", "test_clips=2", "warmup_steps=1"]


def test_trainer_carries_samplernn_state_within_chunks(tmp_path, monkeypatch):
    seen = []
    original = SampleRNN.loss_with_state

    def spy(self, batch, state):
        if self.training:
            seen.append(state is None)
        return original(self, batch, state)

    monkeypatch.setattr(SampleRNN, "loss_with_state", spy)
    data = tone_folder(tmp_path / "tones", {"low": 220.0})
    result = train_recipe("samplernn", str(data), tmp_path / "run", settings=SAMPLERNN, budget=Budget(steps=12))
    # 0.5 s chunks of 4000 samples, windows of 80 with hop 64: 62 windows per chunk; one chunk
    # group spans all 12 steps, so only the first starts from the initial state
    assert result["step"] == 12 and seen == [True] + [False] * 11
    clips = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert clips[:2] == ["step-00000003-1.wav", "step-00000003-2.wav"]


def test_resume_mid_chunk_restores_the_carried_state(tmp_path):

    data = tone_folder(tmp_path / "tones", {"low": 220.0})
    whole = tmp_path / "whole"
    train_recipe("samplernn", str(data), whole, settings=SAMPLERNN, budget=Budget(steps=6))
    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-00000006")  # as if stopped after step 3
    train_recipe("samplernn", resume=True, run=resumed)
    final = [runs.load_weights(runs.find_checkpoint(r, "last")) for r in (whole, resumed)]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])


def test_wavenet_conditions_on_sub_folders(tmp_path):
    from tunesmith.api import open_model as load_run

    data = tone_folder(tmp_path / "tones", {"low": 220.0, "high": 880.0})
    settings = ["sample_rate=8000", "q_levels=32", "residual_channels=8", "dilation_channels=8", "skip_channels=8",
                "layers_per_block=3", "blocks=1", "seq_len=64", "batch_size=2", "chunk_seconds=0.5", "chunk_overlap=0",
                "eval_every=2", "sample_length=32", "test_clips=2"]
    train_recipe("wavenet", str(data), tmp_path / "run", settings=settings, budget=Budget(steps=2))
    loaded = load_run(tmp_path / "run")
    assert loaded.codec.styles == ["high", "low"] and loaded.model.global_conditions == 2
    unconditioned = tmp_path / "plain"
    train_recipe("wavenet", str(data), unconditioned, settings=settings + ["condition_on_style=false"],
                 budget=Budget(steps=2))
    assert load_run(unconditioned).codec.styles == [] and load_run(unconditioned).model.global_conditions == 0


def test_samplernn_window_must_hold_whole_top_frames(tmp_path):

    data = tone_folder(tmp_path / "tones", {"low": 220.0})
    with pytest.raises(UserError, match="seq_len = 16 x k - 1"):
        train_recipe("samplernn", str(data), tmp_path / "run", settings=SAMPLERNN + ["seq_len=70"],
                     budget=Budget(steps=1))
    with pytest.raises(UserError, match="less than one chunk"):
        train_recipe("samplernn", str(data), tmp_path / "run2", settings=SAMPLERNN + ["chunk_seconds=5"],
                     budget=Budget(steps=1))
