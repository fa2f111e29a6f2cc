"""The one error style: a UserError is one line for the user (what, which file, what to do);
warn() and info() print one line to stderr without breaking a progress bar."""

import sys

from tqdm import tqdm


class UserError(Exception):
    """Bad input or a bad request: the CLI prints the message as one line and exits non-zero."""


def warn(message: str) -> None:
    tqdm.write(f"tunesmith: warning: {message}", file=sys.stderr)


def info(message: str) -> None:
    tqdm.write(f"tunesmith: {message}", file=sys.stderr)
