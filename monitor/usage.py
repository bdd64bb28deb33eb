"""Usage maths, pure: period usage with resets and top-ups, burn rate, days left, daily usage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

BURN_WINDOW = timedelta(days=7)
MIN_BURN_SPAN = timedelta(hours=24)


@dataclass(frozen=True)
class Point:
    """A successful snapshot of one account at one time (from the history or from this run)."""

    time: datetime
    fingerprint: str | None  # None: edited by hand, counts as the same key
    balance: Decimal | None
    used: Decimal | None
    currency: str | None = None  # None: unknown (an old or hand-edited record), comparable with any


@dataclass(frozen=True)
class Period:
    kind: str  # usage | reset | topup | first
    since: datetime | None
    elapsed_seconds: int | None
    usage: Decimal | None
    topup: Decimal | None = None
    reason: str | None = None  # why there is no usage: "first", "clock", "too old", "key changed"…


@dataclass(frozen=True)
class Step:
    """What happened between two consecutive points."""

    kind: str  # usage | reset | topup | unknown
    amount: Decimal | None  # usage for kind usage, the top-up for topup


def step(before: Point, after: Point) -> Step:
    if before.fingerprint and after.fingerprint and before.fingerprint != after.fingerprint:
        return Step("reset", None)  # the key was changed: its counters start again
    if before.currency and after.currency and before.currency != after.currency:
        # A relay switched its display to CNY, or a DeepSeek account's first entry changed: the two
        # numbers are in different currencies and their difference means nothing.
        return Step("unknown", None)
    if before.used is not None and after.used is not None:
        delta = after.used - before.used
        return Step("reset", None) if delta < 0 else Step("usage", delta)
    if before.balance is not None and after.balance is not None:
        delta = before.balance - after.balance
        return Step("topup", -delta) if delta < 0 else Step("usage", delta)
    return Step("unknown", None)


def period(previous: Point | None, current: Point, retention: timedelta) -> Period:
    """Usage since the previous successful snapshot, never negative."""
    if previous is None:
        return Period("first", None, None, None, reason="first")
    elapsed = current.time - previous.time
    seconds = int(elapsed.total_seconds())
    if elapsed.total_seconds() <= 0:  # the clock moved back: no elapsed time to show (never a negative one)
        return Period("first", previous.time, None, None, reason="clock")
    if elapsed > retention:
        return Period("first", previous.time, seconds, None, reason="too_old")
    change = step(previous, current)
    if change.kind == "usage":
        return Period("usage", previous.time, seconds, change.amount)
    if change.kind == "topup":
        return Period("topup", previous.time, seconds, None, topup=change.amount)
    if change.kind == "reset":
        reason = "key_changed" if previous.fingerprint and current.fingerprint != previous.fingerprint else "reset"
        return Period("reset", previous.time, seconds, None, reason=reason)
    return Period("first", previous.time, seconds, None, reason="not_comparable")


def burn_rate(points: Sequence[Point], now: datetime) -> Decimal | None:
    """Average usage per day over the last 7×24 h (resets and top-ups excluded); None under 24 h of data."""
    window = sorted((p for p in points if now - BURN_WINDOW <= p.time <= now), key=lambda p: p.time)
    if len(window) < 2:
        return None
    span = window[-1].time - window[0].time
    if span < MIN_BURN_SPAN:
        return None
    total = Decimal(0)
    for before, after in zip(window, window[1:]):
        change = step(before, after)
        if change.kind == "usage" and change.amount is not None:
            total += change.amount
    hours = Decimal(str(span.total_seconds())) / 3600
    return total / hours * 24


def days_left(balance: Decimal | None, rate: Decimal | None) -> Decimal | None:
    if balance is None or rate is None or rate <= 0:
        return None
    return max(balance, Decimal(0)) / rate


def daily_usage(points: Sequence[Point], zone: tzinfo) -> dict[date, tuple[Decimal, set[str]]]:
    """Usage per local day (by the later snapshot's day), with the events (reset, topup) of that day."""
    days: dict[date, tuple[Decimal, set[str]]] = {}
    ordered = sorted(points, key=lambda p: p.time)
    for before, after in zip(ordered, ordered[1:]):
        if after.time <= before.time:
            continue
        day = after.time.astimezone(zone).date()
        total, events = days.get(day, (Decimal(0), set()))
        change = step(before, after)
        if change.kind == "usage" and change.amount is not None:
            total += change.amount
        elif change.kind in ("reset", "topup"):
            events = events | {change.kind}
        days[day] = (total, events)
    return days


def trend(points: Sequence[Point], zone: tzinfo, today: date, days: int = 7) -> list[Decimal | None]:
    """Usage for each of the last ``days`` local days, oldest first; None where nothing was measured."""
    per_day = daily_usage(points, zone)
    wanted = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return [per_day[d][0] if d in per_day else None for d in wanted]


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[Decimal | None]) -> str:
    """One character per value, scaled to the largest; a space where there is no value."""
    known = [v for v in values if v is not None]
    top = max(known, default=Decimal(0))
    chars = []
    for v in values:
        if v is None:
            chars.append(" ")
        elif top <= 0:
            chars.append(SPARK[0])
        else:
            chars.append(SPARK[min(int(v / top * (len(SPARK) - 1) + Decimal("0.5")), len(SPARK) - 1)])
    return "".join(chars)
