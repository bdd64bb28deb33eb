"""One account's snapshots in time order, with the step into each from the one before.

A step (usage, reset, top-up) is worked out once, when its snapshot joins the track, and kept with it.
The report's sums over a week of half-hourly checks — burn rate, usage per day — then add up stored
usage rather than comparing 80,000 pairs of snapshots again on every run, and a run makes objects only
of the few snapshots it looks at closely (the latest, the period since the last report).

Columns rather than objects, and amounts kept as text: a track read back from the window file (see
``monitor.history``) costs one ``json.loads``, and a Decimal only where a sum needs it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import accumulate, groupby
from typing import Any

from monitor.usage import EPOCH, EXACT, KIND_LETTER, MICRO, RUN_LETTER, Point, Step, moment, step

COLUMNS = ("time", "run", "key", "currency", "balance", "used", "kind", "tally")
_RUN = {letter: word for word, letter in RUN_LETTER.items()}
# In the window file, the key and currency as runs of one value, and the amounts as one string (a
# Decimal's text has no space): one ``json.loads`` of a few long strings.
_REPEATED = ("key", "currency")
_AMOUNTS = ("balance", "used", "tally")
_ZERO = Decimal(0)


def micros(moment_: datetime) -> int:
    """An aware time as whole microseconds since the epoch: exact, and cheap to compare and store."""
    return (moment_ - EPOCH) // MICRO


def _number(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _text(value: Decimal | None) -> str:
    # str, not the history's plain digits: a hand-edited 1e-999999999 is a short string, not a billion zeros
    return "" if value is None else str(value)


@dataclass(eq=False)
class Track:
    """The successful snapshots of one account, oldest first (a tie in time keeps the history's order),
    and the step into each: ``kind`` (see ``usage.step``; ``""`` for the first), and ``tally``, a running
    total of the usage steps, so that the usage between any two snapshots is one subtraction (only the
    differences mean anything). An amount the snapshot did not have is ``""``."""

    time: list[int] = field(default_factory=list)  # microseconds since the epoch
    run: str = ""  # a letter a snapshot (RUN_LETTER)
    key: list[str | None] = field(default_factory=list)  # the key's fingerprint
    currency: list[str | None] = field(default_factory=list)
    balance: list[str] = field(default_factory=list)  # amounts as exact text (str of the Decimal read)
    used: list[str] = field(default_factory=list)
    kind: str = ""  # a letter a snapshot (KIND_LETTER)
    tally: list[str] = field(default_factory=list)
    _last: Point | None = field(default=None, compare=False, repr=False)  # the last one added, as given

    def __len__(self) -> int:
        return len(self.time)

    def __eq__(self, other: object) -> bool:
        """The same snapshots and steps (a tally counts from wherever it started: only its steps matter)."""
        if not isinstance(other, Track):
            return NotImplemented
        return (all(getattr(self, name) == getattr(other, name) for name in COLUMNS if name != "tally")
                and all(self.spent(i) == other.spent(i) for i in range(1, len(self))))

    @classmethod
    def of(cls, points: Iterable[Point]) -> Track:
        ordered = sorted(points, key=lambda p: p.time)
        steps = [Step("", None), *(step(a, b) for a, b in zip(ordered, ordered[1:]))][:len(ordered)]
        spent = (s.amount if s.kind == "usage" and s.amount is not None else _ZERO for s in steps)
        return cls([micros(p.time) for p in ordered], "".join(RUN_LETTER[p.run] for p in ordered),
                   [p.fingerprint for p in ordered], [p.currency for p in ordered],
                   [_text(p.balance) for p in ordered], [_text(p.used) for p in ordered],
                   "".join(KIND_LETTER[s.kind] for s in steps),
                   list(map(str, accumulate(spent, EXACT.add))))

    def point(self, i: int) -> Point:
        return Point(moment(self.time[i]), self.key[i], _number(self.balance[i]), _number(self.used[i]),
                     self.currency[i], _RUN[self.run[i]])

    def newest_report(self, stop: int | None = None) -> int | None:
        """Where the newest report snapshot (before index ``stop``) is; None when there are only checks."""
        found = self.run.rfind("r", 0, len(self) if stop is None else stop)
        return None if found < 0 else found

    def points(self, start: int = 0) -> list[Point]:
        return [self.point(i) for i in range(start, len(self))]

    def extended(self, points: Iterable[Point]) -> Track:
        """This track with ``points`` added after it, in time order (none of them older than its last)."""
        for p in sorted(points, key=lambda p: p.time):
            self.add(p)
        return self

    def add(self, p: Point) -> None:
        """``p`` after the last snapshot (never before it: ``of`` sorts)."""
        self.time.append(micros(p.time))
        self.run += RUN_LETTER[p.run]
        self.key.append(p.fingerprint)
        self.currency.append(p.currency)
        self.balance.append(_text(p.balance))
        self.used.append(_text(p.used))
        self.kind += "-"
        self.tally.append(self.tally[-1] if self.tally else "0")
        if len(self) > 1:
            self._step_into(len(self) - 1, self._last or self.point(len(self) - 2), p)
        self._last = p

    def spent(self, i: int) -> Decimal:
        """The usage of the step into snapshot ``i`` (0 for a step of another kind)."""
        return EXACT.subtract(Decimal(self.tally[i]), Decimal(self.tally[i - 1]))

    def _step_into(self, i: int, before: Point, point: Point | None = None, keep_after: bool = False) -> None:
        """Work out the step into snapshot ``i`` from ``before``; its tally follows from the one before,
        or (``keep_after``: the snapshots from ``i`` on keep their tallies) the ones before move."""
        change = step(before, point or self.point(i))
        self.kind = self.kind[:i] + KIND_LETTER[change.kind] + self.kind[i + 1:]
        spent = change.amount if change.kind == "usage" and change.amount is not None else _ZERO
        if not keep_after:
            self.tally[i] = str(EXACT.add(Decimal(self.tally[i - 1]), spent))
            return
        move = EXACT.subtract(EXACT.subtract(Decimal(self.tally[i]), spent), Decimal(self.tally[i - 1]))
        if move:  # the snapshots before ``i`` are few (those before the window): move them, not the week
            self.tally[:i] = [str(EXACT.add(Decimal(t), move)) for t in self.tally[:i]]

    def joined(self, later: Track) -> Track:
        """This track and then ``later``, whose snapshots are all newer: the step into its first is taken
        from this track's last."""
        if not len(self) or not len(later):
            return self if len(self) else later
        track = Track(*(getattr(self, name) + getattr(later, name) for name in COLUMNS))
        track._step_into(len(self), self.point(len(self) - 1), keep_after=True)
        return track

    def before(self, moment_: datetime) -> Track:
        """The snapshots older than ``moment_`` (a prefix: the track is in time order)."""
        return self.select([range(bisect_left(self.time, micros(moment_)))])

    def within(self, start: datetime, end: datetime) -> Track:
        """The snapshots from ``start`` to ``end``, both included, as a track of their own."""
        return self.select([range(bisect_left(self.time, micros(start)), bisect_right(self.time, micros(end)))])

    def kept(self, edge: datetime) -> Track:
        """What a run reads of the track: the snapshots from ``edge`` (the report's window) on and, before
        it, the newest one (the step into the window) and the newest report (a report's period starts
        there). Kept for the next run too, whose window starts later: nothing it reads is left out."""
        cut = bisect_left(self.time, micros(edge))
        older: set[int] = set()
        if cut:
            report = self.newest_report(cut)
            older = {cut - 1} | ({report} if report is not None else set())
        return self.select([*(range(i, i + 1) for i in sorted(older)), range(cut, len(self))])

    def pruned(self, report_edge: datetime, check_edge: datetime) -> Track:
        """Without the snapshots a save prunes from the history: a report's older than ``report_edge``
        unless it is the account's newest report, a check's older than ``check_edge`` (or than
        ``report_edge``: a check is never kept longer than a report)."""
        newest = self.newest_report()
        old = bisect_left(self.time, micros(max(report_edge, check_edge)))
        edges = {"c": micros(max(check_edge, report_edge)), "r": micros(report_edge)}
        gone = [i for i in range(old) if self.time[i] < edges[self.run[i]] and i != newest]
        if not gone:
            return self
        spans, start = [], 0
        for i in gone:
            spans.append(range(start, i))
            start = i + 1
        return self.select([*spans, range(start, len(self))])

    def select(self, spans: Iterable[range]) -> Track:
        """The snapshots in ``spans`` (in order, not overlapping), as ``Track.of`` would make them: the
        first of a span whose neighbour before it was left out gets its step from the one now before it."""
        track = Track()
        last = -1  # the index (in self) of the snapshot last taken
        for span in spans:
            if not span:
                continue
            n = len(track)
            for name in COLUMNS:
                setattr(track, name, getattr(track, name) + getattr(self, name)[span.start:span.stop])
            if n == 0:
                track.kind = "-" + track.kind[1:]
            elif span.start != last + 1:
                track._step_into(n, track.point(n - 1), keep_after=True)
            last = span.stop - 1
        return track

    def to_json(self) -> dict[str, Any]:
        def column(name: str) -> Any:
            values = getattr(self, name)
            if name in _AMOUNTS:
                return " ".join(values)
            return [[v, len(list(g))] for v, g in groupby(values)] if name in _REPEATED else values

        return {name: column(name) for name in COLUMNS}  # (the letters as they are)

    @classmethod
    def from_json(cls, value: Any) -> Track:
        """A track as ``to_json`` wrote it; ``ValueError`` for anything else (the file is then ignored)."""
        if not isinstance(value, dict) or set(value) != set(COLUMNS):
            raise ValueError("not a track")

        def column(name: str) -> Any:
            if name in _AMOUNTS:
                return value[name].split(" ") if value[name] or value["time"] else []
            if name not in _REPEATED:
                return value[name]
            values: list[Any] = []
            for v, n in value[name]:
                values += [v] * n
            return values

        if any(not isinstance(value[name], str) for name in _AMOUNTS):
            raise ValueError("not amounts")
        for name, letters in (("run", RUN_LETTER), ("kind", KIND_LETTER)):
            if not isinstance(value[name], str) or set(value[name]) - set(letters.values()):
                raise ValueError(f"not a {name} letter")
        columns = [column(name) for name in COLUMNS]
        if any(not isinstance(c, (list, str)) or len(c) != len(columns[0]) for c in columns):
            raise ValueError("columns of different lengths")
        if set(map(type, columns[0])) - {int} or columns[0] != sorted(columns[0]):
            raise ValueError("times out of order")
        return cls(*columns)
