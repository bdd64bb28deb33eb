"""Numbers and history files as the real world has them, through the installed command as cron runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor.emulators import RelayEmulator, Token
from monitor.redact import fingerprint
from tests.conftest import MAIN_KEY, SPARE_KEY, cli_run, log_records
from tests.faults.helpers import make, run


@pytest.fixture
def odd_relay() -> Iterator[RelayEmulator]:
    """new-api's quota ÷ 500000 gives more than four decimals: used $1.00015 (total_usage 100.015 cents)."""
    tokens = {MAIN_KEY[3:]: Token(total=Decimal("20"), used=Decimal("1.00015"), name="main"),
              SPARE_KEY[3:]: Token(total=Decimal("50"), used=Decimal("10.123456"), name="spare")}
    with RelayEmulator(tokens=tokens) as server:
        yield server


def accounts(stdout: str) -> dict[str, Any]:
    return {a["name"]: a for a in json.loads(stdout)["accounts"]}


def test_an_idle_key_with_six_decimals_shows_no_usage_and_no_reset(tmp_path: Path, odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    first = run(setup)
    assert first.returncode == 0, first.stderr
    second = run(setup, "--json")
    main = accounts(second.stdout)["main"]
    assert (main["period"]["kind"], main["period"]["usage"], main["period"]["approximate"]) == ("usage", "0.0000",
                                                                                             False)
    # Half-up, one helper for everything people read: 18.99985 shows as 18.9999 in the text and --json alike.
    assert main["balance"] == "18.9999" and main["used"] == "1.0002"
    text = run(setup).stdout
    assert "剩余：$18.9999" in text and "已用：$1.0002" in text and "用量已重置" not in text
    saved = [r for r in setup.records() if r["account"] == "main"]
    assert {(r["balance"], r["used"]) for r in saved} == {("18.99985", "1.00015")}  # exactly as sent


def record(moment: datetime, used: str, currency: str, account: str = "main") -> dict[str, Any]:
    return {"time": moment.isoformat(), "account": account, "key_fingerprint": fingerprint(MAIN_KEY),
            "provider": "openai-billing", "ok": True, "currency": currency, "balance": None, "used": used,
            "total": None, "unlimited": False, "error": None}


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


@pytest.mark.parametrize("content", [b'{"version": 1, "records": []}', b'{"records": []}',
                                     b'\xef\xbb\xbf{"version": 1, "records": []}', b"", b"\n"],
                         ids=["empty", "no-version", "bom", "zero-bytes", "a-newline"])
def test_an_empty_history_or_one_with_a_bom_is_a_history(tmp_path: Path, odd_relay: RelayEmulator,
                                                         content: bytes) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    setup.history.write_bytes(content)
    result = run(setup)
    assert result.returncode == 0, result.stderr
    # The one thing said: the earlier release's file was imported (none of its records could be lost).
    [said] = result.stderr.splitlines()
    assert "WARNING history: 0 records of" in said and "imported into" in said, said
    assert [r["account"] for r in setup.records()] == ["main", "spare"]
    [kept] = setup.folder.glob("api_usage_history.json.imported-*")
    assert kept.read_bytes() == content and not setup.history.exists()
    assert not list(setup.folder.glob("*.corrupt-*"))
    again = run(setup)
    assert again.returncode == 0 and again.stderr == "", again.stderr
    history = cli_run(["history", "-c", str(setup.config)], tmp_path / "home")
    assert history.returncode == 0, history.stderr


def test_a_bom_history_written_by_hand_keeps_its_records(tmp_path: Path, odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    earlier = datetime.now(timezone.utc) - timedelta(hours=12)
    text = json.dumps({"version": 1, "records": [record(earlier, "0.499999", "USD")]}, indent=2)
    setup.history.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = run(setup, "--json")
    assert accounts(result.stdout)["main"]["period"]["usage"] == "0.5002"
    assert len(setup.records()) == 3 and not list(setup.folder.glob("*.corrupt-*"))


def test_a_history_folder_behind_a_symlink_stays_a_symlink(tmp_path: Path, odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    data = tmp_path / "data"
    (data / "history").mkdir(parents=True)
    setup.log.symlink_to(data / "history")
    for _ in range(2):
        assert run(setup).returncode == 0
    assert setup.log.is_symlink()
    assert len(log_records(data / "history")) == 4 and (data / "history" / "state.json").is_file()


def test_history_on_an_unreadable_folder_says_so_without_a_traceback(tmp_path: Path,
                                                                     odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    setup.log.write_text("not a folder", encoding="utf-8")  # unreadable as a folder, even for root
    result = cli_run(["history", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 66
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_check_config_warns_of_a_missing_history_folder(tmp_path: Path, odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None, history={"folder": "nodir/sub/history"})
    result = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "does not exist" in result.stdout and "nodir/sub" in result.stdout


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
