"""Moonshot / Kimi ``/v1/users/me/balance`` against a loopback server answering as providers.md §2 records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monitor.config import Account
from monitor.emulators import json_answer
from monitor.providers import PROVIDERS
from monitor.providers.moonshot import currency_of, from_answer
from tests.support.provider_servers import FAULTS, MOONSHOT, WRONG_KEY, error_for, ok, raw_json, snapshot_for


def test_normal_answer_gives_the_available_balance_in_cny_on_the_cn_host() -> None:
    snap = snapshot_for(MOONSHOT)  # the loopback host is not .ai: the Chinese platform's currency
    assert (snap.currency, snap.balance, snap.used, snap.total) == ("CNY", Decimal("49.58"), None, None)
    assert isinstance(snap.balance, Decimal) and snap.note is None


@pytest.mark.parametrize(("base", "currency"), [
    ("https://api.moonshot.cn", "CNY"),
    ("https://api.moonshot.ai", "USD"),
    ("https://API.MOONSHOT.AI/", "USD"),
    ("http://127.0.0.1:8080", "CNY"),
])
def test_currency_follows_the_host(base: str, currency: str) -> None:
    assert currency_of(base) == currency


def test_default_host_is_the_chinese_platform_and_shows_in_check_config() -> None:
    assert PROVIDERS["moonshot"].default_base_url == "https://api.moonshot.cn"
    assert Account("kimi", "moonshot", "k").host == "api.moonshot.cn"


def test_the_accounts_currency_wins() -> None:
    assert snapshot_for(MOONSHOT, currency="USD").currency == "USD"


def test_negative_cash_balance_is_a_snapshot_with_a_note() -> None:
    answer = raw_json(200, '{"code":0,"data":{"available_balance":46.58,"voucher_balance":46.58,'
                           '"cash_balance":-3.12},"scode":"0x0","status":true}')
    snap = snapshot_for(MOONSHOT, answer)
    assert snap.balance == Decimal("46.58")
    assert snap.note == "cash balance is negative (-3.12): the account owes"


def test_negative_available_balance_is_reported_as_it_is() -> None:
    body = {"code": 0, "data": {"available_balance": -1.5, "voucher_balance": 0, "cash_balance": -1.5},
            "status": True}
    assert from_answer(body, "CNY").balance == Decimal("-1.5")


def test_invalid_key_is_a_401_error_with_the_region_hint() -> None:
    error = error_for(MOONSHOT, api_key=WRONG_KEY)
    assert error.startswith("HTTP 401: Invalid Authentication (a key from platform.moonshot.cn works only on")


@pytest.mark.parametrize(("answer", "message"), [
    *FAULTS,
    pytest.param(ok({"code": 5, "scode": "0x5", "status": False, "error": None,
                     "message": "internal error"}), "error in answer: internal error", id="status-false-in-200"),
    pytest.param(ok({"code": 7, "data": {"available_balance": 1}, "status": True}), "error in answer: code is 7",
                 id="code-not-0-in-200"),
    pytest.param(ok({"code": 0, "data": {}, "status": True}), "answer has no field 'data.available_balance'",
                 id="missing-balance"),
    pytest.param(ok({"code": 0, "data": {"available_balance": "n/a"}, "status": True}),
                 "field 'data.available_balance' is not a plain decimal number ('n/a')", id="non-numeric-balance"),
])
def test_faults_end_in_a_clear_error(answer: tuple[int, dict[str, str], bytes], message: str) -> None:
    assert error_for(MOONSHOT, answer).startswith(message)


def test_an_error_object_in_a_200_is_an_error() -> None:
    answer = json_answer(200, {"error": {"message": "rate limit reached", "type": "rate_limit_reached_error"}})
    assert error_for(MOONSHOT, answer) == "error in answer: rate limit reached"
