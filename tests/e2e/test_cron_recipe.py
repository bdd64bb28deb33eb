"""docs/deploy-cron.md, executed: the documented commands as root, then Debian's cron daemon running
the documented crontab line as the job's own non-root user, then logrotate with the documented snippet.

One test, about a minute: cron starts jobs only at the top of a minute, so it waits for the next one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import config_text, standard_env
from tests.support.docblocks import ROOT, block
from tests.support.helpers_ops import HeartbeatServer
from tests.support.system_tools import need_python_modules, need_root, need_tool

DOC = "docs/deploy-cron.md"
# The recipe's venv is made by the system's Python (the job's user cannot reach a Python under /root, such
# as pyenv's) with Debian's packages of the dependencies: nothing is downloaded.
SYSTEM_PACKAGES = {"ensurepip": "python3-venv", "setuptools": "python3-setuptools", "wheel": "python3-wheel",
                   "requests": "python3-requests", "dotenv": "python3-dotenv", "yaml": "python3-yaml"}


def system_python() -> str:
    python = need_tool("python3", package="python3", where="/usr/bin")
    need_python_modules(python, SYSTEM_PACKAGES)
    return python


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder the job's user can reach (pytest's tmp_path is 0700 root's), standing in for '/'."""
    folder = Path(tempfile.mkdtemp(prefix="abm-cron-", dir="/tmp"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def user() -> Iterator[str]:
    name = "abm" + uuid.uuid4().hex[:8]
    yield name
    for command in (["crontab", "-u", name, "-r"], ["userdel", name]):
        with contextlib.suppress(FileNotFoundError):  # a machine without cron skipped the test
            subprocess.run(command, capture_output=True)


def rewrite(text: str, base: Path, user: str) -> str:
    """The documented paths moved under ``base``, and the documented user renamed to this test's."""
    for path, local in (("/opt/api-balance-monitor/venv", "opt/venv"), ("/opt/api-balance-monitor/src", "checkout"),
                        ("/root/api-balance-monitor-setup", "setup"), ("/etc/api-balance-monitor", "etc"),
                        ("/var/lib/api-balance-monitor", "lib"), ("/var/log/api-balance-monitor", "log"),
                        ("/etc/logrotate.d", "logrotate.d")):
        text = text.replace(path, str(base / local))
    return re.sub(r"(?<![\w/.-])api-balance-monitor(?![\w/.-])", user, text)


def install_program(base: Path, python: str) -> Path:
    """Step 1 into ``base/opt/venv`` with the system's Python (its Debian packages give the dependencies:
    no download), from a copy of the files a checkout installs from."""
    source = base / "src"
    shutil.copytree(ROOT / "monitor", source / "monitor", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    venv = base / "opt" / "venv"
    subprocess.run([python, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                    str(source)], check=True, capture_output=True)
    shutil.rmtree(source)
    return venv / "bin" / "api-balance-monitor"


def place_checkout(base: Path, user: str) -> Path:
    """The files of the checkout that steps 2 and 5 copy, at the stand-in for /opt/api-balance-monitor/src."""
    checkout = base / "checkout"
    (checkout / "deploy" / "logrotate").mkdir(parents=True)
    for name in ("config.yaml", "crontab.example", ".env.example"):
        shutil.copy(ROOT / name, checkout)
    snippet = (ROOT / "deploy" / "logrotate" / "api-balance-monitor").read_text(encoding="utf-8")
    (checkout / "deploy" / "logrotate" / "api-balance-monitor").write_text(rewrite(snippet, base, user),
                                                                          encoding="utf-8")
    return checkout


def run_block(name: str, base: Path, user: str) -> subprocess.CompletedProcess[str]:
    """The page's block ``name``, word for word but the paths and the user's name, from a folder of no
    importance (the blocks name every file by its absolute path)."""
    return subprocess.run(["sh", "-e", "-c", rewrite(block(DOC, name), base, user)], cwd=base,
                          capture_output=True, text=True, timeout=60)


def next_minute() -> datetime:
    """The first minute that starts at least 15 s from now (time to install and start cron)."""
    now = datetime.now()
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return start if (start - now).total_seconds() >= 15 else start + timedelta(minutes=1)


def owner_and_mode(path: Path) -> tuple[str, int]:
    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, stat.S_IMODE(info.st_mode)


def test_the_documented_cron_install_runs_as_its_own_user_and_its_log_rotates(
        base: Path, user: str, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    need_root("the recipe adds a user, installs its crontab and starts cron")
    cron, logrotate = need_tool("cron", package="cron"), need_tool("logrotate", package="logrotate")
    need_tool("crontab", package="cron")
    need_tool("useradd", package="passwd")
    script = install_program(base, system_python())

    with HeartbeatServer() as heartbeat:
        # Step 2: the examples copied from the checkout into the working folder...
        checkout = place_checkout(base, user)
        copied = run_block("setup", base, user)
        assert copied.returncode == 0, copied.stderr
        stage = base / "setup"
        assert owner_and_mode(stage) == ("root", 0o700) and owner_and_mode(stage / ".env") == ("root", 0o600)
        for name, example in (("config.yaml", "config.yaml"), ("crontab.example", "crontab.example"),
                              (".env", ".env.example")):
            assert (stage / name).read_bytes() == (checkout / example).read_bytes()
        # ...and edited there: the operator's config and .env (history under /var/lib, as the doc says), and
        # the crontab with the report's line set to run a minute from now. (`check` has its own line.)
        history_line = "  folder: /var/lib/api-balance-monitor/history\n"
        assert history_line.strip() in (ROOT / DOC).read_text(encoding="utf-8")
        config = config_text(relay.url, bot.url, extra="heartbeat_url: ${HEARTBEAT_URL}\n")
        assert "history:\n  folder: api_usage_history\n" in config
        config = config.replace("history:\n  folder: api_usage_history\n", "history:\n" + history_line)
        (stage / "config.yaml").write_text(rewrite(config, base, user), encoding="utf-8")
        env = {**standard_env(bot), "HEARTBEAT_URL": f"{heartbeat.url}/ping/5bf1a9e2"}
        (stage / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
        when = next_minute()
        lines = (ROOT / "crontab.example").read_text(encoding="utf-8").splitlines()
        [run_line] = [line for line in lines if " run -c " in line]
        crontab = [line for line in lines if not re.match(r"^[\d*]", line)]  # comments and MAILTO
        crontab.append(f"{when.minute} {when.hour} * * * " + " ".join(run_line.split()[5:]))
        (stage / "crontab.example").write_text(rewrite("\n".join(crontab) + "\n", base, user), encoding="utf-8")

        # Step 3, word for word but the paths and the user's name.
        installed = run_block("install", base, user)
        assert installed.returncode == 0, installed.stderr
        assert owner_and_mode(base / "etc" / ".env") == (user, 0o600)

        daemon = subprocess.Popen([cron, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = when.timestamp() + 40
            while not heartbeat.requests and time.time() < deadline:
                time.sleep(0.5)
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)

        # The job ran as its user, at its minute, and ended with exit code 0 (the heartbeat carries it).
        assert [r.path for r in heartbeat.requests] == ["/ping/5bf1a9e2/0"], "cron did not run the job in time"
        assert len(bot.received) == 1
        history = base / "lib" / "history"
        assert owner_and_mode(history) == (user, 0o700)
        [records] = history.glob("reports-*.jsonl")
        assert owner_and_mode(records) == (user, 0o600) and owner_and_mode(history / "state.json") == (user, 0o600)
        assert owner_and_mode(history / ".lock")[0] == user
        log = base / "log" / "monitor.log"
        assert owner_and_mode(log) == (user, 0o600)
        first = log.read_text(encoding="utf-8")
        assert "history saved" in first and "report delivered" in first
        assert " WARNING " not in first and " ERROR " not in first

        # Step 5: the documented snippet, installed as documented, forced to rotate now.
        (base / "logrotate.d").mkdir()
        placed = run_block("logrotate", base, user)
        assert placed.returncode == 0, placed.stderr
        rotated = subprocess.run([logrotate, "-f", "-s", str(base / "logrotate.state"),
                                  str(base / "logrotate.d" / "api-balance-monitor")], capture_output=True, text=True)
        assert rotated.returncode == 0 and rotated.stderr == "", rotated.stderr
        assert log.with_name("monitor.log.1").read_text(encoding="utf-8") == first
        assert owner_and_mode(log) == (user, 0o600) and log.stat().st_size == 0

        # The next run (as the job's user, from cron's environment) writes to the new file.
        command = rewrite(" ".join(run_line.split()[5:]), base, user).split()  # the crontab line's command
        assert command[0] == str(script)
        again = subprocess.run(command, user=user, group=user, extra_groups=[],
            cwd=base / "lib", env={"HOME": str(base / "lib"), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"},
            capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and again.stderr == "", again.stderr
        assert owner_and_mode(log) == (user, 0o600)
        assert "history saved" in log.read_text(encoding="utf-8")
        assert [r.path for r in heartbeat.requests][-1] == "/ping/5bf1a9e2/0"
