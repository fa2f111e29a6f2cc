"""Progress of long work (files read, steps trained, seconds generated) as events for whoever
listens: the CLI draws them as tqdm bars, a web page could stream them; with nobody listening a
bar costs next to nothing and prints nothing."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

EVERY_SECONDS = 0.1  # a bar tells its listener at most this often (and always when it ends)


@dataclass(frozen=True)
class Progress:
    """Where one piece of work stands. `done` and `total` count `unit`s (total None: unknown);
    `scale` turns them into what is shown (samples into seconds of audio); `rate` is units per
    second since the work began and `eta` the seconds left at that rate."""

    bar: int  # which piece of work: several can run at once (reading files while training)
    task: str
    done: float
    total: float | None
    unit: str
    scale: float = 1.0
    rate: float | None = None
    eta: float | None = None
    stats: dict[str, str] = field(default_factory=dict)  # e.g. loss and learning rate, shown beside the bar
    note: str = ""  # a word on what was done so far (e.g. hours of audio read), shown beside the bar
    finished: bool = False
    lasting: bool = False  # a record worth keeping on screen (training), not a passing one (reading files)


Listener = Callable[[Progress], None]
_listener: ContextVar[Listener | None] = ContextVar("tunesmith_progress", default=None)
_default: list[Listener | None] = [None]  # the listener outside any `listening` block (the CLI's bars)
_numbers = itertools.count(1)


def set_default_listener(listener: Listener | None) -> None:
    _default[0] = listener


@contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Send the progress of the work done inside the block to `listener` (None: to the default
    listener, which is nobody unless a front end set one)."""
    if listener is None:
        yield
        return
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


class Bar:
    """One piece of work's progress: `update(n)` as it goes, `close()` at the end (or use `with`)."""

    def __init__(self, task: str, total: float | None = None, unit: str = "it", scale: float = 1.0,
                 initial: float = 0, lasting: bool = False, silent: bool = False):
        self.listener = None if silent else (_listener.get() or _default[0])
        self.number, self.task, self.total, self.unit, self.scale = next(_numbers), task, total, unit, scale
        self.done = self.initial = initial
        self.lasting, self.stats, self.note = lasting, {}, ""
        self.started = self.told = time.monotonic()
        self.closed = False
        self._tell()

    def update(self, amount: float = 1) -> None:
        self.done += amount
        if self.listener is not None and time.monotonic() - self.told >= EVERY_SECONDS:
            self._tell()

    def set_total(self, total: float | None) -> None:
        self.total = total

    def set_stats(self, **stats: Any) -> None:
        self.stats = {key: str(value) for key, value in stats.items()}

    def set_note(self, note: str) -> None:
        """A word on what was done so far, told at once (it changes once per file, not per step)."""
        self.note = note
        self._tell()

    def iterate(self, items: Iterable[Any]) -> Iterator[Any]:
        """The items, counting one unit for each."""
        for item in items:
            yield item
            self.update(1)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._tell(finished=True)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *error: Any) -> None:
        self.close()

    def _tell(self, finished: bool = False) -> None:
        if self.listener is None:
            return
        now = time.monotonic()
        self.told = now
        rate = (self.done - self.initial) / (now - self.started) if now > self.started else None
        eta = (self.total - self.done) / rate if rate and self.total is not None else None
        self.listener(Progress(self.number, self.task, self.done, self.total, self.unit, self.scale, rate,
                               None if eta is None else max(0.0, eta), dict(self.stats), self.note, finished,
                               self.lasting))
