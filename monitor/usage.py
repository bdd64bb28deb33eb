"""Usage maths, pure: period usage with resets and top-ups, burn rate, spikes, days left, daily usage.

Everything here works on a ``Series``: one account's successful snapshots in the order of the runs that
took them (their ``seq``), never sorted by time. The time only measures how long a step took; a step
whose time is zero or negative (two runs in one second, a clock that moved back) still counts its usage
in every sum (the money was spent) but has no rate: it is left out of rate medians and denominators.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction

from monitor.records import Record

BURN_WINDOW = timedelta(days=7)
MIN_BURN_SPAN = timedelta(hours=24)
SPIKE_MIN_PERIODS = 4
_SLACK = 60  # seconds: how much shorter than spike_window_minutes a span may be
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Point:
    """A successful snapshot of one account at one time (from the history or from this run)."""

    time: datetime
    fingerprint: str | None  # None: edited by hand, counts as the same key
    balance: Decimal | None
    used: Decimal | None
    currency: str | None = None  # None: unknown (an old or hand-edited record), comparable with any
    run: str = "report"  # the command that wrote it: "report" or "check"


@dataclass(frozen=True, slots=True)
class Step:
    """What happened between two consecutive snapshots."""

    kind: str  # usage | reset | topup | unknown (another currency: the numbers cannot be compared)
    amount: Decimal | None  # usage for kind usage, the top-up for topup
    topup: Decimal | None = None  # kind usage: the grant was raised by this much (balance rose beyond the usage)
    seconds: float = 0.0  # the time it took by the clocks (zero or negative: it has no rate)

    @property
    def spent(self) -> Decimal:
        return self.amount if self.kind == "usage" and self.amount is not None else _ZERO


def step(before: Point, after: Point) -> Step:
    seconds = (after.time - before.time).total_seconds()
    if before.fingerprint and after.fingerprint and before.fingerprint != after.fingerprint:
        return Step("reset", None, seconds=seconds)  # the key was changed: its counters start again
    if not same_money(before, after):
        # A relay switched its display to CNY: the two numbers are in different currencies.
        return Step("unknown", None, seconds=seconds)
    if before.used is not None and after.used is not None:
        delta = after.used - before.used
        if delta < 0:
            return Step("reset", None, seconds=seconds)
        # A relay key whose quota was raised: balance = total − used, so the top-up is the rise of the
        # balance plus what was spent meanwhile, exactly (the recovery message says how much).
        raised = after.balance - before.balance + delta if after.balance is not None and before.balance is not None \
            else None
        return Step("usage", delta, raised if raised is not None and raised > 0 else None, seconds)
    if before.balance is not None and after.balance is not None:
        delta = before.balance - after.balance
        return Step("topup", -delta, seconds=seconds) if delta < 0 else Step("usage", delta, seconds=seconds)
    return Step("unknown", None, seconds=seconds)


def same_money(point: Point, other: Point) -> bool:
    """Whether two snapshots' amounts are in one currency (an unknown currency is taken to be)."""
    return point.currency is None or other.currency is None or point.currency == other.currency


class Series:
    """One account's snapshots in the order of runs, and the step into each (``steps[0]`` is None)."""

    def __init__(self, points: Iterable[Point] = ()) -> None:
        self.points: list[Point] = []
        self.steps: list[Step | None] = []
        for p in points:
            self.add(p)

    def __len__(self) -> int:
        return len(self.points)

    def add(self, p: Point) -> None:
        self.steps.append(step(self.points[-1], p) if self.points else None)
        self.points.append(p)

    def last_report(self, before: int) -> int | None:
        """Where the newest report snapshot before index ``before`` is."""
        return next((i for i in range(before - 1, -1, -1) if self.points[i].run == "report"), None)

    def in_money(self, currency: str | None) -> Series:
        """The snapshots in ``currency`` (all of them, unless a relay switched)."""
        if currency is None or all(p.currency in (None, currency) for p in self.points):
            return self
        return Series(p for p in self.points if p.currency in (None, currency))


@dataclass(frozen=True)
class Period:
    kind: str  # usage | reset | topup | first
    since: datetime | None
    elapsed_seconds: int | None  # None: no duration to show (the clock moved back)
    usage: Decimal | None
    topup: Decimal | None = None
    # why there is no usage or no duration: "first", "clock", "same_second", "too_old", "key_changed",
    # "reset", "not_comparable"
    reason: str | None = None
    approximate: bool = False  # a reset (or a change of currency) between two of its snapshots
    previous_currency: str | None = None  # reason "not_comparable": the currency before the switch


