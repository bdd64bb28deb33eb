"""The ways people and tools write one instant in a history file: the tests feed every one of them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8))


def time_text(moment: datetime, style: int) -> str:
    """``moment`` as this program writes it (0), with fractional seconds (1), at +08:00 with
    milliseconds (2), or with a ``Z`` (3)."""
    if style == 0:
        return moment.isoformat(timespec="seconds")
    if style == 1:
        return moment.isoformat()
    if style == 2:
        return moment.astimezone(SHANGHAI).isoformat(timespec="milliseconds")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
