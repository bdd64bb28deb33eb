"""Usage maths, pure: period usage with resets and top-ups, burn rate, days left, daily usage."""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Context, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.track import Track

EXACT = Context(prec=60)  # sums of amounts to the last digit, whatever their size
# A letter for the command that wrote a snapshot and for each kind of step ("" for none): a track keeps a
# week of them as one short string (see monitor.track).
RUN_LETTER = {"report": "r", "check": "c"}
KIND_LETTER = {"": "-", "usage": "u", "reset": "r", "topup": "t", "unknown": "?"}
EVENTS = {KIND_LETTER[kind]: kind for kind in ("reset", "topup")}  # the steps a day of usage marks
BURN_WINDOW = timedelta(days=7)
MIN_BURN_SPAN = timedelta(hours=24)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICRO = timedelta(microseconds=1)


def moment(micros: int) -> datetime:
    return EPOCH + micros * MICRO


@dataclass(frozen=True, slots=True)
class Point:
    """A successful snapshot of one account at one time (from the history or from this run)."""

    time: datetime
    fingerprint: str | None  # None: edited by hand, counts as the same key
    balance: Decimal | None
    used: Decimal | None
    currency: str | None = None  # None: unknown (an old or hand-edited record), comparable with any
    run: str = "report"  # the command that wrote it: "report" or "check"


@dataclass(frozen=True)
class Period:
    kind: str  # usage | reset | topup | first
    since: datetime | None
    elapsed_seconds: int | None
    usage: Decimal | None
    topup: Decimal | None = None
    reason: str | None = None  # why there is no usage: "first", "clock", "too old", "key changed"…
    approximate: bool = False  # a reset (or a change of currency) between two of its snapshots
    previous_currency: str | None = None  # the currency before a change of currency inside the period


def latest(points: Sequence[Point]) -> Point | None:
    """The newest snapshot. Times are saved to the second, so two runs in one second (a check and the
    report both started at boot by their timers) tie: the one written last, later in the file, is newer."""
    return max(reversed(points), key=lambda p: p.time, default=None)


@dataclass(frozen=True)
class Step:
    """What happened between two consecutive points."""

    kind: str  # usage | reset | topup | unknown
    amount: Decimal | None  # usage for kind usage, the top-up for topup
    topup: Decimal | None = None  # kind usage: the grant was raised by this much (balance rose beyond the usage)


def step(before: Point, after: Point) -> Step:
    if before.fingerprint and after.fingerprint and before.fingerprint != after.fingerprint:
        return Step("reset", None)  # the key was changed: its counters start again
    if before.currency and after.currency and before.currency != after.currency:
        # A relay switched its display to CNY, or a DeepSeek account's first entry changed: the two
        # numbers are in different currencies and their difference means nothing.
        return Step("unknown", None)
    if before.used is not None and after.used is not None:
        delta = after.used - before.used
        if delta < 0:
            return Step("reset", None)
        # A relay key whose quota was raised: balance = total − used, so the top-up is the rise of the
        # balance plus what was spent meanwhile, exactly (the recovery message says how much).
        raised = after.balance - before.balance + delta if after.balance is not None and before.balance is not None \
            else None
        return Step("usage", delta, raised if raised is not None and raised > 0 else None)
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
        return Period("usage", previous.time, seconds, change.amount, topup=change.topup)
    if change.kind == "topup":
        return Period("topup", previous.time, seconds, None, topup=change.amount)
    if change.kind == "reset":
        reason = "key_changed" if previous.fingerprint and current.fingerprint != previous.fingerprint else "reset"
        return Period("reset", previous.time, seconds, None, reason=reason)
    return Period("first", previous.time, seconds, None, reason="not_comparable")


