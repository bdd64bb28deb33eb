"""The command line as cron and shells use it: options on either side of the subcommand, and a reader
that closes stdout early (``| head -1``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import EXECUTABLE, SPARE_KEY, Setup, cli_run, config_text, standard_env, write_setup
from tests.helpers_ops import HeartbeatServer


def test_options_may_stand_before_the_subcommand(setup: Setup, tmp_path: Path) -> None:
    before = cli_run(["-c", str(setup.config), "check-config"], home=tmp_path)
    after = cli_run(["check-config", "-c", str(setup.config)], home=tmp_path)
    assert before.returncode == 0, before.stderr
    assert before.stdout == after.stdout and "main" in before.stdout
    mixed = cli_run(["-q", "--config", str(setup.config), "history", "--days", "3", "--csv"], home=tmp_path)
    assert mixed.returncode == 0, mixed.stderr
    assert mixed.stdout.startswith("date,")
    check = cli_run(["--dry-run", "-c", str(setup.config), "check", "--json"], home=tmp_path)
    assert check.returncode == 0, check.stderr
    assert {a["name"] for a in json.loads(check.stdout)["accounts"]} == {"main", "spare"}


def test_an_option_value_named_like_a_subcommand_is_a_value(relay: RelayEmulator, tmp_path: Path) -> None:
    # -c's value is a file that happens to be called "check-config"; the subcommand is history.
    home = tmp_path / "home"
    write_setup(home, config_text(relay.url), standard_env(None)).config.rename(home / "check-config")
    result = cli_run(["-c", "check-config", "history", "--csv"], home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("date,")


def test_an_option_of_another_subcommand_is_still_a_usage_error(setup: Setup, tmp_path: Path) -> None:
    result = cli_run(["--dry-run", "-c", str(setup.config), "history"], home=tmp_path)
    assert result.returncode == 64 and "unrecognized arguments: --dry-run" in result.stderr


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
