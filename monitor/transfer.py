"""Moving records into and out of the history: the v1 migration on the first run, `history import`,
`history export`.

An import reads its file as a stream, with bounded memory: a v1 history (the single JSON document
``{"version": 1, "alerts": {...}, "records": [...]}`` earlier releases wrote, on one line or many) or JSON
Lines (``history export``). A record that cannot be read costs that record, not the file.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from monitor.history import VIEW, History, Loaded, State, partition
from monitor.records import line, parse, parse_time, utc_text
from monitor.usage import series_of

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_LONGEST = 1 << 20  # no record is this long: a value that will not parse within it is broken, not cut short
_SPACE = re.compile(r"\s*")
_BETWEEN = re.compile(r"[\s,]*")  # between two records
_DOCUMENT = re.compile(r'\{\s*"(?:version|alerts|records)"\s*:')
_DECODE = json.JSONDecoder().raw_decode
_PLAIN = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]+)?")  # an amount that is a number below records.MAX_AMOUNT
_AMOUNTS = re.compile(rf"{_PLAIN.pattern} {_PLAIN.pattern} {_PLAIN.pattern}")  # balance, used and total


class Unknown(ValueError):
    """A document of a version this release does not know."""


# --- out ----------------------------------------------------------------------------------------------


def export(history: History, since: datetime | None, until: datetime | None, account: str | None) -> Iterator[bytes]:
    """Every record (as written, its seq filled in), in seq order, within the bounds given."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    for name in history.names():
        seq = 0
        for n, text in enumerate((history.folder / name).read_bytes().split(b"\n")):
            try:
                value = json.loads(text)
            except ValueError:
                continue
            record = parse(value, seq)
            if record is None:
                continue
            seq = record.seq
            if (since is None or record.time >= since) and (until is None or record.time <= until) \
                    and (account is None or record.account == account):
                found.append((seq, n, {**value, "seq": seq}))
    for _, _, value in sorted(found, key=lambda item: item[:2]):
        yield line(value)


# --- in -----------------------------------------------------------------------------------------------


def migrate(history: History, legacy: Path, now: datetime) -> Loaded | None:
    """A v1 history file imported into the empty log, then renamed ``<file>.imported-<time>``; a
    refused ``Loaded`` when it is of a version this release does not know (it is left untouched)."""
    if not legacy.is_file() or history.has_records():
        return None
    try:
        with open(legacy, "rb") as handle:
            stream = Stream(handle)
            count, seq = load(history, stream.records(), stream)
    except Unknown as exc:
        return history.refuse(Loaded(), f"{legacy} has {exc}, which this release does not know")
    state = State(next_seq=seq + 1, alerts={"*": stream.head.get("alerts") or {}})
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # the metrics' last success
        state.last_success = float(json.loads(legacy.with_name(legacy.name + ".metrics-state").read_bytes())[
            "last_success_timestamp_seconds"])
    history.write_state(state)
    aside = legacy.with_name(f"{legacy.name}.imported-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}")
    os.rename(legacy, aside)
    log.warning("history: %d records of %s imported into %s%s; the file is kept as %s", count, legacy,
                history.folder, f" ({stream.skipped} unreadable, skipped)" if stream.skipped else "", aside)
    return None


def preview(history: History, legacy: Path, now: datetime, accounts: Sequence[str]) -> Loaded:
    """What ``history.read`` will give once ``legacy`` is imported (for a dry run, which writes nothing)."""
    with open(legacy, "rb") as handle:
        stream = Stream(handle)
        records, newest, seq = [], {}, 0
        try:
            for value in stream.records():
                record = parse(value, seq := seq + 1)
                if record is None:
                    continue
                if record.time >= now - VIEW:
                    records.append(record)
                elif record.ok and record.run == "report" and record.account in accounts:
                    newest[record.account] = record
        except Unknown as exc:
            return history.refuse(Loaded(), f"{legacy} has {exc}, which this release does not know")
    records = sorted([*newest.values(), *records], key=lambda r: r.seq)
    return Loaded(records=records, series=series_of(records),
                  state=State(alerts={"*": stream.head.get("alerts") or {}}))


def load(history: History, values: Iterable[dict[str, Any]], stream: Stream | None = None) -> tuple[int, int]:
    """An empty history filled with ``values`` in their order: each run (consecutive records of one
    seq, or of one time and command) gets the next seq. A value read from ``stream`` is written as the
    file has it, its seq put first (when it has none, on one line). Returns how many records were
    written, and the last seq. On an error, the files it made are removed again."""
    handles: dict[str, IO[bytes]] = {}  # the files written, each opened once
    newest: dict[str, float] = {}  # each file's newest record: its modification time once written
    times: dict[datetime, tuple[str, float, str, str]] = {}  # a run's time: UTC text, timestamp, files
    seq, count, last, at = 0, 0, None, None
    try:
        for value in values:
            moment = usable(value)
            if moment is None:
                continue
            if moment is not at:  # a run's records share their time (one parse of it): worked out once
                if moment not in times:
                    times[moment] = (utc_text(moment), moment.timestamp(), partition("report", moment),
                                     partition("check", moment))
                at, (utc, stamp, reports, checks) = moment, times[moment]
            check = value.get("run") == "check"
            run = (value.get("seq"), utc, check)
            if run != last:
                seq, last = seq + 1, run
                name = checks if check else reports
                if name not in handles:
                    handles[name] = open(history.folder / name, "ab")  # noqa: SIM115 (closed below)
                    os.fchmod(handles[name].fileno(), 0o600)
                write = handles[name].write
                newest[name] = max(newest.get(name, 0.0), stamp)
            text = stream.text if stream is not None else ""
            if text.startswith("{") and "seq" not in value and "\n" not in text and "\r" not in text:
                write(f'{{"seq": {seq}, {text[1:]}\n'.encode() if len(text) > 2 else line({"seq": seq}))
            else:
                write(line({**value, "seq": seq}))
            count += 1
        for handle in handles.values():
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        for name in handles:
            with contextlib.suppress(OSError):
                (history.folder / name).unlink()
        raise
    finally:
        for handle in handles.values():
            handle.close()
    for name in handles:
        history.own(history.folder / name)
        # A year imported at once must not look like a year of files changed today: a run reads the
        # files of the last 8 days, by name or by change.
        os.utime(history.folder / name, (newest[name], newest[name]))
    return count, seq


