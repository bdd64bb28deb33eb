"""The openai-billing provider against the loopback relay, which answers as one-api does."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from monitor.collect import AccountResult, collect
from monitor.config import Account, HttpSettings
from monitor.emulators import CLOUDFLARE_PAGE, RelayEmulator, Token, json_answer
from monitor.redact import Redactor

NOW = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)
KEY = "sk-" + "R3layK3y" * 6


def query(relay: RelayEmulator, key: str = KEY) -> AccountResult:
    account = Account(name="main", provider="openai-billing", api_key=key, base_url=relay.url)
    [result] = collect([account], HttpSettings(retries=0, timeout_seconds=5), Redactor([key]), NOW)
    return result


def relay_with(token: Token) -> RelayEmulator:
    return RelayEmulator(tokens={KEY[3:]: token})


def test_total_used_and_remaining_from_hard_limit_and_cents() -> None:
    with relay_with(Token(total=Decimal("20"), used=Decimal("7.66"))) as relay:
        result = query(relay)
    assert result.snapshot is not None
    assert (result.snapshot.total, result.snapshot.used, result.snapshot.balance) == (
        Decimal("20"), Decimal("7.66"), Decimal("12.34"))
    assert result.snapshot.currency == "USD"
    paths = [r.path for r in relay.requests]
    assert sorted(paths) == ["/v1/dashboard/billing/subscription", "/v1/dashboard/billing/usage"]  # together
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in relay.requests)


def test_a_hard_limit_of_1e8_is_an_unlimited_key() -> None:
    with relay_with(Token(unlimited=True, used=Decimal("3.25"))) as relay:
        snap = query(relay).snapshot
    assert snap is not None and snap.unlimited and snap.balance is None and snap.used == Decimal("3.25")


def test_an_unknown_key_is_an_error_with_the_relays_message() -> None:
    with relay_with(Token()) as relay:
        result = query(relay, key="sk-" + "x" * 48)
    assert not result.ok and result.error is not None
    assert result.error.startswith("HTTP 401: 无效的令牌")


def test_an_exhausted_key_is_ok_with_balance_zero_and_a_note() -> None:
    with relay_with(Token(total=Decimal("5"), used=Decimal("5"))) as relay:
        result = query(relay)
    assert result.snapshot is not None
    assert (result.snapshot.balance, result.snapshot.used, result.snapshot.note) == (Decimal(0), None,
                                                                                     "quota exhausted")


def test_an_expired_key_is_ok_with_balance_zero_and_says_expired() -> None:
    with relay_with(Token(expired=True)) as relay:
        result = query(relay)
    assert result.snapshot is not None and result.snapshot.note == "key expired"


def test_a_cloudflare_page_is_a_clear_error_not_a_crash() -> None:
    with relay_with(Token()) as relay:
        relay.faults["/v1/dashboard/billing/subscription"] = lambda r: (
            403, {"Content-Type": "text/html; charset=UTF-8"}, CLOUDFLARE_PAGE)
        result = query(relay)
    assert result.error == "HTTP 403: text/html, 'Just a moment...'"


def test_an_html_page_with_http_200_is_not_json() -> None:
    with relay_with(Token()) as relay:
        relay.faults["/v1/dashboard/billing/subscription"] = lambda r: (
            200, {"Content-Type": "text/html"}, b"<html><title>New API</title></html>")
        result = query(relay)
    assert result.error == "response is not JSON (text/html, 'New API')"


def test_http_200_carrying_an_error_is_an_error() -> None:
    with relay_with(Token()) as relay:
        relay.faults["/v1/dashboard/billing/usage"] = lambda r: json_answer(
            200, {"error": {"message": "database is locked", "type": "one_api_error"}})
        result = query(relay)
    assert result.error == "error in answer: database is locked"


def test_a_429_with_an_empty_body_is_reported_as_rate_limited() -> None:
    with relay_with(Token()) as relay:
        relay.faults["/v1/dashboard/billing/subscription"] = lambda r: (429, {}, b"")
        result = query(relay)
    assert result.error == "HTTP 429: rate limited (empty answer)"


def test_a_missing_field_is_an_error_never_a_zero() -> None:
    with relay_with(Token()) as relay:
        relay.faults["/v1/dashboard/billing/usage"] = lambda r: json_answer(200, {"object": "list"})
        result = query(relay)
    assert result.error == "answer has no field 'total_usage'"


def test_one_failing_account_does_not_stop_the_others() -> None:
    good = "sk-" + "G00dK3y0" * 6
    with RelayEmulator(tokens={good[3:]: Token(total=Decimal("9"))}) as relay:
        accounts = [Account(name=n, provider="openai-billing", api_key=k, base_url=relay.url)
                    for n, k in (("bad", "sk-" + "b" * 48), ("good", good))]
        results = collect(accounts, HttpSettings(retries=0), Redactor(), NOW)
    assert [r.ok for r in results] == [False, True]
    assert results[1].snapshot is not None and results[1].snapshot.balance == Decimal("9")
