"""Live MIDI on a JACK server with a dummy sound card: listing ports, playing a file on time to a
port looped back to an input, a bad port or no backend in one line, `sample --play`, and `jam`
answering a call within a bar."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import mido
import pytest

from conftest import TUNESMITH, run_cli, run_command
from tunesmith import api, live
from tunesmith.notes import Piece, make_notes, read_midi


def jack_answers(server: str) -> bool:
    """Whether a JACK server of that name accepts clients."""
    if not shutil.which("jack_lsp"):
        return False
    env = {**os.environ, "JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1"}
    return subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=10).returncode == 0


@pytest.fixture(scope="session")
def jack_server():
    """A JACK server for the session: the one $JACK_DEFAULT_SERVER names if it runs (CI starts
    one), else our own, stopped at the end. Tests and the commands they start use it."""
    named = os.environ.get("JACK_DEFAULT_SERVER")
    saved = {key: os.environ.get(key) for key in ("JACK_DEFAULT_SERVER", live.API_VARIABLE)}
    os.environ[live.API_VARIABLE] = "jack"
    server = None
    if not (named and jack_answers(named)):
        if not shutil.which("jackd") or not shutil.which("jack_lsp"):
            pytest.skip("jackd is not installed (apt-get install jackd2): live MIDI is tested on a JACK server")
        named = f"tunesmith-test-{os.getpid()}"
        server = subprocess.Popen(["jackd", "--no-realtime", "--sync", "--name", named, "-d", "dummy", "-r", "48000",
                                   "-p", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.environ["JACK_DEFAULT_SERVER"] = named
        deadline = time.monotonic() + 10
        while not jack_answers(named):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"jackd could not start a dummy server {named}")
            time.sleep(0.1)
    yield named
    if server is not None:
        server.terminate()
        server.wait(timeout=10)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class Listener:
    """A virtual input port that keeps what arrives, with its arrival time."""

    def __init__(self, name: str):
        self.heard: list[tuple[float, mido.Message]] = []
        self.port = live.open_port("input", virtual=name,
                                   callback=lambda m: self.heard.append((time.perf_counter(), m)))

    def notes(self) -> list[tuple[float, mido.Message]]:
        return [(when, m) for when, m in self.heard if m.type in ("note_on", "note_off")]

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def listener(jack_server, request):
    heard = Listener(f"ts-{request.node.name[5:25]}")
    yield heard
    heard.close()


def tune_with_a_tempo_change(path: Path) -> list[float]:
    """A MIDI file of 12 notes whose tempo doubles halfway; returns each message's time in seconds."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000))  # 120 qpm: a quarter note is 0.5 s
    times, now = [], 0.0
    for k in range(12):
        if k == 6:
            track.append(mido.MetaMessage("set_tempo", tempo=250000))  # 240 qpm
        per_tick = (0.5 if k < 6 else 0.25) / 480
        track.append(mido.Message("note_on", note=60 + k, velocity=90, time=0))
        track.append(mido.Message("note_off", note=60 + k, time=180))
        track.append(mido.Message("control_change", control=1, value=k, time=60))  # a rest of an eighth's share
        times += [now, now + 180 * per_tick, now + 240 * per_tick]
        now += 240 * per_tick
    midi.save(path)
    return times


def test_ports_lists_a_virtual_port(listener, capsys):
    code, out, err = run_cli(capsys, "ports")
    assert code == 0, err
    assert "MIDI inputs" in out and "MIDI outputs" in out and listener.port.name in out


def test_play_sends_every_message_on_time(listener, tmp_path, capsys):
    path = tmp_path / "tune.mid"
    expected = tune_with_a_tempo_change(path)
    code, out, err = run_cli(capsys, "play", str(path), "--port", listener.port.name.upper())  # a part, any case
    assert code == 0, err
    assert "played tune.mid (12 notes" in out
    arrived = [(when, m) for when, m in listener.heard if not (m.type == "control_change" and m.control == 123)]
    assert [m.type for _, m in arrived] == ["note_on", "note_off", "control_change"] * 12, arrived
    first = arrived[0][0]
    errors = [abs((when - first) - seconds) * 1000 for (when, _), seconds in zip(arrived, expected)]
    assert statistics.median(errors) < 10 and max(errors) < 30, " ".join(str(round(e)) for e in errors)


