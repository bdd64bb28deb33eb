"""The window file against the history it is derived from.

A run whose history is as the last save left it reads each account's track (its snapshots over the last
8 days, with the step into each) from the window file beside the history, instead of parsing those days
and comparing every pair of snapshots again. These tests hold that shortcut to the long way: after any
sequence of runs — checks and reports, a clock that jumps back or stands still, failures, resets,
top-ups, key and currency changes, retention shorter than the window, accounts added to the config and
taken out — the tracks read from the window file are the tracks made from the history's records, and the
report is the same. A window file that is missing, stale or damaged is never believed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from monitor.collect import AccountResult
from monitor.config import Account
from monitor.history import HistoryFile, Keep, Loaded, parse_all, record_of
from monitor.report import Report, build
from monitor.snapshot import Snapshot

T0 = datetime(2026, 11, 20, 1, 5, 7, 250_000, tzinfo=timezone.utc)  # a run's clock has fractions of a second
ZONE = ZoneInfo("Asia/Shanghai")
NAMES = ("main", "relay-2", "新\"账户")
EVENTS = ["spend"] * 6 + ["idle", "fail", "reset", "topup", "key", "currency"]


@dataclass
class Key:
    """One account as its provider sees it: what the next query answers."""

    used: Decimal = Decimal("7.660001")
    total: Decimal = Decimal("20.123456")
    key: str = "3f2a9c1b"
    currency: str = "USD"
    ok: bool = True

    def happen(self, event: str, amount: Decimal) -> None:
        self.ok = event != "fail"
        if event == "spend":
            self.used += amount
        elif event == "reset":
            self.used = amount
        elif event == "topup":
            self.total += amount * 3
        elif event == "key":
            self.key = "0ldk3y00" if self.key == "3f2a9c1b" else "3f2a9c1b"
        elif event == "currency":
            self.currency = "CNY" if self.currency == "USD" else "USD"


def results(keys: dict[str, Key], names: list[str], now: datetime) -> list[AccountResult]:
    out = []
    for name in names:
        k = keys[name]
        account = Account(name=name, provider="openai-billing", api_key="sk-" + "w" * 40, base_url="https://r.example")
        snapshot = Snapshot(k.currency, k.total - k.used, k.used, k.total) if k.ok else None
        out.append(AccountResult(account, now, k.key, snapshot, None if k.ok else "HTTP 502"))
    return out


def report(found: list[AccountResult], loaded: Loaded, now: datetime, command: str) -> Report:
    return build(found, loaded.tracks, now, ZONE, "zh", 30, run=command)


def the_long_way(path: Path, folder: Path, now: datetime, keep: Keep, names: list[str]) -> Loaded:
    """The history read as a copy of it (no lock, no window file): checked in full, tracks from records."""
    copy = folder / "copy" / path.name
    copy.parent.mkdir(exist_ok=True)
    if path.exists():
        shutil.copy(path, copy)
    else:
        copy.unlink(missing_ok=True)
    return HistoryFile(copy).load(now, keep, accounts=names)


@st.composite
def histories(draw: st.DrawFn) -> tuple[Keep, list[tuple[int, str, list[str], dict[str, tuple[str, Decimal]]]]]:
    keep = Keep(days=draw(st.integers(1, 12)), check_days=draw(st.integers(1, 12)))
    runs = []
    for _ in range(draw(st.integers(1, 16))):
        # Half-hourly checks, twice-daily reports, the same second, a clock set back, a monitor stopped for days.
        minutes = draw(st.sampled_from([30, 30, 30, 30, 720, 0, 1, -45, -2000, 3 * 1440, 9 * 1440]))
        command = draw(st.sampled_from(["check", "check", "report"]))
        names = draw(st.sampled_from([list(NAMES[:2]), list(NAMES), list(NAMES[1:])]))
        events = {name: (draw(st.sampled_from(EVENTS)),
                         Decimal(draw(st.integers(0, 5 * 10**6))) / 10**draw(st.integers(0, 8))) for name in NAMES}
        runs.append((minutes, command, names, events))
    return keep, runs


@settings(max_examples=int(os.environ.get("WINDOW_EXAMPLES", "60")), deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(story=histories())
def test_the_window_file_gives_the_tracks_and_the_report_of_the_long_way(tmp_path: Path, story: Any) -> None:
    keep, runs = story
    folder = Path(tmp_path / f"h{os.urandom(4).hex()}")
    folder.mkdir()
    history = HistoryFile(folder / "api_usage_history.json")
    keys = {name: Key() for name in NAMES}
    now, stopped = T0, False
    for minutes, command, names, events in runs:
        now += timedelta(minutes=minutes, microseconds=137)
        stopped = stopped or minutes > 1440
        for name, (event, amount) in events.items():
            keys[name].happen(event, amount)
        loaded = history.load(now, keep, accounts=names)
        slow = the_long_way(history.path, folder, now, keep, names)
        assert loaded.tracks == slow.tracks
        found = results(keys, names, now)
        assert report(found, loaded, now, command) == report(found, slow, now, command)
        # And both are the report of the whole history read the plain way — unless lines older than the 8
        # days read still matter: with a retention shorter than that (they go at this save), or after a
        # monitor stopped for more than a day (the usual rate's week before the last snapshot then reaches
        # past them; a period since a report over 8 days old is measured across them in one step).
        if keep.days >= 8 and not stopped and history.path.exists():
            whole = parse_all(json.loads(history.path.read_text(encoding="utf-8"))["records"])
            assert report(found, loaded, now, command) == build(found, whole, now, ZONE, "zh", 30, run=command)
        history.save(loaded, [record_of(r, run="check" if command == "check" else "report") for r in found], now)


def runs_of_a_day(folder: Path) -> tuple[HistoryFile, datetime, list[str]]:
    """A day of half-hourly checks and two reports for the three accounts, saved run by run."""
    history = HistoryFile(folder / "api_usage_history.json")
    keys = {name: Key() for name in NAMES}
    now = T0
    for n in range(48):
        now += timedelta(minutes=30)
        for key in keys.values():
            key.happen("spend", Decimal("0.012345") * (n % 5))
        command = "report" if n % 24 == 0 else "check"
        loaded = history.load(now, Keep(), accounts=list(NAMES))
        history.save(loaded, [record_of(r, run=command) for r in results(keys, list(NAMES), now)], now)
    return history, now, list(NAMES)


def test_a_run_after_a_save_reads_the_window_file_not_the_records(tmp_path: Path) -> None:
    history, now, names = runs_of_a_day(tmp_path)
    later = now + timedelta(minutes=30)
    loaded = history.load(later, Keep(), accounts=names)
    assert loaded.from_window  # nothing of the last 8 days parsed
    assert [len(t) for t in loaded.tracks.values()] == [48, 48, 48]
    assert loaded.tracks == the_long_way(history.path, tmp_path, later, Keep(), names).tracks
    assert stat.S_IMODE(history.window_path.stat().st_mode) == 0o600
    # Written again with its digest, as the damaged ones below are, it is still believed.
    history.window_path.write_bytes(signed(json.loads(history.window_path.read_bytes().partition(b"\n")[2])))
    assert history.load(later, Keep(), accounts=names).from_window


def signed(doc: Any) -> bytes:
    """A window file whose first line is the right digest of the rest (as a save writes it)."""
    body = json.dumps(doc).encode()
    return hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b"\n" + body


def damaged(written: bytes) -> list[tuple[str, bytes]]:
    digest, _, body = written.partition(b"\n")
    doc = json.loads(body)
    track = doc["tracks"]["main"]
    swapped = dict(track, time=[track["time"][1], track["time"][0], *track["time"][2:]])
    short = dict(track, used=" ".join(track["used"].split(" ")[:-1]))
    digit = body.index(b'"used":"') + len(b'"used":"')
    return [
        # damaged on the way: the digest does not match
        ("empty", b""),
        ("cut in the middle", written[: len(written) // 2]),
        ("not JSON", b"\x00\xff garbage"),
        ("a digit changed", digest + b"\n" + body[:digit] + (b"8" if body[digit:digit + 1] != b"8" else b"9")
         + body[digit + 1:]),
        ("no digest", body),
        # as a save wrote it, but not for this history or this run
        ("a list", signed([])),
        ("another version", signed({**doc, "version": 2})),
        ("another history's", signed({**doc, "history": doc["history"] + "0"})),
        ("times out of order", signed({**doc, "tracks": {**doc["tracks"], "main": swapped}})),
        ("a column short", signed({**doc, "tracks": {**doc["tracks"], "main": short}})),
        ("a letter not ours", signed({**doc, "tracks": {**doc["tracks"], "main": dict(track, run="x" * len(
            track["time"]))}})),
        ("an account missing", signed({**doc, "tracks": {"main": track}})),
        ("a window that starts later", signed({**doc, "edge": doc["edge"] + 86_400_000_000})),
    ]


@pytest.mark.parametrize("case", range(13))
def test_a_damaged_or_stale_window_file_is_never_believed(tmp_path: Path, case: int) -> None:
    history, now, names = runs_of_a_day(tmp_path)
    later = now + timedelta(minutes=30)
    written = history.window_path.read_bytes()
    name, content = damaged(written)[case]
    history.window_path.write_bytes(content)
    loaded = history.load(later, Keep(), accounts=names)
    assert not loaded.from_window, name  # the long way
    assert loaded.tracks == the_long_way(history.path, tmp_path, later, Keep(), names).tracks, name


def test_a_window_file_without_its_history_or_after_a_hand_edit_is_not_used(tmp_path: Path) -> None:
    history, now, names = runs_of_a_day(tmp_path)
    later = now + timedelta(minutes=30)
    # A person corrects the last record's used amount by hand: the history no longer matches what the save
    # wrote, so the window file (made before the edit) is ignored and the report reads the corrected value.
    text = history.path.read_text(encoding="utf-8")
    last = text.rindex('"used":"') + len('"used":"')
    before = text[last:text.index('"', last)]
    history.path.write_text(text[:last] + "9" + text[last:], encoding="utf-8")
    loaded = history.load(later, Keep(), accounts=names)
    assert not loaded.from_window
    assert loaded.tracks[NAMES[-1]].used[-1] == "9" + before
    assert loaded.tracks == the_long_way(history.path, tmp_path, later, Keep(), names).tracks
    # The history moved away: the window file says nothing of the new one the next run starts.
    os.rename(history.path, tmp_path / "elsewhere.json")
    assert all(len(track) == 0 for track in history.load(later, Keep(), accounts=names).tracks.values())
