"""The installed command with its stdout a pipe whose reader has gone (`| head -1`): a real file descriptor,
so a real process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import EXECUTABLE, SPARE_KEY, Setup, config_text, standard_env, write_setup
from tests.support.helpers_ops import HeartbeatServer


def run_into_closed_pipe(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run as cron would, with stdout a pipe whose reader has already gone (``| head -1`` that exited)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run([str(EXECUTABLE), *args], cwd=home, stdout=writer, stderr=subprocess.PIPE,
                              env={"HOME": str(home), "LOGNAME": "cron", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"},
                              text=True, timeout=60)
    finally:
        os.close(writer)


def test_a_closed_stdout_keeps_the_exit_code_and_the_heartbeat(relay: RelayEmulator, bot: FeishuBotEmulator,
                                                              tmp_path: Path) -> None:
    relay.tokens.pop(SPARE_KEY[3:])  # spare fails: the run's code is 2, not the 0 a broken pipe used to give
    with HeartbeatServer() as hb:
        text = config_text(relay.url, extra="heartbeat_url: ${HEARTBEAT_URL}\n")
        setup = write_setup(tmp_path / "etc", text, {**standard_env(None), "HEARTBEAT_URL": f"{hb.url}/ping/abc"})
        results = [run_into_closed_pipe([*args, "-c", str(setup.config)], tmp_path)
                   for args in (["--dry-run"], ["--json"], ["run"])]
        pings = [r.path for r in hb.requests]
    for result in results:
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert pings == ["/ping/abc/2"] * 2  # --dry-run pings nothing, as it posts nothing
    assert len(setup.records()) == 4  # --json and the real run saved; the dry run did not


def test_history_into_a_closed_pipe_exits_quietly(setup: Setup, tmp_path: Path) -> None:
    result = run_into_closed_pipe(["history", "-c", str(setup.config)], tmp_path)
    assert result.returncode == 0 and result.stderr == ""
