"""LiteLLM ``/key/info`` with the virtual key itself, against a loopback proxy answering as operators.md §2 records."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.emulators import Answer, json_answer
from monitor.providers import PROVIDERS, common
from monitor.providers.litellm import from_answer
from monitor.report.words import localised
from monitor.snapshot import ProviderError
from monitor.usage import Point, Series, period
from tests.support.provider_servers import (
    FAULTS,
    KEY,
    LITELLM,
    LITELLM_EXPIRED,
    NOW,
    WRONG_KEY,
    account,
    error_for,
    litellm_info,
    ok,
    query_one,
    raw_json,
    serving,
    snapshot_for,
)


def test_spend_is_used_max_budget_is_total_and_the_balance_is_what_is_left() -> None:
    snap = snapshot_for(LITELLM)
    assert (snap.currency, snap.balance, snap.used, snap.total) == (
        "USD", Decimal("21.5873"), Decimal("3.4127"), Decimal("25.0"))
    assert not snap.unlimited and not snap.exhausted and snap.note is None


def test_the_key_itself_is_sent_as_a_bearer_token_and_no_key_in_the_query() -> None:
    with serving(LITELLM) as server:
        query_one(account(LITELLM, server.url))
    (request,) = server.requests
    assert request.path == "/key/info" and request.headers["authorization"] == f"Bearer {KEY}"


def test_litellm_has_no_default_host() -> None:
    assert PROVIDERS["litellm"].default_base_url is None


def test_amounts_are_exact_decimals_as_sent() -> None:
    snap = snapshot_for(LITELLM, litellm_info("0.000001", "0.3"))
    assert (snap.balance, snap.used, snap.total) == (Decimal("0.299999"), Decimal("0.000001"), Decimal("0.3"))


def test_no_budget_is_unlimited_with_the_spend_as_used() -> None:
    snap = snapshot_for(LITELLM, litellm_info("12.75", "null"))
    assert (snap.unlimited, snap.balance, snap.total, snap.used) == (True, None, None, Decimal("12.75"))


def test_a_key_over_its_budget_still_answers_and_is_exhausted_with_a_negative_balance() -> None:
    # The key's budget is checked on LLM routes only: /key/info answers 200 (operators.md §2c).
    snap = snapshot_for(LITELLM, litellm_info("25.5", "25.0"))
    assert (snap.balance, snap.exhausted, snap.note) == (Decimal("-0.5"), True, "key budget reached")


def test_a_blocked_key_is_exhausted() -> None:
    snap = snapshot_for(LITELLM, litellm_info("1", "25.0", blocked="true"))
    assert (snap.balance, snap.exhausted, snap.note) == (Decimal(24), True, "key blocked")


def test_the_older_flat_answer_is_read_too() -> None:
    snap = snapshot_for(LITELLM, raw_json(200, '{"key_alias":"ci-bot","spend":3.5,"max_budget":10}'))
    assert (snap.balance, snap.used, snap.total) == (Decimal("6.5"), Decimal("3.5"), Decimal("10"))


def test_a_budget_reset_drops_the_spend_and_the_usage_maths_calls_it_a_reset() -> None:
    # budget_duration "30d": at budget_reset_at LiteLLM sets spend back to 0.
    before = snapshot_for(LITELLM, litellm_info("24.9", "25.0", budget_duration='"30d"'))
    after = snapshot_for(LITELLM, litellm_info("0.25", "25.0", budget_duration='"30d"'))
    assert (before.used, after.used, after.balance) == (Decimal("24.9"), Decimal("0.25"), Decimal("24.75"))
    hour_ago = NOW - timedelta(hours=1)
    change = period(Series([Point(hour_ago, "same key", before.balance, before.used, "USD"),
                            Point(NOW, "same key", after.balance, after.used, "USD")]), 0, timedelta(days=90))
    assert (change.kind, change.reason, change.usage) == ("reset", "reset", None)  # never a negative usage


def test_an_unknown_key_is_a_401_failure_never_a_zero() -> None:
    message = error_for(LITELLM, api_key=WRONG_KEY)
    assert message.startswith("HTTP 401: Authentication Error, Invalid proxy server token passed.")


def test_an_expired_key_is_a_400_failure_never_a_zero() -> None:
    assert error_for(LITELLM, LITELLM_EXPIRED).startswith("HTTP 400: Authentication Error - Expired Key.")


@pytest.mark.parametrize(("answer", "message"), [
    *FAULTS,
    pytest.param(json_answer(403, {"error": {"message": "You are not allowed to access this key's info. Your role="
                                                        "internal_user", "type": "auth_error", "code": 403}}),
                 "HTTP 403: You are not allowed to access this key's info.", id="403-int-code"),
    pytest.param(json_answer(404, {"detail": "Not Found"}), "HTTP 404: Not Found", id="not-a-litellm-proxy"),
    pytest.param(ok({"key": "sk-...", "info": None}), "field 'info' is not an object", id="null-info"),
    pytest.param(ok({"key": "sk-...", "info": {"max_budget": 10}}), "answer has no field 'info.spend'",
                 id="missing-spend"),
    pytest.param(ok({"key": "sk-..."}), "answer has no field 'info'", id="no-info"),
    pytest.param(ok({"info": {"spend": "lots", "max_budget": 10}}),
                 "field 'info.spend' is not a plain decimal number ('lots')", id="non-numeric-spend"),
    pytest.param(ok({"info": {"spend": 1, "max_budget": True}}), "field 'info.max_budget' is not a number (true)",
                 id="boolean-budget"),
])
def test_faults_end_in_a_clear_error(answer: Answer, message: str) -> None:
    assert error_for(LITELLM, answer).startswith(message)


def test_from_answer_is_pure() -> None:
    body = {"key": "sk-x", "info": {"spend": Decimal("2"), "max_budget": Decimal("5"), "budget_duration": None}}
    snap = from_answer(body, "USD")
    assert (snap.balance, snap.used, snap.total) == (Decimal(3), Decimal(2), Decimal(5))


@pytest.mark.parametrize(("note", "zh"), [("key budget reached", "已达到密钥的预算上限"),
                                          ("key blocked", "密钥已被禁用")])
def test_the_notes_read_in_chinese_in_a_chinese_report(note: str, zh: str) -> None:
    assert (localised(note, "zh"), localised(note, "en")) == (zh, note)


values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.decimals(), st.text(max_size=12),
                   st.lists(st.integers(), max_size=2))
infos = st.dictionaries(st.sampled_from(["spend", "max_budget", "blocked", "budget_duration", "expires"]), values)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(infos, st.fixed_dictionaries({"key": st.just(KEY), "info": st.one_of(infos, values)}), values))
def test_any_answer_gives_a_snapshot_or_a_provider_error(body: object) -> None:
    try:
        snap = from_answer(body, "USD")
    except ProviderError as exc:
        assert str(exc) and KEY not in str(exc)
        return
    assert snap.used is not None and snap.used.is_finite()
    assert snap.unlimited == (snap.balance is None) == (snap.total is None)
    if snap.balance is not None and snap.total is not None:
        assert snap.balance == common.exact("-", snap.total, snap.used)
