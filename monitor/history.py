"""The JSON history file: lock, load, append, prune and save atomically. Nothing here ever deletes it."""

from __future__ import annotations

import bisect
import contextlib
import errno
import glob
import itertools
import json
import logging
import operator
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from monitor.collect import AccountResult

log = logging.getLogger(__name__)

VERSION = 1
MAX_AMOUNT = Decimal("1e15")  # as the providers: no balance is this large


class HistoryLocked(Exception):
    """Another run holds the lock and did not release it in time."""


class LockUnavailable(Exception):
    """The lock file cannot be opened or created (a missing or read-only folder): nothing can be saved."""


@dataclass(frozen=True)
class Record:
    """One parsed record; the raw dict is what is written back, so unknown fields survive."""

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


# The report reads the last 7×24 h (burn rate) and the last 7 local days (trend, from local midnight six
# days ago: less than 7×24 h back in any zone); 8 days cover both with a day to spare (DST). Before that
# it needs only each account's latest successful snapshot.
REPORT_WINDOW = timedelta(days=8)


class Loaded:
    """The history as read.

    ``entries`` holds every record in file order: its JSON text (``bytes``) when the file has this module's
    layout (one record per line), else the parsed value. Texts are parsed only when needed, and written
    back as they were read, so a year of history costs a run little more than a week.
    """

    def __init__(self, raw: Sequence[Any] | None = None, warning: str | None = None, refused: bool = False,
                 entries: Sequence[Any] | None = None) -> None:
        self.entries = Entries(entries if entries is not None else raw or [])
        self.warning = warning  # shown in the report: the file was set aside, or is not ours to write
        self.refused = refused  # the file must be left untouched (unknown version)

    def plus(self, records: Iterable[dict[str, Any]]) -> Entries:
        """The entries and then ``records``: what a run saves (``HistoryFile.save`` takes it as is)."""
        new = list(records)
        both = Entries([*self.entries, *new])
        keys, extra = self.entries.keys_in_order(), _ordered_keys(new)
        if keys is not None and extra is not None and (not keys or not extra or keys[-1] <= extra[0]):
            both.time_keys = _SlicedKeys(both) if isinstance(keys, _SlicedKeys) else [*keys, *extra]
        return both

    @property
    def raw(self) -> list[Any]:
        """Every record, parsed (costly on a big file: the report uses ``for_report``)."""
        return [_value(e) for e in self.entries]

    def for_report(self, now: datetime, accounts: Iterable[str]) -> list[Record]:
        """What the report reads of ``parse_all(raw)``, in file order: every record since
        ``now - REPORT_WINDOW``, and for each of ``accounts`` its latest successful records before that
        (its previous snapshot, and the step into the window). The report built on it is the same."""
        cutoff = now - REPORT_WINDOW
        wanted = set(accounts)
        keys = self.entries.keys_in_order()
        if keys is not None:
            # Records appended in time order, as runs write them: find the window's edge and read
            # back from it only as far as each account's latest success.
            edge = bisect.bisect_left(keys, _time_key(cutoff))
            chosen = list(range(edge, len(keys))) + _latest_ok_before(self.entries, keys, edge, wanted)
        else:
            chosen = _chosen_by_parsing(self.entries, cutoff, wanted)
        return [r for r in (parse(_value(self.entries[i])) for i in sorted(chosen)) if r is not None]


class _SlicedKeys:
    """The time keys of entries known to be in time order with a key each (a file the last save wrote
    so): sliced from a line when asked, and bisecting asks a few dozen times."""

    def __init__(self, entries: list[Any]) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> bytes:
        entry = self._entries[index]
        key = entry[10:29] if type(entry) is bytes else _dict_time_key(entry)
        assert key is not None
        return key


Keys = list[bytes] | _SlicedKeys


class Entries(list[Any]):
    """Records as ``Loaded`` holds them, with their times in order (``_ordered_keys``) once known."""

    time_keys: Keys | None = None
    _looked = False

    def keys_in_order(self) -> Keys | None:
        if self.time_keys is None and not self._looked:
            self.time_keys, self._looked = _ordered_keys(self), True
        return self.time_keys


def _latest_ok_before(entries: list[Any], keys: Keys, edge: int, wanted: set[str]) -> list[int]:
    """Indexes before ``edge`` of each wanted account's latest successful records (all, if tied)."""
    found: dict[str, bytes] = {}
    floor: bytes | None = None  # once every account is found: no tie can come before the earliest
    picked: list[int] = []
    for index in range(edge - 1, -1, -1):
        key = keys[index]
        if not wanted or (floor is not None and key < floor):
            break
        name = _fast_account(entries[index])
        if name is not None and (name not in wanted or found.get(name, key) != key):
            continue
        record = parse(_value(entries[index]))
        if record is None or not record.ok or record.account not in wanted:
            continue
        if found.setdefault(record.account, key) == key:
            picked.append(index)
            if floor is None and len(found) == len(wanted):
                floor = min(found.values())
    return picked


