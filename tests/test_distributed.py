"""Training under torchrun with 2 CPU processes (gloo): one run directory, written by rank 0."""

import sys

from conftest import run_command, tiny_args
from tunesmith import runs


def test_torchrun_two_processes(tmp_path, lyrics_file):
    run = tmp_path / "ddp"
    done = run_command(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                       "--master_port", "29517", "-m", "tunesmith", "--", "train", "char-rnn", "--data", str(lyrics_file),
                       "--run", str(run), "--steps", "10", *tiny_args(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x2" in done.stderr  # the start line names two processes
    assert done.stdout.count("finished at step 10") == 1  # only rank 0 reports
    assert [c["step"] for c in runs.list_checkpoints(run)] == [5, 10]
    assert [m["step"] for m in runs.read_metrics(run)] == [5, 10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "songs.txt"]  # no stray run folders


def test_torchrun_carries_samplernn_state(tmp_path):
    """Two processes, each reading its own chunks in consecutive windows with a carried state (the
    learned initial state is then unused in most steps, which DDP must be told)."""
    import numpy as np
    import soundfile

    album = tmp_path / "album"
    album.mkdir()
    t = np.arange(8000) / 8000
    for k in range(5):
        soundfile.write(album / f"take{k}.wav", 0.5 * np.sin(2 * np.pi * 220 * (1 + 0.1 * k) * t), 8000)
    run = tmp_path / "ddp"
    settings = ["sample_rate=8000", "q_levels=32", "dim=16", "emb_size=8", "frame_size=4", "big_frame_size=16",
                "seq_len=79", "batch_size=1", "chunk_seconds=0.5", "chunk_overlap=0", "eval_every=3",
                "sample_length=32", "test_clips=1", "warmup_steps=1"]
    done = run_command(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                       "--master_port", "29518", "-m", "tunesmith", "--", "train", "samplernn", "--data", str(album),
                       "--run", str(run), "--steps", "6", *[a for s in settings for a in ("--set", s)], cwd=tmp_path,
                       timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x2" in done.stderr and done.stdout.count("finished at step 6") == 1
    assert [c["step"] for c in runs.list_checkpoints(run)] == [3, 6]
