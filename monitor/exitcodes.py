"""The exit codes of the SPEC, in one place."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    LOW = 1  # bit: an account is low, exhausted or expired
    ACCOUNT_FAILED = 2  # bit: an account could not be queried
    NOT_DELIVERED = 4  # bit: a message did not reach at least one channel
    HISTORY_NOT_SAVED = 8  # bit: the history file was not written
    USAGE = 64  # EX_USAGE
    DATA = 65  # EX_DATAERR: `history import` into a history that holds records
    NO_INPUT = 66  # EX_NOINPUT: `history` cannot read the history file
    INTERNAL = 70  # EX_SOFTWARE
    LOCKED = 75  # EX_TEMPFAIL
    CONFIG = 78  # EX_CONFIG
    SIGINT = 130
    SIGTERM = 143


def combine(*, low: bool, failed: bool, undelivered: bool, unsaved: bool) -> int:
    """The run's exit code from its four outcome bits."""
    code = 0
    if low:
        code |= Exit.LOW
    if failed:
        code |= Exit.ACCOUNT_FAILED
    if undelivered:
        code |= Exit.NOT_DELIVERED
    if unsaved:
        code |= Exit.HISTORY_NOT_SAVED
    return code
