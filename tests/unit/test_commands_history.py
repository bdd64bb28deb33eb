"""`api-balance-monitor history`: usage per day from a hand-written ten-day history, run as cron runs it."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from monitor.emulators import RelayEmulator
from monitor.report.words import money
from monitor.usage import SPARK
from tests.conftest import Setup, cli_run, config_text, standard_env, write_setup
from tests.support.faults import make
from tests.support.helpers_ops import (
    CJK_ACCOUNT,
    ZONE,
    Synthetic,
    cells,
    columns_of,
    display_width,
    synthetic_history,
    write_history,
)
from tests.support.history_support import record


@pytest.fixture
def history_setup(tmp_path: Path) -> tuple[Setup, Synthetic]:
    # The history command reads the folder only: no relay, no bot. 深度求索 is in the history but no longer
    # in the config (a retired account): it is still shown, after the configured ones. The records are
    # restored from a file of the earlier release, as `history import` does.
    setup = write_setup(tmp_path / "etc", config_text("http://127.0.0.1:9"), standard_env(None))
    synthetic = synthetic_history()
    backup = tmp_path / "backup.json"
    write_history(backup, synthetic.records)
    restored = cli_run(["history", "import", "-c", str(setup.config), str(backup)], tmp_path / "home")
    assert restored.returncode == 0, restored.stderr
    return setup, synthetic


def table_of(stdout: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(header cells, body rows, footer cells) of the table in the command's output."""
    lines = stdout.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("----------")]
    assert len(rules) == 2, stdout
    spans = columns_of(lines[rules[0]])
    header = cells(lines[rules[0] - 1], spans)
    body = [cells(line, spans) for line in lines[rules[0] + 1:rules[1]]]
    footer = cells(lines[rules[1] + 1], spans)
    return header, body, footer


