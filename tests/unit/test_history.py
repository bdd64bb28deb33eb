"""The history as an append-only log of runs: the folder, seq order, bad and torn lines, the state file,
pruning, the v1 migration, export and import. In-process through ``run_once`` and ``cli.main``, against
the loopback relay, with the clock handed in (so it can be moved both ways)."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor import cli
from monitor.config import Config, load
from monitor.emulators import RelayEmulator, Token
from monitor.history import History, Loaded
from monitor.redact import Redactor, fingerprint
from monitor.run import Outcome, run_once
from tests.conftest import cli_run, log_records
from tests.support.faults import make, run

KEY = "sk-" + "L0gK3y" * 8
HALF = timedelta(minutes=30)
START = datetime(2026, 11, 20, 1, 17, 3, tzinfo=timezone.utc)  # a :17 check, Shanghai 09:17


class Bench:
    """A config folder with one relay account, and runs at the times a test chooses."""

    def __init__(self, folder: Path, relay: RelayEmulator, extra: str = "") -> None:
        self.folder = folder
        self.relay = relay
        folder.mkdir(exist_ok=True)
        (folder / "config.yaml").write_text(
            "timezone: Asia/Shanghai\n"
            f"{extra}"
            f"defaults:\n  provider: openai-billing\n  base_url: {relay.url}\n  low_balance: 1\n"
            f"accounts:\n  - name: main\n    api_key: {KEY}\n", encoding="utf-8")
        os.chmod(folder / "config.yaml", 0o600)
        self.log = folder / "api_usage_history"

    @property
    def token(self) -> Token:
        return self.relay.tokens[KEY[3:]]

    def config(self) -> Config:
        return load(self.folder / "config.yaml", environ={})

    def run(self, when: datetime, command: str = "check", spend: str = "0.061234") -> Outcome:
        self.token.used += Decimal(spend)
        config = self.config()
        return run_once(config, Redactor(config.secrets()), when, command=command)

    def records(self) -> list[dict[str, Any]]:
        return log_records(self.log)

    def config_history(self) -> Loaded:
        return History(self.log).read(datetime.now(timezone.utc), everything=True)


@pytest.fixture
def relay() -> Iterator[RelayEmulator]:
    with RelayEmulator(tokens={KEY[3:]: Token(total=Decimal("80"), used=Decimal("12.345678"))}) as server:
        yield server


@pytest.fixture
def bench(tmp_path: Path, relay: RelayEmulator) -> Bench:
    return Bench(tmp_path / "etc", relay)


def main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_each_run_appends_its_records_with_the_next_seq(bench: Bench) -> None:
    bench.run(START, "report")
    bench.run(START + HALF)
    bench.run(START + 2 * HALF)
    assert [(r["seq"], r["run"]) for r in bench.records()] == [(1, "report"), (2, "check"), (3, "check")]
    assert sorted(p.name for p in bench.log.glob("*.jsonl")) == ["checks-2026-11-20.jsonl", "reports-2026-11.jsonl"]
    assert {oct(p.stat().st_mode & 0o777) for p in bench.log.iterdir() if p.is_file()} == {"0o600"}
    assert json.loads((bench.log / "state.json").read_text())["next_seq"] == 4
    # the amounts are the relay's exact text, and every line ends in a newline
    assert bench.records()[-1]["used"] == "12.52938"  # 12.345678 + 3 × 0.061234, as the relay says it
    assert (bench.log / "checks-2026-11-20.jsonl").read_bytes().endswith(b"\n")


def test_a_check_writes_a_few_hundred_bytes_and_rewrites_nothing(bench: Bench) -> None:
    for n in range(6):
        bench.run(START + n * HALF)
    before = {p.name: p.read_bytes() for p in bench.log.glob("*.jsonl")}
    bench.run(START + 6 * HALF)
    after = {p.name: p.read_bytes() for p in bench.log.glob("*.jsonl")}
    for name, data in before.items():
        assert after[name].startswith(data)  # appended to, never rewritten
    grown = sum(len(after[n]) for n in after) - sum(len(before[n]) for n in before)
    assert 0 < grown < 400


def test_a_broken_line_costs_that_line_not_the_history(bench: Bench, relay: RelayEmulator,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    bench.run(START, "report")
    for n in range(1, 6):
        bench.run(START + n * HALF)
    relay.tokens[KEY[3:]].total = Decimal("13")  # the quota cut: low, posted once
    first = bench.run(START + 6 * HALF)
    assert first.report.low
    path = bench.log / "checks-2026-11-20.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"account"', b'"account', 1)  # a quote removed by hand, on line 3
    path.write_bytes(b"\n".join(lines))
    with caplog.at_level(logging.WARNING):
        second = bench.run(START + 7 * HALF, spend="0.05")
    warned = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert warned == [f"history: {bench.log}/checks-2026-11-20.jsonl:3 cannot be read; skipped, and kept as it is"]
    assert second.report.accounts[0].period is not None and second.report.accounts[0].period.usage == Decimal("0.05")
    assert second.text == ""  # the low alert is not posted again: the state was not lost
    assert path.read_bytes().split(b"\n")[2] == lines[2]  # kept byte for byte
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        bench.run(START + 8 * HALF)
    assert not [r for r in caplog.records if "cannot be read" in r.getMessage()]  # warned once
    code, out, _ = main("check-config", "-c", str(bench.folder / "config.yaml"))
    assert code == 0 and "checks-2026-11-20.jsonl:3 cannot be read" in out


def test_a_torn_last_line_is_skipped_and_cut_off_by_the_next_run(bench: Bench) -> None:
    bench.run(START, "report")
    bench.run(START + HALF)
    path = bench.log / "checks-2026-11-20.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"seq": 3, "time": "2026-11-20T02:17:03+00:00", "acc')  # killed mid-append
    outcome = bench.run(START + 2 * HALF, spend="0.07")
    assert outcome.report.accounts[0].period is not None
    assert outcome.report.accounts[0].period.usage == Decimal("0.07")
    assert [r["seq"] for r in bench.records()] == [1, 2, 3]
    assert path.read_bytes().startswith(whole) and path.read_bytes().count(b"\n") == 2


def test_a_clock_set_back_for_four_checks_makes_no_reset_and_no_made_up_usage(bench: Bench) -> None:
    bench.run(START, "report", spend="0")
    spent = Decimal(0)
    for n in range(1, 5):
        bench.run(START + n * HALF, spend="0.25")
        spent += Decimal("0.25")
    for n in range(5, 9):  # the clock 10 hours behind for four checks, then fixed by NTP
        bench.run(START + n * HALF - timedelta(hours=10), spend="0.25")
        spent += Decimal("0.25")
    for n in range(9, 25):
        bench.run(START + n * HALF, spend="0.25")
        spent += Decimal("0.25")
    report = bench.run(START + 25 * HALF, "report", spend="0.25").report
    spent += Decimal("0.25")
    period = report.accounts[0].period
    assert period is not None and period.kind == "usage" and not period.approximate
    assert period.usage == spent == Decimal("6.25")


def test_a_clock_a_day_ahead_once_never_stops_later_spikes(bench: Bench) -> None:
    bench.run(START, "report", spend="0")
    for n in range(1, 12):
        bench.run(START + n * HALF, spend="0.06")
    bench.run(START + 12 * HALF + timedelta(days=1), spend="0.06")  # an RTC read as UTC: a day ahead
    bench.run(START + 13 * HALF, spend="0.06")
    leak = bench.run(START + 14 * HALF, spend="3.60")  # 60× the usual rate
    spike = leak.report.accounts[0].spike
    assert spike is not None and spike.usage == Decimal("3.60")
    assert "main" in leak.text


def test_a_clock_a_year_ahead_prunes_at_most_a_day(bench: Bench) -> None:
    bench.run(START, "report")
    for n in range(1, 48 * 3):
        bench.run(START + n * HALF, "report" if n % 24 == 0 else "check")
    before = len(bench.records())
    bench.run(START + timedelta(days=368))  # the clock a year ahead, then fixed by NTP
    bench.run(START + 48 * 3 * HALF + HALF)
    assert len(bench.records()) == before + 2


def test_pruning_deletes_old_files_and_keeps_each_accounts_newest_report(bench: Bench) -> None:
    bench.run(START - timedelta(days=160), "report")  # reports-2026-06
    bench.run(START - timedelta(days=115), "report")  # reports-2026-07: the newest report of "main"
    for n in range(114, 0, -1):  # a check a day since
        bench.run(START - timedelta(days=n))
    bench.run(START)
    names = sorted(p.name for p in bench.log.glob("*.jsonl"))
    assert names[-1] == "reports-2026-07.jsonl" and "reports-2026-06.jsonl" not in names
    assert names[0] == "checks-2026-11-12.jsonl" and len(names) == 10  # 8 days and the days they start in
    assert [r["seq"] for r in log_records(bench.log) if r["run"] == "report"] == [2]
    report = bench.run(START + HALF, "report").report
    assert report.accounts[0].period is not None and report.accounts[0].period.reason == "too_old"


def test_a_missing_or_damaged_state_is_a_warning_and_alerts_come_once_more(
        bench: Bench, relay: RelayEmulator, caplog: pytest.LogCaptureFixture) -> None:
    bench.run(START, "report")
    relay.tokens[KEY[3:]].total = Decimal("13")
    assert bench.run(START + HALF).text  # low: posted
    assert bench.run(START + 2 * HALF).text == ""
    (bench.log / "state.json").write_text('{"version": 2, "next_seq": ', encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        again = bench.run(START + 3 * HALF)
    assert "state.json cannot be read" in caplog.text
    assert again.text  # posted once more
    assert [r["seq"] for r in bench.records()] == [1, 2, 3, 4]  # the seq goes on from the files
    (bench.log / "state.json").unlink()
    assert bench.run(START + 4 * HALF).exit_code & 8 == 0
    assert [r["seq"] for r in bench.records()][-1] == 5


def test_a_newer_releases_history_is_left_untouched_and_exits_8(bench: Bench) -> None:
    bench.run(START, "report")
    state = bench.log / "state.json"
    state.write_text('{"version": 3, "next_seq": 99}\n', encoding="utf-8")
    before = {p.name: p.read_bytes() for p in bench.log.iterdir() if p.is_file()}
    outcome = bench.run(START + HALF)
    assert outcome.exit_code & 8
    assert {p.name: p.read_bytes() for p in bench.log.iterdir() if p.is_file()} == before


def v1_records(n: int) -> list[dict[str, Any]]:
    return [{"time": (START + k * HALF).isoformat(timespec="microseconds").replace("+00:00", "+00:00"),
             "account": "main", "key_fingerprint": fingerprint(KEY), "provider": "openai-billing", "ok": True,
             "currency": "USD", "balance": f"{Decimal('70') - Decimal('0.061234') * k:f}",
             "used": f"{Decimal('10') + Decimal('0.061234') * k:f}", "total": "80", "unlimited": False,
             "error": None, "run": "report" if k == 0 else "check"} for k in range(n)]


@pytest.mark.parametrize("layout", ["one line", "a record a line"])
def test_the_first_run_imports_a_v1_history_and_keeps_the_file(bench: Bench, relay: RelayEmulator,
                                                                layout: str) -> None:
    records = v1_records(10)
    document = {"version": 1, "alerts": {"main": {"low": "2026-11-20T01:17:03+00:00"}}, "records": records}
    if layout == "one line":
        text = json.dumps(document, ensure_ascii=False)
    else:
        text = ('{"version": 1, "alerts": {"main": {"low": "2026-11-20T01:17:03+00:00"}}, "records": [\n'
                + ",\n".join(json.dumps(r) for r in records) + "\n]}\n")
    legacy = bench.folder / "api_usage_history.json"
    legacy.write_text(text, encoding="utf-8")
    code, out, _ = main("check-config", "-c", str(bench.folder / "config.yaml"))
    assert "will be imported" in out
    relay.tokens[KEY[3:]].used = Decimal(records[-1]["used"])
    relay.tokens[KEY[3:]].total = Decimal("11")  # low, as the imported state says the group was told
    outcome = bench.run(START + 10 * HALF)
    assert outcome.text == ""  # the alert state came along: nothing posted again
    assert not legacy.exists()
    kept = list(bench.folder.glob("api_usage_history.json.imported-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == text
    assert [r["seq"] for r in bench.records()] == list(range(1, 12))
    assert [r["used"] for r in bench.records()[:10]] == [r["used"] for r in records]


def test_a_v1_history_of_an_unknown_version_is_left_untouched(bench: Bench) -> None:
    legacy = bench.folder / "api_usage_history.json"
    legacy.write_text('{"version": 7, "records": []}', encoding="utf-8")
    assert bench.run(START).exit_code & 8
    assert legacy.read_text() == '{"version": 7, "records": []}'


def test_export_then_import_gives_the_same_history(bench: Bench, tmp_path: Path) -> None:
    bench.run(START, "report")
    for n in range(1, 5):
        bench.run(START + n * HALF)
    config = str(bench.folder / "config.yaml")
    code, exported, _ = main("history", "export", "-c", config)
    assert code == 0 and [json.loads(t)["seq"] for t in exported.splitlines()] == [1, 2, 3, 4, 5]
    code, since, _ = main("history", "export", "-c", config, "--since", "2026-11-20T10:00:00+08:00")
    assert [json.loads(t)["seq"] for t in since.splitlines()] == [3, 4, 5]
    dump = tmp_path / "backup.jsonl"
    dump.write_text(exported, encoding="utf-8")
    code, _, err = main("history", "import", "-c", config, str(dump))
    assert code == 65 and "already holds records" in err  # refused: nothing changed
    other = Bench(tmp_path / "other", bench.relay)
    code, out, _ = main("history", "import", "-c", str(other.folder / "config.yaml"), str(dump))
    assert code == 0 and "5 records" in out
    assert other.records() == bench.records()


def test_hand_edits_with_a_byte_order_mark_or_two_records_on_a_line_cost_only_that_line(bench: Bench) -> None:
    bench.run(START, "report")
    for n in range(1, 4):
        bench.run(START + n * HALF)
    path = bench.log / "checks-2026-11-20.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1] + b", " + lines[1]  # two values on line 2
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines))  # saved by an editor with a BOM and CRLF
    outcome = bench.run(START + 4 * HALF, spend="0.03")
    assert outcome.report.accounts[0].period is not None
    assert outcome.report.accounts[0].period.usage == Decimal("0.03")
    assert [r.seq for r in bench.config_history().records] == [1, 2, 4, 5]


def test_a_seq_or_an_amount_garbled_by_hand_costs_that_line_with_a_warning(bench: Bench,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    bench.run(START, "report")
    for n in range(1, 4):
        bench.run(START + n * HALF)
    path = bench.log / "checks-2026-11-20.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b'"seq": 2', b'"seq": "five"')
    lines[1] = lines[1].replace(b'"total": "', b'"total": "O', 1)  # a letter O typed before the amount
    path.write_bytes(b"\n".join(lines))
    with caplog.at_level(logging.WARNING):
        outcome = bench.run(START + 4 * HALF, spend="0.04")
    assert {r.getMessage().split("/")[-1] for r in caplog.records if "cannot be read" in r.getMessage()} == {
        "checks-2026-11-20.jsonl:1 cannot be read; skipped, and kept as it is",
        "checks-2026-11-20.jsonl:2 cannot be read; skipped, and kept as it is"}
    assert outcome.report.accounts[0].period is not None
    assert outcome.report.accounts[0].period.usage == Decimal("0.04")
    code, exported, _ = main("history", "export", "-c", str(bench.folder / "config.yaml"))
    assert [json.loads(t)["seq"] for t in exported.splitlines()] == [1, 4, 5]


def test_a_history_folder_behind_a_symlink_stays_a_symlink(tmp_path: Path, odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    data = tmp_path / "data"
    (data / "history").mkdir(parents=True)
    setup.log.symlink_to(data / "history")
    for _ in range(2):
        assert run(setup).returncode == 0
    assert setup.log.is_symlink()
    assert len(log_records(data / "history")) == 4 and (data / "history" / "state.json").is_file()


@pytest.mark.parametrize("where", ["state", "log"])
def test_history_on_a_newer_releases_folder_is_not_called_empty(tmp_path: Path, odd_relay: RelayEmulator,
                                                                 where: str) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    assert run(setup).returncode == 0
    if where == "state":
        (setup.log / "state.json").write_text('{"version": 3, "next_seq": 9}', encoding="utf-8")
    else:
        [log] = setup.log.glob("reports-*.jsonl")
        log.write_bytes(b'{"version": 3}\n' + log.read_bytes())
    before = {p.name: p.read_bytes() for p in setup.log.iterdir()}
    result = cli_run(["history", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 66 and "no records" not in result.stdout
    assert "newer release" in result.stderr or "version 3" in result.stderr, result.stderr
    # A run leaves it as it is, and says the history was not saved (exit bit 8).
    refused = run(setup)
    assert refused.returncode & 8, refused.stderr
    assert {p.name: p.read_bytes() for p in setup.log.iterdir()} == before
