"""OpenRouter ``/api/v1/key`` against a loopback server answering as providers.md §2 records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monitor.providers import PROVIDERS
from monitor.providers.openrouter import from_answer
from tests.provider_servers import FAULTS, OPENROUTER, WRONG_KEY, error_for, ok, raw_json, snapshot_for


def test_normal_answer_gives_limit_usage_and_remaining_in_usd() -> None:
    snap = snapshot_for(OPENROUTER)
    assert (snap.currency, snap.balance, snap.used, snap.total) == (
        "USD", Decimal("74.5"), Decimal("25.5"), Decimal("100"))
    assert not snap.unlimited and not snap.exhausted


def test_default_host_is_openrouter() -> None:
    assert PROVIDERS["openrouter"].default_base_url == "https://openrouter.ai"


def test_null_limit_is_unlimited_with_usage_and_no_balance() -> None:
    answer = raw_json(200, '{"data":{"label":"sk-or-v1-abc...xyz","limit":null,"limit_remaining":null,'
                           '"limit_reset":null,"usage":3.75,"is_free_tier":false}}')
    snap = snapshot_for(OPENROUTER, answer)
    assert (snap.unlimited, snap.balance, snap.total, snap.used) == (True, None, None, Decimal("3.75"))


def test_remaining_comes_from_the_answer_not_from_limit_minus_all_time_usage() -> None:
    # A monthly limit: all-time usage is past the limit, this month's is not.
    body = {"data": {"limit": 10, "limit_remaining": 6, "limit_reset": "monthly", "usage": 42, "usage_monthly": 4}}
    snap = from_answer(body, "USD")
    assert (snap.balance, snap.used, snap.total) == (Decimal(6), Decimal(42), Decimal(10))


def test_nothing_remaining_is_exhausted_with_a_note() -> None:
    snap = from_answer({"data": {"limit": 5, "limit_remaining": 0, "usage": 5}}, "USD")
    assert (snap.balance, snap.exhausted, snap.note) == (Decimal(0), True, "key limit reached")


def test_invalid_key_is_an_http_401_error() -> None:
    assert error_for(OPENROUTER, api_key=WRONG_KEY) == "HTTP 401: User not found."


@pytest.mark.parametrize(("answer", "message"), [
    *FAULTS,
    pytest.param(ok({"error": {"code": 500, "message": "Internal Server Error"}}),
                 "error in answer: Internal Server Error", id="error-in-200"),
    pytest.param(ok({"data": {"limit": 10, "limit_remaining": 5}}), "answer has no field 'data.usage'",
                 id="missing-usage"),
    pytest.param(ok({"data": {"limit": 10, "limit_remaining": "lots", "usage": 1}}),
                 "field 'data.limit_remaining' is not a plain decimal number ('lots')", id="non-numeric-remaining"),
    pytest.param(ok({"data": {"limit": True, "limit_remaining": 5, "usage": 1}}),
                 "field 'data.limit' is not a number (true)", id="boolean-limit"),
])
def test_faults_end_in_a_clear_error(answer: tuple[int, dict[str, str], bytes], message: str) -> None:
    assert error_for(OPENROUTER, answer).startswith(message)
