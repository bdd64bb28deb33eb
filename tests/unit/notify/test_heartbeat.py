"""heartbeat_url: one GET at the end of every run, carrying the exit code; never a failed run."""

from __future__ import annotations

import time
from pathlib import Path

from monitor.emulators import FeishuBotEmulator, RelayEmulator, Request, json_answer
from tests.conftest import Setup, cli_run, config_text, standard_env, write_setup
from tests.support.helpers_ops import HeartbeatServer, closed_port

HEARTBEAT = "heartbeat_url: ${HEARTBEAT_URL:-}\n"


def heartbeat_setup(folder: Path, relay: RelayEmulator, bot: FeishuBotEmulator, url: str,
                    low_balance: str = "5") -> Setup:
    text = config_text(relay.url, bot.url, extra=HEARTBEAT).replace("low_balance: 5", f"low_balance: {low_balance}")
    return write_setup(folder, text, {**standard_env(bot), "HEARTBEAT_URL": url})


def test_a_url_without_placeholders_gets_the_exit_code_appended_after_the_report(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    with HeartbeatServer() as hb:
        setup = heartbeat_setup(tmp_path / "etc", relay, bot, f"{hb.url}/ping/5bf1a9e2-41f0-4a3c")
        result = cli_run(["-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    [ping] = hb.requests
    assert (ping.method, ping.path) == ("GET", "/ping/5bf1a9e2-41f0-4a3c/0")
    # At the end of the run: after the report was delivered and the history written.
    [post] = [r for r in bot.requests if r.method == "POST"]
    assert post.time <= ping.time
    assert setup.records() != []


def test_placeholders_carry_the_code_and_the_status(tmp_path: Path, relay: RelayEmulator,
                                                   bot: FeishuBotEmulator) -> None:
    with HeartbeatServer() as hb:
        low = heartbeat_setup(tmp_path / "low", relay, bot, f"{hb.url}/hb?code={{code}}&status={{status}}",
                              low_balance="15")
        first = cli_run(["-c", str(low.config)], tmp_path / "home")
        ok = heartbeat_setup(tmp_path / "ok", relay, bot, f"{hb.url}/hb/{{status}}")
        second = cli_run(["-c", str(ok.config)], tmp_path / "home")
    assert (first.returncode, second.returncode) == (1, 0)
    # Exit 1 (a low key, reported) is the job doing its work: "up", with the code kept in {code}.
    assert [r.path for r in hb.requests] == ["/hb?code=1&status=up", "/hb/up"]


def test_a_dead_heartbeat_server_is_a_warning_not_a_failed_run(tmp_path: Path, relay: RelayEmulator,
                                                                bot: FeishuBotEmulator) -> None:
    setup = heartbeat_setup(tmp_path / "etc", relay, bot, f"http://127.0.0.1:{closed_port()}/ping/abc")
    started = time.monotonic()
    result = cli_run(["-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0
    assert time.monotonic() - started < 10  # a refused connection costs no timeout
    assert "WARNING heartbeat not sent" in result.stderr
    assert len(bot.received) == 1 and setup.records() != []  # the run itself was done in full


def test_a_heartbeat_answering_an_error_is_a_warning(tmp_path: Path, relay: RelayEmulator,
                                                    bot: FeishuBotEmulator) -> None:
    class Broken(HeartbeatServer):
        def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
            return json_answer(503, {"error": "maintenance"})

    with Broken() as hb:
        setup = heartbeat_setup(tmp_path / "etc", relay, bot, f"{hb.url}/ping/abc")
        result = cli_run(["-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0
    assert "heartbeat answered HTTP 503" in result.stderr


def test_a_dry_run_does_not_ping(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    with HeartbeatServer() as hb:
        setup = heartbeat_setup(tmp_path / "etc", relay, bot, f"{hb.url}/ping/abc")
        result = cli_run(["--dry-run", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0
    assert hb.requests == []


def test_a_run_that_cannot_even_take_its_lock_still_pings_with_its_exit_code(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    with HeartbeatServer() as hb:
        setup = heartbeat_setup(tmp_path / "etc", relay, bot, f"{hb.url}/ping/abc")
        # Something sits where the lock file goes (here a folder): the history cannot be saved (bit 8).
        (setup.log / ".lock").mkdir(parents=True)
        result = cli_run(["-c", str(setup.config)], tmp_path / "home")
    assert result.returncode & 8
    assert [r.path for r in hb.requests] == [f"/ping/abc/{result.returncode}"]