def test_play_on_a_virtual_port_once_enter_is_pressed(jack_server, tmp_path):
    path = tmp_path / "tune.mid"
    tune_with_a_tempo_change(path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = subprocess.Popen([*TUNESMITH, "play", str(path), "--virtual", "ts-virtual-out"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert "connect a synth or DAW" in command.stderr.readline()
        heard = []
        port = live.open_port("input", "ts-virtual-out", callback=heard.append)
        command.communicate("\n", timeout=30)
        port.close()
    finally:
        command.kill()
    assert command.returncode == 0
    assert sum(m.type == "note_on" for m in heard) == 12


def test_a_port_that_does_not_exist_is_one_line(jack_server, tmp_path):
    path = tmp_path / "tune.mid"
    tune_with_a_tempo_change(path)
    done = run_command(*TUNESMITH, "play", str(path), "--port", "no-such-synth", timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "no MIDI output port 'no-such-synth'" in done.stderr


def test_no_backend_is_one_clear_line(jack_server):
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"tunesmith-none-{os.getpid()}", live.API_VARIABLE: "jack"}
    done = subprocess.run([*TUNESMITH, "ports"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "no JACK server" in done.stderr and "jackd -d dummy" in done.stderr


def test_sample_plays_the_notes_it_makes(listener, tmp_path, capsys):
    out = tmp_path / "tune.mid"
    code, _, err = run_cli(capsys, "sample", "melody-folk", "--length", "32", "--bpm", "480", "--seed", "3",
                           "--out", str(out), "--play", listener.port.name)
    assert code == 0, err
    written = read_midi(out)
    played = [m.note for _, m in listener.notes() if m.type == "note_on" and m.velocity]
    assert len(written) and played == written.notes["pitch"].tolist()


@pytest.mark.parametrize("metre, bar_seconds, virtual", [("4/4", 2.0, False), ("3/4", 1.5, True)])
def test_jam_answers_a_call_within_a_bar(listener, jack_server, metre, bar_seconds, virtual):
    """A call of six eighth notes at 120 qpm is answered within a bar, by a bar; in 3/4 on the
    virtual ports jam opens itself (a DAW's way in), in 4/4 on ports that exist."""
    if virtual:
        ports, call = ["--virtual-in", "ts-jam-in", "--virtual-out", "ts-jam-out"], None
    else:
        ports, call = ["--in", "ts-call", "--out", listener.port.name], live.open_port("output", virtual="ts-call")
    heard, answers_port = [], None
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    jam = subprocess.Popen([*TUNESMITH, "jam", "melody-folk", *ports, "--bars", "1", "--answers", "1", "--seed", "1",
                            "--metre", metre], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready = jam.stderr.readline()
        assert "listening on" in ready, ready + jam.stderr.read()
        if virtual:  # connect to jam's own ports
            call = live.open_port("output", "ts-jam-in")
            answers_port = live.open_port("input", "ts-jam-out",
                                          callback=lambda m: heard.append((time.perf_counter(), m)))
        for pitch in (67, 69, 71, 72, 74, 72):  # eighth notes at 120 qpm
            call.send(mido.Message("note_on", note=pitch, velocity=90))
            time.sleep(0.2)
            call.send(mido.Message("note_off", note=pitch))
            time.sleep(0.05)
        call_ended = time.perf_counter()
        _, err = jam.communicate(timeout=60)
    finally:
        jam.kill()
        for port in (call, answers_port):
            if port is not None:
                port.close()
    assert jam.returncode == 0, err
    assert err.count("\n") == 1 and "answered a 6-note call with 1 bar" in err, err
    answer = [(when, m) for when, m in heard if m.type in ("note_on", "note_off")] if virtual else listener.notes()
    starts = [when for when, m in answer if m.type == "note_on" and m.velocity]
    assert starts and starts[0] - call_ended < bar_seconds  # within a bar at 120 qpm
    assert answer[-1][0] - starts[0] <= bar_seconds + 0.05  # the answer fits its one bar


def test_jam_follows_the_tempo_of_incoming_midi_clock(listener, jack_server):
    """A DAW sends start and clock at 100 qpm: the answer starts on one of its beats and moves on
    its 16th-note grid (0.15 s), not on the default 120 qpm's (0.125 s)."""
    import threading

    beat = 0.6
    call = live.open_port("output", virtual="ts-clocked")
    stop = threading.Event()
    started = []

    def clock() -> None:
        call.send(mido.Message("start"))
        began = time.perf_counter() + 0.01
        started.append(began)
        tick = 0
        while not stop.is_set():
            time.sleep(max(0.0, began + tick * beat / 24 - time.perf_counter()))
            call.send(mido.Message("clock"))
            tick += 1

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    jam = subprocess.Popen([*TUNESMITH, "jam", "melody-folk", "--in", "ts-clocked", "--out", listener.port.name,
                            "--bars", "2", "--answers", "1", "--seed", "2", "--follow-clock"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready = jam.stderr.readline()
        assert "listening on" in ready, ready + jam.stderr.read()
        sender = threading.Thread(target=clock, daemon=True)
        sender.start()
        time.sleep(2 * beat)
        for pitch in (67, 69, 71, 72, 74, 72, 71, 69):  # eighth notes at 100 qpm
            call.send(mido.Message("note_on", note=pitch, velocity=90))
            time.sleep(beat / 2 - 0.05)
            call.send(mido.Message("note_off", note=pitch))
            time.sleep(0.05)
        _, err = jam.communicate(timeout=60)
    finally:
        stop.set()
        jam.kill()
        if started:
            sender.join(5)  # it sends no more before its port closes
        call.close()
    assert jam.returncode == 0, err
    onsets = [when for when, m in listener.notes() if m.type == "note_on" and m.velocity]
    assert len(onsets) > 3, err
    beats_in = (onsets[0] - started[0]) / beat
    assert abs(beats_in - round(beats_in)) * beat < 0.025  # on a beat of the clock

    def off_grid(step: float) -> float:  # the median distance (s) of the answer's onsets from a grid of `step`
        gaps = [later - earlier for earlier, later in zip(onsets, onsets[1:])]
        return statistics.median(abs(gap / step - round(gap / step)) * step for gap in gaps)

    assert off_grid(beat / 4) < 0.006 < off_grid(0.5 / 4), (off_grid(beat / 4), off_grid(0.5 / 4))


def test_jam_refuses_a_run_that_cannot_continue_midi(capsys):
    code, _, err = run_cli(capsys, "jam", "music-vae-folk", "--in", "keys", "--out", "synth")
    assert code == 1 and err.count("\n") == 1
    assert "music-vae-folk is a music-vae run, which cannot continue" in err


def test_continue_midi_answers_after_the_call_and_says_nothing(capsys):
    opened = api.open_model("melody-folk")
    call = Piece(make_notes([(k / 2, k / 2 + 0.5, pitch) for k, pitch in enumerate((62, 64, 66, 67, 69, 73, 74))]))
    answer = api.continue_midi(opened, call, 8, seed=2)
    assert len(answer) and answer.qpm == call.qpm
    assert answer.notes["start"].min() >= 0 and answer.notes["end"].max() <= 8
    assert capsys.readouterr() == ("", "")  # no temporary file reported, no progress bar


def test_a_metre_sets_the_bar_the_pulse_and_the_calls_bars():
    """6/8 at 120 qpm: a bar is 3 quarter notes, the metronome clicks dotted quarters (0.75 s), the
    first of each bar higher, between 24 clocks a quarter note; a call in 3/4 is read in bars of 3."""
    assert (live.Metre.parse("6/8").bar, live.Metre.parse("6/8").pulse) == (3.0, 1.5)
    assert (live.Metre.parse("3/4").bar, live.Metre.parse("3/4").pulse) == (3.0, 1.0)
    for bad in ("4", "3/5", "0/4", "x/8"):
        with pytest.raises(live.UserError, match="give beats/unit"):
            live.Metre.parse(bad)

    class Recorder:
        def __init__(self):
            self.sent = []

        def at(self, when, message):
            self.sent.append((round(when, 6), message))

    player = Recorder()
    live.Timekeeper(player, 0.0, 0.5, metronome=True, clock=True, metre=live.Metre(6, 8)).keep(3.0)
    clicks = [(when, m.note) for when, m in player.sent if m.type == "note_on"]
    assert clicks == [(0.0, 76), (0.75, 77), (1.5, 76), (2.25, 77), (3.0, 76)]
    assert sum(m.type == "clock" for _, m in player.sent) == 24 * 6 + 1 and player.sent[0][1].type == "start"

    call = live.Call()
    for pitch, on in ((60, 3.6), (62, 4.1)):  # beat 0 at time 0, a beat 0.5 s: the call begins in the third bar of 3/4
        call.hear(on, mido.Message("note_on", note=pitch, velocity=80))
        call.hear(on + 0.4, mido.Message("note_off", note=pitch))
    piece = call.piece(0.0, 0.5, 5.0, live.Metre(3, 4))
    assert piece.time_signature == (3, 4) and piece.notes["start"].tolist() == pytest.approx([1.2, 2.2])
