"""Shared fixtures: loopback emulators, config writing, and running the command: in this process
(``cli_run``) or as cron runs the installed script (``cron_run``)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor import cli
from monitor.emulators import FeishuBotEmulator, RelayEmulator, Token

# Keys shaped like real relay keys (sk- + 48 characters), so a leak would be easy to grep for.
MAIN_KEY = "sk-" + "M41nK3y" * 6 + "abcdef"
SPARE_KEY = "sk-" + "Sp4r3K3y" * 6
WEBHOOK_TOKEN = "954e40d7-6b1c-4111-9f2a-649b5e0ba5f9"
BOT_SECRET = "b0tS1gn1ngS3cr3tXYZ"

EXECUTABLE = Path(sys.executable).parent / "api-balance-monitor"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (setup.cfg): a worker a core, and one more. Some tests wait rather than compute (cron's
    next minute, a signal sent while a post is slow, a retry's pause): meanwhile the spare one computes."""
    return (os.cpu_count() or 1) + 1


@pytest.fixture
def relay() -> Iterator[RelayEmulator]:
    tokens = {
        MAIN_KEY[3:]: Token(total=Decimal("20"), used=Decimal("7.66"), name="main"),
        SPARE_KEY[3:]: Token(total=Decimal("50"), used=Decimal("10"), name="spare"),
    }
    with RelayEmulator(tokens=tokens) as server:
        yield server


@pytest.fixture
def odd_relay() -> Iterator[RelayEmulator]:
    """new-api's quota ÷ 500000 gives more than four decimals: used $1.00015 (total_usage 100.015 cents)."""
    tokens = {MAIN_KEY[3:]: Token(total=Decimal("20"), used=Decimal("1.00015"), name="main"),
              SPARE_KEY[3:]: Token(total=Decimal("50"), used=Decimal("10.123456"), name="spare")}
    with RelayEmulator(tokens=tokens) as server:
        yield server


@pytest.fixture
def bot() -> Iterator[FeishuBotEmulator]:
    with FeishuBotEmulator(token=WEBHOOK_TOKEN, secret=BOT_SECRET) as server:
        yield server


def config_text(relay_url: str, bot_url: str | None = None, extra: str = "", accounts: str | None = None) -> str:
    """A config whose keys and webhook come from .env, as the README tells users to do."""
    feishu = (
        textwrap.dedent(
            """\
            feishu:
              webhook_url: ${FEISHU_WEBHOOK_URL}
              secret: ${FEISHU_SECRET:-}
              mention_on_alert: [all]
            """
        )
        if bot_url
        else ""
    )
    accounts = accounts or textwrap.dedent(
        """\
        accounts:
          - name: main
            api_key: ${MAIN_API_KEY}
          - name: spare
            api_key: ${SPARE_API_KEY}
        """
    )
    return (
        f"timezone: Asia/Shanghai\nhistory:\n  folder: api_usage_history\n"
        f"defaults:\n  provider: openai-billing\n  base_url: {relay_url}\n  low_balance: 5\n"
        f"{feishu}{extra}{accounts}"
    )


@dataclass
class Setup:
    folder: Path
    config: Path
    history: Path  # where a v1 history file (of an earlier release) is: the first run imports it
    log: Path  # the history folder

    def records(self) -> list[dict[str, Any]]:
        """Every record of the history folder, in seq order (as ``history export`` prints them)."""
        return log_records(self.log)


def log_records(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        found += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(found, key=lambda r: r["seq"])


def write_setup(folder: Path, config: str, env: dict[str, str] | None = None) -> Setup:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(config, encoding="utf-8")
    if env is not None:
        dotenv = folder / ".env"
        dotenv.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
        os.chmod(dotenv, 0o600)
    return Setup(folder, path, folder / "api_usage_history.json", folder / "api_usage_history")


def standard_env(bot: FeishuBotEmulator | None) -> dict[str, str]:
    env = {"MAIN_API_KEY": MAIN_KEY, "SPARE_API_KEY": SPARE_KEY}
    if bot is not None:
        env["FEISHU_WEBHOOK_URL"] = bot.webhook_url
        env["FEISHU_SECRET"] = bot.secret
    return env


@pytest.fixture
def setup(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> Setup:
    """A config folder with config.yaml and .env pointing at the loopback relay and bot."""
    return write_setup(tmp_path / "etc", config_text(relay.url, bot.url), standard_env(bot))


def cron_env(home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment cron gives a job (and nothing of the test run's), plus ``env``."""
    return {"HOME": str(home), "LOGNAME": "cron", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin", **(env or {})}


def cli_run(args: list[str], home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``cli.main`` in this process, in what ``cron_run`` gives the installed script (cron's environment,
    cwd = HOME), with everything it changes put back: the environment, the cwd, the root logger's handlers
    and the SIGTERM handler. No interpreter to start: ``tests/e2e`` keeps the real thing."""
    home.mkdir(parents=True, exist_ok=True)
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_sigterm = signal.getsignal(signal.SIGTERM)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(cron_env(home, env))
    os.chdir(home)
    try:
        # --version writes to sys.stdout, as the console script's must. (Not sys.stderr: the emulators'
        # threads print there, and main writes its errors to the stream it is given.)
        with contextlib.redirect_stdout(out):
            try:
                code = cli.main(args, out, err)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            if handler not in saved_handlers:
                handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        signal.signal(signal.SIGTERM, saved_sigterm)
    return subprocess.CompletedProcess(args, int(code), out.getvalue(), err.getvalue())


def cron_run(args: list[str], home: Path, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed console script by absolute path, as cron runs it: minimal environment, cwd = HOME."""
    home.mkdir(parents=True, exist_ok=True)
    base = cron_env(home)
    return subprocess.run(
        [str(EXECUTABLE), *args],
        cwd=home,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
