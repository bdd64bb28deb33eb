"""--log-file PATH: info and above, appended, created 0600, safe under logrotate; cron's stderr stays quiet."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from monitor.emulators import FeishuBotEmulator
from tests.conftest import (
    BOT_SECRET,
    MAIN_KEY,
    SPARE_KEY,
    WEBHOOK_TOKEN,
    Setup,
    cli_run,
)

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR|CRITICAL) \S")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_log_file_gets_info_lines_while_stderr_stays_quiet(setup: Setup, bot: FeishuBotEmulator,
                                                          tmp_path: Path) -> None:
    log_file = tmp_path / "log" / "api-balance-monitor.log"
    log_file.parent.mkdir()
    result = cli_run(["-c", str(setup.config), "--log-file", str(log_file)], tmp_path / "home")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # quiet on success: cron mails nothing
    assert mode(log_file) == 0o600
    text = log_file.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines and all(LINE.match(line) for line in lines), text
    assert any("report delivered to Feishu" in line for line in lines)
    assert any("history saved" in line for line in lines)
    for secret in (MAIN_KEY, SPARE_KEY, WEBHOOK_TOKEN, BOT_SECRET):
        assert secret not in text


def test_log_file_takes_no_debug_lines_even_with_vv(setup: Setup, bot: FeishuBotEmulator, tmp_path: Path) -> None:
    log_file = tmp_path / "monitor.log"
    result = cli_run(["-vv", "-c", str(setup.config), "--log-file", str(log_file)], tmp_path / "home")
    assert result.returncode == 0
    assert " DEBUG " in result.stderr  # -vv is for the terminal
    text = log_file.read_text(encoding="utf-8")
    assert " INFO " in text and " DEBUG " not in text


def test_log_file_gets_info_lines_even_with_q(setup: Setup, bot: FeishuBotEmulator, tmp_path: Path) -> None:
    log_file = tmp_path / "monitor.log"
    result = cli_run(["-q", "-c", str(setup.config), "--log-file", str(log_file)], tmp_path / "home")
    assert result.returncode == 0 and result.stderr == ""
    assert "report delivered to Feishu" in log_file.read_text(encoding="utf-8")


def test_runs_append_and_a_rotated_log_is_left_alone(setup: Setup, bot: FeishuBotEmulator, tmp_path: Path) -> None:
    log_file = tmp_path / "monitor.log"
    args = ["-c", str(setup.config), "--log-file", str(log_file)]
    cli_run(args, tmp_path / "home")
    one_run = len(log_file.read_text(encoding="utf-8").splitlines())
    cli_run(args, tmp_path / "home")
    assert len(log_file.read_text(encoding="utf-8").splitlines()) == 2 * one_run  # appended, not truncated

    # logrotate (no copytruncate): move the file aside; the next run starts a new one, mode 0600.
    rotated = tmp_path / "monitor.log.1"
    os.rename(log_file, rotated)
    before = rotated.read_bytes()
    result = cli_run(args, tmp_path / "home")
    assert result.returncode == 0
    assert rotated.read_bytes() == before
    assert mode(log_file) == 0o600
    assert len(log_file.read_text(encoding="utf-8").splitlines()) == one_run

    # logrotate's "create 0640 root adm": the file it made keeps its mode.
    os.rename(log_file, tmp_path / "monitor.log.2")
    log_file.touch()
    os.chmod(log_file, 0o640)
    cli_run(args, tmp_path / "home")
    assert mode(log_file) == 0o640
    assert "report delivered" in log_file.read_text(encoding="utf-8")


def test_an_unwritable_log_file_is_a_warning_and_the_run_goes_on(setup: Setup, bot: FeishuBotEmulator,
                                                                 tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "monitor.log"
    result = cli_run(["-c", str(setup.config), "--log-file", str(missing)], tmp_path / "home")
    assert result.returncode == 0
    assert "WARNING cannot write the log file" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(bot.received) == 1


def test_quiet_run_still_says_the_log_file_cannot_be_written(setup: Setup, bot: FeishuBotEmulator,
                                                             tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "x.log"
    result = cli_run(["-q", "-c", str(setup.config), "--log-file", str(missing)], tmp_path / "home")
    assert result.returncode == 0
    assert f"ERROR cannot write the log file {missing}" in result.stderr
    assert len(bot.received) == 1  # the run itself went on
