"""Live MIDI: the ports (python-rtmidi on ALSA where a sequencer exists, else on JACK), playing a
MIDI file or generated pieces on time, and call and response with a run that continues MIDI (jam)."""

from __future__ import annotations

import heapq
import itertools
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tunesmith.errors import UserError, info, warn

API_VARIABLE = "TUNESMITH_MIDI_API"  # alsa or jack: overrides the choice below
BACKENDS = {"alsa": "mido.backends.rtmidi/LINUX_ALSA", "jack": "mido.backends.rtmidi/UNIX_JACK"}
ALSA_SEQUENCER = Path("/dev/snd/seq")
CLIENT = "tunesmith"  # the client name of the virtual ports tunesmith opens
LEAD = 0.05  # seconds from scheduling a performance to its first message
DRAIN = 0.05  # seconds for the backend to deliver the last messages before their port closes (JACK
# delivers once a period; closing a JACK port halts delivery for half a second)
DRUM_CHANNEL = 9  # MIDI channel 10
ALL_NOTES_OFF = 123  # the control change
CLICKS = (76, 77)  # General MIDI high and low wood block: the metronome's first beat of a bar, the others
CLOCKS_PER_BEAT = 24


# -- ports ---------------------------------------------------------------------------------------

@contextmanager
def quiet_stderr():
    """What the MIDI libraries print on stderr inside the block (libjack on a missing server) goes nowhere."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as nowhere:
            os.dup2(nowhere.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@lru_cache(maxsize=1)
def backend() -> str:
    """mido's backend, chosen once per process and checked: python-rtmidi on ALSA where a
    sequencer exists, else on JACK (a server must be running), or as $TUNESMITH_MIDI_API says."""
    chosen = os.environ.get(API_VARIABLE, "").lower() or ("alsa" if ALSA_SEQUENCER.exists() else "jack")
    if chosen not in BACKENDS:
        raise UserError(f"{API_VARIABLE}={chosen}: choose alsa or jack")
    try:
        import mido
        import rtmidi  # noqa: F401  (mido's backend)
    except ImportError:
        raise UserError("live MIDI needs mido and python-rtmidi: pip install mido python-rtmidi") from None
    os.environ.setdefault("JACK_NO_START_SERVER", "1")  # a missing server is reported, not started blindly
    mido.set_backend(BACKENDS[chosen], load=True)
    try:
        with quiet_stderr():
            mido.get_output_names()
    except OSError:
        raise UserError(no_backend(chosen)) from None
    return chosen


def no_backend(chosen: str) -> str:
    """What is missing, and what to do."""
    start_jack = "start a JACK server (`jackd -d dummy &`, or qjackctl with your sound card)"
    if chosen == "alsa":
        return (f"the ALSA sequencer ({ALSA_SEQUENCER}) cannot be opened ({API_VARIABLE}=alsa); load it "
                f"(`sudo modprobe snd-seq`), or {start_jack} and set {API_VARIABLE}=jack")
    server = os.environ.get("JACK_DEFAULT_SERVER")
    named = f" named {server} ($JACK_DEFAULT_SERVER)" if server else ""
    if ALSA_SEQUENCER.exists():
        return (f"no JACK server{named} is running ({API_VARIABLE}=jack); {start_jack}, or unset {API_VARIABLE} "
                "to use ALSA")
    return (f"no MIDI backend: no JACK server{named} is running and this machine has no ALSA sequencer "
            f"({ALSA_SEQUENCER}); {start_jack}, or load the ALSA sequencer (`sudo modprobe snd-seq`)")


def port_names() -> dict[str, list[str]]:
    """The MIDI ports others have open: inputs (to listen on) and outputs (to play to)."""
    import mido

    backend()
    return {"inputs": mido.get_input_names(), "outputs": mido.get_output_names()}


def find_port(name: str, names: list[str], direction: str) -> str:
    """The port called `name`, or the one port whose name holds it (case aside)."""
    if name in names:
        return name
    matches = [port for port in names if name.lower() in port.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"MIDI {direction} port {name!r} matches {len(matches)} ports ({', '.join(matches)}); "
                        "give more of its name")
    listed = ", ".join(names) if names else "none is open"
    raise UserError(f"no MIDI {direction} port {name!r}; the {direction} ports: {listed} (see tunesmith ports)")


def open_port(direction: str, name: str | None = None, virtual: str | None = None,
              callback: Callable[[Any], None] | None = None) -> Any:
    """A mido port ("input" or "output"): the existing port `name` (see find_port), or a virtual
    port of that name (client "tunesmith") for other programs to connect to. An input's messages
    go to `callback`."""
    import mido

    backend()
    opener = mido.open_input if direction == "input" else mido.open_output
    listen = {"callback": callback} if callback else {}
    chosen = virtual
    try:
        if virtual:
            return opener(virtual, virtual=True, client_name=CLIENT, **listen)
        chosen = find_port(name, port_names()[f"{direction}s"], direction)
        return opener(chosen, **listen)
    except (OSError, ValueError) as err:  # rtmidi's errors
        raise UserError(f"MIDI {direction} port {chosen!r} cannot be opened ({err}); another program may hold it "
                        "(see tunesmith ports)") from None


def wait_for_listener(port: Any) -> None:
    """Give a synth or DAW time to connect to a virtual port: until Enter (or the end of stdin)."""
    info(f"virtual MIDI port {CLIENT}:{port.name} is open: connect a synth or DAW to it, then press Enter")
    sys.stdin.readline()


# -- playing on time -----------------------------------------------------------------------------

class Player:
    """Sends MIDI messages to an output port at their times (time.perf_counter() seconds) from a
    thread of its own, so the caller may listen or generate meanwhile. Times are given against
    one start, never reached by adding up sleeps; a message whose time has passed goes at once.
    `close` stops what still sounds."""

    def __init__(self, port: Any):
        self.port = port
        self.waiting: list[tuple[float, int, Any]] = []  # a heap of (time, order given, message)
        self.order = itertools.count()
        self.unsent = 0
        self.changed = threading.Condition()
        self.closing = False
        self.sounding: set[tuple[int, int]] = set()  # (channel, pitch)
        self.channels_used: set[int] = set()
        self.channels: dict[tuple[int, bool], int] = {}  # (program, is_drum) -> channel, for pieces
        self.thread = threading.Thread(target=self.run, name="tunesmith-midi-player", daemon=True)
        self.thread.start()

    def at(self, when: float, message: Any) -> None:
        with self.changed:
            heapq.heappush(self.waiting, (when, next(self.order), message))
            self.unsent += 1
            self.changed.notify_all()

    def play(self, piece: Any, start: float) -> float:
        """Every note of `piece` from `start` (its beat 0); returns the time its last note ends."""
        timed = piece_messages(piece, self.channels)
        for seconds, message in timed:
            self.at(start + seconds, message)
        return start + (timed[-1][0] if timed else 0.0)

    def run(self) -> None:
        while True:
            with self.changed:
                while not self.closing and (not self.waiting or self.waiting[0][0] > time.perf_counter()):
                    self.changed.wait(max(0.0, self.waiting[0][0] - time.perf_counter()) if self.waiting else None)
                if self.closing:
                    return
                message = heapq.heappop(self.waiting)[2]
            self.send(message)
            with self.changed:
                self.unsent -= 1
                self.changed.notify_all()

    def send(self, message: Any) -> None:
        self.port.send(message)
        if hasattr(message, "channel"):
            self.channels_used.add(message.channel)
        if message.type in ("note_on", "note_off"):
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity:
                self.sounding.add(key)
            else:
                self.sounding.discard(key)

    def finish(self) -> None:
        """Wait until every message given has been sent."""
        with self.changed:
            while self.unsent:
                self.changed.wait(0.1)

    def close(self, *last: Any) -> None:
        """Send nothing more but endings: the notes still sounding get their note off, every
        channel used an all-notes-off, then the `last` messages (a clock's stop) go."""
        import mido

        with self.changed:
            self.closing = True
            self.changed.notify_all()
        self.thread.join()
        for channel, pitch in sorted(self.sounding):
            self.port.send(mido.Message("note_off", channel=channel, note=pitch))
        for channel in sorted(self.channels_used):
            self.port.send(mido.Message("control_change", channel=channel, control=ALL_NOTES_OFF, value=0))
        for message in last:
            self.port.send(message)
        time.sleep(DRAIN)


def piece_messages(piece: Any, channels: dict[tuple[int, bool], int]) -> list[tuple[float, Any]]:
    """A piece's notes as (seconds from its beat 0, message), in order; a note off comes before a
    note on at the same time (a repeated note sounds again), and a program change before the first
    note of a program new to `channels` ((program, is_drum) -> channel, kept by the player; drums
    on channel 10)."""
    import mido

    per_beat = 60.0 / piece.qpm
    timed = []  # (seconds, rank at equal times, message)
    for start, end, pitch, velocity, program, is_drum in piece.notes.tolist():
        key = (program, is_drum)
        if key not in channels:
            free = [c for c in range(16) if c != DRUM_CHANNEL and c not in channels.values()]
            channels[key] = DRUM_CHANNEL if is_drum else (free[0] if free else 0)
            if not is_drum:
                timed.append((start * per_beat, 1, mido.Message("program_change", channel=channels[key],
                                                                program=program)))
        channel = channels[key]
        timed.append((start * per_beat, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        timed.append((end * per_beat, 0, mido.Message("note_off", channel=channel, note=pitch)))
    timed.sort(key=lambda row: row[:2])
    return [(seconds, message) for seconds, _, message in timed]


def file_messages(path: str | Path) -> list[tuple[float, Any]]:
    """A MIDI file's messages (meta events aside) with their seconds from its start, by its tempo map."""
    import mido

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such MIDI file")
    try:
        midi = mido.MidiFile(path)
        seconds, timed = 0.0, []
        for message in midi:  # the tracks merged; each time is the seconds since the message before
            seconds += message.time
            if not message.is_meta:
                timed.append((seconds, message))
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        raise UserError(f"{path} is not a playable MIDI file ({err}); give a type 0 or 1 .mid file") from None
    return timed


def play_file(path: str | Path, port: str | None = None, virtual: str | None = None) -> dict[str, Any]:
    """Play a MIDI file on an output port (or a virtual one, once Enter is pressed), each message at
    its time from one start; all notes off at the end or on Ctrl+C. Returns the port, the
    seconds played and the notes."""
    timed = file_messages(path)
    out = open_port("output", port, virtual)
    player = Player(out)
    try:
        if virtual:
            wait_for_listener(out)
        start = time.perf_counter() + LEAD
        for seconds, message in timed:
            player.at(start + seconds, message)
        player.finish()
    finally:
        player.close()
        out.close()
    notes = sum(1 for _, message in timed if message.type == "note_on" and message.velocity)
    return {"port": out.name, "seconds": timed[-1][0] if timed else 0.0, "notes": notes}


class Follower:
    """Plays a single output while the sampler makes it (the `follow` of generation.autoregressive.
    sample): after each token that moves time, the notes that ended before the time reached are
    decoded and scheduled, all from one start."""

    def __init__(self, player: Player, opened: Any, options: Any):
        self.player, self.codec, self.domain, self.options = player, opened.codec, opened.recipe.domain, options
        qpm = self.domain.qpm(options)
        self.seconds = [self.codec.seconds(token, qpm) for token in range(self.codec.vocab_size)]
        self.counted, self.reached = 0, 0.0  # tokens looked at; seconds they reach
        self.played: set[tuple] = set()  # (start, pitch, program, is_drum) of the notes scheduled
        self.start: float | None = None

    def __call__(self, tokens: list[int]) -> None:
        moved = sum(self.seconds[token] for token in tokens[self.counted:])
        self.counted = len(tokens)
        if moved:
            self.reached += moved
            self.play(self.domain.finish(self.codec, tokens, self.options), self.reached)

    def play(self, piece: Any, until: float = math.inf) -> None:
        """Schedule the notes of `piece` not scheduled yet that end before `until` seconds."""
        per_beat = 60.0 / piece.qpm
        ended = piece.notes[piece.notes["end"] * per_beat < until - 1e-9]
        keys = [(start, pitch, program, drum) for start, _, pitch, _, program, drum in ended.tolist()]
        fresh = [i for i, key in enumerate(keys) if key not in self.played]
        self.played.update(keys)
        if self.start is None and fresh:
            self.start = time.perf_counter() + LEAD
        if fresh:
            self.player.play(piece.with_notes(ended[fresh]), self.start)


def play_samples(model: str | Path, request: Any, port: str | None = None, virtual: str | None = None,
                 checkpoint: str = "best") -> Any:
    """Generate from a MIDI run as api.generate does, and play the outputs on a port as they are
    made: a single output of a run that continues token by token note by note while it is
    sampled, others one after another (a beat apart) once made. Returns the api's Samples."""
    from tunesmith import api

    out = open_port("output", port, virtual)
    player = Player(out)
    try:
        opened = api.open_model(model, checkpoint)
        if opened.recipe.domain.suffix != ".mid":
            raise UserError(f"{opened.run.name} makes {opened.recipe.domain.suffix} files: only MIDI can be played "
                            "on a MIDI port")
        if virtual:
            wait_for_listener(out)
        follower = Follower(player, opened, request.options)
        samples = api.generate_following(opened, request, follower)
        if follower.start is not None:
            follower.play(samples.items[0])
        else:
            start = time.perf_counter() + LEAD
            for piece in samples.items:
                start = player.play(piece, start) + 60.0 / piece.qpm
        player.finish()
    finally:
        player.close()
        out.close()
    return samples


# -- call and response ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Metre:
    """A jam's bar, `beats` over `unit` (4/4, 3/4, 6/8 ...), measured in quarter notes, the beat of
    `--bpm` and of MIDI clock. The metronome's pulse is a dotted quarter in compound metres (6/8,
    9/8, 12/8), else the unit; an answer starts on a pulse."""

    beats: int = 4
    unit: int = 4

    @classmethod
    def parse(cls, text: str) -> Metre:
        top, _, bottom = text.partition("/")
        if not (top.isdigit() and bottom in ("2", "4", "8", "16") and 1 <= int(top) <= 32):
            raise UserError(f"metre {text!r}: give beats/unit, e.g. 4/4, 3/4 or 6/8")
        return cls(int(top), int(bottom))

    @property
    def bar(self) -> float:
        return self.beats * 4 / self.unit

    @property
    def pulse(self) -> float:
        return 1.5 if self.unit == 8 and self.beats % 3 == 0 else 4 / self.unit


class Call:
    """What the player plays, as it comes: notes with their times (perf_counter seconds)."""

    def __init__(self):
        self.notes: list[list] = []  # [on, off (None while held), pitch, velocity]
        self.held: dict[int, list] = {}  # pitch -> its note while the key is down
        self.last_off = 0.0

    def hear(self, when: float, message: Any) -> None:
        if message.type == "note_on" and message.velocity:
            if message.note in self.held:  # struck again while held
                self.held.pop(message.note)[1] = when
            self.held[message.note] = [when, None, message.note, message.velocity]
            self.notes.append(self.held[message.note])
        elif message.type in ("note_on", "note_off") and message.note in self.held:
            self.held.pop(message.note)[1] = when
            self.last_off = when

    def ended(self, when: float, pause: float | None) -> bool:
        """Whether the player has paused for `pause` seconds after a call, at `when`."""
        return bool(self.notes) and not self.held and pause is not None and when >= self.last_off + pause

    def piece(self, downbeat: float, beat: float, ended: float, metre: Metre) -> Any:
        """The call as a Piece at the jam's tempo and metre, in beats from the start of the bar it
        began in (notes still held end at `ended`)."""
        from tunesmith.notes import Piece, make_notes

        rows = [((on - downbeat) / beat, ((ended if off is None else off) - downbeat) / beat, pitch, velocity)
                for on, off, pitch, velocity in self.notes]
        bar = math.floor(min(row[0] for row in rows) / metre.bar) * metre.bar
        return Piece(make_notes([(start - bar, max(end - bar, start - bar + 1 / 64), pitch, velocity)
                                 for start, end, pitch, velocity in rows]), qpm=60.0 / beat,
                     time_signature=(metre.beats, metre.unit))


class Timekeeper:
    """The jam's beat on the output, scheduled a little ahead: metronome clicks on the metre's
    pulse (channel 10, the first of a bar higher) and MIDI clock (a start, then 24 clocks a quarter note)."""

    def __init__(self, player: Player, downbeat: float, beat: float, metronome: bool, clock: bool,
                 metre: Metre = Metre()):
        import mido

        self.player, self.downbeat, self.beat, self.metronome, self.clock = player, downbeat, beat, metronome, clock
        self.pulse_ticks, self.bar_ticks = round(CLOCKS_PER_BEAT * metre.pulse), round(CLOCKS_PER_BEAT * metre.bar)
        self.tick = 0
        if clock:
            player.at(downbeat, mido.Message("start"))

    def keep(self, until: float) -> None:
        import mido

        while (when := self.downbeat + self.tick * self.beat / CLOCKS_PER_BEAT) <= until:
            if self.clock:
                self.player.at(when, mido.Message("clock"))
            if self.metronome and self.tick % self.bar_ticks % self.pulse_ticks == 0:
                first = self.tick % self.bar_ticks == 0
                pitch, velocity = (CLICKS[0], 110) if first else (CLICKS[1], 80)
                self.player.at(when, mido.Message("note_on", channel=DRUM_CHANNEL, note=pitch, velocity=velocity))
                self.player.at(when + self.beat / 8, mido.Message("note_off", channel=DRUM_CHANNEL, note=pitch))
            self.tick += 1


class ClockFollower:
    """The beat of MIDI clock arriving on the input (a DAW's or a drum machine's): the length of a
    beat from the clocks of the last bar, and the downbeat of the bar now under way, counted back
    from its latest beat (the clock after a start, or else the first clock, begins a bar). Counting
    from the latest beat keeps the error of a measured tempo to one beat's worth."""

    def __init__(self, metre: Metre = Metre()):
        self.bar_ticks = round(CLOCKS_PER_BEAT * metre.bar)
        self.ticks: int | None = None  # clocks since the downbeat; None: the next clock is the downbeat
        self.times: list[float] = []  # the last clocks' arrival times
        self.beat: float | None = None
        self.downbeat: float | None = None

    def hear(self, when: float, message: Any) -> bool:
        """Take a start or clock message (True), or leave another one (False)."""
        if message.type == "start":
            self.ticks, self.times = None, []
            return True
        if message.type != "clock":
            return False
        self.ticks = 0 if self.ticks is None else self.ticks + 1
        self.times = (self.times + [when])[-(self.bar_ticks + 1):]
        if len(self.times) > 1:
            self.beat = (self.times[-1] - self.times[0]) / (len(self.times) - 1) * CLOCKS_PER_BEAT
        if self.ticks % CLOCKS_PER_BEAT == 0:  # on a beat
            into_bar = self.ticks % self.bar_ticks / CLOCKS_PER_BEAT  # quarter notes
            self.downbeat = when - into_bar * (self.beat or 0.0)
        return True


def next_beat(downbeat: float, beat: float, when: float) -> float:
    return downbeat + math.ceil((when - downbeat) / beat) * beat


def jam(model: str | Path, port_in: str | None, port_out: str | None, bpm: float = 120.0, bars: int = 2, pause: float | None = None,
        cc: int | None = None, metronome: bool = False, clock: bool = False, answers: int | None = None,
        strategy: Any = None, seed: int | None = None, checkpoint: str = "best", follow_clock: bool = False,
        metre: Metre = Metre(), virtual_in: str | None = None, virtual_out: str | None = None) -> int:
    """Call and response: listen on `port_in`; when the player has paused for `pause` seconds
    (default half a bar; with `cc`, only when given) or sends control change `cc`, answer on
    `port_out` with `bars` bars of `metre` continuing the call (api.continue_midi), from the
    next pulse at `bpm` quarter notes a minute. The beat starts with the metronome or clock, else with the first note played; with
    `follow_clock`, the tempo and the beat are those of MIDI clock arriving on the input, once it
    comes. `virtual_in` and `virtual_out` open virtual ports of those names instead of `port_in`
    and `port_out`. Stops after `answers` answers (played out), or on Ctrl+C; returns how many were given."""
    import mido

    from tunesmith import api, notes

    if bpm <= 0 or bars < 1 or (pause is not None and pause <= 0) or (answers is not None and answers < 1):
        raise UserError("the tempo, the bars of an answer, the pause and the number of answers must be above 0")
    if cc is not None and not 0 <= cc <= 127:
        raise UserError(f"control change {cc}: give a controller number 0-127")
    if follow_clock and (clock or metronome):
        raise UserError("following the input's MIDI clock, the beat is the clock's: give it without sending a clock "
                        "or a metronome")
    opened = api.open_model(model, checkpoint)
    beat = 60.0 / bpm
    warm_up = notes.Piece(notes.make_notes([(k / 2, k / 2 + 0.5, pitch) for k, pitch in enumerate((60, 62, 64, 65))]),
                          qpm=bpm)
    api.continue_midi(opened, warm_up, metre.bar)  # refuses a run that cannot answer; the first call is slow
    half_a_bar = pause is None and cc is None  # the default pause, which follows a followed clock's tempo
    if half_a_bar:
        pause = metre.bar / 2 * beat
    heard: queue.Queue = queue.Queue()
    inport = open_port("input", port_in, virtual_in, callback=lambda message: heard.put((time.perf_counter(), message)))
    try:
        outport = open_port("output", port_out, virtual_out)
    except UserError:
        inport.close()
        raise
    player = Player(outport)
    downbeat = time.perf_counter() + LEAD if metronome or clock else None
    keeper = Timekeeper(player, downbeat, beat, metronome, clock, metre) if downbeat is not None else None
    call, given = Call(), 0
    follower = ClockFollower(metre) if follow_clock else None
    how = " or ".join(([f"pause for {pause:g} s"] if pause is not None else []) + ([f"send control change {cc}"]
                                                                                   if cc is not None else []))
    info(f"listening on {inport.name}, answering on {outport.name} at {bpm:g} bpm: play a call, then {how} "
         "(Ctrl+C to stop)")
    try:
        while answers is None or given < answers:
            now = time.perf_counter()
            if keeper is not None:
                keeper.keep(now + 0.2)
            due = call.last_off + pause if call.notes and not call.held and pause is not None else math.inf
            try:
                when, message = heard.get(timeout=max(0.0, min(0.05, due - now)))
            except queue.Empty:
                when, message = time.perf_counter(), None
            if follower is not None and message is not None and follower.hear(when, message):
                message = None
                if follower.beat is not None:
                    downbeat, beat = follower.downbeat, follower.beat
                    pause = metre.bar / 2 * beat if half_a_bar else pause
            if message is not None:
                call.hear(when, message)
                if downbeat is None and call.notes:
                    downbeat = call.notes[0][0]
            cued = message is not None and message.type == "control_change" and message.control == cc and message.value
            if not (cued and call.notes) and not call.ended(when, pause):
                continue
            count = len(call.notes)
            began = time.perf_counter()
            try:
                answer = api.continue_midi(opened, call.piece(downbeat, beat, when, metre), (bars + 1) * metre.bar,
                                           strategy, None if seed is None else seed + given)
            except UserError as err:
                warn(f"no answer to a {count}-note call: {err}")
                call = Call()
                continue
            call = Call()
            if len(answer):  # the answer's first note on the pulse
                answer = notes.trim(notes.shift(answer, -float(answer.notes["start"].min())), 0, bars * metre.bar)
            made = time.perf_counter() - began
            player.play(answer, next_beat(downbeat, beat * metre.pulse, time.perf_counter() + 0.005))
            given += 1
            info(f"answered a {count}-note call with {bars} bar{'s' if bars != 1 else ''}, {len(answer)} notes, "
                 f"in {made * 1000:.0f} ms")
        player.finish()
    finally:
        player.close(*([mido.Message("stop")] if clock else []))
        inport.close()
        outport.close()
    return given
