"""The history: a folder of JSON Lines files that each run appends to, and a state file.

    api_usage_history/
        reports-2026-11.jsonl      the records `run` wrote, a file a month (by the run's UTC time)
        checks-2026-11-28.jsonl    the records `check` wrote, a file a day
        state.json                 what one run carries to the next: the next seq, the alert state, ...
        .lock                      held by the run in progress (never deleted)

A run appends its records to one file in one write and fsyncs; nothing kept is ever rewritten. Records
are ordered by ``seq``, the run's number, never by their time, so a run made while the clock was wrong
takes its place in the order of runs. Pruning deletes whole files, and rewrites at most an old month of
reports down to the records it must keep (each account's newest successful report).

A line that cannot be read costs that line: it is skipped (a warning names the file and line, once) and
kept as it is. A torn last line (a crash mid-append) is skipped, and cut off by the next run before it
appends; a last line that lost only its newline is a whole record: read, and given its newline. Nothing
here ever deletes a record within retention.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from monitor import cache
from monitor.atomic import replacing
from monitor.cache import Histories, Part
from monitor.records import Record, line, parse, parse_time, utc_text
from monitor.usage import Series, moment

log = logging.getLogger(__name__)

VERSION = 2
# The report reads the last 7×24 h (burn rate, usual rate) and the last 7 local days (trend): 8 days of
# files cover both with a day to spare.
VIEW = timedelta(days=8)
_NAME = re.compile(r"(reports|checks)-(\d{4}-\d{2})(-\d{2})?\.jsonl")
_TAIL = 64 * 1024  # enough of a file's end to find its last whole line
FRESH = 256 * 1024  # the bytes after a file's cache worth a new cache (a run reads them plainly until then)


class HistoryLocked(Exception):
    """Another run holds the lock and did not release it in time."""


class LockUnavailable(Exception):
    """The folder or its lock file cannot be made or opened: nothing can be saved."""


@dataclass(frozen=True)
class Keep:
    """How long records are kept: a report's after ``days``, a check's after ``check_days``."""

    days: int = 90
    check_days: int = 8


@dataclass
class State:
    """What one run carries to the next (``state.json``)."""

    next_seq: int = 1
    alerts: dict[str, Any] = field(default_factory=dict)  # per channel: what it was told (see monitor.alerts)
    failing: list[str] = field(default_factory=list)  # the accounts whose query failed at their last run
    seen: dict[str, str] = field(default_factory=dict)  # when a run last had each account (UTC text)
    last_success: float | None = None
    clock: datetime | None = None  # the pruning clock: never ahead of the data (see ``_prune_clock``)
    warned: list[str] = field(default_factory=list)  # unreadable lines already warned about ("file:line")
    settled: dict[str, int] = field(default_factory=dict)  # old report files pruned to what stays, by size

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "next_seq": self.next_seq, "alerts": self.alerts, "failing": self.failing,
                "seen": self.seen,
                "last_success": self.last_success, "clock": self.clock and utc_text(self.clock),
                "warned": self.warned, "settled": self.settled}

    @classmethod
    def of(cls, raw: dict[str, Any]) -> State:
        """The state as read; a part of it that is damaged is left at its default."""
        def get(key: str, kind: type | tuple[type, ...], default: Any) -> Any:
            value = raw.get(key)
            return value if isinstance(value, kind) and not isinstance(value, bool) else default

        return cls(max(1, get("next_seq", int, 1)), get("alerts", dict, {}),
                   [f for f in get("failing", list, []) if isinstance(f, str)],
                   {k: v for k, v in get("seen", dict, {}).items() if parse_time(v) is not None},
                   get("last_success", (int, float), None),
                   parse_time(raw.get("clock")), [w for w in get("warned", list, []) if isinstance(w, str)],
                   {k: v for k, v in get("settled", dict, {}).items() if isinstance(v, int)})


@dataclass
class Loaded:
    """The history as a run reads it: the records (in ``seq`` order), the state, and what went wrong."""

    records: list[Record] = field(default_factory=list)  # read with ``everything`` only
    series: Mapping[str, Series] = field(default_factory=dict)  # each account's, made when asked for
    parts: list[Part] = field(default_factory=list)  # the files read
    newest: list[int] | None = None  # the highest seq read, and its newest time (µs)
    state: State = field(default_factory=State)
    last_seq: int = 0  # the highest seq in any file
    warning: str | None = None  # shown in the report
    refused: bool = False  # a newer release's history: left untouched, nothing written
    unreadable: list[str] = field(default_factory=list)  # "file:line" of the lines skipped
    torn: list[Path] = field(default_factory=list)  # files whose last line is cut short (a crash)
    files: dict[str, int] = field(default_factory=dict)  # every log file's size, by name


def partition(run: str, moment: datetime) -> str:
    """The file a run's records go to."""
    utc = moment.astimezone(timezone.utc)
    return f"reports-{utc:%Y-%m}.jsonl" if run == "report" else f"checks-{utc:%Y-%m-%d}.jsonl"


