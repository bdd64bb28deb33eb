"""A history record: one account's query in one run, as the history keeps it and the maths reads it.

The fields are the SPEC's (people read, grep and repair these lines by hand); a reader takes any ISO 8601
time with an offset and ignores fields it does not know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

MAX_AMOUNT = Decimal("1e15")  # as the providers: no balance is this large


@dataclass(slots=True)
class Record:
    """One parsed record. ``seq`` is the run's number (records are ordered by it, never by ``time``)."""

    seq: int
    time: datetime
    account: str
    key_fingerprint: str | None
    provider: str | None
    ok: bool
    currency: str | None
    balance: Decimal | None
    used: Decimal | None
    total: Decimal | None
    unlimited: bool
    error: str | None
    run: str = "report"  # "report" (written by `run`, or by a release before `check`) or "check"


def utc_text(moment: datetime) -> str:
    """A time as the history writes it: UTC, to the second (two runs in one second take no time)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_time(text: Any) -> datetime | None:
    """Any ISO 8601 time with an offset (``Z``, ``+08:00``, fractional seconds); None without one."""
    return _time(text) if type(text) is str else None


@lru_cache(maxsize=1024)
def _time(text: str) -> datetime | None:
    # Cached: every record of a run has its run's time (a year of 200 accounts: 146,000 records, 730 times).
    try:
        moment = datetime.fromisoformat(text if text[-1:] != "Z" else text[:-1] + "+00:00")
    except ValueError:
        return None
    return moment if moment.tzinfo else None  # a time without an offset is ambiguous: not used


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        if type(value) is str:
            number = Decimal(value)
        elif type(value) is int or type(value) is float:
            number = Decimal(str(value))
        else:
            return None
    except InvalidOperation:
        return None
    # A hand-edited 1e30 would make every later sum overflow the report's arithmetic: not a usable amount.
    return number if number.is_finite() and -MAX_AMOUNT < number < MAX_AMOUNT else None


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


def parse(raw: Any, seq: int = 0) -> Record | None:
    """A record from its dict (``seq`` when it has none of its own), or None when it is too damaged to
    use: it is still kept in the file."""
    if type(raw) is not dict:
        return None
    get = raw.get
    moment, name, own = parse_time(get("time")), get("account"), get("seq", seq)
    # A seq that is no whole number, or an amount that is no number (a hand edit gone wrong): the line cannot
    # be placed or believed, so it is skipped (and warned about) rather than read as something it is not.
    if moment is None or type(name) is not str or type(own) is not int:
        return None
    raw_balance, raw_used, raw_total = get("balance"), get("used"), get("total")
    balance, used, total = _decimal(raw_balance), _decimal(raw_used), _decimal(raw_total)
    if balance is None and raw_balance is not None or used is None and raw_used is not None \
            or total is None and raw_total is not None:
        return None
    return Record(own, moment, name, _text(get("key_fingerprint")), _text(get("provider")), get("ok") is True,
                  _text(get("currency")), balance, used, total, get("unlimited") is True, _text(get("error")),
                  "check" if get("run") == "check" else "report")


def line(value: dict[str, Any]) -> bytes:
    """A record as one line of the log (no raw newline can be inside a JSON value)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8") + b"\n"
