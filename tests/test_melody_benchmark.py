"""The melody quality benchmark runs end to end on a tiny budget and reports the issue's statistics."""

import json
import sys
from pathlib import Path

from conftest import run_command

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "melody_quality.py"


def test_melody_benchmark_on_a_tiny_budget(tmp_path):
    result = run_command(sys.executable, str(BENCHMARK), "--steps", "3", "--corpus", "both", "--pieces", "8",
                         "--heldout", "6", "--set-size", "2", "--set", "hidden_size=16", "--set", "layers=1",
                         "--set", "embedding_size=8", "--set", "eval_every=3", "--set", "carry_windows=2",
                         "--keep", str(tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["corpus"] for line in lines] == ["tunes", "long"]
    for line in lines:
        assert line["steps"] == 3 and line["heldout_pieces"] == 6 and line["length_steps"] > 0
        assert set(line["model"]["overlap"]) == {"mean_pitch", "pitch_range", "pitch_count", "pitch_class_entropy",
                                                 "note_density", "mean_ioi", "in_scale_rate"}
        assert 0 <= line["model"]["mean_overlap"] <= 1 and 0 <= line["halves"] <= 1
    # the long pieces are sets of tunes: longer than the tunes
    assert lines[1]["length_steps"] > lines[0]["length_steps"]
    assert len(list((tmp_path / "long").glob("*.mid"))) == 8 and len(list((tmp_path / "long-heldout").glob("*.mid"))) == 6
