"""Benchmark: live MIDI on JACK. `tunesmith play` looped back to an input (messages sent and
received, timing error of each arrival against the file's time, relative to the first: median and
p95 in ms), and `tunesmith jam` with the bundled melody-folk (ms from the end of a call to the
first note of its answer, and the ms each answer took to make). One JSON line.

    .venv/bin/python benchmarks/live_midi.py            # a JACK server of its own, unless $JACK_DEFAULT_SERVER runs
    .venv/bin/python benchmarks/live_midi.py --calls 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mido

from tunesmith import live

TUNESMITH = [sys.executable, "-m", "tunesmith"]


def jack_runs(server: str) -> bool:
    env = {**os.environ, "JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1"}
    return subprocess.run(["jack_lsp"], env=env, capture_output=True).returncode == 0


def start_jack() -> subprocess.Popen | None:
    """A dummy JACK server for this benchmark and the commands it starts, unless one runs."""
    os.environ[live.API_VARIABLE] = "jack"
    named = os.environ.get("JACK_DEFAULT_SERVER")
    if named and jack_runs(named):
        return None
    named = os.environ["JACK_DEFAULT_SERVER"] = f"tunesmith-bench-{os.getpid()}"
    server = subprocess.Popen(["jackd", "--no-realtime", "--sync", "--name", named, "-d", "dummy", "-r", "48000", "-p", "256"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not jack_runs(named):
        time.sleep(0.1)
    return server


def test_file(path: Path, notes: int) -> list[float]:
    """Notes of uneven lengths, the tempo changing every 16 notes; each message's time in seconds."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    times, now, per_tick = [], 0.0, 0.0
    for k in range(notes):
        if k % 16 == 0:
            tempo = (500000, 400000, 600000)[k // 16 % 3]
            track.append(mido.MetaMessage("set_tempo", tempo=tempo))
            per_tick = tempo / 1e6 / 480
        length, rest = (120, 240, 60, 360)[k % 4], (0, 60, 120)[k % 3]
        track.append(mido.Message("note_on", note=48 + k % 36, velocity=80, time=rest))
        track.append(mido.Message("note_off", note=48 + k % 36, time=length))
        times += [now + rest * per_tick, now + (rest + length) * per_tick]
        now += (rest + length) * per_tick
    midi.save(path)
    return times


def measure_play(notes: int) -> dict:
    heard = []
    port = live.open_port("input", virtual="bench-play", callback=lambda m: heard.append((time.perf_counter(), m)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.mid"
        expected = test_file(path, notes)
        subprocess.run([*TUNESMITH, "play", str(path), "--port", "bench-play"], check=True, capture_output=True)
    port.close()
    arrived = [when for when, m in heard if m.type in ("note_on", "note_off")]
    errors = sorted(abs((when - arrived[0]) - seconds) * 1000 for when, seconds in zip(arrived, expected))
    return {"messages_sent": len(expected), "messages_received": len(arrived),
            "play_median_error_ms": round(statistics.median(errors), 2),
            "play_p95_error_ms": round(errors[int(0.95 * (len(errors) - 1))], 2)}


def measure_jam(calls: int) -> dict:
    heard = []
    answers = live.open_port("input", virtual="bench-answer", callback=lambda m: heard.append((time.perf_counter(), m)))
    call = live.open_port("output", virtual="bench-call")
    jam = subprocess.Popen([*TUNESMITH, "jam", "melody-folk", "--in", "bench-call", "--out", "bench-answer",
                            "--bars", "1", "--answers", str(calls), "--seed", "1"], stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})
    jam.stderr.readline()  # listening ...
    latencies = []
    for k in range(calls):
        heard.clear()
        for pitch in (60, 62, 64, 65, 67, 65)[: 4 + k % 3]:  # eighth notes at 120 qpm
            call.send(mido.Message("note_on", note=pitch + 2 * k, velocity=90))
            time.sleep(0.2)
            call.send(mido.Message("note_off", note=pitch + 2 * k))
            time.sleep(0.05)
        ended = time.perf_counter()
        while not any(m.type == "note_on" for _, m in heard):
            if time.perf_counter() - ended > 10:
                raise SystemExit(f"no answer to call {k + 1} within 10 s: {jam.stderr.readline()}")
            time.sleep(0.001)
        latencies.append((next(when for when, m in heard if m.type == "note_on") - ended) * 1000)
        time.sleep(2.2)  # the answer's bar
    lines = jam.communicate(timeout=60)[1]
    call.close()
    answers.close()
    made = [int(ms) for ms in re.findall(r"in (\d+) ms", lines)]
    return {"jam_calls": calls, "jam_answer_latency_ms": [round(ms) for ms in latencies],
            "jam_answer_made_ms": made}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=64)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    server = start_jack()
    try:
        result = {"benchmark": "live_midi", "backend": live.backend(), **measure_play(args.notes),
                  **measure_jam(args.calls)}
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