def test_history_prints_an_aligned_table_newest_day_first(history_setup: tuple[Setup, Synthetic],
                                                         tmp_path: Path) -> None:
    setup, synthetic = history_setup
    result = cli_run(["history", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""

    header, body, footer = table_of(result.stdout)
    assert header == ["date", "main", "spare", CJK_ACCOUNT, "total CNY", "total USD"]
    today = datetime.now(ZONE).date()
    assert [row[0] for row in body] == [(today - timedelta(days=n)).isoformat() for n in range(14)]

    # Every line of the table is as wide on screen as the others (a CJK character takes two columns).
    lines = result.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("date"))
    table_lines = lines[first:first + 1 + 1 + 14 + 1 + 1]
    assert len({display_width(line) for line in table_lines}) == 1, "\n".join(table_lines)

    expected = {name: synthetic.per_day(name) for name in ("main", "spare", CJK_ACCOUNT)}
    currency = {"main": "USD", "spare": "USD", CJK_ACCOUNT: "CNY"}
    for row in body:
        day = date.fromisoformat(row[0])
        for column, name in enumerate(("main", "spare", CJK_ACCOUNT), start=1):
            if day not in expected[name]:
                assert row[column] == "-"
                continue
            amount, events = expected[name][day]
            marks = ("R" if "reset" in events else "") + ("T" if "topup" in events else "")
            assert row[column] == f"{money(amount, currency[name])} {marks}".strip(), (name, row)
        usd = [expected[n][day][0] for n in ("main", "spare") if day in expected[n]]
        assert row[5] == (money(sum(usd, Decimal(0)), "USD") if usd else "-")

    # The reset and the top-up are marked on the days they happened, and not counted as usage.
    reset_day = next(t for t, kind, _ in synthetic.steps["main"] if kind == "reset").astimezone(ZONE).date()
    topup_day = next(t for t, kind, _ in synthetic.steps[CJK_ACCOUNT] if kind == "topup").astimezone(ZONE).date()
    rows = {row[0]: row for row in body}
    assert rows[reset_day.isoformat()][1].endswith(" R")
    assert rows[topup_day.isoformat()][3].endswith(" T")
    assert "R = usage was reset that day" in result.stdout

    # Totals over the days shown: per account, and per currency (USD and CNY never added together).
    main_total = sum((v[0] for v in expected["main"].values()), Decimal(0))
    spare_total = sum((v[0] for v in expected["spare"].values()), Decimal(0))
    cny_total = sum((v[0] for v in expected[CJK_ACCOUNT].values()), Decimal(0))
    assert main_total == Decimal("9.0")  # 19 steps of $0.50, one of them the reset
    assert footer == ["total", money(main_total, "USD"), money(spare_total, "USD"), money(cny_total, "CNY"),
                      money(cny_total, "CNY"), money(main_total + spare_total, "USD")]


def test_history_draws_a_sparkline_per_account_oldest_day_left(history_setup: tuple[Setup, Synthetic],
                                                              tmp_path: Path) -> None:
    setup, synthetic = history_setup
    result = cli_run(["history", "-c", str(setup.config), "--days", "7"], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    trend = result.stdout.split("trend (oldest left):\n", 1)[1].splitlines()
    assert [line.split()[0] for line in trend] == ["main", "spare", CJK_ACCOUNT]
    today = datetime.now(ZONE).date()
    week = [today - timedelta(days=n) for n in range(6, -1, -1)]
    for line, name in zip(trend, ("main", "spare", CJK_ACCOUNT)):
        spark = line[-7:]  # one character a day; a space where a day has no data
        per_day = synthetic.per_day(name)
        top = max(per_day[d][0] for d in week if d in per_day)
        for day, bar in zip(week, spark):
            if day not in per_day:
                assert bar == " ", (name, day, line)
            elif per_day[day][0] == top:
                assert bar == SPARK[-1], (name, day, line)
            else:
                assert bar in SPARK[:-1], (name, day, line)


def test_history_account_option_shows_one_account(history_setup: tuple[Setup, Synthetic], tmp_path: Path) -> None:
    setup, _ = history_setup
    result = cli_run(["history", "-c", str(setup.config), "--account", CJK_ACCOUNT, "--days", "5"],
                      tmp_path / "home")
    assert result.returncode == 0, result.stderr
    header, body, _ = table_of(result.stdout)
    assert header == ["date", CJK_ACCOUNT, "total CNY"]
    assert len(body) == 5
    assert "main" not in result.stdout

    unknown = cli_run(["history", "-c", str(setup.config), "--account", "mian"], tmp_path / "home")
    assert unknown.returncode == 64
    assert "no account named 'mian'" in unknown.stderr and unknown.stdout == ""


def test_history_csv_has_one_row_per_account_per_day_with_events(history_setup: tuple[Setup, Synthetic],
                                                                  tmp_path: Path) -> None:
    setup, synthetic = history_setup
    result = cli_run(["history", "-c", str(setup.config), "--csv"], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["date", "account", "currency", "usage", "events"]

    got = {(r["date"], r["account"]): r for r in rows}
    for name, currency in (("main", "USD"), ("spare", "USD"), (CJK_ACCOUNT, "CNY")):
        for day, (amount, events) in synthetic.per_day(name).items():
            row = got.pop((day.isoformat(), name))
            assert row["currency"] == currency
            assert Decimal(row["usage"]) == amount
            assert row["events"] == " ".join(sorted(events))
    assert got == {}  # nothing else: days without data have no row
    dates = [r["date"] for r in rows]
    assert dates == sorted(dates, reverse=True)  # newest first, like the table

    one = cli_run(["history", "-c", str(setup.config), "--csv", "--account", "main", "--days", "3"],
                   tmp_path / "home")
    assert one.returncode == 0
    one_rows = list(csv.DictReader(io.StringIO(one.stdout)))
    assert {r["account"] for r in one_rows} == {"main"}
    last_three = [datetime.now(ZONE).date() - timedelta(days=n) for n in range(3)]
    assert len(one_rows) == sum(d in synthetic.per_day("main") for d in last_three)


def test_history_without_records_says_so(tmp_path: Path) -> None:
    setup = write_setup(tmp_path / "etc", config_text("http://127.0.0.1:9"), standard_env(None))
    result = cli_run(["history", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0
    assert "no records" in result.stdout


def test_csv_stays_clean_when_the_history_cannot_be_read(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    (folder / "api_usage_history").mkdir(parents=True)
    (folder / "config.yaml").write_text(
        "defaults:\n  base_url: https://relay.example.com\naccounts:\n  - name: main\n    api_key: sk-x\n",
        encoding="utf-8")
    log = folder / "api_usage_history" / "reports-2026-11.jsonl"
    log.write_text("{oops\n", encoding="utf-8")
    result = cli_run(["history", "--csv", "-c", str(folder / "config.yaml")], tmp_path / "home")
    assert result.returncode == 0
    assert result.stdout == "date,account,currency,usage,events\n"
    assert "reports-2026-11.jsonl:1 cannot be read" in result.stderr
    assert log.read_text(encoding="utf-8") == "{oops\n"  # left where it is


def test_history_shows_each_day_in_its_own_currency(tmp_path: Path, odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    now = datetime.now(timezone.utc)
    # A relay that switched its display from USD to CNY three days ago; another account in CNY all along.
    records = [record(now - timedelta(days=d, hours=1), used, cur) for d, used, cur in
               ((5, "1.000001", "USD"), (4, "2.500001", "USD"), (3, "20.000000", "CNY"), (2, "27.123456", "CNY"))]
    records += [record(now - timedelta(days=d, hours=1), used, "CNY", "spare")
                for d, used in ((4, "1.000001"), (3, "4.500001"))]
    records.sort(key=lambda r: r["time"])
    backup = tmp_path / "backup.jsonl"
    backup.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    home = tmp_path / "home"
    restored = cli_run(["history", "import", "-c", str(setup.config), str(backup)], home)
    assert restored.returncode == 0, restored.stderr
    table = cli_run(["history", "-c", str(setup.config), "--days", "7"], home)
    assert table.returncode == 0, table.stderr
    assert "main (USD)" in table.stdout and "main (CNY)" in table.stdout
    assert "$1.5000" in table.stdout and "¥7.1235" in table.stdout
    assert "total USD" in table.stdout and "total CNY" in table.stdout
    total_line = [line for line in table.stdout.splitlines() if line.startswith("total")][0]
    assert "¥10.6235" in total_line and "$1.5000" in total_line  # ¥7.1235 + ¥3.5000; never a ¥ sum of dollars
    csv = cli_run(["history", "-c", str(setup.config), "--days", "7", "--csv"], home)
    rows = [line.split(",") for line in csv.stdout.splitlines()[1:]]
    assert {(r[1], r[2], r[3]) for r in rows} == {("main", "USD", "1.5000"), ("main", "CNY", "7.1235"),
                                                  ("spare", "CNY", "3.5000")}


def test_history_on_an_unreadable_folder_says_so_without_a_traceback(tmp_path: Path,
                                                                     odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    setup.log.write_text("not a folder", encoding="utf-8")  # unreadable as a folder, even for root
    result = cli_run(["history", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 66
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


@pytest.fixture
def with_history(tmp_path: Path) -> Setup:
    setup = write_setup(tmp_path / "etc", config_text("http://127.0.0.1:9"), standard_env(None))
    backup = tmp_path / "backup.json"  # an earlier release's file, restored into the folder
    write_history(backup, synthetic_history().records)
    restored = cli_run(["history", "import", "-c", str(setup.config), str(backup)], tmp_path / "home")
    assert restored.returncode == 0, restored.stderr
    return setup


@pytest.mark.parametrize("days", ["1000000", "0", "-3", "ten"])
def test_history_refuses_days_out_of_range_as_a_usage_error_on_stderr(with_history: Setup, tmp_path: Path,
                                                                      days: str) -> None:
    result = cli_run(["history", "-c", str(with_history.config), "--csv", "--days", days], tmp_path / "home")
    assert result.returncode == 64, result.stderr
    assert result.stdout == ""  # `--csv > file` never writes an error into the CSV
    assert "--days" in result.stderr and "Traceback" not in result.stderr


def test_history_unknown_account_goes_to_stderr(with_history: Setup, tmp_path: Path) -> None:
    result = cli_run(["history", "-c", str(with_history.config), "--csv", "--account", "nope"], tmp_path / "home")
    assert result.returncode == 64
    assert result.stdout == ""
    assert "no account named 'nope'" in result.stderr


def test_history_with_many_days_keeps_every_line_to_a_terminals_reach(with_history: Setup, tmp_path: Path) -> None:
    result = cli_run(["history", "-c", str(with_history.config), "--days", "3660"], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 3660  # one row a day, as asked
    assert max(len(line) for line in lines) < 200
    assert "trend, last 60 days (oldest left):" in lines
