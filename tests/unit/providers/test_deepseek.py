"""DeepSeek ``/user/balance`` against a loopback server answering as providers.md §2 records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monitor.emulators import json_answer
from monitor.providers import PROVIDERS
from monitor.providers.deepseek import from_answer
from tests.support.provider_servers import DEEPSEEK, FAULTS, WRONG_KEY, error_for, ok, snapshot_for


def test_normal_answer_gives_the_cny_balance_and_no_usage() -> None:
    snap = snapshot_for(DEEPSEEK)
    assert (snap.currency, snap.balance, snap.used, snap.total) == ("CNY", Decimal("110.00"), None, None)
    assert not snap.exhausted and snap.note is None


def test_default_host_is_deepseeks_official_api() -> None:
    assert PROVIDERS["deepseek"].default_base_url == "https://api.deepseek.com"


def test_usd_only_account_reports_usd() -> None:
    # one-api only picks CNY and fails here (providers.md §2).
    answer = ok({"is_available": True, "balance_infos": [
        {"currency": "USD", "total_balance": "5.00", "granted_balance": "0.00", "topped_up_balance": "5.00"}]})
    snap = snapshot_for(DEEPSEEK, answer)
    assert (snap.currency, snap.balance) == ("USD", Decimal("5.00"))


TWO_CURRENCIES = {"is_available": True, "balance_infos": [
    {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"},
    {"currency": "USD", "total_balance": "2.50", "granted_balance": "0.00", "topped_up_balance": "2.50"}]}


def test_first_entry_is_taken_when_the_account_names_no_currency() -> None:
    assert from_answer(TWO_CURRENCIES, None).currency == "CNY"


def test_the_accounts_currency_picks_its_entry_and_never_adds_them() -> None:
    snap = snapshot_for(DEEPSEEK, ok(TWO_CURRENCIES), currency="USD")
    assert (snap.currency, snap.balance) == ("USD", Decimal("2.50"))


def test_a_currency_the_answer_does_not_list_is_a_clear_error() -> None:
    error = error_for(DEEPSEEK, currency="EUR")
    assert error == "answer has no EUR balance (it lists CNY); fix the account's currency"


def test_is_available_false_is_still_a_snapshot_marked_exhausted() -> None:
    answer = ok({"is_available": False, "balance_infos": [
        {"currency": "CNY", "total_balance": "0.00", "granted_balance": "0.00", "topped_up_balance": "0.00"}]})
    snap = snapshot_for(DEEPSEEK, answer)
    assert (snap.balance, snap.exhausted, snap.note) == (Decimal("0.00"), True, "quota exhausted")


def test_an_empty_list_means_nothing_left() -> None:
    snap = from_answer({"is_available": False, "balance_infos": []}, None)
    assert (snap.currency, snap.balance, snap.exhausted) == ("CNY", Decimal(0), True)


def test_invalid_key_is_an_http_401_error_that_does_not_echo_the_key() -> None:
    error = error_for(DEEPSEEK, api_key=WRONG_KEY)
    assert error == "HTTP 401: Authentication Fails, Your api key: ****abcd is invalid"


@pytest.mark.parametrize(("answer", "message"), [
    *FAULTS,
    pytest.param(json_answer(200, {"error": {"message": "internal error", "type": "api_error"}}),
                 "error in answer: internal error", id="error-in-200"),
    pytest.param(ok({"is_available": True}), "answer has no field 'balance_infos'", id="missing-infos"),
    pytest.param(ok({"is_available": True, "balance_infos": [{"currency": "CNY"}]}),
                 "answer has no field 'total_balance'", id="missing-total"),
    pytest.param(ok({"is_available": True, "balance_infos": [{"currency": "CNY", "total_balance": ""}]}),
                 "field 'total_balance' is not a plain decimal number ('')", id="empty-string-amount"),
    pytest.param(ok({"is_available": True, "balance_infos": [{"currency": "CNY", "total_balance": "abc"}]}),
                 "field 'total_balance' is not a plain decimal number ('abc')", id="non-numeric-amount"),
    pytest.param(ok({"is_available": True, "balance_infos": [{"currency": "CNY", "total_balance": None}]}),
                 "field 'total_balance' is not a number (null)", id="null-amount"),
    pytest.param(ok({"is_available": "yes", "balance_infos": []}),
                 "field 'is_available' is not true or false", id="odd-is-available"),
    pytest.param(ok({"is_available": True, "balance_infos": {"CNY": "1"}}),
                 "field 'balance_infos' is not a list of balances", id="infos-not-a-list"),
    pytest.param(ok([1, 2]), "answer has no field 'balance_infos'", id="json-list"),
])
def test_faults_end_in_a_clear_error(answer: tuple[int, dict[str, str], bytes], message: str) -> None:
    assert error_for(DEEPSEEK, answer).startswith(message)


def test_the_currency_entry_is_matched_whatever_its_case() -> None:
    body = {"is_available": True, "balance_infos": [{"currency": "usd", "total_balance": "1.25"}]}
    snap = from_answer(body, "USD")
    assert (snap.currency, snap.balance) == ("USD", Decimal("1.25"))
