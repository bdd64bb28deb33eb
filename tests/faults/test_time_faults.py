"""Clocks that move back, records past the retention, and daylight saving: never a negative or doubled period,
never a spend lost."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.collect import AccountResult
from monitor.config import Account
from monitor.emulators import FeishuBotEmulator, RelayEmulator
from monitor.redact import fingerprint
from monitor.report import build
from monitor.report.document import Delivery, document
from monitor.report.site import render
from monitor.snapshot import Snapshot
from monitor.usage import daily_usage
from tests.conftest import MAIN_KEY, SPARE_KEY
from tests.support.faults import make, run
from tests.support.history_support import past

NEW_YORK = ZoneInfo("America/New_York")


def record(moment: datetime, account: str, key: str, used: str, total: str = "20.0000") -> dict[str, Any]:
    balance = f"{Decimal(total) - Decimal(used):.4f}"
    return {"time": moment.astimezone(timezone.utc).isoformat(timespec="seconds"), "account": account,
            "key_fingerprint": fingerprint(key), "provider": "openai-billing", "ok": True, "currency": "USD",
            "balance": balance, "used": used, "total": total, "unlimited": False, "error": None}


def write_history(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"version": 1, "records": records}), encoding="utf-8")


def accounts_of(stdout: str) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in json.loads(stdout)["accounts"]}


def test_a_previous_record_in_the_future_still_counts_its_usage_and_says_the_clock_moved(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    future = datetime.now(timezone.utc) + timedelta(hours=3)
    write_history(setup.history, [record(future, "main", MAIN_KEY, "1.0000")])
    result = run(setup, "--json")
    assert result.returncode == 0, result.stderr
    period = accounts_of(result.stdout)["main"]["period"]
    # The relay's used went from 1.0000 to 7.66: spent, whatever the clock said. No duration to show.
    assert (period["kind"], period["usage"], period["elapsed_seconds"], period["reason"]) == (
        "usage", "6.6600", None, "clock")
    card = json.dumps(bot.received[0], ensure_ascii=False)
    assert "用量为：$6.6600（上次记录的时间晚于现在：系统时钟被调整过，时长不可知）" in card
    assert "0 小时 0 分钟" not in card
    # The record of this run follows the one from the future: the order of runs, not of times.
    assert [r["account"] for r in setup.records()] == ["main", "main", "spare"]


def test_a_previous_record_older_than_the_retention_gives_no_period_usage_and_is_pruned(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot, history={"retention_days": 30})
    now = datetime.now(timezone.utc)
    # main last ran 70 days ago (its month's file is past retention); spare ran this morning, as usual.
    write_history(setup.history, [record(now - timedelta(days=70), "main", MAIN_KEY, "1.0000"),
                                  record(now - timedelta(hours=12), "spare", SPARE_KEY, "9.5000", "50.0000")])
    result = run(setup, "--json")
    assert result.returncode == 0, result.stderr
    period = accounts_of(result.stdout)["main"]["period"]
    assert period["usage"] is None and period["reason"] == "too_old"
    assert "上次记录早于保留期" in json.dumps(bot.received[0], ensure_ascii=False)
    assert [r["account"] for r in setup.records()] == ["spare", "main", "spare"]  # the old record was pruned


def one_pass(previous: list[dict[str, Any]], now: datetime, used: str = "7.6600") -> tuple[dict[str, Any], str]:
    """The --json account and the text report of ``main`` at ``now`` against ``previous`` (in process)."""
    account = Account("main", "openai-billing", MAIN_KEY, base_url="https://relay.example.com")
    snap = Snapshot("USD", Decimal("20") - Decimal(used), Decimal(used), Decimal("20"))
    result = AccountResult(account, now, fingerprint(MAIN_KEY), snap, None)
    report = build([result], past(previous), now, NEW_YORK, "en", 90)
    return document(report, 0, Delivery(), True, None)["accounts"][0], render(report)


def test_across_the_autumn_dst_change_the_elapsed_time_is_the_real_one() -> None:
    # 2026-11-01: 01:30 EDT, then an hour later 01:30 EST (the same wall clock time).
    before = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)
    after = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK)
    assert after.astimezone(timezone.utc) - before.astimezone(timezone.utc) == timedelta(hours=1)
    line, text = one_pass([record(before, "main", MAIN_KEY, "7.0000")], after.astimezone(timezone.utc))
    assert line["period"]["elapsed_seconds"] == 3600 and line["period"]["usage"] == "0.6600"
    assert "Usage in the past 1 h: $0.6600" in text


def test_across_the_spring_dst_change_the_elapsed_time_is_the_real_one() -> None:
    # 2026-03-08: 01:30 EST, then an hour later 03:30 EDT (two hours on the wall clock).
    before = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    after = datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK)
    line, text = one_pass([record(before, "main", MAIN_KEY, "7.0000")], after.astimezone(timezone.utc))
    assert line["period"]["elapsed_seconds"] == 3600
    assert "Usage in the past 1 h: $0.6600" in text


def test_twice_daily_runs_across_dst_count_each_day_once() -> None:
    # Runs at 09:05 and 21:05 New York time from Oct 30 to Nov 3, using 1.00 each run.
    records = []
    used = Decimal("0")
    for day in range(30, 35):
        for hour in (9, 21):
            date = datetime(2026, 10, 1, tzinfo=NEW_YORK) + timedelta(days=day - 1)
            moment = date.replace(hour=hour, minute=5)
            used += 1
            records.append(record(moment, "main", MAIN_KEY, f"{used:.4f}", total="100.0000"))
    series = past(records)["main"]
    per_day = daily_usage(series, NEW_YORK)
    days = sorted(per_day)
    assert days == [datetime(2026, 10, 30).date() + timedelta(days=n) for n in range(5)]
    assert [per_day[d][0] for d in days] == [Decimal(1)] + [Decimal(2)] * 4  # the first day has one interval
    elapsed = [
        (b.time - a.time).total_seconds() / 3600
        for a, b in zip(series.points, series.points[1:])
    ]
    assert all(e > 0 for e in elapsed) and sorted(set(elapsed)) == [12.0, 13.0]  # the night of the change is 13 h


def test_two_runs_in_one_second_show_the_usage_without_a_duration_and_no_clock_warning() -> None:
    now = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)
    line, text = one_pass([record(now, "main", MAIN_KEY, "7.0000")], now)
    assert (line["period"]["usage"], line["period"]["elapsed_seconds"], line["period"]["reason"]) == (
        "0.6600", 0, "same_second")
    assert "Usage: $0.6600 (in the same second as the previous run)" in text
    assert "clock" not in text and "0 h 0 min" not in text