def period(series: Series, start: int | None, retention: timedelta) -> Period:
    """Usage from snapshot ``start`` to the last one, summed over each step in between: a top-up or a
    reset between two checks spoils only its own step, and only a reset (or a currency change) makes the
    whole approximate. ``start`` None: there is nothing before the last snapshot."""
    current = series.points[-1]
    if start is None:
        return Period("first", None, None, None, reason="first")
    first = series.points[start]
    seconds = int((current.time - first.time).total_seconds())
    if seconds > retention.total_seconds():
        return Period("first", first.time, seconds, None, reason="too_old")
    pairs = list(zip(series.points[start:], series.points[start + 1:], series.steps[start + 1:]))
    # A step in another currency than this run's (before a relay switched to CNY) cannot be added to it.
    steps = [s if s is not None and same_money(a, current) and same_money(b, current) else Step("unknown", None)
             for a, b, s in pairs]
    shown = seconds if seconds >= 0 else None
    clock = "clock" if seconds < 0 else "same_second" if seconds == 0 else None
    if all(s.kind == "unknown" for s in steps):
        return Period("first", first.time, shown, None, reason="not_comparable",
                      previous_currency=first.currency if first.currency != current.currency else None)
    spent = [s.amount for s in steps if s.kind == "usage" and s.amount is not None]
    usage = sum(spent, _ZERO) if spent else None  # no step measured usage: say so, never a made-up $0
    topups = [t for s in steps for t in (s.amount if s.kind == "topup" else s.topup,) if t is not None]
    topup = sum(topups, _ZERO) if topups else None
    if any(s.kind in ("reset", "unknown") for s in steps):
        changed = any(a.fingerprint and b.fingerprint and a.fingerprint != b.fingerprint for a, b, _ in pairs)
        why = "key_changed" if changed else "reset"
        if len(steps) == 1:  # one step, a reset: no usage to show
            return Period("reset", first.time, shown, None, reason=why)
        return Period("reset", first.time, shown, usage, topup, clock or why, True)
    if usage is None:  # only top-ups
        return Period("topup", first.time, shown, None, topup, clock)
    return Period("usage", first.time, shown, usage, topup, clock)


def _per_day(amount: Decimal, seconds: float | int) -> Fraction:
    # Exact: a spend of exactly 3× the usual rate is a spike at spike_factor 3, never lost to rounding.
    return Fraction(amount) * 86400 / Fraction(seconds)


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _inside(series: Series, start: datetime, end: int) -> Iterable[tuple[Point, Step]]:
    """The steps up to snapshot ``end`` between two snapshots taken from ``start`` on, in ``end``'s money."""
    last = series.points[end]
    for i in range(end, 0, -1):
        before, after, s = series.points[i - 1], series.points[i], series.steps[i]
        if before.time < start:
            break
        if s is not None and same_money(before, last) and same_money(after, last):
            yield after, s


def usual_rate(series: Series, end: int) -> Fraction | None:
    """The median spend per day of the steps in the 7×24 h up to snapshot ``end`` (resets, top-ups and
    steps without a rate left out); None with fewer than 4 such steps."""
    until = series.points[end].time
    rates = sorted(_per_day(s.spent, s.seconds) for _, s in _inside(series, until - BURN_WINDOW, end)
                   if s.kind == "usage" and s.seconds > 0)
    if len(rates) < SPIKE_MIN_PERIODS:
        return None
    middle = len(rates) // 2
    return rates[middle] if len(rates) % 2 else (rates[middle - 1] + rates[middle]) / 2


@dataclass(frozen=True)
class Spike:
    """This span's spend rate against the account's usual one (per day)."""

    usage: Decimal
    elapsed_seconds: int
    rate: Decimal
    usual: Decimal

    @property
    def factor(self) -> Decimal | None:
        return None if self.usual <= 0 else self.rate / self.usual


