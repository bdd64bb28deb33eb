"""One account's snapshots in time order, with the step into each from the one before.

A step (usage, reset, top-up) is worked out once, when its snapshot joins the track, and kept with it.
The report's sums over a week of half-hourly checks — burn rate, usage per day — then add up stored
steps rather than comparing 80,000 pairs of snapshots again on every run, and a run makes objects only
of the few snapshots it looks at closely (the latest, the period since the last report).

Columns rather than objects, and amounts kept as the text the history holds: a track read back from
the window file (see ``monitor.history``) costs one ``json.loads``, and a Decimal only where a sum needs it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from monitor.amounts import exact
from monitor.usage import EPOCH, MICRO, Point, Step, moment, step

COLUMNS = ("time", "run", "key", "currency", "balance", "used", "kind", "amount", "raised")


def micros(moment: datetime) -> int:
    """An aware time as whole microseconds since the epoch: exact, and cheap to compare and store."""
    return (moment - EPOCH) // MICRO


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@dataclass
class Track:
    """The successful snapshots of one account, oldest first (as the history holds them: a tie in time
    keeps the order of the file), and ``kind``/``amount``/``raised``: the step into each (see
    ``usage.step``); the first snapshot's kind is ``""``."""

    time: list[int] = field(default_factory=list)  # microseconds since the epoch
    run: list[str] = field(default_factory=list)  # report | check
    key: list[str | None] = field(default_factory=list)  # the key's fingerprint
    currency: list[str | None] = field(default_factory=list)
    balance: list[str | None] = field(default_factory=list)  # amounts exactly as the history keeps them
    used: list[str | None] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)  # usage | reset | topup | unknown, "" for the first
    amount: list[str | None] = field(default_factory=list)  # the step's usage, or its top-up
    raised: list[str | None] = field(default_factory=list)  # a usage step's raised grant

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def of(cls, points: Iterable[Point]) -> Track:
        track = cls()
        for p in sorted(points, key=lambda p: p.time):
            track.add(p)
        return track

    def point(self, i: int) -> Point:
        return Point(moment(self.time[i]), self.key[i], _number(self.balance[i]), _number(self.used[i]),
                     self.currency[i], self.run[i])

    def points(self, start: int = 0, stop: int | None = None) -> list[Point]:
        return [self.point(i) for i in range(start, len(self) if stop is None else stop)]

    def step(self, i: int) -> Step:
        """The step into snapshot ``i`` (``i`` ≥ 1)."""
        return Step(self.kind[i], _number(self.amount[i]), _number(self.raised[i]))

    def add(self, p: Point) -> None:
        """``p`` after the last snapshot (never before it: ``of`` sorts)."""
        change = step(self.point(len(self) - 1), p) if len(self) else None
        self.time.append(micros(p.time))
        self.run.append(p.run)
        self.key.append(p.fingerprint)
        self.currency.append(p.currency)
        self.balance.append(exact(p.balance))
        self.used.append(exact(p.used))
        self.kind.append(change.kind if change else "")
        self.amount.append(exact(change.amount) if change else None)
        self.raised.append(exact(change.topup) if change else None)

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
            report = next((i for i in range(cut - 1, -1, -1) if self.run[i] == "report"), None)
            older = {cut - 1} | ({report} if report is not None else set())
        return self.select([*(range(i, i + 1) for i in sorted(older)), range(cut, len(self))])

    def pruned(self, report_edge: datetime, check_edge: datetime) -> Track:
        """Without the snapshots a save prunes from the history: a check's older than ``check_edge``, a
        report's older than ``report_edge`` unless it is the account's newest report."""
        newest = next((i for i in range(len(self) - 1, -1, -1) if self.run[i] == "report"), None)
        old = bisect_left(self.time, micros(max(report_edge, check_edge)))
        edges = {"check": micros(check_edge), "report": micros(report_edge)}
        gone = [i for i in range(old) if self.time[i] < edges[self.run[i]] and i != newest]
        spans, start = [], 0
        for i in gone:
            spans.append(range(start, i))
            start = i + 1
        return self.select([*spans, range(start, len(self))]) if gone else self

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
                getattr(track, name).extend(getattr(self, name)[span.start:span.stop])
            if span.start != last + 1 or n == 0:
                change = step(track.point(n - 1), self.point(span.start)) if n else None
                track.kind[n] = change.kind if change else ""
                track.amount[n] = exact(change.amount) if change else None
                track.raised[n] = exact(change.topup) if change else None
            last = span.stop - 1
        return track

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}

    @classmethod
    def from_json(cls, value: Any) -> Track:
        """A track as ``to_json`` wrote it; ``ValueError`` for anything else (the file is then ignored)."""
        if not isinstance(value, dict) or set(value) != set(COLUMNS):
            raise ValueError("not a track")
        columns = [value[name] for name in COLUMNS]
        if any(not isinstance(c, list) or len(c) != len(columns[0]) for c in columns):
            raise ValueError("columns of different lengths")
        if any(type(t) is not int for t in columns[0]) or any(a > b for a, b in zip(columns[0], columns[0][1:])):
            raise ValueError("times out of order")
        return cls(*columns)


def tracks_of(points: dict[str, list[Point]]) -> dict[str, Track]:
    return {name: Track.of(found) for name, found in points.items()}
