"""The comparison of the raw-audio recipes (benchmarks/audio_models.py) runs end to end on a tiny
budget: one line per model with the same measures, likelihoods only where a model defines one."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import soundfile

from conftest import run_command

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "audio_models.py"
MODELS = ["wavenet", "samplernn-2tier", "samplernn-3tier", "rgan", "sample-lstm", "fft-lstm"]


def test_the_comparison_runs_every_raw_audio_recipe(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(3 * 16000) / 16000
    for k in range(8):
        tone = 0.4 * np.sin(2 * np.pi * 220 * 2 ** (k / 12) * t) * np.exp(-3 * (t % 0.5))
        soundfile.write(album / f"take{k}.wav", (tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32), 16000)
    result = run_command(sys.executable, str(BENCHMARK), "--data", str(album), "--steps", "2", "--tiny", "--clips", "2",
                         "--seconds", "1", "--keep", str(tmp_path / "runs"), timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["model"] for line in lines] == [*MODELS, "training audio (floor)"]
    for line in lines[:-1]:
        assert line["steps"] == 2 and line["sample_rate"] == 16000 and "sample_rate=16000" in line["settings"]
        assert line["frechet_log_mel"] >= 0 and 0 <= line["mean_overlap"] <= 1
        assert 0 <= line["whine"]["generated"] <= 1 and line["whine"]["training"] < 0.05  # tones under 4 kHz
        assert line["statistics"]["high_frequency_share"]["held_out"] < 0.05
        assert line["generation_realtime"] > 0
        likelihood = line["model"] not in ("rgan", "fft-lstm")
        assert (line["test_bits_per_sample"] is not None) == likelihood, line["model"]
        if likelihood:
            assert 0 < line["test_bits_per_sample"] <= math.log2(256) + 1
    assert lines[-1]["frechet_log_mel"] >= 0
    assert {p.name for p in (tmp_path / "runs").iterdir()} == set(MODELS)
    # --reuse measures the kept runs again (here with more clips) without training them
    metrics = (tmp_path / "runs" / "rgan" / "metrics.jsonl").read_text()
    again = run_command(sys.executable, str(BENCHMARK), "--data", str(album), "--tiny", "--clips", "3", "--seconds", "1",
                        "--models", "rgan", "--reuse", "--keep", str(tmp_path / "runs"), timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    line = json.loads(again.stdout.splitlines()[0])
    assert line["model"] == "rgan" and line["steps"] == 2 and line["statistics"]["rms_db"]["overlap"] is not None
    assert (tmp_path / "runs" / "rgan" / "metrics.jsonl").read_text() == metrics
