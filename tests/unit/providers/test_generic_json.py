"""The ``json`` provider: any URL, headers with ``{api_key}``, dotted paths and a divisor."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from monitor.config import ConfigError, load
from monitor.emulators import json_answer
from monitor.providers.generic_json import JsonKeys, from_answer, headers_for
from tests.support.provider_servers import (
    FAULTS,
    JSON,
    KEY,
    WRONG_KEY,
    ProviderServer,
    account,
    error_for,
    ok,
    query_one,
    snapshot_for,
)


def test_normal_answer_follows_the_dotted_paths_in_the_accounts_currency() -> None:
    snap = snapshot_for(JSON)  # UniAPI's {"success":true,"data":{"balance":…,"used":…}}
    assert (snap.currency, snap.balance, snap.used, snap.total) == ("USD", Decimal("12.5"), Decimal("3.25"), None)


def test_default_header_is_a_bearer_key() -> None:
    assert headers_for({}, "k1") == {"Authorization": "Bearer k1"}


def test_api_key_placeholder_is_replaced_in_custom_headers_and_other_braces_stay() -> None:
    headers = headers_for({"x-api-key": "{api_key}", "X-Note": "{json}"}, "k1")
    assert headers == {"x-api-key": "k1", "X-Note": "{json}"}


def test_custom_header_reaches_the_server() -> None:
    with ProviderServer(JSON, header="x-api-key", value_prefix="") as server:
        result = query_one(account(JSON, server.url, headers={"x-api-key": "{api_key}"}))
        sent = server.requests[-1].headers
    assert result.snapshot is not None and result.snapshot.balance == Decimal("12.5")
    assert sent["x-api-key"] == KEY and "authorization" not in sent


def test_divisor_divides_every_amount() -> None:
    # Novita reports units of 1/10000 USD (providers.md §2).
    body = {"availableBalance": "123400", "cashBalance": "100000", "creditLimit": "500000"}
    snap = from_answer(body, "USD", "availableBalance", "cashBalance", "creditLimit", Decimal(10000))
    assert (snap.balance, snap.used, snap.total) == (Decimal("12.34"), Decimal(10), Decimal(50))


def test_list_indexes_in_paths() -> None:
    body = {"items": [{"amount": 4}, {"amount": "7.5"}]}
    assert from_answer(body, "EUR", "items.1.amount").balance == Decimal("7.5")


def test_invalid_key_is_an_http_401_error() -> None:
    assert error_for(JSON, api_key=WRONG_KEY) == "HTTP 401: invalid api key"


@pytest.mark.parametrize(("answer", "message"), [
    *FAULTS,
    pytest.param(ok({"success": False, "message": "token expired, log in again"}),
                 "error in answer: token expired, log in again", id="success-false-in-200"),
    pytest.param(json_answer(200, {"error": "quota service down"}), "error in answer: quota service down",
                 id="error-string-in-200"),
    pytest.param(ok({"success": True, "data": {"used": 1}}), "answer has no field 'data.balance'",
                 id="missing-balance"),
    pytest.param(ok({"success": True, "data": {"balance": "12.5"}}), "answer has no field 'data.used'",
                 id="missing-configured-used"),
    pytest.param(ok({"success": True, "data": {"balance": {"usd": 1}, "used": 1}}),
                 "field 'data.balance' is not a number", id="object-instead-of-number"),
    pytest.param(ok({"success": True, "data": {"balance": "NaN", "used": 1}}),
                 "field 'data.balance' is not a plain decimal number ('NaN')", id="nan"),
])
def test_faults_end_in_a_clear_error(answer: tuple[int, dict[str, str], bytes], message: str) -> None:
    assert error_for(JSON, answer).startswith(message)


def test_config_rejects_a_zero_divisor_and_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "accounts:\n"
        "  - name: novita\n"
        "    provider: json\n"
        "    api_key: literal-key\n"
        "    url: https://api.novita.ai/openapi/v1/billing/balance/detail\n"
        "    currency: USD\n"
        "    balance: availableBalance\n"
        "    divisor: 0\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    expected = f"{path}:8: accounts[0].divisor: must be more than 0 (every amount is divided by it)"
    assert caught.value.problems == [expected]


def test_config_loads_a_json_account_and_its_host_is_the_urls(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "accounts:\n"
        "  - name: novita\n"
        "    provider: json\n"
        "    api_key: ${NOVITA_KEY}\n"
        "    url: https://api.novita.ai/openapi/v1/billing/balance/detail\n"
        "    headers: {Authorization: 'Bearer {api_key}'}\n"
        "    currency: usd\n"
        "    balance: availableBalance\n"
        "    divisor: 10000\n",
        encoding="utf-8",
    )
    (one,) = load(path, environ={"NOVITA_KEY": "nv-123456"}).accounts
    assert (one.host, one.currency, one.keys(JsonKeys).divisor, one.keys(JsonKeys).headers) == (
        "api.novita.ai", "USD", Decimal(10000), {"Authorization": "Bearer {api_key}"})
