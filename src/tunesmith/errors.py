"""The one error style: a UserError is one line for the user (what, which file, what to do);
warn() and info() print one line to stderr without breaking a progress bar."""

import os
import sys

from tqdm import tqdm


class UserError(Exception):
    """Bad input or a bad request: the CLI prints the message as one line and exits non-zero."""


def _say(line: str) -> None:
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one process speaks for all
        tqdm.write(line, file=sys.stderr)


def warn(message: str) -> None:
    _say(f"tunesmith: warning: {message}")


def info(message: str) -> None:
    _say(f"tunesmith: {message}")
