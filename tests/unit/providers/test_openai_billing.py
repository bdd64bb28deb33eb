"""openai-billing: usage above the limit, and ``hard_limit: remaining`` (reference/providers.md §1.2, §1.3)."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from monitor.emulators import json_answer
from monitor.providers import openai_billing
from tests.conftest import cli_run, write_setup
from tests.support.provider_servers import KEY, Wire, account, query_one, raw_json, serving

SUBSCRIPTION = "/v1/dashboard/billing/subscription"
USAGE = "/v1/dashboard/billing/usage"
RELAY = Wire(
    "openai-billing", SUBSCRIPTION, json_answer(200, {}),
    json_answer(401, {"error": {"message": "无效的令牌 (request id: 20261128090500123456)", "type": "one_api_error"}}),
)


def answers(limit: str, cents: str) -> dict[str, tuple[int, dict[str, str], bytes]]:
    """The two answers, written out by hand so the wire's decimals reach the parser as they are."""
    return {
        SUBSCRIPTION: raw_json(200, f'{{"object":"billing_subscription","has_payment_method":true,'
                                    f'"soft_limit_usd":{limit},"hard_limit_usd":{limit},'
                                    f'"system_hard_limit_usd":{limit},"access_until":0}}'),
        USAGE: raw_json(200, f'{{"object":"list","total_usage":{cents}}}'),
    }


Numbers = tuple[Decimal | None, Decimal | None, Decimal | None]


def snapshot(limit: str, cents: str, **overrides: str) -> tuple[Numbers, str | None, bool]:
    """(balance, used, total), note and exhausted, from the two answers through a real run's collect step."""
    with serving(RELAY) as server:
        server.answers.update(answers(limit, cents))
        result = query_one(account(RELAY, server.url, **overrides))
    assert result.snapshot is not None, result.error
    snap = result.snapshot
    return (snap.balance, snap.used, snap.total), snap.note, snap.exhausted


def test_usage_above_the_limit_is_a_negative_balance_and_an_alert_never_the_limit() -> None:
    (balance, used, total), note, exhausted = snapshot("12.5", "1500.0001")
    assert (balance, used, total) == (Decimal("-2.500001"), Decimal("15.000001"), Decimal("12.5"))
    assert exhausted and note == openai_billing.OVERDRAWN


def test_usage_within_the_limit_is_exact_to_the_last_decimal() -> None:
    (balance, used, total), note, exhausted = snapshot("20.123456789", "766.00000001")
    assert (balance, used, total) == (Decimal("12.4634567889"), Decimal("7.6600000001"), Decimal("20.123456789"))
    assert (note, exhausted) == (None, False)


@pytest.mark.parametrize(("limit", "cents", "expected"), [
    ("7.5", "1250", (Decimal("7.5"), Decimal("12.5"), Decimal("20.0"))),  # one-api user mode: limit = what is left
    ("0.000001", "99.9999", (Decimal("0.000001"), Decimal("0.999999"), Decimal("1.000000"))),
    ("0", "500", (Decimal(0), Decimal(5), Decimal(5))),
])
def test_hard_limit_remaining_reads_the_limit_as_the_balance(
        limit: str, cents: str, expected: tuple[Decimal, Decimal, Decimal]) -> None:
    assert snapshot(limit, cents, hard_limit="remaining") == (expected, None, False)


def test_hard_limit_remaining_keeps_1e8_as_unlimited() -> None:
    snap = openai_billing.from_answers({"hard_limit_usd": 100000000}, {"total_usage": 325}, "USD", "remaining")
    assert (snap.unlimited, snap.balance, snap.used, snap.total) == (True, None, Decimal("3.25"), None)


def test_hard_limit_remaining_through_new_api_when_it_falls_back_to_billing() -> None:
    # A relay without /api/usage/token (one-api) answers 404 there: new-api uses the billing routes.
    with serving(RELAY) as server:
        server.answers.update(answers("7.5", "1250"))
        server.answers["/api/status"] = json_answer(200, {"success": True, "data": {"quota_per_unit": 500000}})
        snap = query_one(account(RELAY, server.url, provider="new-api", hard_limit="remaining")).snapshot
    assert snap is not None and (snap.balance, snap.used, snap.total) == (Decimal("7.5"), Decimal("12.5"),
                                                                         Decimal("20.0"))


def relay_config(tmp_path: Path, url: str, hard_limit: str = "") -> Path:
    extra = f"\n    hard_limit: {hard_limit}" if hard_limit else ""
    config = textwrap.dedent(
        f"""\
        history: {{file: h.json}}
        defaults: {{base_url: "{url}", low_balance: 1}}
        accounts:
          - name: main
            api_key: ${{K}}""") + extra + "\n"
    return write_setup(tmp_path / "etc", config, {"K": KEY}).config


def test_an_overdrawn_relay_key_alerts_and_exits_low(tmp_path: Path) -> None:
    with serving(RELAY) as server:
        server.answers.update(answers("12.5", "1500"))
        result = cli_run(["run", "-c", str(relay_config(tmp_path, server.url)), "--json", "--dry-run"],
                          tmp_path / "home")
    assert result.returncode == 1, result.stderr
    (line,) = json.loads(result.stdout)["accounts"]
    assert (line["ok"], line["balance"], line["total"], line["low_balance"]) == (True, "-2.5000", "12.5000", True)


def test_check_config_says_how_to_confirm_a_billing_balance(tmp_path: Path) -> None:
    result = cli_run(["check-config", "-c", str(relay_config(tmp_path, "https://relay.example.com"))],
                      tmp_path / "home")
    assert result.returncode == 0, result.stderr
    (hint,) = [line for line in result.stdout.splitlines() if "hard_limit: remaining" in line]
    assert "main" in hint and "钱包" in hint and "wallet" in hint


def test_check_config_gives_no_such_hint_once_hard_limit_remaining_is_set(tmp_path: Path) -> None:
    config = relay_config(tmp_path, "https://relay.example.com", hard_limit="remaining")
    result = cli_run(["check-config", "-c", str(config)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "wallet" not in result.stdout