def period_over(points: Sequence[Point], current: Point, retention: timedelta) -> Period:
    """Usage from the first of ``points`` (a report's previous report, a check's previous snapshot) to
    ``current``, summed over each consecutive pair of snapshots in between: a top-up or a reset between
    two checks spoils only its own step, and only a reset (or a currency change) makes it approximate."""
    chain = sorted(points, key=lambda p: p.time)
    if len(chain) <= 1 or chain[-1].time >= current.time:
        return period(chain[-1] if chain else None, current, retention)
    start = chain[0]
    if current.time - start.time > retention:
        return period(start, current, retention)
    # A step in another currency than this run's (before a relay switched to CNY) cannot be added to it.
    steps = [step(a, b) if same_money(a, current) and same_money(b, current) else Step("unknown", None)
             for a, b in zip([*chain, current], [*chain[1:], current])]
    spent = [s.amount for s in steps if s.kind == "usage" and s.amount is not None]
    # No step measured any usage: say so (as for one step) rather than show a made-up $0.
    usage = sum(spent, Decimal(0)) if spent else None
    topups = [t for s in steps for t in (s.amount if s.kind == "topup" else s.topup,) if t is not None]
    topup = sum(topups, Decimal(0)) if topups else None
    seconds = int((current.time - start.time).total_seconds())
    if all(s.kind == "unknown" for s in steps):
        return Period("first", start.time, seconds, None, reason="not_comparable")
    if any(s.kind in ("reset", "unknown") for s in steps):
        changed = any(a.fingerprint and b.fingerprint and a.fingerprint != b.fingerprint
                      for a, b in zip([*chain, current], [*chain[1:], current]))
        return Period("reset", start.time, seconds, usage, topup, "key_changed" if changed else "reset", True)
    if usage is None:  # only top-ups
        return Period("topup", start.time, seconds, None, topup)
    return Period("usage", start.time, seconds, usage, topup)


@dataclass(frozen=True)
class Spike:
    """This period's spend rate against the account's usual one (per day)."""

    usage: Decimal
    elapsed_seconds: int
    rate: Decimal
    usual: Decimal

    @property
    def factor(self) -> Decimal | None:
        return None if self.usual <= 0 else self.rate / self.usual


SPIKE_MIN_PERIODS = 4
_DAY = 86400 * 1_000_000  # microseconds


def _per_day(amount: Decimal, micros: int) -> Fraction:
    # Exact: a spend of exactly 3× the usual rate is a spike at spike_factor 3, never lost to rounding.
    return Fraction(amount) * _DAY / micros


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _track(points: Sequence[Point]) -> Track:
    from monitor.track import Track  # the track builds on this module's Point and step

    return Track.of(points)


def in_money(track: Track, current: Point) -> Track:
    """The snapshots of ``track`` in ``current``'s currency (all of them, unless a relay switched)."""
    if current.currency is None or set(track.currency) <= {None, current.currency}:
        return track
    return _track([p for p in track.points() if same_money(p, current)])


_SORTING = Context(prec=60)  # enough digits that two different rates of a week never round to one


def _usual(track: Track, until: datetime) -> Fraction | None:
    week = track.within(until - BURN_WINDOW, until)
    # Sorted by a rounded rate (a Decimal division: a week of half-hourly checks sorts in a millisecond,
    # where exact fractions took 4); the median is then taken exactly among the rates that round alike.
    time = week.time
    spent = [(week.spent(i), time[i] - time[i - 1]) for i in range(1, len(week))
             if week.kind[i] == KIND_LETTER["usage"] and time[i] > time[i - 1]]
    rates = sorted((_SORTING.divide(amount, micros), amount, micros) for amount, micros in spent)
    if len(rates) < SPIKE_MIN_PERIODS:
        return None
    keys = [key for key, _, _ in rates]

    def nth(n: int) -> Fraction:
        same = rates[bisect_left(keys, keys[n]):bisect_right(keys, keys[n])]
        exact = sorted(_per_day(spent, micros) for _, spent, micros in same)
        return exact[n - bisect_left(keys, keys[n])]

    middle = len(rates) // 2
    return nth(middle) if len(rates) % 2 else (nth(middle - 1) + nth(middle)) / 2


def usual_rate(points: Sequence[Point], until: datetime) -> Decimal | None:
    """The median spend per day of the periods between consecutive snapshots in the 7×24 h before
    ``until`` (resets, top-ups and currency changes left out); None with fewer than 4 such periods."""
    usual = _usual(_track(points), until)
    return None if usual is None else _decimal(usual)


