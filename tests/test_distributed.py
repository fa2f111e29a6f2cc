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