def _chosen_by_parsing(entries: list[Any], cutoff: datetime, wanted: set[str]) -> list[int]:
    """``_latest_ok_before`` and the window for a file out of time order or written by hand: parse it all."""
    chosen, older = [], []
    for index, entry in enumerate(entries):
        record = parse(_value(entry))
        if record is not None and record.time >= cutoff:
            chosen.append(index)
        elif record is not None and record.ok and record.account in wanted:
            older.append((record, index))
    best: dict[str, datetime] = {}
    for record, _ in older:
        best[record.account] = max(best.get(record.account, record.time), record.time)
    return chosen + [index for record, index in older if best[record.account] == record.time]


def money(value: Decimal | None) -> str | None:
    """The decimal string form of money in the file and in --json (4 places)."""
    return None if value is None else f"{value:.4f}"


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def record_of(result: AccountResult) -> dict[str, Any]:
    """The history record of one query (the SPEC's fields, plus ``note``)."""
    snap = result.snapshot
    return {
        "time": utc_text(result.time),
        "account": result.account.name,
        "key_fingerprint": result.fingerprint,
        "provider": result.account.provider,
        "ok": result.ok,
        "currency": snap.currency if snap else (result.account.currency or None),
        "balance": money(snap.balance) if snap else None,
        "used": money(snap.used) if snap else None,
        "total": money(snap.total) if snap else None,
        "unlimited": bool(snap and snap.unlimited),
        "error": result.error,
        "note": snap.note if snap else None,
    }


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None  # a time without an offset is ambiguous: not used


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    # A hand-edited 1e30 would make every later sum overflow the report's arithmetic: not a usable amount.
    return number if number.is_finite() and number.copy_abs() < MAX_AMOUNT else None


def parse(raw: Any) -> Record | None:
    """A record from its dict, or None when it is too damaged to use (it is still kept in the file)."""
    if not isinstance(raw, dict):
        return None
    moment = parse_time(raw.get("time"))
    name = raw.get("account")
    if moment is None or not isinstance(name, str):
        return None
    fp = raw.get("key_fingerprint")
    return Record(
        time=moment,
        account=name,
        key_fingerprint=fp if isinstance(fp, str) and fp else None,
        provider=raw.get("provider") if isinstance(raw.get("provider"), str) else None,
        ok=raw.get("ok") is True,
        currency=raw.get("currency") if isinstance(raw.get("currency"), str) else None,
        balance=_decimal(raw.get("balance")),
        used=_decimal(raw.get("used")),
        total=_decimal(raw.get("total")),
        unlimited=raw.get("unlimited") is True,
        error=raw.get("error") if isinstance(raw.get("error"), str) else None,
    )


def parse_all(raw_records: Sequence[Any]) -> list[Record]:
    return [r for r in (parse(item) for item in raw_records) if r is not None]


class HistoryFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

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

    def load(self, now: datetime, dry_run: bool = False) -> Loaded:
        """The records; an unparsable file is moved aside (left in place on a dry run) and reported."""
        try:
            with open(self.path, "rb") as handle:
                signature = _signature(os.fstat(handle.fileno()))
                data = handle.read()
        except FileNotFoundError:
            return Loaded()
        written = self._written()
        if written in (signature, f"{signature} ordered"):
            # Byte for byte the file the last save wrote (and checked): no need to parse it all again,
            # nor, when it was written in time order, to read the times of all its lines.
            lines = _lines(data)
            if lines is not None and written.endswith(" ordered"):
                loaded = Loaded(entries=lines)
                loaded.entries.time_keys = _SlicedKeys(loaded.entries)
                return loaded
            if lines is not None and data.count(b'},\n{"time": "') == len(lines) - 1:
                loaded = Loaded(entries=lines)
                loaded.entries.time_keys = _line_keys(data, lines)
                return loaded
        try:
            # Checks the whole file, but builds no dict for a record in this module's layout (a year of
            # records as dicts is ~200 MB); those are kept as their lines of text.
            document = json.loads(data.decode("utf-8"), object_pairs_hook=_shallow)
            if isinstance(document, dict) and document.get("version", VERSION) != VERSION:
                return self._refuse(data)  # before the shape check: a newer version may change the shape
            if not isinstance(document, dict) or not isinstance(document.get("records"), list):
                raise ValueError('not a {"version": 1, "records": [...]} document')
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            reason = str(exc).splitlines()[0][:120]
            if dry_run:
                warning = f"history file {self.path} cannot be read ({reason}); a real run will set it aside"
            else:
                aside = self.path.with_name(f"{self.path.name}.corrupt-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}")
                os.replace(self.path, aside)
                warning = f"history file cannot be read ({reason}); moved aside to {aside}, starting a new one"
            log.warning("%s", warning)
            return Loaded(warning=warning)
        loaded = Loaded(entries=_entries(data, document["records"]))
        loaded.entries.time_keys = _line_keys(data, loaded.entries) if loaded.entries else None
        return loaded

    def _refuse(self, data: bytes) -> Loaded:
        document = json.loads(data.decode("utf-8"))  # plain dicts: this rare path need not be fast
        warning = (f"history file {self.path} has version {document.get('version')!r}, which this release does "
                   "not know; left untouched and not updated (upgrade api-balance-monitor)")
        log.error("%s", warning)
        records = document.get("records")
        return Loaded(raw=records if isinstance(records, list) else [], warning=warning, refused=True)

    def save(self, raw_records: Sequence[Any], now: datetime, retention_days: int) -> None:
        """Prune by retention and write atomically (temp file, fsync, rename, fsync the folder), mode 0600.

        ``raw_records`` are dicts, or entries of ``Loaded`` (lines of text, written back as they were)."""
        kept, ordered = _prune(raw_records, now, retention_days)
        folder = self.path.parent
        # Temp files of a writer that was killed mid-save (it held the lock we hold now): never history.
        for stale in folder.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.writelines(_serialise(kept))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        except OSError:
            pass  # some file systems cannot fsync a folder; the rename is still atomic
        finally:
            os.close(dir_fd)
        self._remember(ordered)

    # The lock file (never deleted, otherwise empty) remembers which file the last save wrote: size,
    # modification time and inode. A file that still matches is ours, unedited, hence valid JSON, and
    # the next run skips the full parse (a third of a run's time at a year of 200 accounts). Any edit,
    # copy or replacement changes the signature, and the file is checked in full as before.

    def _remember(self, ordered: bool) -> None:
        with contextlib.suppress(OSError):
            signature = _signature(os.stat(self.path)) + (" ordered" if ordered else "")
            fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, signature.encode())
            finally:
                os.close(fd)

    def _written(self) -> str | None:
        try:
            with open(self.lock_path, "rb") as handle:
                return handle.read(200).decode("ascii", "replace")
        except OSError:
            return None


def prune(raw_records: Sequence[Any], now: datetime, retention_days: int) -> list[Any]:
    """Drop records older than the retention; keep those whose time cannot be read (a person may fix them)."""
    return _prune(raw_records, now, retention_days)[0]


def _prune(raw_records: Sequence[Any], now: datetime, retention_days: int) -> tuple[list[Any], bool]:
    """``prune``, and whether what it kept is in time order with every time in the form keys are read."""
    cutoff = now - timedelta(days=retention_days)
    records = list(raw_records)
    keys = raw_records.keys_in_order() if isinstance(raw_records, Entries) else _ordered_keys(records)
    if keys is not None:
        edge = bisect.bisect_left(keys, _time_key(cutoff))
        # Dropped by their text; kept if it is no real time (2026-13-45T…), as a parse would say.
        unreal = [r for i, r in enumerate(records[:edge]) if parse_time(keys[i].decode() + "+00:00") is None]
        return unreal + records[edge:], not unreal
    return [r for r in records if (moment := _time_of(r)) is None or moment >= cutoff], False


def _time_of(raw: Any) -> datetime | None:
    value = _value(raw)
    return parse_time(value.get("time")) if isinstance(value, dict) else None


def _serialise(records: Sequence[Any]) -> Iterator[bytes]:
    # One record per line: small enough at a year of 200 accounts, and easy to read and repair by hand.
    if not records:
        yield f'{{"version": {VERSION}, "records": []}}\n'.encode()
        return
    yield _HEAD
    for start in range(0, len(records), 4096):  # in slices: one big join would double the memory
        chunk = records[start:start + 4096]
        try:
            text = b",\n".join(chunk)  # lines as read: the usual case
        except TypeError:
            text = b",\n".join([r if isinstance(r, bytes) else _line(r) for r in chunk])
        yield (b",\n" if start else b"") + text
    yield _TAIL