def _end_of(name: str) -> datetime | None:
    """When the period a file's name covers ends (None for a name this module did not give)."""
    found = _NAME.fullmatch(name)
    if not found:
        return None
    first = date.fromisoformat(found[2] + (found[3] or "-01"))
    end = first + timedelta(days=1) if found[3] else (first + timedelta(days=32)).replace(day=1)
    return datetime(end.year, end.month, end.day, tzinfo=timezone.utc)


class History:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state_path = folder / "state.json"
        self.lock_path = folder / ".lock"

    # --- the lock -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, wait_seconds: float) -> Iterator[None]:
        """Hold the run lock (``flock`` on a file that is never deleted, so there is no unlink race)."""
        import fcntl

        try:
            if not self.folder.is_dir():
                self.folder.mkdir(mode=0o700)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LockUnavailable(f"cannot open the lock file {self.lock_path}: {exc.strerror or exc}") from None
        try:
            self.own(self.lock_path)
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
                        f"another run holds {self.lock_path} and did not release it within {wait_seconds:g} s")
                if not announced:  # a log file then says why this run took so long
                    log.info("waiting for another run to release %s", self.lock_path)
                    announced = True
                time.sleep(0.1)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    # --- reading ------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The log's files, oldest name first."""
        try:
            return sorted(e.name for e in os.scandir(self.folder) if e.name.endswith(".jsonl") and e.is_file())
        except FileNotFoundError:
            return []

    def read(self, now: datetime, accounts: Sequence[str] = (), everything: bool = False) -> Loaded:
        """What a run needs, in ``seq`` order: the files of the last 8 days (by name or by change) and,
        for each of ``accounts`` without a successful report among them, its newest one further back.
        ``everything``: every file, its records too (no cache). Read only; ``OSError`` when the folder
        cannot be read."""
        state = self._state()
        if state is None:
            return self.refuse(Loaded(), f"{self.state_path} was written by a newer release")
        loaded = Loaded(state=state)
        edge = now - VIEW
        older: list[str] = []
        keep: list[Record] | None = [] if everything else None
        for name in self.names():
            path = self.folder / name
            stat = path.stat()
            loaded.files[name] = stat.st_size
            end = _end_of(name)
            if everything or end is None or end > edge or stat.st_mtime > edge.timestamp():
                loaded.parts.append(self._part(path, stat, loaded, keep))
            else:
                older.append(name)
                loaded.last_seq = max(loaded.last_seq, _last_seq(path, loaded))
            if loaded.refused:
                return Loaded(state=State(), warning=loaded.warning, refused=True)
        wanted = [a for a in accounts if not any(a in p.reported for p in loaded.parts)]
        for name in reversed(older):  # the newest report of an account that has none in the last 8 days
            if not wanted or not name.startswith("reports-"):
                continue
            found: dict[str, Record] = {}
            whole = Part(name)
            for r in self._records(self.folder / name, loaded, whole)[0]:
                if r.ok and r.run == "report" and r.account in wanted:
                    found[r.account] = r
            part = Part(name)
            part.add(list(found.values()), 0)
            part.whole = False  # not the file's records: never cached
            loaded.parts.append(part)
            wanted = [a for a in wanted if a not in found]
            loaded.unreadable += [f"{name}:{n}" for n in whole.unreadable]
        loaded.series = Histories(loaded.parts)
        if keep is not None:
            loaded.records = sorted(keep, key=lambda r: r.seq)
        tops = [p.top for p in loaded.parts if p.top]
        loaded.newest = max(tops) if tops else None
        loaded.last_seq = max(loaded.last_seq, loaded.newest[0] if loaded.newest else 0)
        fresh = [w for w in loaded.unreadable if w not in loaded.state.warned]
        for where in fresh:
            log.warning("history: %s/%s cannot be read; skipped, and kept as it is", self.folder, where)
        return loaded

    def _state(self) -> State | None:
        """The state as the last run left it; None when a newer release wrote it."""
        try:
            raw = json.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            if self.has_records():
                log.warning("history: %s is missing; starting from an empty state (alerts may be posted once "
                            "more)", self.state_path)
            return State()
        except (OSError, ValueError) as exc:
            log.warning("history: %s cannot be read (%s); starting from an empty state (alerts may be posted "
                        "once more)", self.state_path, exc)
            return State()
        if not isinstance(raw, dict):
            log.warning("history: %s holds no state; starting from an empty one", self.state_path)
            return State()
        return State.of(raw) if raw.get("version", VERSION) == VERSION else None

    def refuse(self, loaded: Loaded, what: str) -> Loaded:
        loaded.refused = True
        loaded.warning = f"history: {what}; left untouched and not updated (upgrade api-balance-monitor)"
        log.error("%s", loaded.warning)
        return loaded

    def _part(self, path: Path, stat: os.stat_result, loaded: Loaded, keep: list[Record] | None) -> Part:
        """A log file as this run reads it: from its cache while the file begins with the bytes it was
        made from, and the lines after them. A file not written since its cache was made (the same inode,
        size, and modification and change times, which no edit leaves as they were) is not read at all."""
        part = None if keep is not None else cache.load(path)
        seen = cache.stamp(stat)  # before reading: an edit made after it shows in the next run's stat
        crc, data = (part.crc, b"") if part is not None and part.stat == seen else (0, None)
        if data is None:
            with open(path, "rb") as handle:
                if part is not None:
                    left = part.size
                    while left > 0 and (chunk := handle.read(min(left, 1 << 20))):
                        crc, left = zlib.crc32(chunk, crc), left - len(chunk)
                    if left or crc != part.crc:  # not the bytes it was made from: ignored
                        part, crc = None, 0
                        handle.seek(0)
                data = handle.read()
        part = part or Part(path.name)
        part.seen = seen
        records, seq = self._records(path, loaded, part, data)
        part.add(records, seq)
        if keep is not None:
            keep += records
        whole = data.rfind(b"\n") + 1  # what a cache of this file may hold: its whole lines
        part.whole = whole == len(data)
        part.read = whole
        part.next = (part.size + whole, zlib.crc32(data[:whole], crc), part.lines + data.count(b"\n", 0, whole))
        loaded.unreadable += [f"{path.name}:{n}" for n in part.unreadable]
        return part

    def _records(self, path: Path, loaded: Loaded, part: Part, data: bytes | None = None) -> tuple[list[Record], int]:
        """The records of ``data`` (the lines of ``path`` after ``part``'s; all of them by default), and
        the last one's seq. A line that cannot be read goes to ``part.unreadable``."""
        if data is None:
            data = path.read_bytes()
        if not part.size:
            data = data.removeprefix(b"\xef\xbb\xbf")  # a hand edit may add a byte-order mark
        lines = data.split(b"\n")
        if lines[-1]:  # no newline at the end: a crash cut the last append short
            loaded.torn.append(path)
        if _seq_of(lines[-1]) is None:  # cut short (or empty): skipped. A whole record that lost only its
            lines.pop()  # newline is read, as export reads it and as the repair keeps it (with its newline)
        try:  # one parse for the whole file; line by line only when a line is bad
            filled = [n for n, t in enumerate(lines, part.lines + 1) if t.strip()]
            values = json.loads(b"[" + b",".join(lines[n - part.lines - 1] for n in filled) + b"]")
            if len(values) != len(filled):  # a line holding two values ("{...}, {...}")
                raise ValueError("not one value a line")
            numbered = list(zip(filled, values))
        except ValueError:
            numbered = []
            for n, text in enumerate(lines, part.lines + 1):
                if text.strip():
                    try:
                        numbered.append((n, json.loads(text)))
                    except ValueError:
                        part.unreadable.append(n)
        records = []
        seq = part.seq
        for n, value in numbered:
            if isinstance(value, dict) and "account" not in value and "version" in value:
                if value["version"] != VERSION:
                    self.refuse(loaded, f"{path} has version {value['version']!r}, which this release does not know")
                continue
            record = parse(value, seq)  # a line without a seq (added by hand) follows the line before it
            if record is None:
                part.unreadable.append(n)
                continue
            seq = record.seq
            records.append(record)
        return records, seq

    # --- writing (under the lock) -------------------------------------------------------------------

    def append(self, loaded: Loaded, values: Sequence[dict[str, Any]], run: str, now: datetime) -> int:
        """``values`` (records without their seq) appended as the next run, in one write, fsynced; the
        torn last lines a crash left are cut off first. Returns the run's seq."""
        for path in loaded.torn:
            _cut_torn(path)
        for stale in [*self.folder.glob(".state.json.*.tmp"), *self.folder.glob(".*.jsonl.*.tmp")]:
            with contextlib.suppress(OSError):  # a killed run's temporary file (only the lock's holder makes one)
                stale.unlink()
        seq = max(loaded.state.next_seq, loaded.last_seq + 1)
        path = self.folder / partition(run, now)
        data = b"".join(line({"seq": seq, **value}) for value in values)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            start = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(data):  # a write may be short (a full disk, a file size limit)
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)  # not saved: the file as it was, never a part of this run
                raise
        finally:
            os.close(fd)
        self.own(path)
        loaded.files[path.name] = loaded.files.get(path.name, 0) + len(data)
        loaded.last_seq = seq
        loaded.state.next_seq = seq + 1
        return seq

    def prune(self, loaded: Loaded, now: datetime, keep: Keep) -> None:
        """Delete the files past retention; an old month of reports that holds an account's newest
        successful report is rewritten to those records alone."""
        clock = _prune_clock(loaded, now)
        loaded.state.clock = clock
        check_edge = clock - timedelta(days=min(keep.check_days, keep.days))
        report_edge = clock - timedelta(days=keep.days)
        for name in list(loaded.files):
            end = _end_of(name)
            if end is None:
                continue
            if name.startswith("checks-") and end <= check_edge:
                self._remove(name, loaded)
            elif name.startswith("reports-") and end <= report_edge and loaded.state.settled.get(name) != \
                    loaded.files[name]:
                self._settle(name, loaded)
        loaded.state.settled = {k: v for k, v in loaded.state.settled.items() if k in loaded.files}
        for stale in self.folder.glob(".*.jsonl.cache"):  # the cache of a file that is gone (removed by hand)
            if stale.name[1:-6] not in loaded.files:
                stale.unlink()
        loaded.state.warned = [w for w in loaded.unreadable if w.split(":")[0] in loaded.files]

    def _settle(self, name: str, loaded: Loaded) -> None:
        """``name`` down to the records that are some account's newest successful report."""
        path = self.folder / name
        data = path.read_bytes()
        mine: dict[str, int] = {}  # account: the seq of its newest successful report in this file
        for text in data.splitlines():
            try:
                r = parse(json.loads(text))
            except ValueError:
                continue
            if r is not None and r.ok and r.run == "report":
                mine[r.account] = max(mine.get(r.account, 0), r.seq)
        newer: dict[str, int] = {}
        for other in loaded.files:
            if other.startswith("reports-") and other > name:
                for text in (self.folder / other).read_bytes().splitlines():
                    with contextlib.suppress(ValueError):
                        r = parse(json.loads(text))
                        if r is not None and r.ok and r.run == "report" and r.account in mine:
                            newer[r.account] = max(newer.get(r.account, 0), r.seq)
        stays = {seq for account, seq in mine.items() if newer.get(account, 0) <= seq}
        kept = [text + b"\n" for text in data.splitlines() if _seq_of(text) in stays]
        if not kept:
            self._remove(name, loaded)
            return
        body = b"".join(kept)
        if body != data:
            with replacing(path, 0o600) as handle:
                handle.write(body)
            self.own(path)
        loaded.files[name] = len(body)
        loaded.state.settled[name] = len(body)

    def _remove(self, name: str, loaded: Loaded) -> None:
        for gone in (name, f".{name}.cache"):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / gone).unlink()
        del loaded.files[name]

    def remember(self, loaded: Loaded, run: str, now: datetime) -> None:
        """At most one file's cache brought up to date a run (what a run writes stays small): the file
        this run appends to when a cache would spare the next runs ``FRESH`` bytes, else the file
        with the most such bytes, or a closed one (its period over) with any; a check, only a day's."""
        own = partition(run, now)
        due = [p for p in loaded.parts if p.whole and p.name in loaded.files and
               (p.read >= FRESH or p.name != own and (end := _end_of(p.name)) is not None and end <= now
                and (p.read or p.stat != p.seen))  # or only stamped again (a chmod, a copy: read to check)
               and (run == "report" or p.name.startswith("checks-"))]  # a check writes little: a day's at most
        if not due:
            return
        part = next((p for p in due if p.name == own), None) or max(due, key=lambda p: p.read)
        path = self.folder / f".{part.name}.cache"
        with replacing(path, 0o600, durable=False) as handle:  # a copy of what the file says: never fsynced
            handle.write(cache.dump(part, *part.next))
        self.own(path)

    def write_state(self, state: State) -> None:
        with replacing(self.state_path, 0o600) as handle:
            handle.write(json.dumps(state.to_json(), ensure_ascii=False, indent=1).encode("utf-8") + b"\n")
        self.own(self.state_path)

    def own(self, path: Path) -> None:
        """Run as root on a folder that belongs to the job's user: the files stay that user's, so the
        next cron run (as that user) can still write them."""
        if os.geteuid() != 0:
            return
        owner = self.folder.stat()
        if owner.st_uid != 0:
            os.chown(path, owner.st_uid, owner.st_gid)

    # --- import and export: monitor.transfer --------------------------------------------------------

    def has_records(self) -> bool:
        return any((self.folder / name).stat().st_size for name in self.names())


