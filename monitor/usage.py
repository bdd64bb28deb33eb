"""Usage maths, pure: period usage with resets and top-ups, burn rate, spikes, days left, daily usage.

Everything here works on a ``Series``: one account's successful snapshots in the order of the runs that
took them (their ``seq``), never sorted by time. The time only measures how long a step took; a step
whose time is zero or negative (two runs in one second, a clock that moved back) still counts its usage
in every sum (the money was spent) but has no rate: it is left out of rate medians and denominators.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from itertools import groupby, islice
from operator import itemgetter, le
from typing import Any, TypeVar, overload

from monitor.records import Record

BURN_WINDOW = timedelta(days=7)
MIN_BURN_SPAN = timedelta(hours=24)
SPIKE_MIN_PERIODS = 4
_SLACK = 60  # seconds: how much shorter than spike_window_minutes a span may be
_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = 1_000_000
_T = TypeVar("_T")
_WEEK, _DAY = BURN_WINDOW // timedelta(microseconds=1), MIN_BURN_SPAN // timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A time as whole microseconds since the epoch: exact, and a difference of two is an int."""
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def moment(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def number(value: Decimal | str | None) -> Decimal | None:
    """An amount of a column: a cache keeps them as their exact text until one is needed."""
    return value if value is None or type(value) is Decimal else Decimal(value)


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


def judge(fp: tuple[str | None, str | None], cur: tuple[str | None, str | None], balance: tuple[Any, Any],
          used: tuple[Any, Any]) -> tuple[str, Decimal | None, Decimal | None]:
    """A step's kind, amount and top-up from the two snapshots' fingerprints, currencies, balances and
    used amounts (each a pair: before, after)."""
    if fp[0] and fp[1] and fp[0] != fp[1]:
        return "reset", None, None  # the key was changed: its counters start again
    if cur[0] is not None and cur[1] is not None and cur[0] != cur[1]:
        # A relay switched its display to CNY: the two numbers are in different currencies.
        return "unknown", None, None
    b0, b1, u0, u1 = number(balance[0]), number(balance[1]), number(used[0]), number(used[1])
    if u0 is not None and u1 is not None:
        delta = u1 - u0
        if delta < 0:
            return "reset", None, None
        # A relay key whose quota was raised: balance = total − used, so the top-up is the rise of the
        # balance plus what was spent meanwhile, exactly (the recovery message says how much).
        raised = b1 - b0 + delta if b1 is not None and b0 is not None else None
        return "usage", delta, raised if raised is not None and raised > 0 else None
    if b0 is not None and b1 is not None:
        delta = b0 - b1
        return ("topup", -delta, None) if delta < 0 else ("usage", delta, None)
    return "unknown", None, None


def step(before: Point, after: Point) -> Step:
    return Step(*judge((before.fingerprint, after.fingerprint), (before.currency, after.currency),
                       (before.balance, after.balance), (before.used, after.used)),
                seconds=(after.time - before.time).total_seconds())


def same_money(point: Point, other: Point) -> bool:
    """Whether two snapshots' amounts are in one currency (an unknown currency is taken to be)."""
    return point.currency is None or other.currency is None or point.currency == other.currency


COLUMNS = ("t", "fp", "bal", "used", "cur", "run", "kind", "amount", "topup")


class Series:
    """One account's snapshots in the order of runs, and the step into each (``steps[0]`` is None).

    Kept as columns, ``points`` and ``steps`` making a ``Point`` or a ``Step`` when one is read: a week
    of half-hourly checks is thousands of snapshots. ``t`` is the time in microseconds since the epoch;
    the step into snapshot ``i`` is ``kind[i]`` (None for the first), ``amount[i]`` and ``topup[i]``."""

    __slots__ = COLUMNS
    t: list[int]
    fp: list[str | None]
    bal: list[Decimal | str | None]
    used: list[Decimal | str | None]
    cur: list[str | None]
    run: list[str]
    kind: list[str | None]
    amount: list[Decimal | None]
    topup: list[Decimal | str | None]

    def __init__(self, points: Iterable[Point] = ()) -> None:
        if isinstance(points, _Points):  # another series' snapshots: its columns, no step worked again
            for name in COLUMNS:
                setattr(self, name, getattr(points.series, name)[:])
            return
        for name in COLUMNS:
            setattr(self, name, [])
        for p in points:
            self.add(p)

    @classmethod
    def of(cls, columns: Sequence[list[Any]]) -> Series:
        """A series from its columns (``COLUMNS``' order); a step whose kind is ``"?"`` (or None past the
        first snapshot) is worked out here."""
        series = cls.__new__(cls)
        for name, column in zip(COLUMNS, columns):
            setattr(series, name, column)
        series.amount = [None if a is None else Decimal(a) for a in series.amount]
        series.kind, series.topup = series.kind[:], series.topup[:]  # the columns given stay as they are
        for i in [i for i, k in enumerate(series.kind) if k == "?" or (k is None and i)]:
            series.work(i)
        if series.t:
            series.kind[0] = series.amount[0] = series.topup[0] = None
        return series

    def work(self, i: int) -> None:
        """Step ``i`` worked out from its two snapshots."""
        self.kind[i], self.amount[i], self.topup[i] = judge(
            (self.fp[i - 1], self.fp[i]), (self.cur[i - 1], self.cur[i]), (self.bal[i - 1], self.bal[i]),
            (self.used[i - 1], self.used[i]))

    def __len__(self) -> int:
        return len(self.t)

    @property
    def points(self) -> _Points:
        return _Points(self)

    @property
    def steps(self) -> _Steps:
        return _Steps(self)

    def add(self, p: Point) -> None:
        for name, value in zip(COLUMNS, (micros(p.time), p.fingerprint, p.balance, p.used, p.currency, p.run,
                                         None, None, None)):
            getattr(self, name).append(value)
        if len(self.t) > 1:
            self.work(len(self.t) - 1)

    def seconds(self, i: int) -> float:
        """How long step ``i`` took by the clocks."""
        return (self.t[i] - self.t[i - 1]) / _US

    def forward(self) -> bool:
        """Whether the times only go forward (the clock never moved back): then a time is found by bisection."""
        return all(map(le, self.t, islice(self.t, 1, None)))

    def spent(self, i: int) -> Decimal:
        amount = self.amount[i]
        return amount if self.kind[i] == "usage" and amount is not None else _ZERO

    def last_report(self, before: int) -> int | None:
        """Where the newest report snapshot before index ``before`` is."""
        return next((i for i in range(before - 1, -1, -1) if self.run[i] == "report"), None)

    def one_money(self, currency: str | None) -> bool:
        """Whether every snapshot is in ``currency`` or an unknown one (None: any currency is)."""
        return currency is None or set(self.cur) <= {None, currency}

    def in_money(self, currency: str | None) -> Series:
        """The snapshots in ``currency`` (all of them, unless a relay switched)."""
        if self.one_money(currency):
            return self
        return Series(p for p in self.points if p.currency in (None, currency))


class _View(Sequence[_T]):
    """A series' snapshots or steps, each made when it is read."""

    def __init__(self, series: Series) -> None:
        self.series = series

    def __len__(self) -> int:
        return len(self.series.t)

    def __iter__(self) -> Iterator[_T]:
        return (self.one(i) for i in range(len(self)))

    @overload
    def __getitem__(self, i: int) -> _T: ...

    @overload
    def __getitem__(self, i: slice) -> list[_T]: ...

    def __getitem__(self, i: int | slice) -> _T | list[_T]:
        if isinstance(i, slice):
            return [self.one(n) for n in range(*i.indices(len(self)))]
        return self.one(range(len(self))[i])

    def one(self, i: int) -> _T:
        raise NotImplementedError


class _Points(_View[Point]):
    def one(self, i: int) -> Point:
        s = self.series
        return Point(moment(s.t[i]), s.fp[i], number(s.bal[i]), number(s.used[i]), s.cur[i], s.run[i])


class _Steps(_View["Step | None"]):
    def one(self, i: int) -> Step | None:
        s = self.series
        kind = s.kind[i]
        return None if kind is None else Step(kind, s.amount[i], number(s.topup[i]), s.seconds(i))


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
    if start is None:
        return Period("first", None, None, None, reason="first")
    t, cur, fp, end = series.t, series.cur, series.fp, len(series) - 1
    since, money = moment(t[start]), cur[end]
    seconds = int((t[end] - t[start]) / _US)
    if seconds > retention.total_seconds():
        return Period("first", since, seconds, None, reason="too_old")
    inside = range(start + 1, end + 1)
    # A step in another currency than this run's (before a relay switched to CNY) cannot be added to it.
    kept = {i for i in inside if money is None or cur[i - 1] in (None, money) and cur[i] in (None, money)}
    steps = [(series.kind[i], series.amount[i], number(series.topup[i])) if series.kind[i] is not None and i in kept
             else ("unknown", None, None) for i in inside]
    shown = seconds if seconds >= 0 else None
    clock = "clock" if seconds < 0 else "same_second" if seconds == 0 else None
    if all(kind == "unknown" for kind, _, _ in steps):
        return Period("first", since, shown, None, reason="not_comparable",
                      previous_currency=cur[start] if cur[start] != money else None)
    spent = [amount for kind, amount, _ in steps if kind == "usage" and amount is not None]
    usage = sum(spent, _ZERO) if spent else None  # no step measured usage: say so, never a made-up $0
    topups = [x for kind, amount, raised in steps for x in (amount if kind == "topup" else raised,) if x is not None]
    topup = sum(topups, _ZERO) if topups else None
    if any(kind in ("reset", "unknown") for kind, _, _ in steps):
        changed = any(fp[i - 1] and fp[i] and fp[i - 1] != fp[i] for i in inside)
        why = "key_changed" if changed else "reset"
        if len(steps) == 1:  # one step, a reset: no usage to show
            return Period("reset", since, shown, None, reason=why)
        return Period("reset", since, shown, usage, topup, clock or why, True)
    if usage is None:  # only top-ups
        return Period("topup", since, shown, None, topup, clock)
    return Period("usage", since, shown, usage, topup, clock)


def _per_day(amount: Decimal, seconds: float | int) -> Fraction:
    # Exact: a spend of exactly 3× the usual rate is a spike at spike_factor 3, never lost to rounding.
    return Fraction(amount) * 86400 / Fraction(seconds)


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def usual_rate(series: Series, end: int) -> Fraction | None:
    """The median spend per day of the steps in the 7×24 h up to snapshot ``end`` (between two snapshots
    of that week, in ``end``'s money; resets, top-ups and steps without a rate left out); None with fewer
    than 4 such steps."""
    t, cur, kind, amount, money = series.t, series.cur, series.kind, series.amount, series.cur[end]
    start = t[end] - _WEEK
    if series.forward():
        first = bisect_left(t, start, 0, end) + 1
    else:  # the clock went back: step by step, back to the first snapshot taken before the week
        first = end + 1
        while first > 1 and t[first - 2] >= start:
            first -= 1
    steps = []  # each as its rate as a float, its spend and its seconds
    for i in range(first, end + 1):
        if kind[i] == "usage" and t[i] > t[i - 1] and (money is None or cur[i - 1] in (None, money)
                                                       and cur[i] in (None, money)):
            spent, seconds = amount[i] or _ZERO, (t[i] - t[i - 1]) / _US
            steps.append((float(spent) / seconds, spent, seconds))
    if len(steps) < SPIKE_MIN_PERIODS:
        return None
    # In order by their rates as floats (a week of half-hourly steps as Fractions takes milliseconds an
    # account); the middle ones are then found exactly among the few that a float cannot tell apart.
    steps.sort(key=_ROUGHLY)
    left, right = (len(steps) - 1) // 2, len(steps) // 2  # the middle one twice, or the middle two
    below, above = steps[left][0], steps[right][0]
    # A float is within 2⁻⁵² of the exact rate (relatively): only rates within a billionth of the middle
    # ones (a tiny rate's float may be 0: any below 1e-290 too) can be out of order.
    low = bisect_left(steps, below - below * 1e-9 - 1e-290, key=_ROUGHLY)
    high = bisect_right(steps, above + above * 1e-9 + 1e-290, key=_ROUGHLY)
    near = _in_order(steps[low:high])
    return (_per_day(*near[left - low][1:]) + _per_day(*near[right - low][1:])) / 2


_ROUGHLY = itemgetter(0)
_Rated = tuple[float, Decimal, float]


def _in_order(steps: list[_Rated]) -> list[_Rated]:
    """Steps in the exact order of their rates (spend ÷ seconds), by whole numbers: each rate scaled past
    the finest difference two of them can have. A week of one steady spend is hundreds of equal steps:
    each kind is worked out once."""
    ratios = {step: (step[1].as_integer_ratio(), step[2].as_integer_ratio()) for step in dict.fromkeys(steps)}
    shift = 2 * max((q * m).bit_length() for (_, q), (m, _) in ratios.values())  # p/q ÷ m/d: ≥ 1/(q·m·q'·m') apart
    keys = {step: (p * d << shift) // (q * m) for step, ((p, q), (m, d)) in ratios.items()}
    return sorted(steps, key=keys.__getitem__)


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
    least ``min_amount``; an account idle for a week (usual rate 0) spikes on ``min_amount``. A step that
    took no time (or less: the clock moved back) counts its spend, but not its time: a leak in the half
    hour before a check whose clock was set back is judged at that check."""
    series = series.in_money(series.cur[-1])  # CNY against CNY
    t, spent, seconds, start = series.t, _ZERO, 0.0, len(series) - 1
    # A minute short of the window still counts: cron starts a check a second or two late or early.
    while start > 0 and seconds < window.total_seconds() - _SLACK:
        start -= 1
        spent += series.spent(start + 1)
        if t[start + 1] > t[start]:
            seconds += series.seconds(start + 1)
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
    n = len(series)
    if not n:
        return None
    t, cur, last, until, forward = series.t, series.cur, series.cur[-1], micros(now), series.forward()
    if forward:
        first = min(bisect_left(t, until - _WEEK), n - 1)
    else:
        first = n - 1
        while first > 0 and t[first - 1] >= until - _WEEK:
            first -= 1
    kind, amount = series.kind, series.amount
    if series.one_money(last):
        times = t[first:bisect_right(t, until)] if forward else [x for x in t[first:] if x <= until]
        spent = sum([a for k, a in zip(kind[first + 1:], amount[first + 1:]) if k == "usage" and a is not None], _ZERO)
    else:
        def same(i: int) -> bool:
            return last is None or cur[i] in (None, last)
        times = [t[i] for i in range(first, n) if t[i] <= until and same(i)]
        steps = (i for i in range(first + 1, n) if same(i - 1) and same(i))
        spent = sum((a for a, k in ((amount[i], kind[i]) for i in steps) if k == "usage" and a is not None), _ZERO)
    if len(times) < 2 or max(times) - min(times) < _DAY:
        return None
    return _decimal(_per_day(spent, (max(times) - min(times)) / _US))


def days_left(balance: Decimal | None, rate: Decimal | None) -> Decimal | None:
    if balance is None or rate is None or rate <= 0:
        return None
    return max(balance, _ZERO) / rate


@lru_cache(maxsize=4096)
def _local_day(us: int, zone: tzinfo) -> date:
    # Every account of a run has its time: a day is worked out once a run, not once an account.
    return moment(us).astimezone(zone).date()


def daily_usage(series: Series, zone: tzinfo, since: date | None = None) -> dict[date, tuple[Decimal, set[str]]]:
    """Usage per local day (by the later snapshot's day), with the events (reset, topup) of that day;
    from local day ``since`` on."""
    sums: dict[date, Decimal] = {}
    events: dict[date, set[str]] = {}
    for day, kinds, amounts in _days(series, zone, since):
        # Added one by one in the order of runs, as the report always has: the same sum to the last digit.
        spent = [a if k == "usage" and a is not None else _ZERO for k, a in zip(kinds, amounts)
                 if k not in (None, "unknown")]  # the steps that measured something
        if spent:
            sums[day] = sum(spent, sums.get(day, _ZERO))
            events.setdefault(day, set()).update({"reset", "topup"}.intersection(kinds))
    return {day: (sums[day], events[day]) for day in sums}


def _days(series: Series, zone: tzinfo, since: date | None) -> Iterator[tuple[date, list[str | None], list[Any]]]:
    """The kinds and amounts of the steps of each local day from ``since`` on, in the order of runs: a day
    found by bisection when the times only go forward (the usual case), else step by step."""
    t, kind, amount = series.t, series.kind, series.amount

    def day_of(us: int) -> date:
        return _local_day(us, zone)

    if series.forward():
        low = max(1, bisect_left(t, since, key=day_of)) if since is not None else 1
        while low < len(t):
            day = day_of(t[low])
            high = bisect_right(t, day, low, key=day_of)
            yield day, kind[low:high], amount[low:high]
            low = high
        return
    # No local day of ``since`` or later begins more than 25 hours before its midnight in UTC.
    edge = -1 << 62 if since is None else (since - date(1970, 1, 1)).days * 86400 * _US - 25 * 3600 * _US
    for day, group in groupby((i for i in range(1, len(t)) if t[i] >= edge), key=lambda i: day_of(t[i])):
        if since is None or day >= since:
            found = list(group)
            yield day, [kind[i] for i in found], [amount[i] for i in found]


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
    found: dict[str, list[list[Any]]] = {}
    for r in records:
        if r.ok:
            columns = found.get(r.account) or found.setdefault(r.account, [[] for _ in COLUMNS])
            for column, value in zip(columns, (micros(r.time), r.key_fingerprint, r.balance, r.used, r.currency,
                                               r.run, "?", None, None)):
                column.append(value)
    return {name: Series.of(columns) for name, columns in found.items()}