def _line(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")


# --- records kept as their line of text ---------------------------------------------------------------

_HEAD = f'{{"version": {VERSION}, "records": [\n'.encode()
_TAIL = b"\n]}\n"
_TIME_PREFIX = b'{"time": "'
_UTC_ACCOUNT = b'+00:00", "account": "'  # ends a time of the form 2026-11-28T01:05:00+00:00
_KEY_AFTER_CUT = re.compile(rb',\n\{"time": "(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\+00:00", "account": "')
_SHALLOW = object()  # a record of this module's layout, left unbuilt by the checking parse


def _shallow(pairs: list[tuple[str, Any]]) -> Any:
    return _SHALLOW if pairs and pairs[0][0] == "time" else dict(pairs)


def _signature(stat: os.stat_result) -> str:
    return f"written v{VERSION} {stat.st_size} {stat.st_mtime_ns} {stat.st_ino} {stat.st_dev}"


def _lines(data: bytes) -> list[bytes] | None:
    """The text between this module's head and tail, cut at each ``,\\n``; None for another layout."""
    if not (data.startswith(_HEAD) and data.endswith(_TAIL)):
        return None
    lines = data.split(b",\n")
    lines[0] = lines[0][len(_HEAD):]
    lines[-1] = lines[-1][:-len(_TAIL)]
    return lines


def _entries(data: bytes, records: list[Any]) -> list[Any]:
    """Each record's line of text where it has one, else its parsed value (a file laid out otherwise)."""
    lines = _lines(data) or []
    if len(lines) == len(records) and _aligned(data, lines, records):
        # Records of another shape are parsed again: the checking parse left their inner objects unbuilt.
        return [line if item is _SHALLOW else json.loads(line) for line, item in zip(lines, records)]
    # Valid JSON in another layout (reformatted by hand): parse it the ordinary way.
    return list(json.loads(data.decode("utf-8"))["records"])


def _aligned(data: bytes, lines: list[bytes], records: list[Any]) -> bool:
    """Whether line i holds record i: each line one whole object, those of this layout starting with the time."""
    if all(item is _SHALLOW for item in records):
        # The common case, checked at C speed: every cut between lines falls between two such records.
        return (lines[0].startswith(_TIME_PREFIX) and lines[-1].endswith(b"}")
                and data.count(b'},\n{"time": "') == len(lines) - 1)
    return all(
        line[:1] == b"{" and line[-1:] == b"}" and (item is not _SHALLOW or line.startswith(_TIME_PREFIX))
        for line, item in zip(lines, records)
    )


def _value(entry: Any) -> Any:
    if not isinstance(entry, bytes):
        return entry
    try:
        return json.loads(entry)
    except ValueError:
        return None  # only a file edited behind the signature's back (parse() then skips the record)


def _time_key(moment: datetime) -> bytes:
    """``moment`` (rounded up to the second) as the keys below write it: UTC text to the second."""
    if moment.microsecond:
        moment += timedelta(microseconds=1_000_000 - moment.microsecond)
    return utc_text(moment)[:19].encode()


def _ordered_keys(entries: Sequence[Any]) -> list[bytes] | None:
    """Each record's UTC time to the second, as text that sorts as time does (2026-11-28T01:05:00 for
    "2026-11-28T01:05:00+00:00"), read without parsing, when every record has one and they are in
    time order; else None. (Whether the text is a real date is not checked: callers parse what they use.)"""
    keys = [
        (k if e[29:50] == _UTC_ACCOUNT and e[:10] == _TIME_PREFIX and b"\\" not in (k := e[10:29])
         and k[10:11] == b"T" else None)
        if type(e) is bytes else _dict_time_key(e)
        for e in entries
    ]
    return _if_in_order(keys)


def _line_keys(data: bytes, lines: list[bytes]) -> list[bytes] | None:
    """``_ordered_keys(lines)`` of a file in this module's layout, read at C speed from the whole text."""
    first = _ordered_keys(lines[:1])
    rest = _KEY_AFTER_CUT.findall(data)
    if first is None or len(rest) != len(lines) - 1:
        return None
    return _if_in_order(first + rest)


def _if_in_order(keys: list[bytes | None]) -> list[bytes] | None:
    if None in keys:
        return None
    known = cast("list[bytes]", keys)
    return known if all(map(operator.le, known, itertools.islice(known, 1, None))) else None


def _dict_time_key(record: Any) -> bytes | None:
    # Only a time that comes first: written out, the key is then where _SlicedKeys reads it.
    moment = record.get("time") if isinstance(record, dict) and next(iter(record), None) == "time" else None
    if isinstance(moment, str) and len(moment) == 25 and moment[10] == "T" and moment.endswith("+00:00"):
        return moment[:19].encode()
    return None


def _fast_account(entry: Any) -> str | None:
    """The account of a line this module wrote, when its name needs no escaping; else None."""
    if type(entry) is not bytes:
        return None
    end = entry.find(b'", "key_fingerprint": ', 50)
    name = entry[50:end] if end > 0 else b""
    if not name or b'"' in name or b"\\" in name:
        return None
    return name.decode("utf-8", "replace")
