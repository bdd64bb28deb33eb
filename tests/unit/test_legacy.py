"""An earlier release's history file (v1, one JSON document) imported by the first run: empty, with a BOM,
written by hand."""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from monitor import transfer
from monitor.emulators import RelayEmulator
from tests.conftest import cli_run
from tests.support.faults import make, run
from tests.support.history_support import accounts, record


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


@pytest.mark.parametrize("child_fails", [False, True], ids=["child-imports", "child-fails"])
def test_the_import_runs_beside_the_queries_and_the_run_does_it_when_that_fails(
        tmp_path: Path, odd_relay: RelayEmulator, monkeypatch: pytest.MonkeyPatch, child_fails: bool) -> None:
    """The first run imports the v1 file in a child process while the providers answer; what it says is said
    once; should it fail, the run imports the file itself."""
    setup = make(tmp_path / "etc", odd_relay.url, None)
    earlier = datetime.now(timezone.utc) - timedelta(hours=12)
    setup.history.write_text(json.dumps({"version": 1, "records": [record(earlier, "0.499999", "USD")]}))
    here, calls = os.getpid(), tmp_path / "calls"
    migrate = transfer.migrate

    def watched(*args: Any) -> Any:
        with open(calls, "a") as said:
            said.write(f"{'run' if os.getpid() == here else 'child'}\n")
        if child_fails and os.getpid() != here:
            raise OSError("disk full")
        return migrate(*args)

    monkeypatch.setattr(transfer, "migrate", watched)
    result = run(setup, "--json")
    assert result.returncode == 0, result.stderr
    assert calls.read_text().split() == ["child", "run"]
    [said] = [line for line in result.stderr.splitlines() if "imported into" in line]
    assert "WARNING history: 1 records of" in said
    assert accounts(result.stdout)["main"]["period"]["usage"] == "0.5002"
    assert not setup.history.exists() and len(list(setup.folder.glob("api_usage_history.json.imported-*"))) == 1


def test_an_import_killed_beside_the_queries_is_undone_and_done_again_by_the_run(
        tmp_path: Path, odd_relay: RelayEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child importing the v1 file is killed halfway (the kernel's out-of-memory killer picks the largest
    process): what it wrote is removed and the run imports the file itself, every record once."""
    setup = make(tmp_path / "etc", odd_relay.url, None)
    earlier = datetime.now(timezone.utc) - timedelta(hours=12)
    setup.history.write_text(json.dumps({"version": 1, "records": [record(earlier, "0.499999", "USD")]}))
    here, migrate = os.getpid(), transfer.migrate

    def killed(history: Any, legacy: Path, now: datetime) -> Any:
        if os.getpid() != here:
            (history.folder / "reports-2026-01.jsonl").write_text('{"seq": 1, "account": "half"}\n')
            os.kill(os.getpid(), signal.SIGKILL)
        return migrate(history, legacy, now)

    monkeypatch.setattr(transfer, "migrate", killed)
    result = run(setup, "--json")
    assert result.returncode == 0, result.stderr
    assert [r["account"] for r in setup.records()] == ["main", "main", "spare"]
    assert not (setup.log / "reports-2026-01.jsonl").exists()
