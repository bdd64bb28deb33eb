"""Relays that misbehave on the wire: every failure is one account's clear error, never a hang or a crash."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor.emulators import CLOUDFLARE_PAGE, FeishuBotEmulator, RelayEmulator, Request, Token, json_answer
from tests.conftest import SPARE_KEY
from tests.support.faults import Gate, RawServer, make, run

SUBSCRIPTION = "/v1/dashboard/billing/subscription"


def spare_at(url: str) -> str:
    """Accounts where ``spare`` queries another host (the faulty one) and ``main`` the good relay."""
    return textwrap.dedent(
        f"""\
        accounts:
          - name: main
            api_key: ${{MAIN_API_KEY}}
          - name: spare
            api_key: ${{SPARE_API_KEY}}
            base_url: {url}
        """
    )


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release()


def by_name(stdout: str) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in json.loads(stdout)["accounts"]}


def faulty_relay(**kwargs: Any) -> RelayEmulator:
    return RelayEmulator(tokens={SPARE_KEY[3:]: Token(total=Decimal("50"), used=Decimal("10"), name="spare")},
                         **kwargs)


def query_spare(faulty: RelayEmulator, tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator,
                retries: int) -> tuple[subprocess.CompletedProcess[str], list[Request]]:
    """One --json run with ``spare`` on ``faulty``; the result and the subscription requests it got."""
    setup = make(tmp_path / "etc", relay.url, bot, http={"retries": retries}, accounts=spare_at(faulty.url))
    result = run(setup, "--json")
    return result, [r for r in faulty.requests if r.path == SUBSCRIPTION]


def test_a_relay_slower_than_the_timeout_fails_that_account_only(tmp_path: Path, relay: RelayEmulator,
                                                                  bot: FeishuBotEmulator) -> None:
    with faulty_relay(delay=2.5) as slow:
        setup = make(tmp_path / "etc", relay.url, bot, http={"retries": 0}, accounts=spare_at(slow.url))
        started = time.monotonic()
        result = run(setup, "--json")
    assert time.monotonic() - started < 10
    assert result.returncode == 2, result.stderr
    accounts = by_name(result.stdout)
    assert accounts["main"]["ok"] and accounts["main"]["balance"] == "12.3400"
    assert not accounts["spare"]["ok"]
    assert "timed out after 1 s waiting for an answer" in accounts["spare"]["error"]
    assert len(bot.received) == 1  # the others are still reported
    assert [r["account"] for r in setup.records()] == ["main", "spare"]  # and saved


def test_a_server_that_accepts_and_never_answers_times_out(tmp_path: Path, relay: RelayEmulator,
                                                           bot: FeishuBotEmulator) -> None:
    with RawServer("hang") as hanging:
        setup = make(tmp_path / "etc", relay.url, bot, http={"retries": 0}, accounts=spare_at(hanging.url))
        result = run(setup, "--json")
    assert result.returncode == 2, result.stderr
    assert "timed out" in by_name(result.stdout)["spare"]["error"]


def test_a_connection_reset_is_retried_then_reported(tmp_path: Path, relay: RelayEmulator,
                                                     bot: FeishuBotEmulator) -> None:
    with RawServer("reset") as resetting:
        setup = make(tmp_path / "etc", relay.url, bot, http={"retries": 1}, accounts=spare_at(resetting.url))
        result = run(setup, "--json")
        connections = resetting.connections
    assert result.returncode == 2, result.stderr
    error = by_name(result.stdout)["spare"]["error"]
    assert error.startswith("cannot reach 127.0.0.1:") and ("reset" in error or "without an answer" in error)
    assert connections == 4  # its two requests (together), each retried once as configured
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("status", [200, 503])
def test_an_html_page_is_not_json_and_says_what_it_is(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator,
                                                      status: int) -> None:
    page = (status, {"Content-Type": "text/html; charset=UTF-8"}, CLOUDFLARE_PAGE)
    with faulty_relay(faults={SUBSCRIPTION: lambda r: page}) as cloudflare:
        result, _ = query_spare(cloudflare, tmp_path, relay, bot, retries=0)
    assert result.returncode == 2, result.stderr
    error = by_name(result.stdout)["spare"]["error"]
    assert "text/html" in error and "Just a moment..." in error
    assert ("not JSON" in error) if status == 200 else error.startswith(f"HTTP {status}")


def test_an_empty_429_is_retried_then_reported(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    with faulty_relay(faults={SUBSCRIPTION: lambda r: (429, {}, b"")}) as limited:
        result, hits = query_spare(limited, tmp_path, relay, bot, retries=1)
    assert result.returncode == 2, result.stderr
    assert by_name(result.stdout)["spare"]["error"] == "HTTP 429: rate limited (empty answer)"
    assert len(hits) == 2


def test_a_429_with_retry_after_is_waited_for_then_succeeds(tmp_path: Path, relay: RelayEmulator,
                                                            bot: FeishuBotEmulator) -> None:
    with faulty_relay(rate_limit=(1, 1.0), retry_after=1) as limited:  # each wait counts as a retry
        setup = make(tmp_path / "etc", relay.url, bot, http={"retries": 2}, accounts=spare_at(limited.url))
        result = run(setup, "--json")
        times = [r.time for r in limited.requests]
    assert result.returncode == 0, result.stderr
    assert by_name(result.stdout)["spare"]["balance"] == "40.0000"
    assert len(times) >= 3 and times[-1] - times[0] >= 0.9  # it waited as asked instead of hammering


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_then_success_is_retried_and_succeeds(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator,
                                                    status: int) -> None:
    def once(request: Request) -> Any:
        flaky.faults.pop(SUBSCRIPTION)  # the next attempt gets the real answer
        return json_answer(status, {"error": {"message": "upstream hiccup"}})

    with faulty_relay() as flaky:
        flaky.faults[SUBSCRIPTION] = once
        result, hits = query_spare(flaky, tmp_path, relay, bot, retries=2)
    assert result.returncode == 0, result.stderr
    assert by_name(result.stdout)["spare"]["balance"] == "40.0000"
    assert len(hits) == 2


@pytest.mark.parametrize("status", [401, 404])
def test_a_4xx_is_not_retried(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator, status: int) -> None:
    answer = json_answer(status, {"error": {"message": "no such thing", "type": "one_api_error"}})
    with faulty_relay(faults={SUBSCRIPTION: lambda r: answer}) as refusing:
        result, hits = query_spare(refusing, tmp_path, relay, bot, retries=2)
    assert result.returncode == 2, result.stderr
    assert by_name(result.stdout)["spare"]["error"] == f"HTTP {status}: no such thing"
    assert len(hits) == 1


def test_an_unknown_key_is_one_request_and_a_clear_401(tmp_path: Path, relay: RelayEmulator,
                                                      bot: FeishuBotEmulator) -> None:
    accounts = "accounts:\n  - name: stranger\n    api_key: sk-n0t4kn0wnk3yAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
    setup = make(tmp_path / "etc", relay.url, bot, http={"retries": 2}, accounts=accounts)
    result = run(setup, "--json")
    assert result.returncode == 2, result.stderr
    assert by_name(result.stdout)["stranger"]["error"].startswith("HTTP 401: 无效的令牌")
    assert len([r for r in relay.requests if r.path == SUBSCRIPTION]) == 1


def test_the_run_timeout_bounds_the_query_phase(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator,
                                                gate: Gate) -> None:
    with faulty_relay(faults={SUBSCRIPTION: gate.hang(30)}) as stuck:
        setup = make(tmp_path / "etc", relay.url, bot, http={"timeout_seconds": 20, "retries": 0,
                                                           "run_timeout_seconds": 1.5},
                     accounts=spare_at(stuck.url))
        started = time.monotonic()
        result = run(setup, "--json")
        took = time.monotonic() - started
    assert took < 8, took  # the hanging account did not hold the run for its 20 s timeout
    assert result.returncode == 2, result.stderr
    accounts = by_name(result.stdout)
    assert accounts["main"]["ok"]
    assert "timed out" in accounts["spare"]["error"]
    assert len(bot.received) == 1
    delivered = json.dumps(bot.received[0], ensure_ascii=False)
    assert "main" in delivered and "超时" in delivered  # the zh card says "timed out" in Chinese
    assert {r["account"]: r["ok"] for r in setup.records()} == {"main": True, "spare": False}


def test_a_retry_after_longer_than_the_run_fails_that_account_at_once(tmp_path: Path, relay: RelayEmulator,
                                                                      bot: FeishuBotEmulator) -> None:
    with faulty_relay(faults={SUBSCRIPTION: lambda r: (429, {"Retry-After": "600"}, b"")}) as limited:
        setup = make(tmp_path / "etc", relay.url, bot, http={"retries": 2, "run_timeout_seconds": 30},
                     accounts=spare_at(limited.url))
        started = time.monotonic()
        result = run(setup, "--json")
        took = time.monotonic() - started
    assert took < 10, took  # not held for a clamped minute, then failed anyway
    assert result.returncode == 2, result.stderr
    assert by_name(result.stdout)["spare"]["error"] == (
        "HTTP 429: the server asks to wait 600 s, longer than the run has left")
    assert by_name(result.stdout)["main"]["ok"]
