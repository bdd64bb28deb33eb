"""Helpers for the adversarial suite: small-timeout configs, misbehaving servers, secret scans."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import textwrap
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from monitor.emulators import Answer, FeishuBotEmulator, Request
from tests.conftest import (
    BOT_SECRET,
    EXECUTABLE,
    MAIN_KEY,
    SPARE_KEY,
    WEBHOOK_TOKEN,
    Setup,
    cli_run,
    standard_env,
    write_setup,
)

SECRETS = (MAIN_KEY, SPARE_KEY, WEBHOOK_TOKEN, BOT_SECRET, MAIN_KEY[3:], SPARE_KEY[3:])

FAST_HTTP = {"timeout_seconds": 1, "retries": 1, "run_timeout_seconds": 20}


def config(
    relay_url: str,
    bot: bool = True,
    http: dict[str, Any] | None = None,
    history: dict[str, Any] | None = None,
    feishu: dict[str, Any] | None = None,
    accounts: str | None = None,
    top: str = "",
) -> str:
    """A config with small timeouts (the suite must stay fast), keys and webhook from .env."""
    history = {"folder": "api_usage_history", "lock_wait_seconds": 1, **(history or {})}
    http = {**FAST_HTTP, **(http or {})}
    lines = ["timezone: Asia/Shanghai", top.rstrip("\n")] if top else ["timezone: Asia/Shanghai"]
    lines.append("history:")
    lines += [f"  {k}: {json.dumps(v)}" for k, v in history.items()]
    lines.append("http:")
    lines += [f"  {k}: {json.dumps(v)}" for k, v in http.items()]
    if bot:
        lines += ["feishu:", "  webhook_url: ${FEISHU_WEBHOOK_URL}", "  secret: ${FEISHU_SECRET:-}",
                  "  mention_on_alert: [all]"]
        lines += [f"  {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in (feishu or {}).items()]
    lines += ["defaults:", "  provider: openai-billing", f"  base_url: {relay_url}", "  low_balance: 5"]
    lines.append((accounts or textwrap.dedent(
        """\
        accounts:
          - name: main
            api_key: ${MAIN_API_KEY}
          - name: spare
            api_key: ${SPARE_API_KEY}
        """
    )).rstrip("\n"))
    return "\n".join(lines) + "\n"


def make(folder: Path, relay_url: str, bot: FeishuBotEmulator | None, **kwargs: Any) -> Setup:
    return write_setup(folder, config(relay_url, bot=bot is not None, **kwargs), standard_env(bot))


def run(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    """The command, in cron's environment, on this setup's config (in this process: see ``cli_run``)."""
    return cli_run(["run", "-c", str(setup.config), *args], setup.folder.parent / "home")


def popen(setup: Setup, *args: str) -> subprocess.Popen[str]:
    """The installed command in the background (for signals and concurrent runs)."""
    home = setup.folder.parent / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([str(EXECUTABLE), "run", "-c", str(setup.config), *args], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leaked(texts: Iterable[str], secrets: Iterable[str] = SECRETS) -> list[str]:
    """The secrets that appear in any of ``texts`` (an empty list is what we want)."""
    found = []
    for secret in secrets:
        if any(secret in t for t in texts):
            found.append(secret)
    return found


def bot_texts(bot: FeishuBotEmulator) -> list[str]:
    """Every body the bot saw (accepted or not), decoded as text."""
    return [r.body.decode("utf-8", "replace") for r in bot.requests]


def card_text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


class Gate:
    """Lets a fault hold a request open, for a bounded time, until the test ends."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def hang(self, seconds: float = 30) -> Callable[[Request], Answer | None]:
        def fault(request: Request) -> Answer | None:
            self.event.wait(seconds)
            return None

        return fault

    def release(self) -> None:
        self.event.set()


def only_for(key: str, fault: Callable[[Request], Answer | None],
             normal: Callable[[Request], Answer | None]) -> Callable[[Request], Answer | None]:
    """A fault for one key only; other keys get ``normal`` (the relay's own answer)."""

    def choose(request: Request) -> Answer | None:
        if key in request.headers.get("authorization", ""):
            return fault(request)
        return normal(request)

    return choose


class RawServer:
    """A TCP server on 127.0.0.1 that misbehaves below HTTP: ``reset`` (RST after reading) or ``hang``."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stop = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            if self.mode == "reset":
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self.held.append(conn)  # accepted, never answered

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        for conn in self.held:
            conn.close()
        self.sock.close()
