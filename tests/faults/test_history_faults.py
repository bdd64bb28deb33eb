"""The history folder under kills, concurrent runs, held locks, write errors, bad lines and newer versions."""

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
from tests.conftest import EXECUTABLE, Setup, cli_run
from tests.support.faults import card_text, make, popen, run


def lines_of(folder: Path) -> list[dict[str, Any]]:
    """The records of every log file that a reader can read (a line that is not one is skipped), by seq."""
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_bytes().split(b"\n"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("seq"), int):
                found.append(value)
    return sorted(found, key=lambda r: r["seq"])


def files(folder: Path) -> dict[str, bytes]:
    """Every file of the history folder but the lock, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != ".lock"}


WRITER = textwrap.dedent(
    """\
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from monitor.history import History

    history = History(Path(sys.argv[1]))
    now = datetime.now(timezone.utc)
    base = {"time": now.isoformat(timespec="seconds"), "key_fingerprint": "3f2a9c1b", "provider": "openai-billing",
            "ok": True, "currency": "USD", "balance": "12.3400", "used": "7.6600", "total": "20.0000",
            "unlimited": False, "error": None, "note": "x" * 200}

    def one_run(accounts, command):
        with history.locked(30):  # as a run: read, append, then the state
            loaded = history.read(now)
            history.append(loaded, [dict(base, account=a) for a in accounts], command, now)
            history.write_state(loaded.state)

    if not history.has_records():
        one_run([f"a{i}" for i in range(3000)], "report")
    print("ready", flush=True)
    for n in range(100000):  # bounded; the test kills it long before
        one_run([f"n{n}-{i}" for i in range(200)], "check" if n % 2 else "report")
    """
)


def test_a_writer_killed_at_random_moments_never_loses_a_record(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from monitor.history import History

    folder = tmp_path / "api_usage_history"
    rng = random.Random(20261128)
    seen: dict[tuple[int, str], dict[str, Any]] = {}
    for _ in range(12):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        # Every record seen after an earlier kill is still there, unchanged; at most a last line is torn.
        loaded = History(folder).read(datetime.now(timezone.utc), everything=True)
        assert loaded.unreadable == [] and not loaded.refused
        now = {(r["seq"], r["account"]): r for r in lines_of(folder)}
        assert len(now) == len(loaded.records)  # one record per account per run, each read once
        assert {k: v for k, v in now.items() if k in seen} == seen
        seen = now
        seqs = [r["seq"] for r in lines_of(folder)]
        assert seqs == sorted(seqs)  # the order of runs
        state = folder / "state.json"
        if state.exists():
            json.loads(state.read_bytes())  # replaced whole, never half written
    assert len(seen) > 3000  # the kills did land in the middle of runs, not only before the first one
    # The next run cuts off a torn last line before it appends: every line is a whole record again.
    subprocess.run([sys.executable, "-c", WRITER.replace("range(100000)", "range(1)"), str(folder)], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    for path in folder.glob("*.jsonl"):
        assert path.read_bytes().endswith(b"\n")
        assert all(json.loads(line) for line in path.read_bytes().splitlines())
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    kept = {(r["seq"], r["account"]): r for r in lines_of(folder)}
    assert {k: v for k, v in kept.items() if k in seen} == seen


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
    records = setup.records()
    assert sorted(r["account"] for r in records) == ["main", "main", "spare", "spare"]
    assert [r["seq"] for r in records] == [1, 1, 2, 2]  # one run after the other
    # The later run read what the earlier one wrote: one saw no history, the other saw that run's records.
    kinds = sorted(json.loads(out)["accounts"][0]["period"]["kind"] for out, _ in outs)
    assert kinds == ["first", "usage"]
    assert len(bot.received) == 2


def test_a_lock_held_too_long_exits_75_and_does_nothing(tmp_path: Path, relay: RelayEmulator,
                                                        bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot, history={"lock_wait_seconds": 1})
    setup.log.mkdir(mode=0o700)
    lock = setup.log / ".lock"
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
    assert sorted(p.name for p in setup.log.iterdir()) == [".lock"]


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


def test_a_write_error_sets_bit_8_keeps_the_old_files_and_the_report_says_so(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    assert run(setup).returncode == 0
    before = files(setup.log)
    [log] = setup.log.glob("reports-*.jsonl")
    result = run_limited(setup, len(before[log.name]) + 10)  # room for 10 bytes of the next run's records
    assert result.returncode == 8, result.stderr
    assert files(setup.log) == before  # not a byte of the run that could not be saved
    assert "history not saved" in result.stderr
    assert len(bot.received) == 2 and "历史记录未能保存" in card_text(bot.received[-1])
    assert [p.name for p in setup.log.iterdir() if p.name.endswith(".tmp")] == []  # no temp file left
    again = run(setup)
    assert again.returncode == 0, again.stderr
    assert [r["account"] for r in setup.records()] == ["main", "spare", "main", "spare"]
    assert [r["seq"] for r in setup.records()] == [1, 1, 2, 2]


def test_a_history_folder_whose_parent_does_not_exist_sets_bit_8_and_the_report_still_goes(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot, history={"folder": "missing/api_usage_history"})
    result = run(setup)
    assert result.returncode == 8, result.stderr
    assert "Traceback" not in result.stderr and "cannot open the lock file" in result.stderr
    assert len(bot.received) == 1 and "历史记录未能保存" in card_text(bot.received[0])
    assert not (setup.folder / "missing").exists()


@pytest.mark.parametrize("content", [b"{\"seq\": 2, \"time\": ", b"\x00\xff garbage \xfe", b"[]",
                                     b"{\"account\": \"main\"}"],
                         ids=["truncated", "binary", "list", "no-time"])
def test_a_line_that_cannot_be_read_costs_that_line_only(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator, content: bytes) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    assert run(setup).returncode == 0
    [log] = setup.log.glob("reports-*.jsonl")
    first, second = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(first + content + b"\n" + second)  # a bad line between main's and spare's records
    result = run(setup, "--json")
    assert result.returncode == 0, result.stderr
    # Skipped with a warning that names the file and line; the run goes on with every other record.
    assert f"{log.name}:2 cannot be read" in result.stderr
    assert {a["name"]: a["period"]["kind"] for a in json.loads(result.stdout)["accounts"]} == {
        "main": "usage", "spare": "usage"}
    assert log.read_bytes().startswith(first + content + b"\n" + second)  # kept in place, byte for byte
    assert [(r["seq"], r["account"]) for r in lines_of(setup.log)] == [(1, "main"), (1, "spare"), (2, "main"),
                                                                        (2, "spare")]
    assert not [p for p in setup.folder.rglob("*") if ".corrupt-" in p.name]  # nothing set aside
    # Warned about once, not every run; check-config still lists it.
    assert run(setup).stderr == ""
    listed = cli_run(["check-config", "-c", str(setup.config)], setup.folder.parent / "home")
    assert f"{log.name}:2 cannot be read" in listed.stdout


def test_a_dry_run_leaves_a_bad_line_where_it_is(tmp_path: Path, relay: RelayEmulator,
                                                  bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    assert run(setup).returncode == 0
    [log] = setup.log.glob("reports-*.jsonl")
    log.write_bytes(log.read_bytes() + b"{oops\n")
    before = files(setup.log)
    result = run(setup, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert files(setup.log) == before
    assert sorted(p.name for p in setup.folder.iterdir()) == [".env", "api_usage_history", "config.yaml"]
    assert len(bot.requests) == 1  # the first run's report only


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
    assert not [p for p in setup.folder.iterdir() if ".corrupt-" in p.name or ".imported-" in p.name]
    assert lines_of(setup.log) == [] and not (setup.log / "state.json").exists()  # nothing imported
    assert "does not know" in result.stderr
    assert "历史记录未能保存" in card_text(bot.received[0]) or "does not know" in card_text(bot.received[0])


@pytest.mark.parametrize("name", [".state.json.k1ll3d.tmp", ".reports-2026-08.jsonl.k1ll3d.tmp"])
def test_a_temp_file_left_by_a_killed_writer_is_cleaned_up_by_the_next_run(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator, name: str) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    setup.log.mkdir(mode=0o700)
    leftover = setup.log / name
    leftover.write_bytes(b'{"version": 2, "next_seq": ')
    assert run(setup).returncode == 0
    assert not leftover.exists()
    assert [r["account"] for r in setup.records()] == ["main", "spare"]