def spike(series: Series, factor: Decimal, min_amount: Decimal, window: timedelta = timedelta(minutes=30),
          ) -> Spike | None:
    """Over the last span at least ``window`` long (the steps back to the newest earlier snapshot that old,
    in the order of runs): a spend at least ``factor`` times the usual rate of the week before it and at
    least ``min_amount``; an account idle for a week (usual rate 0) spikes on ``min_amount``. Steps that
    took no time (or less: the clock moved back) have no rate and are left out of the span."""
    series = series.in_money(series.points[-1].currency)  # CNY against CNY
    spent, seconds, start = _ZERO, 0.0, len(series) - 1
    # A minute short of the window still counts: cron starts a check a second or two late or early.
    while start > 0 and seconds < window.total_seconds() - _SLACK:
        step_ = series.steps[start]
        start -= 1
        if step_ is not None and step_.seconds > 0:
            spent, seconds = spent + step_.spent, seconds + step_.seconds
    if seconds < window.total_seconds() - _SLACK or spent < min_amount:
        return None
    usual = usual_rate(series, start)
    if usual is None:
        return None
    rate = _per_day(spent, seconds)
    if usual > 0 and rate < Fraction(factor) * usual:
        return None
    return Spike(spent, int(seconds), _decimal(rate), _decimal(usual))


def burn_rate(series: Series, now: datetime) -> Decimal | None:
    """Usage per day over the last 7×24 h (resets and top-ups excluded): the usage of the steps between
    snapshots of that week (going back in the order of runs, up to the first taken before it) over the
    time those snapshots span; a snapshot from the future (the clock was ahead) does not stretch it, nor
    does one from a clock set back count its hours twice. None until they span 24 h."""
    if not series.points:
        return None
    first = len(series) - 1
    while first > 0 and series.points[first - 1].time >= now - BURN_WINDOW:
        first -= 1
    week = series.points[first:]
    last = week[-1]
    times = [p.time for p in week if p.time <= now and same_money(p, last)]
    if len(times) < 2 or (max(times) - min(times)) < MIN_BURN_SPAN:
        return None
    spent = sum((s.spent for a, b, s in zip(week, week[1:], series.steps[first + 1:])
                 if s is not None and same_money(a, last) and same_money(b, last)), _ZERO)
    return _decimal(_per_day(spent, (max(times) - min(times)).total_seconds()))


def days_left(balance: Decimal | None, rate: Decimal | None) -> Decimal | None:
    if balance is None or rate is None or rate <= 0:
        return None
    return max(balance, _ZERO) / rate


def daily_usage(series: Series, zone: tzinfo, since: date | None = None) -> dict[date, tuple[Decimal, set[str]]]:
    """Usage per local day (by the later snapshot's day), with the events (reset, topup) of that day;
    from local day ``since`` on."""
    days: dict[date, tuple[Decimal, set[str]]] = {}
    for after, s in zip(series.points[1:], series.steps[1:]):
        if s is None or s.kind == "unknown":  # nothing measured (no amounts, or another currency): no day's usage
            continue
        day = after.time.astimezone(zone).date()
        if since is not None and day < since:
            continue
        spent, events = days.get(day, (_ZERO, set()))
        days[day] = (spent + s.spent, events | ({s.kind} if s.kind in ("reset", "topup") else set()))
    return days


def trend(series: Series, zone: tzinfo, today: date, days: int = 7) -> list[Decimal | None]:
    """Usage for each of the last ``days`` local days, oldest first; None where nothing was measured."""
    first = today - timedelta(days=days - 1)
    per_day = daily_usage(series, zone, since=first)
    return [per_day[d][0] if d in per_day else None for d in (first + timedelta(days=n) for n in range(days))]


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[Decimal | None]) -> str:
    """One character per value, scaled to the largest; a space where there is no value."""
    known = [v for v in values if v is not None]
    top = max(known, default=_ZERO)
    chars = []
    for v in values:
        if v is None:
            chars.append(" ")
        elif top <= 0:
            chars.append(SPARK[0])
        else:
            chars.append(SPARK[min(int(v / top * (len(SPARK) - 1) + Decimal("0.5")), len(SPARK) - 1)])
    return "".join(chars)


def series_of(records: Iterable[Record]) -> dict[str, Series]:
    """Each account's successful snapshots, in the records' order (the order of runs)."""
    found: dict[str, Series] = {}
    for r in records:
        if r.ok:
            found.setdefault(r.account, Series()).add(Point(r.time, r.key_fingerprint, r.balance, r.used,
                                                            r.currency, r.run))
    return found
