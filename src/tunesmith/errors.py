"""The one error style: a UserError is one line for the user (what, which file, what to do);
warn() and info() are one-line messages on the "tunesmith" logger, which prints nothing unless a
front end listens (the CLI shows them on stderr, see console.py)."""

import logging

LOG = logging.getLogger("tunesmith")
LOG.addHandler(logging.NullHandler())
LOG.setLevel(logging.INFO)


class UserError(Exception):
    """Bad input or a bad request: the CLI prints the message as one line and exits non-zero.
    `option` names the request's field to change (e.g. "data"), which a front end may show as
    its own control (the CLI: --data)."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


def warn(message: str) -> None:
    LOG.warning(message)


def info(message: str) -> None:
    LOG.info(message)
