"""Whatever a provider answers, the outcome is a Snapshot or a ProviderError: never another exception."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.collect import AccountResult
from monitor.config import Account
from monitor.http import Response
from monitor.notify import feishu
from monitor.notify.feishu_card import cards
from monitor.providers import PROVIDERS, common, fetcher, openai_billing
from monitor.redact import fingerprint
from monitor.report import build
from monitor.report.document import Delivery, document
from monitor.report.site import render
from monitor.run import record_of
from monitor.settings import HttpSettings
from monitor.snapshot import ProviderError, Snapshot
from tests.support.history_support import past as series
from tests.support.provider_servers import account_of

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)

number_texts = st.one_of(
    st.sampled_from(["NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "1e999999999", "-1e999999999",
                     "1e-999999999", "1E+14", "1e15", "9.99e14", "0x10", "1_000", "", " ", "1,234.5",
                     "١٢٣", "12.34.56", "+5", "-0", "0e0", "1e100000000000000000000", "-1e30", "1e30",
                     "-1e999999"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.text(max_size=80),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**40, max_value=10**40),
                    st.floats(), st.decimals(allow_nan=True, allow_infinity=True), number_texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
FIELDS = ["hard_limit_usd", "total_usage", "soft_limit_usd", "system_hard_limit_usd", "balance", "data",
          "error", "message", "code", "success", "object", "limit", "usage", "total_granted", "total_used",
          "total_available", "unlimited_quota", "balance_infos", "totalBalance", "available_balance", "is_available"]
shaped = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
answers = st.one_of(shaped, json_values)


def json_text(value: Any) -> bytes:
    def default(o: Any) -> Any:
        return str(o)

    return json.dumps(value, default=default).encode()


raw_bodies = st.one_of(
    st.binary(max_size=200),
    answers.map(json_text),
    st.sampled_from([b"NaN", b"{\"hard_limit_usd\": NaN}", b"{\"total_usage\": Infinity}", b"[" * 5000,
                     b"{\"a\":" * 3000, b"{\"hard_limit_usd\": 1e99999}", b"\xef\xbb\xbf{}", b"\x00{}",
                     b"<!DOCTYPE html><title>Just a moment...</title>", b"{\"error\": {\"message\": null}}",
                     b"{\"hard_limit_usd\": " + b"9" * 5000 + b"}"]),
)
statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503, 520])
content_types = st.sampled_from(["application/json", "text/html; charset=UTF-8", "", "text/plain",
                                 "application/json; charset=gbk"])


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ProviderError as exc:
        assert str(exc)  # a message for the report, never empty
        return exc


def check_snapshot(snap: Snapshot) -> None:
    assert isinstance(snap, Snapshot)
    for value in (snap.balance, snap.used, snap.total):
        if value is not None:
            assert isinstance(value, Decimal) and value.is_finite()


def render_everything(snap: Snapshot | None, error: str | None) -> None:
    """The snapshot goes through every rendering: history record, text, cards, --json."""
    account = Account("main", "openai-billing", "sk-test", base_url="https://relay.example.com")
    result = AccountResult(account, NOW, fingerprint("sk-test"), snap, error)
    previous = dict(record_of(result), time=(NOW - timedelta(hours=12)).isoformat())
    report = build([result], series([previous]), NOW, timezone.utc, "zh", 90)
    render(report)
    cards(report, feishu.fits)
    json.dumps(document(report, 0, Delivery(), True, None))


@FAST
@given(status=statuses, content_type=content_types, body=raw_bodies)
def test_parse_answers_json_or_a_provider_error(status: int, content_type: str, body: bytes) -> None:
    outcome(lambda: common.parse(Response(status, content_type, body, {})))


@FAST
@given(value=scalars)
def test_amount_is_a_plausible_decimal_or_a_provider_error(value: Any) -> None:
    got = outcome(lambda: common.amount(value, "balance"))
    if isinstance(got, Decimal):
        assert got.is_finite() and abs(got) < Decimal("1e15")


@FAST
@given(subscription=answers, usage=answers)
def test_openai_billing_from_any_answers_is_a_snapshot_or_a_provider_error(subscription: Any, usage: Any) -> None:
    got = outcome(lambda: openai_billing.from_answers(subscription, usage, "USD"))
    if isinstance(got, Snapshot):
        check_snapshot(got)
        render_everything(got, None)
    else:
        render_everything(None, str(got))


class FakeHttp:
    """An HttpClient stand-in that gives every request the next of ``responses`` (cycling)."""

    def __init__(self, responses: list[Response]) -> None:
        self.responses = responses
        self.calls = 0
        self.settings = HttpSettings()  # the defaults (an admin site's pages are fetched per_host at a time)

    def get(self, url: str, headers: Any = None) -> Response:
        response = self.responses[self.calls % len(self.responses)]
        self.calls += 1
        return response

    def cached(self, key: str, compute: Callable[[], object]) -> object:
        return compute()

    def together(self, *calls: Callable[[], Any]) -> list[Any]:
        return [call() for call in calls]  # one after another: the answers keep their order


def account_for(provider: str) -> Account:
    return account_of(name="acct", provider=provider, api_key="sk-test", base_url="https://relay.example.com",
                      url="https://api.example.com/balance", currency="USD", balance="data.balance",
                   used="data.used", total="data.total")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(provider=st.sampled_from(sorted(PROVIDERS)),
       answers_=st.lists(st.tuples(statuses, content_types, raw_bodies), min_size=1, max_size=3))
@example(provider="new-api-admin", answers_=[(200, "application/json", b'{"":null,"":null,"data":null}')])
def test_every_provider_fetch_survives_any_wire_answer(provider: str,
                                                       answers_: list[tuple[int, str, bytes]]) -> None:
    http = FakeHttp([Response(s, c, b, {}) for s, c, b in answers_])
    got = outcome(lambda: fetcher(provider)(account_for(provider), http))  # type: ignore[arg-type]
    if isinstance(got, Snapshot):
        check_snapshot(got)
        render_everything(got, None)


money_texts = st.one_of(st.none(), number_texts, st.integers(), st.floats(), st.booleans())
records = st.fixed_dictionaries(
    {"time": st.one_of(st.sampled_from(["2026-11-27T13:05:00+00:00", "2026-11-27T13:05:00Z", "2026-11-27",
                                        "2026-11-27T13:05:00", "9999-12-31T23:59:59+00:00",
                                        "0001-01-01T00:00:00+00:00", "yesterday"]), st.none(), st.integers()),
     "account": st.sampled_from(["main", "other"]),
     "key_fingerprint": st.one_of(st.none(), st.just(fingerprint("sk-test")), st.text(max_size=8)),
     "ok": st.one_of(st.booleans(), st.none(), st.just("true")),
     "currency": st.one_of(st.none(), st.sampled_from(["USD", "CNY", ""]), st.integers()),
     "balance": money_texts, "used": money_texts, "total": money_texts,
     "unlimited": st.one_of(st.booleans(), st.none())},
    # A seq edited by hand: missing, repeated, out of order with the times, or not a number.
    optional={"seq": st.one_of(st.integers(min_value=-3, max_value=8), st.none(), st.just("4"))},
)


@FAST
@given(past=st.lists(records, max_size=6), used=st.decimals(min_value=0, max_value=10**6, places=4))
def test_a_hand_edited_history_never_breaks_the_report(past: list[dict[str, Any]], used: Decimal) -> None:
    account = Account("main", "openai-billing", "sk-test", base_url="https://relay.example.com")
    snap = Snapshot("USD", Decimal(10**6) - used, used, Decimal(10**6))
    result = AccountResult(account, NOW, fingerprint("sk-test"), snap, None)
    report = build([result], series(past), NOW, timezone.utc, "en", 90)
    render(report)
    cards(report, feishu.fits)
    json.dumps(document(report, 0, Delivery(), True, None))


# Beyond 1e15 in size a record's amount is no amount (the record is left out: the run is the account's
# first); a tiny one, or a large one within the bound, is read, and the period runs from it.
@pytest.mark.parametrize(("value", "read"), [("-1e30", False), ("1e30", False), ("-1e999999", False),
                                            ("1e-999999999", True), ("-99999999999999.9999", True)])
def test_a_huge_amount_in_the_history_is_left_out_and_a_tiny_one_read_never_a_crash(value: str, read: bool) -> None:
    previous = {"time": "2026-11-27T13:05:00+00:00", "account": "main", "key_fingerprint": fingerprint("sk-test"),
                "ok": True, "currency": "USD", "balance": value, "used": value, "total": value}
    account = Account("main", "openai-billing", "sk-test", base_url="https://relay.example.com")
    result = AccountResult(account, NOW, fingerprint("sk-test"), Snapshot("USD", Decimal(5), Decimal(5),
                                                                          Decimal(10)), None)
    report = build([result], series([previous]), NOW, timezone.utc, "en", 90)
    assert report.accounts[0].period.kind == ("usage" if read else "first"), report.accounts[0].period
    render(report)
    json.dumps(document(report, 0, Delivery(), True, None))