def spike(points: Sequence[Point] | Track, current: Point, factor: Decimal, min_amount: Decimal) -> Spike | None:
    """A spend over the last period (since the latest snapshot) at least ``factor`` times the usual rate
    and at least ``min_amount``; an account idle for a week (usual rate 0) spikes on ``min_amount``."""
    past = points if not isinstance(points, Sequence) else _track(points)
    if not past.time or past.time[-1] >= (current.time - EPOCH) // MICRO:
        return None  # nothing before, or the clock moved back: check measures no period
    previous = past.point(len(past) - 1)
    change = step(previous, current)
    seconds = int((current.time - previous.time).total_seconds())
    if change.kind != "usage" or change.amount is None or change.amount < min_amount:
        return None
    usual = _usual(in_money(past, current), previous.time)  # CNY against CNY
    if usual is None:
        return None
    rate = _per_day(change.amount, (current.time - previous.time) // MICRO)
    if usual > 0 and rate < Fraction(factor) * usual:
        return None
    return Spike(change.amount, seconds, _decimal(rate), _decimal(usual))


def same_money(point: Point, current: Point) -> bool:
    """Whether ``point``'s amounts are in ``current``'s currency (an unknown currency is taken to be)."""
    return point.currency is None or current.currency is None or point.currency == current.currency


def burn_rate(points: Sequence[Point] | Track, now: datetime) -> Decimal | None:
    """Average usage per day over the last 7×24 h (resets and top-ups excluded); None under 24 h of data."""
    week = (points if not isinstance(points, Sequence) else _track(points)).within(now - BURN_WINDOW, now)
    if len(week) < 2:
        return None
    span = week.time[-1] - week.time[0]
    if span < MIN_BURN_SPAN // MICRO:
        return None
    total = EXACT.subtract(Decimal(week.tally[-1]), Decimal(week.tally[0]))  # the usage steps between
    return _decimal(_per_day(total, span))  # the exact ratio, rounded once: no float seconds


def days_left(balance: Decimal | None, rate: Decimal | None) -> Decimal | None:
    if balance is None or rate is None or rate <= 0:
        return None
    return max(balance, Decimal(0)) / rate


@functools.lru_cache(maxsize=64)  # the same few days for every account of a run
def _midnight(day: date, zone: tzinfo) -> int:
    """The first microsecond of local ``day`` (a midnight skipped by a clock change: the change)."""
    return (datetime.combine(day, datetime.min.time(), tzinfo=zone) - EPOCH) // MICRO


def daily_usage(points: Sequence[Point] | Track, zone: tzinfo, since: date | None = None,
                ) -> dict[date, tuple[Decimal, set[str]]]:
    """Usage per local day (by the later snapshot's day), with the events (reset, topup) of that day;
    from local day ``since`` on (from the first day when None)."""
    track = points if not isinstance(points, Sequence) else _track(points)
    days: dict[date, tuple[Decimal, set[str]]] = {}
    if len(track) < 2:
        return days
    time, kind, tally = track.time, track.kind, track.tally
    day = since or moment(time[1]).astimezone(zone).date()
    start = bisect_left(time, _midnight(day, zone))
    while start < len(time):  # a day's snapshots found by bisection: no time zone sum per snapshot
        end = bisect_left(time, _midnight(day + timedelta(days=1), zone)) if day < date.max else len(time)
        start = max(start, 1)
        if start < end:
            if len(set(time[start - 1:end])) == end - start + 1:  # no two snapshots in one second (the usual)
                days[day] = (EXACT.subtract(Decimal(tally[end - 1]), Decimal(tally[start - 1])),
                             {EVENTS[k] for k in set(kind[start:end]) & EVENTS.keys()})
            else:  # a step between two snapshots in one second took no time: it belongs to no day
                steps = [i for i in range(start, end) if time[i] > time[i - 1]]
                if steps:
                    days[day] = (sum((track.spent(i) for i in steps), Decimal(0)),
                                 {EVENTS[kind[i]] for i in steps if kind[i] in EVENTS})
        if end < len(time):  # on to the next day with a snapshot (a month without any is one step)
            day = moment(time[end]).astimezone(zone).date()
        start = end
    return days


def trend(points: Sequence[Point] | Track, zone: tzinfo, today: date, days: int = 7) -> list[Decimal | None]:
    """Usage for each of the last ``days`` local days, oldest first; None where nothing was measured."""
    first = today - timedelta(days=days - 1)
    per_day = daily_usage(points, zone, since=first)
    wanted = [first + timedelta(days=n) for n in range(days)]
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
