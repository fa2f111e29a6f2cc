"""The CLI's face: the library's progress as tqdm bars and its messages as `tunesmith: ...`
lines on stderr (one process speaks for all under torchrun)."""

from __future__ import annotations

import logging
import os
import sys

from tqdm import tqdm

from tunesmith import progress
from tunesmith.errors import LOG


class Bars:
    """A progress listener that draws each piece of work as a tqdm bar with its rate and ETA."""

    def __init__(self):
        self.bars: dict[int, tqdm] = {}

    def __call__(self, event: progress.Progress) -> None:
        bar = self.bars.get(event.bar)
        if bar is None:
            if event.finished:
                return
            form = ("{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
                    if event.unit == "s" and event.total is not None else None)
            bar = self.bars[event.bar] = tqdm(total=event.total, initial=event.done, desc=event.task,
                                              unit=event.unit, unit_scale=event.scale if event.scale != 1 else False,
                                              leave=event.lasting, dynamic_ncols=True, bar_format=form,
                                              file=sys.stderr)
        if event.total != bar.total:
            bar.total = event.total
        if event.stats:
            bar.set_postfix(event.stats, refresh=False)
        elif event.note:
            bar.set_postfix_str(event.note)
        bar.update(event.done - bar.n)
        if event.finished:
            bar.close()
            del self.bars[event.bar]


class Lines(logging.Handler):
    """The library's messages as one line each on stderr, above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        kind = "warning: " if record.levelno >= logging.WARNING else ""
        tqdm.write(f"tunesmith: {kind}{record.getMessage()}", file=sys.stderr)


def attach() -> None:
    """Show progress and messages on the terminal (rank 0 only under torchrun)."""
    if os.environ.get("RANK", "0") != "0":
        return
    if not any(isinstance(h, Lines) for h in LOG.handlers):
        LOG.addHandler(Lines())
    progress.set_default_listener(Bars())


def detach() -> None:
    """Back to a silent library."""
    for handler in [h for h in LOG.handlers if isinstance(h, Lines)]:
        LOG.removeHandler(handler)
    progress.set_default_listener(None)
