"""The JSON history file: lock, read, append, prune and save atomically. Nothing here ever deletes it.

The file as this module writes it (people read and repair it by hand)::

    {"version": 1, "alerts": {...}, "records": [
    {"time": "2026-11-28T01:05:00+00:00", "account": "main", ...},
    {"time": "2026-11-28T13:05:00+00:00", "account": "main", ...}
    ]}

one record per line, oldest first. What the report reads — each account's snapshots of the last 8 days
and its latest ones before them, as a ``Track`` — comes from the window file beside the history, which
the last save wrote; the history's own lines are read only where a save changes them (from the start to
the retention edge, the checks that aged out, any newer than the clock) and the rest is carried over as
bytes, unparsed. So a year of history, checked every half hour, costs a run little more than no history.

That shortcut is safe because the lock file remembers the size, time and inode of the file the last
save wrote, and the window file says which file it was made from: a file that does not match (a
restored backup, a hand edit, another tool's file) is checked in full on its first run — every line
parsed, put in time order if it was not — its tracks made from the lines of the last 8 days, and it is
written back in this layout; from then on it is ours again.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import itertools
import json
import logging
import mmap
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from monitor.amounts import exact
from monitor.atomic import replacing
from monitor.collect import AccountResult
from monitor.track import Track, micros
from monitor.usage import Point, moment

log = logging.getLogger(__name__)

VERSION = 1
MAX_AMOUNT = Decimal("1e15")  # as the providers: no balance is this large
RUNS = ("report", "check")

# The report reads the last 7×24 h (burn rate, usual rate) and the last 7 local days (trend, from local
# midnight six days ago: less than 7×24 h back in any zone); 8 days cover both with a day to spare.
REPORT_WINDOW = timedelta(days=8)

_BOM = b"\xef\xbb\xbf"
_MAP_FROM = 64 * 1024  # files from this size on are mapped rather than read (see HistoryFile.load)
Data = bytes | mmap.mmap  # the file as read: bytes, or mapped (slices of either are bytes)
_CUT = b",\n"  # between two records: JSON text has no raw newline inside a value
_CHECK = re.compile(rb'"run": ?"check"')  # a match is confirmed by parsing its line


class HistoryLocked(Exception):
    """Another run holds the lock and did not release it in time."""


class LockUnavailable(Exception):
    """The lock file cannot be opened or created (a missing or read-only folder): nothing can be saved."""


@dataclass(slots=True)  # not frozen: a run builds tens of thousands, and frozen init costs twice as much
class Record:
    """One parsed record (what the maths reads; the file keeps the line as it was)."""

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


@dataclass(frozen=True)
class Keep:
    """How long records are kept: a report's after ``days``, a check's after ``check_days``."""

    days: int = 90
    check_days: int = 8


# --- records ------------------------------------------------------------------------------------------


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def record_of(result: AccountResult, run: str = "report") -> dict[str, Any]:
    """The history record of one query (the SPEC's fields, plus ``note`` when there is one): amounts
    exactly as sent. ``run`` is ``report`` or ``check``."""
    snap = result.snapshot
    note = {"note": snap.note} if snap and snap.note else {}  # a null note on every check line: 2 MB a week
    return {
        "time": utc_text(result.time),
        "account": result.account.name,
        "key_fingerprint": result.fingerprint,
        "provider": result.account.provider,
        "ok": result.ok,
        "currency": snap.currency if snap else (result.account.currency or None),
        "balance": exact(snap.balance) if snap else None,
        "used": exact(snap.used) if snap else None,
        "total": exact(snap.total) if snap else None,
        "unlimited": bool(snap and snap.unlimited),
        "error": result.error,
        **note,
        "run": run,
    }


def parse_time(text: Any) -> datetime | None:
    """Any ISO 8601 time with an offset (``Z``, ``+08:00``, fractional seconds); None without one."""
    if type(text) is not str:
        return None
    try:
        moment = datetime.fromisoformat(text if text[-1:] != "Z" else text[:-1] + "+00:00")
    except ValueError:
        return None
    return moment if moment.tzinfo else None  # a time without an offset is ambiguous: not used


def _decimal(value: Any) -> Decimal | None:
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


_SHARED: dict[str, str] = {}  # one copy of each account name, provider and currency among many records


def _word(value: Any) -> str | None:
    return _SHARED.setdefault(value, value) if type(value) is str else None


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


def parse(raw: Any) -> Record | None:
    """A record from its dict, or None when it is too damaged to use (it is still kept in the file)."""
    if type(raw) is not dict:
        return None
    get = raw.get
    moment = parse_time(get("time"))
    name = _word(get("account"))
    if moment is None or name is None:
        return None
    fp = get("key_fingerprint")
    return Record(moment, name, fp if type(fp) is str and fp else None, _word(get("provider")), get("ok") is True,
                  _word(get("currency")) or None, _decimal(get("balance")), _decimal(get("used")),
                  _decimal(get("total")), get("unlimited") is True, _text(get("error")),
                  "check" if get("run") == "check" else "report")


def parse_all(raw_records: Iterable[Any]) -> list[Record]:
    return [r for r in (parse(item) for item in raw_records) if r is not None]


def points_of(records: Iterable[Record], run: str | None = None) -> dict[str, list[Point]]:
    """Successful snapshots per account name, in the records' order (only those ``run`` wrote, if given)."""
    found: dict[str, list[Point]] = {}
    for r in records:
        if r.ok and (run is None or r.run == run):
            found.setdefault(r.account, []).append(_point(r))
    return found


def _line(value: Any) -> bytes:
    # Without spaces: 200 accounts checked every half hour write 77,000 lines a week, and 24 bytes a line
    # is what keeps that file under 30 MB. One record a line keeps it easy to read.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _parse_line(text: bytes) -> Record | None:
    try:
        return parse(json.loads(text))
    except ValueError:  # only a file edited behind the signature's back: the line is kept, not used
        return None


def _needles(name: str) -> tuple[bytes, ...]:
    """How a line may name the account: as this module writes it, or as another tool did (escaped, tight)."""
    names = {json.dumps(name, ensure_ascii=False).encode(), json.dumps(name).encode()}
    return tuple(key + text for key in (b'"account": ', b'"account":') for text in names)


# --- the file as read ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    """A line of the file read: where it is in the bytes read (not a copy), and its record, if usable."""

    span: tuple[int, int]
    record: Record | None


@dataclass
class Loaded:
    """The history as read: the records the report needs, the alert state, and what a save carries over."""

    records: list[Record] = field(default_factory=list)  # all of them, in time order: only without a window
    tracks: dict[str, Track] = field(default_factory=dict)  # each wanted account's, as the report reads it
    from_window: bool = False  # the tracks were read from the window file (the history's lines were not)
    alerts: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None  # shown in the report: the file was set aside, or is not ours to write
    refused: bool = False  # the file must be left untouched (unknown version, unreadable)
    # The file in three parts: lines before the retention edge (parsed), the middle (bytes, unparsed,
    # as ``_middle`` ranges of ``_data`` and parsed lines between them), the lines of the window (parsed).
    _head: dict[str, Any] = field(default_factory=dict)
    _data: Data = b""
    _stat: str = ""  # the signature of the file read, to copy its bytes from it at the save
    _front: list[_Line] = field(default_factory=list)
    _middle: list[tuple[int, int] | _Line] = field(default_factory=list)
    _back: list[_Line] = field(default_factory=list)
    _keep: Keep = field(default_factory=Keep)
    _later: set[str] = field(default_factory=set)  # accounts with a successful report record past the front
    _settled: datetime | None = None  # the time of the middle's last line: new lines must not be older

    @property
    def keep(self) -> Keep:
        return self._keep


@dataclass(frozen=True)
class Known:
    """What the window file says of the history the last save wrote: each account's track as that save
    left it (``Track.kept`` at ``edge``), and that no check record is older than ``checks_from``."""

    tracks: dict[str, Track]
    edge: datetime
    checks_from: datetime


def _lines_forward(data: Data, start: int, end: int) -> Iterator[tuple[int, int]]:
    pos = start
    while pos < end:
        cut = data.find(_CUT, pos, end)
        stop = end if cut < 0 else cut
        yield pos, stop
        pos = end if cut < 0 else cut + len(_CUT)


def _lines_backward(data: Data, start: int, end: int) -> Iterator[tuple[int, int]]:
    pos = end
    while pos > start:
        cut = data.rfind(_CUT, start, pos)
        begin = start if cut < 0 else cut + len(_CUT)
        yield begin, pos
        pos = start if cut < 0 else cut


def _layout(data: Data) -> tuple[dict[str, Any], int, int] | None:
    """The head (every top-level key but ``records``) and the records' byte range, for a file laid out as
    this module writes it; None for any other layout."""
    eol = data.find(b"\n")
    if eol < 0 or data[len(data) - 3:] != b"]}\n" or not data[:eol].rstrip().endswith(b"["):
        return None
    try:
        head = json.loads(data[:eol] + b"]}")
    except ValueError:
        return None
    if not isinstance(head, dict) or head.get("records") != [] or list(head)[-1] != "records":
        return None
    end = len(data) - len(b"]}\n")
    if end > eol + 1:  # records present: the last one ends with a newline before the closing bracket
        if data[end - 1:end] != b"\n":
            return None
        end -= 1
    del head["records"]
    return {"version": head.pop("version", VERSION), **head}, eol + 1, max(end, eol + 1)


def _head_bytes(head: dict[str, Any]) -> bytes:
    text = json.dumps(head, ensure_ascii=False).encode("utf-8")
    return text[:-1] + (b", " if head else b"") + b'"records": [\n'


class _Unreadable(Exception):
    """Not a history this release can read (reason in the message)."""


def _checked(data: Data) -> tuple[dict[str, Any], Data, int, int]:
    """A file not known to be ours, checked in full: its head and the byte range of its records, in this
    module's layout and in time order. A file already so (a copy of ours, times in any format) is used as
    it is; any other is rebuilt: one record a line, in time order."""
    layout = _layout(data)
    if layout is not None and layout[0].get("version") == VERSION:
        try:
            if _as_written(data, layout[1], layout[2]):
                return layout[0], data, layout[1], layout[2]
        except (ValueError, RecursionError):
            pass  # a record over several lines, say: read as plain JSON below
    try:
        document = json.loads(bytes(data))  # another layout, an unknown version, or out of order (rare)
    except (ValueError, RecursionError) as exc:
        raise _Unreadable(str(exc).splitlines()[0][:120]) from None
    if isinstance(document, dict) and document.get("version", VERSION) != VERSION:
        return document, data, 0, 0  # before the shape check: a newer version may change the shape
    if not isinstance(document, dict) or not isinstance(document.get("records"), list):
        raise _Unreadable('not a {"version": 1, "records": [...]} document')
    values = document.pop("records")
    head = {"version": document.pop("version", VERSION), **document}
    # A line whose time cannot be read goes first: it is kept for a person to fix, never pruned.
    floor = datetime.min.replace(tzinfo=timezone.utc)
    lines = sorted((((r.time if (r := parse(v)) else floor), _line(v)) for v in values), key=lambda item: item[0])
    text = _head_bytes(head)
    body = _CUT.join(line for _, line in lines)
    return head, text + body + (b"\n" if lines else b"") + b"]}\n", len(text), len(text) + len(body)


_CHUNK = 1 << 20  # bytes of lines parsed or searched at once: C speed, without a year of it in memory


def _done_with(data: Data, start: int, end: int) -> None:
    """Give back the mapped pages from ``start`` to ``end``: they stay in the page cache, not in this
    process's memory (checking a year of history must not cost a year of resident memory)."""
    if isinstance(data, mmap.mmap):
        first = start - start % mmap.PAGESIZE
        if end > first:
            data.madvise(mmap.MADV_DONTNEED, first, end - first)


def _search(pattern: re.Pattern[bytes], data: Data, start: int, end: int) -> int:
    """Where ``pattern`` first matches between ``start`` and ``end`` (-1 if nowhere), a piece at a time."""
    pos = start
    while pos < end:
        stop = min(pos + _CHUNK, end)
        found = pattern.search(data, pos, min(stop + 64, end))  # a match across the cut is found too
        _done_with(data, pos, stop)
        if found is not None:
            return found.start()
        pos = stop
    return -1


def _not_before(text: str, last: str) -> bool | None:
    """Whether the time ``text`` is not before the time ``last`` (None when ``text`` is no time). Two
    times written alike — the same length and offset — compare as text: a year of them needs no parsing."""
    if len(text) == len(last) and ((text[-6:] == last[-6:] and text[-6] in "+-") or text[-1] == last[-1] == "Z"):
        return text >= last
    moment, previous = parse_time(text), parse_time(last)
    if moment is None:
        return None
    return previous is not None and moment >= previous  # (an unreadable ``last``: taken as out of order)


def _as_written(data: Data, start: int, end: int) -> bool:
    """Whether the lines from ``start`` to ``end`` are one record each, in time order. ``ValueError``
    when a piece of them is not JSON (then the whole file is read the plain way, to say where)."""
    last: str | None = None  # the last record's time, as written
    pos = start
    while pos < end:
        stop = data.find(_CUT, min(pos + _CHUNK, end), end)
        stop = end if stop < 0 else stop
        chunk = data[pos:stop]
        values = json.loads(b"[" + chunk + b"]")  # a piece's dicts at a time, dropped with it
        cuts = chunk.count(_CUT)
        if len(values) != cuts + 1 or chunk.count(b"},\n{") != cuts:
            return False  # not one record a line
        for value in values:
            text = value.get("time") if type(value) is dict else None
            if type(text) is not str:
                continue
            later = _not_before(text, last) if last is not None else parse_time(text) is not None
            if later is False:
                return False
            if later:
                last = text
        _done_with(data, pos, stop)
        pos = stop + len(_CUT)
    return True


def _front(loaded: Loaded, data: Data, start: int, end: int, now: datetime) -> int:
    """The lines before the retention edge, from the start (usually none; a run's worth when they age
    out): parsed into ``loaded``. Where the middle starts."""
    retention_edge = now - timedelta(days=loaded._keep.days)
    middle_start = start
    for a, b in _lines_forward(data, start, end):
        line = _Line((a, b), _parse_line(data[a:b]))
        if line.record is not None and line.record.time >= retention_edge:
            break
        loaded._front.append(line)
        middle_start = b + len(_CUT)
    return min(middle_start, end)


def _read(data: Data, head: dict[str, Any], start: int, end: int, now: datetime, keep: Keep,
          accounts: Sequence[str], known: Known | None) -> Loaded:
    """The parts of a checked file, in this module's layout and in time order (see ``Loaded``), and each
    wanted account's track: as the window file has it (``known``: the file is as the last save left it),
    or made from the lines of the window, parsed a chunk at a time and not kept.

    Only the lines a save changes are kept apart: those past retention, the checks that aged out, and
    any newer than ``now`` (the clock moved back). The rest is carried over as bytes."""
    loaded = _loaded(head, data, keep)
    loaded.from_window = known is not None
    middle_start = _front(loaded, data, start, end, now)
    # The lines newer than this run's records (written to the second: the clock moved back) are read, so
    # the save puts the new lines among them in time order; usually none.
    tail = end
    for a, b in _lines_backward(data, middle_start, end):
        record = _parse_line(data[a:b])
        if record is None or record.time <= now.replace(microsecond=0):
            loaded._settled = record.time if record else None
            break
        tail = a
    loaded._back = _parsed(data, tail, end) if tail < end else []
    middle_end = end if tail >= end else max(tail - len(_CUT), middle_start)
    # The last save left no check record older than its check edge: the search for aged checks starts there.
    since = None if known is None else _first_since(data, middle_start, middle_end, known.checks_from)
    loaded._middle = _middle(data, middle_start, middle_end, now - timedelta(days=keep.check_days), since)
    edge = _view_edge(now, keep)
    if known is not None:
        retention_edge = micros(now - timedelta(days=keep.days))
        loaded._later = {name for name, track in known.tracks.items()
                         if (newest := track.newest_report()) is not None and track.time[newest] >= retention_edge}
        loaded.tracks = {name: known.tracks[name].kept(edge) for name in accounts}
        return loaded
    tracks = {name: Track() for name in accounts}

    def take(record: Record) -> None:
        if record.ok and record.run == "report":
            loaded._later.add(record.account)
        if record.ok and record.account in tracks:
            tracks[record.account].add(_point(record))

    window_start = _first_since(data, middle_start, end, now - REPORT_WINDOW)
    _parsed(data, window_start, end, take)
    # Before the window: up to the cut before its first line; with no line in the window, to the end.
    before = _latest_before(loaded, accounts, end if window_start >= end else window_start - len(_CUT))
    loaded._later |= {r.account for r, place in before if r.run == "report" and place == "middle"}
    # In the file's order (found from the end back): of two records in one second, the one written last is newer.
    points = points_of(sorted((r for r, _ in reversed(before)), key=lambda r: r.time))
    loaded.tracks = {name: Track.of(points.get(name, [])).joined(track).kept(edge) for name, track in tracks.items()}
    return loaded


def _every_record(data: Data, head: dict[str, Any], start: int, end: int, now: datetime, keep: Keep) -> Loaded:
    """Every record within retention, in time order (the ``history`` command's view; never saved)."""
    loaded = _loaded(head, data, keep)
    middle_start = _front(loaded, data, start, end, now)
    loaded.records = [line.record for line in _parsed(data, middle_start, end) if line.record is not None]
    return loaded


def _loaded(head: dict[str, Any], data: Data, keep: Keep) -> Loaded:
    alerts = head.get("alerts")
    return Loaded(alerts=alerts if isinstance(alerts, dict) else {}, _head=head, _data=data, _keep=keep)


def _point(r: Record) -> Point:
    return Point(r.time, r.key_fingerprint, r.balance, r.used, r.currency, r.run)


def _view_edge(now: datetime, keep: Keep) -> datetime:
    """Where the lines the report reads start: the window's edge, or the retention edge when retention is
    shorter (the lines before it go at the save; only each account's newest ones are read)."""
    return max(now - REPORT_WINDOW, now - timedelta(days=keep.days))


def _first_since(data: Data, start: int, end: int, edge: datetime) -> int:
    """Where the first line at or after ``edge`` starts (``end`` if none), in lines in time order.

    A bisection over the bytes: a few dozen lines parsed, whatever the file's size and time format."""
    low, high = start, end
    while low < high:
        cut = data.rfind(_CUT, low, (low + high) // 2)
        a = low if cut < 0 else cut + len(_CUT)
        b = data.find(_CUT, a, end)
        b = end if b < 0 else b
        record = _parse_line(data[a:b])
        if record is not None and record.time >= edge:
            high = a
        else:
            low = min(b + len(_CUT), end)
    return low


def _parsed(data: Data, start: int, end: int, take: Callable[[Record], None] | None = None) -> list[_Line]:
    """The lines from ``start`` to ``end``, each with its record: parsed a few thousand at a time by one
    ``json.loads`` (a line at a time only where that fails, in a file edited behind the last save's back).
    With ``take``, each record is handed to it instead, and no line is kept: a week of them need not be
    in memory at once."""
    spans = _lines_forward(data, start, end)
    lines = []
    while some := list(itertools.islice(spans, 4096)):
        try:
            values = json.loads(b"[" + data[some[0][0]:some[-1][1]] + b"]")
        except ValueError:
            values = []
        if len(values) == len(some):
            records = [parse(value) for value in values]
        else:
            records = [_parse_line(data[a:b]) for a, b in some]
        if take is None:
            lines += [_Line(span, record) for span, record in zip(some, records)]
        else:
            for record in records:
                if record is not None:
                    take(record)
        _done_with(data, some[0][0], some[-1][1])
    return lines


def _middle(data: Data, start: int, end: int, edge: datetime, search: int | None = None,
            ) -> list[tuple[int, int] | _Line]:
    """The middle of the file as byte ranges, and parsed lines where check records older than ``edge``
    may be (a save drops those).

    Every save prunes them, so the only ones left are those that aged out since the last save: they sit
    at the first check record in the middle, and the lines from there to ``edge`` are the only ones read.
    The search starts at ``search`` when no check record can be before it.
    """
    if start >= end:
        return []
    found = _search(_CHECK, data, max(start, search or start), end)
    if found < 0:
        return [(start, end)]
    cut = data.rfind(_CUT, start, found)
    begin = start if cut < 0 else cut + len(_CUT)
    parts: list[tuple[int, int] | _Line] = [(start, cut)] if cut >= 0 else []
    rest = end
    for a, b in _lines_forward(data, begin, end):
        record = _parse_line(data[a:b])
        if record is not None and record.time >= edge:
            rest = a
            break
        parts.append(_Line((a, b), record))  # a save drops the checks; the report may still read them
    if rest < end:
        parts.append((rest, end))
    return parts


def _latest_before(loaded: Loaded, accounts: Sequence[str], stop: int) -> list[tuple[Record, str]]:
    """For each wanted account, its latest successful snapshot before the window (the step into it), and
    its latest report record there (a report's previous snapshot, when the window holds none).
    Searched from the window (the lines before byte ``stop``) back through the middle (parsing only the
    lines that name the account; in the usual file the first few hundred lines find them all), then the
    front."""
    needs = {name: {"step", "report"} for name in accounts}
    extra: list[tuple[Record, str]] = []

    def take(record: Record | None, place: str) -> None:
        need = needs.get(record.account) if record is not None and record.ok else None
        if record is None or not need or not ("step" in need or record.run == "report"):
            return
        extra.append((record, place))
        need.discard("step")
        if record.run == "report":
            need.discard("report")
        if not need:
            del needs[record.account]

    data = loaded._data
    needles = {name: _needles(name) for name in needs}
    for part in reversed(loaded._middle):
        if isinstance(part, _Line):
            if part.span[1] <= stop:
                take(part.record, "middle")
            continue
        for a, b in _lines_backward(data, part[0], min(part[1], stop)):
            if not needs:
                break
            text = data[a:b]
            if any(needle in text for name in needs for needle in needles[name]):
                take(_parse_line(text), "middle")
    for line in reversed(loaded._front):
        if not needs:
            break
        take(line.record, "front")
    return extra


# --- the file on disk ---------------------------------------------------------------------------------


class HistoryFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    @property
    def target(self) -> Path:
        """Where the history really is: a symbolic link is followed, and stays a link."""
        return Path(os.path.realpath(self.path))

    @contextlib.contextmanager
    def locked(self, wait_seconds: float) -> Iterator[None]:
        """Hold the run lock (``flock`` on a file that is never deleted, so there is no unlink race)."""
        import fcntl

        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LockUnavailable(f"cannot open the lock file {self.lock_path}: {exc.strerror or exc}") from None
        try:
            deadline = time.monotonic() + wait_seconds
            announced = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() >= deadline:
                    raise HistoryLocked(
                        f"another run holds {self.lock_path} and did not release it within {wait_seconds:g} s"
                    )
                if not announced:
                    log.info("waiting for another run to release %s", self.lock_path)
                    announced = True
                time.sleep(0.1)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def load(self, now: datetime, keep: Keep = Keep(), accounts: Sequence[str] = (),
             window: timedelta | None = REPORT_WINDOW, dry_run: bool = False) -> Loaded:
        """Each of ``accounts``' track as the report reads it (see ``Track.kept``), or, with ``window``
        None, every record within retention. An unparsable file is moved aside (left in place on a dry
        run) and reported; ``OSError`` when it cannot be read."""
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                # Mapped, not read: a run touches only the pages it parses (the window, a few lines of
                # bisection), and a save copies the rest file to file, so a year of history never
                # enters the process's memory. A small file is simply read.
                data: Data = handle.read() if stat.st_size < max(_MAP_FROM, 1) else mmap.mmap(
                    handle.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            return Loaded(tracks={name: Track() for name in accounts}, _keep=keep)
        if isinstance(data, bytes) and (not data or data.isspace()):
            # created empty by hand: nothing to set aside, a new history
            return Loaded(tracks={name: Track() for name in accounts}, _keep=keep)
        layout = _layout(data) if _signature(stat) == self._written() else None
        if layout is None:
            try:
                head, data, start, end = _checked(data[len(_BOM):] if data[:len(_BOM)] == _BOM else data)
            except _Unreadable as exc:
                return self._set_aside(str(exc), now, dry_run, keep, accounts)
        else:
            head, start, end = layout
        if head.get("version") != VERSION:
            warning = (f"history file {self.path} has version {head.get('version')!r}, which this release "
                       "does not know; left untouched and not updated (upgrade api-balance-monitor)")
            log.error("%s", warning)
            return Loaded(warning=warning, refused=True)
        if window is None:
            loaded = _every_record(data, head, start, end, now, keep)
        else:
            known = self._known(stat, accounts, now, keep) if layout is not None else None
            loaded = _read(data, head, start, end, now, keep, accounts, known)
        loaded._stat = _signature(stat)
        return loaded

    def _set_aside(self, reason: str, now: datetime, dry_run: bool, keep: Keep, accounts: Sequence[str]) -> Loaded:
        if dry_run:
            warning = f"history file {self.path} cannot be read ({reason}); a real run will set it aside"
        else:
            target = self.target
            stamp = f"{target.name}.corrupt-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"
            aside = target.with_name(stamp)
            n = 1
            while aside.exists() or aside.is_symlink():  # two in one second: never one over the other
                n += 1
                aside = target.with_name(f"{stamp}-{n}")
            os.rename(target, aside)
            warning = f"history file cannot be read ({reason}); moved aside to {aside}, starting a new one"
        log.warning("%s", warning)
        return Loaded(tracks={name: Track() for name in accounts}, warning=warning, _keep=keep)

    def save(self, loaded: Loaded, new: Sequence[dict[str, Any]], now: datetime,
             alerts: dict[str, Any] | None = None) -> None:
        """``loaded`` with the ``new`` records (and the alert state, if given) written atomically (temp
        file, fsync, rename, fsync the folder), mode 0600, pruned by retention."""
        head = dict(loaded._head) or {"version": VERSION}
        state = loaded.alerts if alerts is None else alerts
        head.pop("alerts", None)
        if state:
            head["alerts"] = state
        pieces, ordered = _pieces(loaded, new, now)
        target = self.target
        folder = target.parent
        # Temp files of a writer that was killed mid-save (it held the lock we hold now): never history.
        for stale in folder.glob(f".{glob.escape(target.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        with replacing(target, 0o600) as handle, self._source(loaded) as source:
            handle.write(_head_bytes(head))
            for n, piece in enumerate(_coalesced(pieces)):
                if n:
                    handle.write(_CUT)
                if isinstance(piece, bytes):
                    handle.write(piece)
                elif source is not None:
                    handle.flush()
                    _copy(source, handle.fileno(), *piece)
                else:
                    handle.write(memoryview(loaded._data)[piece[0]:piece[1]])
            handle.write(b"\n]}\n" if pieces else b"]}\n")
        if ordered:
            self._remember()
            self._write_window(loaded, new, now)
        else:
            self._forget()

    @contextlib.contextmanager
    def _source(self, loaded: Loaded) -> Iterator[int | None]:
        """The file read, opened again to copy its bytes file to file, when it was mapped and is still
        the same file (we hold the lock); else None, and the bytes are written from memory."""
        if not isinstance(loaded._data, mmap.mmap):
            yield None
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            yield fd if _signature(os.fstat(fd)) == loaded._stat else None
        finally:
            os.close(fd)

    # The window file, beside the history, keeps what the report reads of it — each account's track over
    # the last 8 days — as the last save left it, with that save's signature: a run whose history still
    # matches reads the tracks from it instead of parsing and comparing a week of snapshots again. It is
    # only ever derived from the history: a missing, stale or damaged one costs one slower run, never a
    # wrong number.

    @property
    def window_path(self) -> Path:
        return self.path.with_name(self.path.name + ".window")

    def _known(self, stat: os.stat_result, accounts: Sequence[str], now: datetime, keep: Keep) -> Known | None:
        try:
            with open(self.window_path, "rb") as handle:
                digest, _, body = handle.read().partition(b"\n")
            if digest != _digest(body):  # damaged (a disk, a hand): every byte must be as written
                return None
            doc = json.loads(body)
            if doc.get("version") != VERSION or doc.get("history") != _signature(stat):
                return None
            known = Known({name: Track.from_json(track) for name, track in doc["tracks"].items()},
                          moment(doc["edge"]), moment(doc["checks_from"]))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None
        # Every account the report wants, and the window the report reads, must be in it (an account
        # added to the config, or a clock set back, need lines the window file never kept).
        if not set(accounts) <= set(known.tracks) or _view_edge(now, keep) < known.edge:
            return None
        return known

    def _write_window(self, loaded: Loaded, new: Sequence[dict[str, Any]], now: datetime) -> None:
        keep = loaded._keep
        edge, check_edge = _view_edge(now, keep), now - timedelta(days=keep.check_days)
        added = points_of(r for r in (parse(value) for value in new) if r is not None)
        head = {"version": VERSION, "history": _signature(os.stat(self.target)), "edge": micros(edge),
                "checks_from": micros(check_edge)}
        try:
            with replacing(self.window_path, 0o600, durable=False) as handle:  # read only if it matches
                # The first line is the digest of the rest, written last.
                digest = hashlib.blake2b(digest_size=16)
                handle.write(b"0" * 32 + b"\n")

                def write(text: str) -> None:
                    data = text.encode()
                    digest.update(data)
                    handle.write(data)

                write(json.dumps(head)[:-1] + ', "tracks": {')
                for n, (name, track) in enumerate(loaded.tracks.items()):
                    fresh = added.get(name, [])
                    if fresh and track.time and min(micros(p.time) for p in fresh) < track.time[-1]:
                        track = Track.of([*track.points(), *fresh])  # the clock moved back: in time order
                    elif fresh:  # to a copy: the report may still read the track it loaded
                        track = track.select([range(len(track))]).extended(fresh)
                    track = track.pruned(now - timedelta(days=keep.days), check_edge).kept(edge)
                    # An account at a time: a week of 200 accounts' snapshots is never one string in memory.
                    write(", " * bool(n) + json.dumps(name, ensure_ascii=False) + ": "
                          + json.dumps(track.to_json(), ensure_ascii=False, separators=(",", ":")))
                write("}}\n")
                handle.seek(0)
                handle.write(digest.hexdigest().encode())
        except OSError as exc:  # the history is saved: the next run reads it the slower way
            log.warning("window file not written: %s", exc.strerror or exc)

    # The lock file (never deleted, otherwise empty) remembers which file the last save wrote: size,
    # modification time and inode. A file that still matches is ours, unedited, in time order, and the
    # next run reads only what it needs. Any edit, copy or replacement changes it: the file is checked.

    def _remember(self) -> None:
        with contextlib.suppress(OSError):
            self._write_lock_text(_signature(os.stat(self.target)))

    def _forget(self) -> None:
        with contextlib.suppress(OSError):
            self._write_lock_text("")

    def _write_lock_text(self, text: str) -> None:
        fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def _written(self) -> str | None:
        try:
            with open(self.lock_path, "rb") as handle:
                return handle.read(200).decode("ascii", "replace") or None
        except OSError:
            return None


def _copy(source: int, target: int, start: int, end: int) -> None:
    """Bytes ``start`` to ``end`` of ``source`` appended to ``target`` by the kernel, never through this
    process's memory; a piece at a time where the file system cannot (then still bounded)."""
    while start < end:
        try:
            done = os.copy_file_range(source, target, end - start, start)
        except OSError:
            done = os.write(target, os.pread(source, min(end - start, _CHUNK), start))
        if done <= 0:
            raise OSError(errno.EIO, "the history file ended while it was copied")
        start += done


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).hexdigest().encode()


def _signature(stat: os.stat_result) -> str:
    return f"written v{VERSION} {stat.st_size} {stat.st_mtime_ns} {stat.st_ino} {stat.st_dev}"


Piece = tuple[int, int] | bytes  # a range of the bytes read, or a new line


def _coalesced(pieces: list[Piece]) -> Iterator[Piece]:
    """Neighbouring ranges of the file read as one: a year of lines is written in a few calls."""
    run: tuple[int, int] | None = None
    for piece in pieces:
        if isinstance(piece, tuple) and run is not None and piece[0] == run[1] + len(_CUT):
            run = (run[0], piece[1])
            continue
        if run is not None:
            yield run
        run = piece if isinstance(piece, tuple) else None
        if run is None:
            yield piece
    if run is not None:
        yield run


def _pieces(loaded: Loaded, new: Sequence[dict[str, Any]], now: datetime) -> tuple[list[Piece], bool]:
    """What a save writes, as byte ranges of the file read and lines; and whether it is in time order."""
    keep = loaded._keep
    report_edge = now - timedelta(days=keep.days)
    check_edge = now - timedelta(days=keep.check_days)

    def kept(line: _Line) -> bool:
        r = line.record
        return r is None or r.time >= (check_edge if r.run == "check" else report_edge)

    # Past retention, an account's newest successful report record stays while it has none later: a clock
    # set a year ahead, or an account removed long ago, never empties the file of what it knew.
    later = loaded._later | {record.get("account") for record in new
                             if record.get("run", "report") == "report" and record.get("ok") is True}
    newest: dict[str, _Line] = {}
    for line in loaded._front:
        r = line.record
        if r is not None and r.run == "report" and r.ok and r.account not in later:
            newest[r.account] = line
    protected = {id(line) for line in newest.values()}
    front = [line.span for line in loaded._front if line.record is None or id(line) in protected]
    middle = [part if isinstance(part, tuple) else part.span for part in loaded._middle
              if isinstance(part, tuple) or kept(part)]
    back: list[tuple[datetime | None, Piece]] = [(line.record.time if line.record else None, line.span)
                                                 for line in loaded._back if kept(line)]
    floor = datetime.min.replace(tzinfo=timezone.utc)
    added: list[tuple[datetime | None, Piece]] = sorted(
        ((parse_time(record.get("time")) or floor, _line(record)) for record in new), key=lambda item: item[0] or floor)
    last = max((t for t, _ in back if t is not None), default=None)
    # New lines older than the middle's last (records not of this run): written in order all the same;
    # the file is then not known to be in time order, and the next run checks it in full.
    settled = not added or loaded._settled is None or (added[0][0] or floor) >= loaded._settled
    if not added or last is None or (added[0][0] or floor) >= last:
        return [*front, *middle, *(t for _, t in back), *(t for _, t in added)], settled
    # The clock moved back: the new lines go where their times say. They are newer than the middle
    # (older than the window), so that keeps the file in time order, unless a line's time is unknown.
    ordered = all(t is not None for t, _ in back)
    lines = sorted(back + added, key=lambda item: item[0] or floor) if ordered else back + added
    return [*front, *middle, *(t for _, t in lines)], ordered and settled
