"""new-api: ``/api/usage/token`` + ``/api/status``, and the fall-back to the billing routes.

The relay is ``monitor.emulators.RelayEmulator`` (one-api's and new-api's auth errors, cents, 1e8); its
``faults`` give the answers of other versions and settings that providers.md §1 records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from monitor.config import Account
from monitor.emulators import CLOUDFLARE_PAGE, Answer, RelayEmulator, Request, Token, json_answer
from monitor.providers.new_api import Site, from_answer, site_from_status
from monitor.snapshot import ProviderError
from tests.support.provider_servers import (
    CLOUDFLARE,
    EMPTY_429,
    KEY,
    WRONG_KEY,
    account_of,
    query,
    query_one,
    quick_to_stop,
    raw_json,
)

OTHER_KEY = "sk-" + "0th3rK3y" * 6
USAGE = "/api/usage/token"
STATUS = "/api/status"
SUBSCRIPTION = "/v1/dashboard/billing/subscription"
BILLING_USAGE = "/v1/dashboard/billing/usage"


def status(display: str | None = "USD", rate: Any = 7.3, per_unit: Any = 500000, **more: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"quota_per_unit": per_unit, "display_in_currency": display != "TOKENS",
                            "usd_exchange_rate": rate, "version": "v0.9.0", "system_name": "New API", **more}
    if display is not None:
        data["quota_display_type"] = display
    return {"success": True, "message": "", "data": data}


def always(answer: Answer) -> Callable[[Request], Answer]:
    return lambda request: answer


def relay(*, new_api: bool = True, faults: dict[str, Answer] | None = None, main: Token | None = None,
          other: Token | None = None) -> RelayEmulator:
    """A relay knowing ``main`` (KEY; by default $20, $7.66 used) and, if given, ``other`` (OTHER_KEY)."""
    found = {"main": main or Token(total=Decimal("20"), used=Decimal("7.66"), name="main")}
    if other:
        found["other"] = other
    keys = {"main": KEY, "other": OTHER_KEY}
    return quick_to_stop(RelayEmulator(
        tokens={keys[name][3:]: token for name, token in found.items()}, new_api=new_api,
        faults={path: always(answer) for path, answer in (faults or {}).items()}))


def account(server: RelayEmulator, key: str = KEY, **overrides: Any) -> Account:
    return account_of(**{"name": "relay", "provider": "new-api", "api_key": key, "base_url": server.url, **overrides})


def paths(server: RelayEmulator) -> list[str]:
    return [r.path.split("?")[0] for r in server.requests]


def test_token_usage_is_divided_by_quota_per_unit() -> None:
    with relay() as server:
        result = query_one(account(server))
    snap = result.snapshot
    assert snap is not None
    assert (snap.currency, snap.balance, snap.used, snap.total) == (
        "USD", Decimal("12.34"), Decimal("7.66"), Decimal("20"))
    assert sorted(paths(server)) == sorted([USAGE, STATUS])  # together, in either order


def test_status_is_asked_once_per_host_per_run() -> None:
    with relay(main=Token(total=Decimal(20), used=Decimal(1)), other=Token(total=Decimal(50), used=Decimal(10))) \
            as server:
        results = query(account(server), account(server, OTHER_KEY, name="other"))
    assert [r.snapshot.balance for r in results if r.snapshot] == [Decimal(19), Decimal(40)]
    assert paths(server).count(STATUS) == 1


def test_a_cny_site_multiplies_by_its_exchange_rate_and_says_cny() -> None:
    with relay(faults={STATUS: json_answer(200, status("CNY", rate=7.3))}) as server:
        snap = query_one(account(server)).snapshot
    assert snap is not None
    assert (snap.currency, snap.balance, snap.used, snap.total) == (
        "CNY", Decimal("90.082"), Decimal("55.918"), Decimal("146.0"))


def test_a_tokens_site_is_reported_in_dollars_of_quota_per_unit() -> None:
    with relay(faults={STATUS: json_answer(200, status("TOKENS", per_unit=1000000))}) as server:
        snap = query_one(account(server)).snapshot
    # The emulator stores quota at 500000 a dollar; this site prices 1000000 units at a dollar.
    assert snap is not None and (snap.currency, snap.balance) == ("USD", Decimal("6.17"))


def test_the_accounts_currency_relabels_without_converting() -> None:
    with relay() as server:
        snap = query_one(account(server, currency="CNY")).snapshot
    assert snap is not None and (snap.currency, snap.balance) == ("CNY", Decimal("12.34"))


def test_an_exhausted_key_still_reports_its_numbers() -> None:
    with relay(main=Token(total=Decimal(5), used=Decimal(5))) as server:
        snap = query_one(account(server)).snapshot
    assert snap is not None
    assert (snap.balance, snap.used, snap.total, snap.note, snap.exhausted) == (
        Decimal(0), Decimal(5), Decimal(5), "quota exhausted", True)


def token_usage(**data: Any) -> Answer:
    body = {"object": "token_usage", "name": "ci-bot", "total_granted": 5000000, "total_used": 1000000,
            "total_available": 4000000, "unlimited_quota": False, "model_limits": {},
            "model_limits_enabled": False, "expires_at": 0, **data}
    return json_answer(200, {"code": True, "message": "ok", "data": body})


def test_an_expired_key_still_reports_its_numbers_and_is_an_alert() -> None:
    with relay(faults={USAGE: token_usage(expires_at=1700000000)}) as server:
        snap = query_one(account(server)).snapshot
    assert snap is not None
    assert (snap.balance, snap.used, snap.total, snap.note, snap.exhausted) == (
        Decimal(8), Decimal(2), Decimal(10), "key expired", True)


def test_a_future_expiry_is_no_alert() -> None:
    snap = from_answer(_body(token_usage(expires_at=4102444800)), Site(Decimal(500000), "USD"), None, now=1764291900)
    assert (snap.note, snap.exhausted, snap.balance) == (None, False, Decimal(8))


def _body(answer: Answer) -> Any:
    return json.loads(answer[2])


def test_an_unlimited_key_has_no_balance_but_its_usage() -> None:
    with relay(main=Token(total=Decimal(0), used=Decimal("3.5"), unlimited=True)) as server:
        snap = query_one(account(server)).snapshot
    assert snap is not None
    assert (snap.unlimited, snap.balance, snap.total, snap.used, snap.exhausted) == (
        True, None, None, Decimal("3.5"), False)


def test_an_unknown_key_is_an_http_401_error() -> None:
    with relay() as server:
        result = query_one(account(server, WRONG_KEY))
    assert result.error == "HTTP 401: 无效的令牌"


def test_an_older_relays_200_with_success_false_is_an_error() -> None:
    with relay(faults={USAGE: json_answer(200, {"success": False, "message": "无效的令牌"})}) as server:
        result = query_one(account(server))
    assert result.error == "error in answer: 无效的令牌"


def test_a_database_error_inside_a_200_is_an_error() -> None:
    answer = json_answer(200, {"error": {"message": "record not found", "type": "new_api_error"}})
    with relay(faults={USAGE: answer}) as server:
        result = query_one(account(server))
    assert result.error == "error in answer: record not found"


def test_code_false_is_an_error() -> None:
    with relay(faults={USAGE: json_answer(200, {"code": False, "message": "token lookup failed", "data": {
            "object": "token_usage"}})}) as server:
        result = query_one(account(server))
    assert result.error == "error in answer: token lookup failed"


@pytest.mark.parametrize(("data", "message"), [
    pytest.param({"total_available": None}, "field 'data.total_available' is not a number (null)", id="null"),
    pytest.param({"total_used": "many"}, "field 'data.total_used' is not a plain decimal number ('many')",
                 id="non-numeric"),
    pytest.param({"total_granted": [1]}, "field 'data.total_granted' is not a number", id="list"),
])
def test_a_bad_field_is_a_clear_error(data: dict[str, Any], message: str) -> None:
    with relay(faults={USAGE: token_usage(**data)}) as server:
        result = query_one(account(server))
    assert result.error is not None and result.error.startswith(message)


def test_a_missing_field_is_a_clear_error() -> None:
    body = _body(token_usage())
    del body["data"]["total_available"]
    with relay(faults={USAGE: json_answer(200, body)}) as server:
        result = query_one(account(server))
    assert result.error == "answer has no field 'data.total_available'"


# --- falling back to the billing routes ---------------------------------------------------------------

def test_a_one_api_relay_without_the_route_is_asked_through_billing() -> None:
    with relay(new_api=False) as server:  # one-api: 404 JSON "Invalid URL (GET /api/usage/token)"
        snap = query_one(account(server)).snapshot
    assert snap is not None
    assert (snap.currency, snap.balance, snap.used, snap.total) == (
        "USD", Decimal("12.34"), Decimal("7.66"), Decimal("20.0"))
    asked = paths(server)  # each pair together, in either order
    assert (sorted(asked[:2]), sorted(asked[2:])) == (sorted([USAGE, STATUS]), sorted([SUBSCRIPTION, BILLING_USAGE]))


@pytest.mark.parametrize(("token", "note"), [
    (Token(total=Decimal(5), used=Decimal(5)), "quota exhausted"),
    (Token(total=Decimal(5), used=Decimal(1), expired=True), "key expired"),
])
def test_exhausted_and_expired_401s_on_billing_are_balance_zero_with_a_note(token: Token, note: str) -> None:
    with relay(new_api=False, main=token) as server:
        result = query_one(account(server))
    snap = result.snapshot
    assert snap is not None, result.error
    assert (snap.balance, snap.used, snap.total, snap.note, snap.exhausted) == (Decimal(0), None, None, note, True)


@pytest.mark.parametrize("answer", [
    pytest.param(EMPTY_429, id="rate-limited-empty-429"),
    pytest.param((200, {"Content-Type": "text/html"}, b"<!doctype html><title>Relay</title><div id=root>"),
                 id="spa-index-html"),
    pytest.param((404, {"Content-Type": "text/html"}, b"<html><title>404 Not Found</title></html>"),
                 id="nginx-404"),
    pytest.param(json_answer(200, {"data": {"total_usage": 12.34}}), id="other-json-shape"),
])
def test_no_usable_token_route_falls_back_to_billing(answer: Answer) -> None:
    with relay(faults={USAGE: answer}) as server:
        result = query_one(account(server))
    assert result.snapshot is not None and result.snapshot.balance == Decimal("12.34"), result.error
    assert sorted(paths(server)[-2:]) == sorted([SUBSCRIPTION, BILLING_USAGE])


def test_after_a_429_the_other_keys_on_that_relay_skip_the_token_route() -> None:
    with relay(faults={USAGE: EMPTY_429}, main=Token(total=Decimal(20), used=Decimal(1)),
               other=Token(total=Decimal(50), used=Decimal(10))) as server:
        both = query(account(server), account(server, OTHER_KEY, name="other"), workers=1)
    assert [r.snapshot.balance for r in both if r.snapshot] == [Decimal(19), Decimal(40)]
    assert paths(server).count(USAGE) == 1


@pytest.mark.parametrize(("display", "limit", "cents", "expected"), [
    # A CNY site's billing routes already answer in yuan (in fields named *_usd): not converted again.
    ("CNY", "146", "5591.8", ("CNY", Decimal("90.082"), Decimal("55.918"), Decimal(146))),
    # A TOKENS site's billing routes answer in raw quota: divided by quota_per_unit.
    ("TOKENS", "10000000", "383000000", ("USD", Decimal("12.34"), Decimal("7.66"), Decimal(20))),
])
def test_billing_answers_follow_the_sites_display_type(
        display: str, limit: str, cents: str, expected: tuple[str, Decimal, Decimal, Decimal]) -> None:
    subscription = (f'{{"object":"billing_subscription","has_payment_method":true,"soft_limit_usd":{limit},'
                    f'"hard_limit_usd":{limit},"system_hard_limit_usd":{limit},"access_until":0}}')
    faults = {USAGE: EMPTY_429, STATUS: json_answer(200, status(display)), SUBSCRIPTION: raw_json(200, subscription),
              BILLING_USAGE: raw_json(200, f'{{"object":"list","total_usage":{cents}}}')}
    with relay(faults=faults) as server:
        snap = query_one(account(server)).snapshot
    assert snap is not None
    assert (snap.currency, snap.balance, snap.used, snap.total) == expected


def test_a_tokens_site_unlimited_key_through_billing_stays_unlimited() -> None:
    faults = {USAGE: EMPTY_429, STATUS: json_answer(200, status("TOKENS"))}
    with relay(faults=faults, main=Token(total=Decimal(0), used=Decimal(2), unlimited=True)) as server:
        snap = query_one(account(server)).snapshot
    assert snap is not None and (snap.unlimited, snap.balance, snap.total) == (True, None, None)


def test_a_cloudflare_page_everywhere_is_a_clear_error() -> None:
    page = always(CLOUDFLARE)
    with relay() as server:
        server.faults.update({USAGE: page, STATUS: page, SUBSCRIPTION: page, BILLING_USAGE: page})
        result = query_one(account(server))
    assert result.error == "HTTP 403: text/html, 'Just a moment...'"


def test_an_empty_429_everywhere_is_a_clear_error() -> None:
    with relay(faults={USAGE: EMPTY_429, SUBSCRIPTION: EMPTY_429}) as server:
        result = query_one(account(server))
    assert result.error == "HTTP 429: rate limited (empty answer)"


# --- /api/status ---------------------------------------------------------------------------------------

def test_a_broken_status_page_is_a_clear_error_when_the_token_route_needs_it() -> None:
    html = (200, {"Content-Type": "text/html"}, CLOUDFLARE_PAGE)
    with relay(faults={STATUS: html}) as server:
        result = query_one(account(server))
    assert result.error == (
        "cannot read the relay's units from /api/status: response is not JSON (text/html, 'Just a moment...')")


@pytest.mark.parametrize(("body", "site"), [
    (status("USD"), Site(Decimal(500000), "USD")),
    (status("CNY", rate=7.3), Site(Decimal(500000), "CNY", Decimal("7.3"))),
    (status("TOKENS"), Site(Decimal(500000), "TOKENS")),
    (status(None), Site(Decimal(500000), "USD")),  # before quota_display_type: display_in_currency true
    ({"success": True, "data": {"quota_per_unit": 500000, "display_in_currency": False}},
     Site(Decimal(500000), "TOKENS")),  # one-api showing raw quota
])
def test_site_units_from_status(body: dict[str, Any], site: Site) -> None:
    assert site_from_status(body) == site


@pytest.mark.parametrize(("body", "message"), [
    (status("CNY", rate=None), "field 'data.usd_exchange_rate' is not a number (null)"),
    (status("USD", per_unit=0), "quota_per_unit is 0, not a positive number"),
    (status("EUR"), "unknown quota_display_type 'EUR' (known: USD, CNY, TOKENS)"),
    ({"success": True, "data": {}}, "answer has no field 'data.quota_per_unit'"),
    ({"success": True, "data": "x"}, "field 'data' of /api/status is not an object"),
])
def test_bad_status_answers(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ProviderError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        site_from_status(body)
