"""SIGTERM and SIGINT mid-run: exit 143 or 130, and the history is either untouched or fully written."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.emulators import Answer, FeishuBotEmulator, RelayEmulator, Request
from tests.conftest import BOT_SECRET, WEBHOOK_TOKEN
from tests.support.faults import make, popen, run


@dataclass
class SlowBot(FeishuBotEmulator):
    """A bot that takes its time to answer (bounded), so a signal lands while the report is being posted."""

    delay: float = 0.0

    def handle(self, request: Request) -> Answer:
        time.sleep(self.delay)
        return super().handle(request)


def files(folder: Path) -> dict[str, bytes]:
    """Every file of the history folder but the lock, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != ".lock"}


def wait_for(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the run never got that far"
        time.sleep(0.05)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_querying_leaves_the_history_untouched(tmp_path: Path, relay: RelayEmulator,
                                                              bot: FeishuBotEmulator, signum: int, code: int) -> None:
    setup = make(tmp_path / "etc", relay.url, bot, http={"timeout_seconds": 10})
    assert run(setup).returncode == 0
    before = files(setup.log)
    relay.delay = 5
    seen = len(relay.requests)
    process = popen(setup)
    wait_for(lambda: len(relay.requests) > seen)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=15)
    relay.delay = 0
    assert process.returncode == code, stderr
    assert files(setup.log) == before
    assert "Traceback" not in stderr
    assert not [p for p in setup.log.iterdir() if p.name.endswith(".tmp")]
    assert run(setup).returncode == 0  # the lock was released


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_posting_leaves_the_history_fully_written(tmp_path: Path, relay: RelayEmulator,
                                                                 signum: int, code: int) -> None:
    with SlowBot(token=WEBHOOK_TOKEN, secret=BOT_SECRET) as bot:
        setup = make(tmp_path / "etc", relay.url, bot)
        assert run(setup).returncode == 0
        old = setup.records()
        bot.delay = 5
        process = popen(setup)
        wait_for(lambda: len(bot.requests) >= 2)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=15)
        bot.delay = 0
    assert process.returncode == code, stderr
    records = setup.records()  # every line a whole record
    assert records[: len(old)] == old
    assert [(r["seq"], r["account"]) for r in records[len(old):]] == [(2, "main"), (2, "spare")]


def test_a_sigterm_while_waiting_for_the_lock_is_143_and_nothing_done(tmp_path: Path, relay: RelayEmulator,
                                                                      bot: FeishuBotEmulator) -> None:
    import fcntl
    import os

    setup = make(tmp_path / "etc", relay.url, bot, history={"lock_wait_seconds": 30})
    setup.log.mkdir(mode=0o700)
    fd = os.open(setup.log / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        log = tmp_path / "run.log"
        process = popen(setup, "--log-file", str(log))
        wait_for(lambda: log.exists() and "waiting for another run" in log.read_text())
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        os.close(fd)
    assert process.returncode == 143, stderr
    assert relay.requests == [] and bot.requests == [] and [p.name for p in setup.log.iterdir()] == [".lock"]
