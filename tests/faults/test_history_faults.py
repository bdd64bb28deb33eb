"""The history file under kills, concurrent runs, held locks, write errors, corruption and newer versions."""

from __future__ import annotations

import fcntl
import json
import os
import random
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import EXECUTABLE, Setup
from tests.faults.helpers import card_text, make, popen, run


def check_document(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == 1 and isinstance(document["records"], list)
    records: list[dict[str, Any]] = document["records"]
    return records


WRITER = textwrap.dedent(
    """\
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from monitor.history import HistoryFile

    history = HistoryFile(Path(sys.argv[1]))
    now = datetime.now(timezone.utc)
    base = {"time": now.isoformat(timespec="seconds"), "key_fingerprint": "3f2a9c1b", "provider": "openai-billing",
            "ok": True, "currency": "USD", "balance": "12.3400", "used": "7.6600", "total": "20.0000",
            "unlimited": False, "error": None, "note": "x" * 200}
    loaded = history.load(now)
    if not loaded.records:
        history.save(loaded, [dict(base, account=f"a{i}") for i in range(3000)], now)
    print("ready", flush=True)
    for n in range(100000):  # bounded; the test kills it long before
        history.save(history.load(now), [dict(base, account=f"n{n}")], now)
    """
)


def test_a_writer_killed_at_random_moments_never_leaves_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "api_usage_history.json"
    rng = random.Random(20261128)
    seen = 0
    for _ in range(12):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        if path.exists():
            records = check_document(path)
            assert len(records) >= seen  # never an older or a shorter file than one already seen
            seen = len(records)
    assert seen > 3000  # the kills did land in the middle of saving, not only before the first save
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_two_runs_at_once_take_turns_and_both_records_are_kept(tmp_path: Path, bot: FeishuBotEmulator) -> None:
    from decimal import Decimal

    from monitor.emulators import Token
    from tests.conftest import MAIN_KEY, SPARE_KEY

    tokens = {MAIN_KEY[3:]: Token(total=Decimal("20"), used=Decimal("7.66")),
              SPARE_KEY[3:]: Token(total=Decimal("50"), used=Decimal("10"))}
    with RelayEmulator(tokens=tokens, delay=0.4) as relay:
        setup = make(tmp_path / "etc", relay.url, bot, history={"lock_wait_seconds": 20})
        first, second = popen(setup, "--json"), popen(setup, "--json")
        outs = [p.communicate(timeout=60) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outs
    records = check_document(setup.history)
    assert sorted(r["account"] for r in records) == ["main", "main", "spare", "spare"]
    # The later run read what the earlier one wrote: one saw no history, the other saw that run's records.
    kinds = sorted(json.loads(out)["accounts"][0]["period"]["kind"] for out, _ in outs)
    assert kinds == ["first", "usage"]
    assert len(bot.received) == 2


def test_a_lock_held_too_long_exits_75_and_does_nothing(tmp_path: Path, relay: RelayEmulator,
                                                        bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot, history={"lock_wait_seconds": 1})
    lock = setup.folder / "api_usage_history.json.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process, as far as the run is concerned
        started = time.monotonic()
        result = run(setup)
        waited = time.monotonic() - started
    finally:
        os.close(fd)
    assert result.returncode == 75, result.stderr
    assert "another run holds" in result.stderr and "nothing done" in result.stderr
    assert 0.9 <= waited < 10
    assert relay.requests == [] and bot.requests == []
    assert not setup.history.exists()


def run_limited(setup: Setup, max_file_bytes: int) -> subprocess.CompletedProcess[str]:
    """A run whose files cannot grow past ``max_file_bytes`` (EFBIG): a write error, even for root."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    home = setup.folder.parent / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run([str(EXECUTABLE), "run", "-c", str(setup.config)], cwd=home, preexec_fn=limit,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=60)


def test_a_write_error_sets_bit_8_keeps_the_old_file_and_the_report_says_so(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    assert run(setup).returncode == 0
    before = setup.history.read_bytes()
    result = run_limited(setup, len(before) + 10)
    assert result.returncode == 8, result.stderr
    assert setup.history.read_bytes() == before
    assert "history not saved" in result.stderr
    assert len(bot.received) == 2 and "历史记录未能保存" in card_text(bot.received[-1])
    assert [p.name for p in setup.folder.iterdir() if p.name.endswith(".tmp")] == []  # no temp file left


def test_a_history_folder_that_does_not_exist_sets_bit_8_and_the_report_still_goes(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot, history={"file": "missing/api_usage_history.json"})
    result = run(setup)
    assert result.returncode == 8, result.stderr
    assert "Traceback" not in result.stderr and "cannot open the lock file" in result.stderr
    assert len(bot.received) == 1 and "历史记录未能保存" in card_text(bot.received[0])
    assert not (setup.folder / "missing").exists()


@pytest.mark.parametrize("content", [b"{\"version\": 1, \"records\": [{\"time\": ", b"\x00\xff garbage \xfe",
                                     b"[]", b"{\"version\": 1}"],
                         ids=["truncated", "binary", "list", "no-records"])
def test_a_corrupt_history_is_moved_aside_reported_and_the_run_goes_on(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator, content: bytes) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    setup.history.write_bytes(content)
    result = run(setup)
    assert result.returncode == 0, result.stderr
    aside = [p for p in setup.folder.iterdir() if p.name.startswith("api_usage_history.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == content  # nothing deleted
    assert [r["account"] for r in check_document(setup.history)] == ["main", "spare"]
    assert "moved aside" in result.stderr
    assert "moved aside" in card_text(bot.received[0])


def test_a_dry_run_leaves_a_corrupt_history_where_it_is(tmp_path: Path, relay: RelayEmulator,
                                                        bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    setup.history.write_bytes(b"{oops")
    result = run(setup, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert setup.history.read_bytes() == b"{oops"
    assert sorted(p.name for p in setup.folder.iterdir()) == [".env", "api_usage_history.json", "config.yaml"]
    assert bot.requests == []


@pytest.mark.parametrize("document", [
    {"version": 2, "records": [{"time": "2026-11-27T01:05:00+00:00", "account": "main", "ok": True}]},
    {"version": 2, "snapshots": {"main": []}},  # a newer shape, not only a newer number
    {"version": "1.1", "records": []},
], ids=["v2", "v2-new-shape", "string-version"])
def test_an_unknown_version_is_refused_left_byte_identical_and_sets_bit_8(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator, document: dict[str, Any]) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    content = json.dumps(document, indent=1).encode()
    setup.history.write_bytes(content)
    os.utime(setup.history, (1_000_000_000, 1_000_000_000))
    result = run(setup)
    assert result.returncode == 8, result.stderr
    assert setup.history.read_bytes() == content
    assert setup.history.stat().st_mtime == 1_000_000_000
    assert not [p for p in setup.folder.iterdir() if ".corrupt-" in p.name]
    assert "does not know" in result.stderr
    assert "历史记录未能保存" in card_text(bot.received[0]) or "does not know" in card_text(bot.received[0])


def test_a_temp_file_left_by_a_killed_writer_is_cleaned_up_by_the_next_save(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    leftover = setup.folder / ".api_usage_history.json.k1ll3d.tmp"
    leftover.write_bytes(b'{"version": 1, "records": [\n{"time": "2026-')
    assert run(setup).returncode == 0
    assert not leftover.exists()
    assert [r["account"] for r in check_document(setup.history)] == ["main", "spare"]