def usable(raw: Any) -> datetime | None:
    """The time of a record ``parse`` reads, None for one it skips: the same checks, nothing made (an
    import checks a year of records)."""
    if type(raw) is not dict:
        return None
    get = raw.get
    moment = parse_time(get("time"))
    if moment is None or type(get("account")) is not str or type(get("seq", 0)) is not int:
        return None
    # A plain number (as providers write them) needs no Decimal. Most records have all three amounts: one
    # match for the three costs less than three (no plain number holds a space, so none can run into another).
    balance, used, total = get("balance"), get("used"), get("total")
    if type(balance) is str and type(used) is str and type(total) is str \
            and _AMOUNTS.fullmatch(f"{balance} {used} {total}"):
        return moment
    for value in (balance, used, total):
        if value is not None and not (type(value) is str and _PLAIN.fullmatch(value)):
            return moment if parse(raw) is not None else None
    return moment


# --- reading a file as a stream -------------------------------------------------------------------------


class Stream:
    """The values of ``handle`` (bytes, UTF-8 with or without a BOM); ``head`` holds a v1 document's
    fields other than its records (``version``, ``alerts``) once they have been read, ``skipped`` how
    many records could not be read."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self.buf, self.pos, self.eof = "", 0, False
        self.head: dict[str, Any] = {}
        self.skipped = 0
        self.text = ""  # the last value's own text, as the file has it

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(CHUNK)
        self.eof = not chunk
        self.buf = self.buf[self.pos:] + self.decoder.decode(chunk, final=self.eof)
        self.pos = 0
        return True

    def _peek(self, space: re.Pattern[str] = _SPACE) -> str:
        while True:
            self.pos = space.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos:self.pos + 1]

    def _value(self) -> Any:
        """The next value (a v1 document's head: a key, or the value of one); ``ValueError`` when broken."""
        for value in self._values(_SPACE, "", strict=True):
            return value
        raise ValueError("no value")

    def _values(self, space: re.Pattern[str], close: str, strict: bool = False) -> Iterator[Any]:
        """The values up to ``close`` (``"]"``, or the end: ``""``) with ``space`` between them; a broken
        one skipped (``strict``: raised)."""
        while True:
            buf, pos, size = self.buf, self.pos, len(self.buf)
            while True:  # the values wholly within what was read: one decode each
                pos = space.match(buf, pos).end()  # type: ignore[union-attr]
                try:
                    value, end = _DECODE(buf, pos)
                except ValueError:
                    break
                if end == size and not self.eof and type(value) not in (dict, list, str):
                    break  # a number at the end of what was read may go on
                self.text, self.pos = buf[pos:end], end
                pos = end
                yield value
            self.pos = pos
            if close and buf.startswith(close, pos):
                return
            if len(buf) - pos <= _LONGEST and self._more():
                continue  # cut short by the end of what was read
            if pos == len(buf):
                return
            if strict:
                raise ValueError(f"broken at character {pos}")
            self._skip()

    def _skip(self) -> None:
        """Past a broken record: to the next line, or (a file of one line) to the next object."""
        self.skipped += 1
        while True:
            cut = self.buf.find("\n", self.pos + 1)
            if cut < 0:
                cut = self.buf.find("{", self.pos + 1)
            if cut >= 0:
                self.pos = cut
                return
            self.pos = len(self.buf)
            if not self._more():
                return

    def records(self) -> Iterator[Any]:
        self._peek()
        while len(self.buf) - self.pos < 4096 and self._more():
            pass
        if _DOCUMENT.match(self.buf, self.pos):
            yield from self._document()
        else:
            yield from self._values(_SPACE, "")

    def _document(self) -> Iterator[Any]:
        self.pos += 1  # the document's "{"
        while self._peek() not in ("}", ""):
            if self._peek() == ",":
                self.pos += 1
                continue
            key = self._value()
            if self._peek() != ":":
                raise ValueError("not a history document")
            self.pos += 1
            if key != "records":
                self.head[key] = self._value()
                if key == "version" and self.head[key] != 1:
                    raise Unknown(f"version {self.head[key]!r}")
                continue
            if self._peek() != "[":
                raise ValueError("records is not a list")
            self.pos += 1
            yield from self._values(_BETWEEN, "]")
            self.pos += 1
