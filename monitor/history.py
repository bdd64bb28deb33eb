"""The JSON history file: lock, load, append, prune and save atomically. Nothing here ever deletes it."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from monitor.collect import AccountResult

log = logging.getLogger(__name__)

VERSION = 1
MAX_AMOUNT = Decimal("1e15")  # as the providers: no balance is this large


class HistoryLocked(Exception):
    """Another run holds the lock and did not release it in time."""


class LockUnavailable(Exception):
    """The lock file cannot be opened or created (a missing or read-only folder): nothing can be saved."""


class HistoryRefused(Exception):
    """A history this release must not rewrite (a newer version's file)."""


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


@dataclass
class Loaded:
    raw: list[dict[str, Any]] = field(default_factory=list)
    warning: str | None = None  # shown in the report: the file was set aside, or is not ours to write
    refused: bool = False  # the file must be left untouched (unknown version)


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
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Loaded()
        try:
            document = json.loads(data.decode("utf-8"))
            if isinstance(document, dict) and document.get("version", VERSION) != VERSION:
                return self._refuse(document)  # before the shape check: a newer version may change the shape
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
        return Loaded(raw=document["records"])

    def _refuse(self, document: dict[str, Any]) -> Loaded:
        warning = (f"history file {self.path} has version {document.get('version')!r}, which this release does "
                   "not know; left untouched and not updated (upgrade api-balance-monitor)")
        log.error("%s", warning)
        records = document.get("records")
        return Loaded(raw=records if isinstance(records, list) else [], warning=warning, refused=True)

    def save(self, raw_records: Sequence[dict[str, Any]], now: datetime, retention_days: int) -> None:
        """Prune by retention and write atomically (temp file, fsync, rename, fsync the folder), mode 0600."""
        kept = prune(raw_records, now, retention_days)
        text = _serialise(kept)
        folder = self.path.parent
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(text)
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


def prune(raw_records: Sequence[dict[str, Any]], now: datetime, retention_days: int) -> list[dict[str, Any]]:
    """Drop records older than the retention; keep those whose time cannot be read (a person may fix them)."""
    cutoff = now - timedelta(days=retention_days)
    kept = []
    for raw in raw_records:
        moment = parse_time(raw.get("time")) if isinstance(raw, dict) else None
        if moment is None or moment >= cutoff:
            kept.append(raw)
    return kept


def _serialise(records: Sequence[dict[str, Any]]) -> str:
    # One record per line: small enough at a year of 200 accounts, and easy to read and repair by hand.
    lines = [json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) for r in records]
    body = ",\n".join(lines)
    if not lines:
        return f'{{"version": {VERSION}, "records": []}}\n'
    return f'{{"version": {VERSION}, "records": [\n{body}\n]}}\n'
