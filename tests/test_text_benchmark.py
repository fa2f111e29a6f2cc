"""benchmarks/text_vs_nanogpt.py as a user runs it: a few seconds of training on a small text,
tunesmith only, and one JSON line with the held-out loss of the last 10% of the text."""

import json
import math
import sys
from pathlib import Path

from conftest import TINY, lyrics_text, run_command

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "text_vs_nanogpt.py"


def test_tiny_benchmark_prints_one_json_line(tmp_path):
    text = tmp_path / "play.txt"
    text.write_text(lyrics_text(800), encoding="utf-8")
    settings = [arg for setting in TINY for arg in ("--set", setting)]
    done = run_command(sys.executable, str(BENCHMARK), "--text", str(text), "--skip-nanogpt", "--minutes", "0.1",
                       *settings, "--set", "eval_every=100000", timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "text_vs_nanogpt" and result["minutes"] == 0.1
    assert result["tail_characters"] == len(text.read_text()) - int(len(text.read_text()) * 0.9)
    ours = result["tunesmith"]
    assert ours["steps"] > 0 and ours["chars_per_s"] > 0 and 2 <= ours["train_seconds"] < 30
    assert 0 < ours["held_out_nats"] < math.log(64)  # better than uniform over the characters
    # char-rnn reads the tail in chunks of carried windows: the last one may overlap the one before
    assert 0.85 * result["tail_characters"] < ours["held_out_chars"] < 1.1 * result["tail_characters"]
    assert result["nanogpt"] is None and result["ratio"] is None


def test_benchmark_asks_for_a_nanogpt_checkout(tmp_path):
    text = tmp_path / "play.txt"
    text.write_text(lyrics_text(), encoding="utf-8")
    done = run_command(sys.executable, str(BENCHMARK), "--text", str(text), "--minutes", "0.05", timeout=60)
    assert done.returncode == 2 and "--nanogpt" in done.stderr and "--skip-nanogpt" in done.stderr