def _prune_clock(loaded: Loaded, now: datetime) -> datetime:
    """The time pruning goes by: now, but never more than a day past the last run's time (or the last
    pruning clock): one run with a clock set a year ahead prunes at most a day early, not the year."""
    last = moment(loaded.newest[1]) if loaded.newest and loaded.newest[0] == loaded.last_seq - 1 else None
    anchors = [t for t in (loaded.state.clock, last) if t is not None]
    return min(now, max(anchors) + timedelta(days=1)) if anchors else now


def _seq_of(text: bytes) -> int | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    seq = value.get("seq") if isinstance(value, dict) else None
    return seq if type(seq) is int else None


def _last_seq(path: Path, loaded: Loaded) -> int:
    """The seq of a file's last whole line (the highest: lines are appended in order of runs)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL))
        tail = handle.read()
    if tail and not tail.endswith(b"\n"):
        loaded.torn.append(path)
    for text in reversed(tail.split(b"\n")):  # the last piece too: a whole record without its newline
        seq = _seq_of(text)
        if seq is not None:
            return seq
    return 0


def _cut_torn(path: Path) -> None:
    """A last line without its newline: kept (with the newline) when it is a whole record, else cut off."""
    with open(path, "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL))
        tail = handle.read()
        if not tail or tail.endswith(b"\n"):
            return
        start = tail.rfind(b"\n") + 1
        if _seq_of(tail[start:]) is not None:
            handle.write(b"\n")
        else:
            log.warning("history: %s ended in a line cut short (a run was stopped mid-write); cut off", path)
            handle.truncate(size - (len(tail) - start))
        handle.flush()
        os.fsync(handle.fileno())
