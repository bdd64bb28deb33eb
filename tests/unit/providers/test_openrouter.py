"""OpenRouter ``/api/v1/key`` (and ``/api/v1/credits`` with a management key) against loopback servers answering
as providers.md §2 and operators.md §4 record."""

from __future__ import annotations

import io
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.collect import AccountResult
from monitor.commands import check_config
from monitor.config import ConfigError, load
from monitor.emulators import Answer, json_answer
from monitor.http import Response
from monitor.providers import PROVIDERS, openrouter
from monitor.providers.openrouter import OpenRouterKeys, from_answer
from monitor.report.words import localised
from monitor.snapshot import ProviderError
from tests.support.provider_servers import (
    CREDITS_ORDINARY_KEY,
    CREDITS_ZEROS,
    FAULTS,
    KEY,
    MANAGEMENT_KEY,
    OPENROUTER,
    WRONG_KEY,
    OpenRouterServer,
    account,
    account_of,
    error_for,
    ok,
    query_one,
    raw_json,
    snapshot_for,
)


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


# --- the account's credits with a management key (operators.md §4) ------------------------------

def with_credits(server: OpenRouterServer, **overrides: Any) -> AccountResult:
    return query_one(account(OPENROUTER, server.url, management_key=MANAGEMENT_KEY, **overrides))


def credits_answer(total: str, used: str) -> Answer:
    return raw_json(200, f'{{"data":{{"total_credits":{total},"total_usage":{used}}}}}')


def test_a_management_key_adds_the_accounts_credits_and_the_key_limit_stays_the_balance_when_lower() -> None:
    with OpenRouterServer() as server:
        result = with_credits(server)
    assert server.paths(MANAGEMENT_KEY) == ["/api/v1/credits"]  # the management key only where it is needed
    assert server.paths(KEY) == ["/api/v1/key"]
    snap = result.snapshot
    assert snap is not None
    # key: 74.5 of 100 left; account: 100.5 − 25.75 = 74.75 left. The lower one is the balance.
    assert (snap.balance, snap.used, snap.total, snap.unlimited, snap.exhausted) == (
        Decimal("74.5"), Decimal("25.5"), Decimal("100"), False, False)
    assert snap.note == "key limit: 74.5000 of 100.0000 USD left; account credits: 74.7500 of 100.5000 USD left"


def test_the_accounts_credits_are_the_balance_when_they_are_lower_than_the_key_limit() -> None:
    with OpenRouterServer(credits=credits_answer("100.5", "95.25")) as server:
        snap = with_credits(server).snapshot
    assert snap is not None
    assert (snap.balance, snap.used, snap.total) == (Decimal("5.25"), Decimal("25.5"), Decimal("100"))
    assert snap.note == "key limit: 74.5000 of 100.0000 USD left; account credits: 5.2500 of 100.5000 USD left"


def test_an_unlimited_key_with_a_management_key_has_the_credits_as_its_balance() -> None:
    unlimited = raw_json(200, '{"data":{"limit":null,"limit_remaining":null,"limit_reset":null,"usage":3.75}}')
    with OpenRouterServer(answers={"/api/v1/key": unlimited}) as server:
        snap = with_credits(server).snapshot
    assert snap is not None
    assert (snap.unlimited, snap.balance, snap.used, snap.total) == (False, Decimal("74.75"), Decimal("3.75"), None)
    assert snap.note == "key limit: none; account credits: 74.7500 of 100.5000 USD left"


def test_credits_are_exact_decimals_as_sent() -> None:
    with OpenRouterServer(credits=credits_answer("10.000001", "3.3")) as server:
        snap = with_credits(server).snapshot
    assert snap is not None and snap.balance == Decimal("6.700001")


def test_no_credits_left_is_exhausted_whatever_the_key_limit_says() -> None:
    with OpenRouterServer(credits=credits_answer("20", "20.000001")) as server:
        snap = with_credits(server).snapshot
    assert snap is not None and (snap.balance, snap.exhausted) == (Decimal("-0.000001"), True)


def test_without_a_management_key_credits_are_never_asked_for() -> None:
    with OpenRouterServer() as server:
        snap = query_one(account(OPENROUTER, server.url)).snapshot
    assert [r.path for r in server.requests] == ["/api/v1/key"]
    assert snap is not None and (snap.balance, snap.note) == (Decimal("74.5"), None)


UNREAD = "account credits not read: "


@pytest.mark.parametrize(("credits", "reason"), [
    pytest.param(CREDITS_ORDINARY_KEY, "HTTP 403: Only management keys can perform this operation "
                                       "(is management_key a management key?)", id="403-not-a-management-key"),
    pytest.param(json_answer(401, {"error": {"code": 401, "message": "User not found."}}),
                 "HTTP 401: User not found. (is management_key a management key?)", id="401-unknown-key"),
    pytest.param((500, {"Content-Type": "text/html"}, b"<title>Internal Server Error</title>"),
                 "HTTP 500: text/html, 'Internal Server Error'", id="500"),
    pytest.param(ok({"data": {"total_credits": "lots", "total_usage": 1}}),
                 "field 'data.total_credits' is not a plain decimal number ('lots')", id="non-numeric"),
])
def test_a_failing_credits_call_keeps_the_keys_own_answer_and_says_why_in_the_note(
        credits: Answer, reason: str) -> None:
    with OpenRouterServer(credits=credits) as server:
        snap = with_credits(server).snapshot
    assert snap is not None
    assert (snap.balance, snap.used, snap.total) == (Decimal("74.5"), Decimal("25.5"), Decimal("100"))
    assert snap.note == UNREAD + reason


def test_an_unlimited_key_whose_credits_fail_stays_unlimited_with_the_reason() -> None:
    unlimited = raw_json(200, '{"data":{"limit":null,"limit_remaining":null,"usage":3.75}}')
    with OpenRouterServer(answers={"/api/v1/key": unlimited}, credits=CREDITS_ORDINARY_KEY) as server:
        snap = with_credits(server).snapshot
    assert snap is not None and snap.unlimited and snap.balance is None
    assert snap.note is not None and snap.note.startswith(UNREAD + "HTTP 403")


def test_an_exhausted_key_keeps_its_note_when_the_credits_fail() -> None:
    spent = raw_json(200, '{"data":{"limit":5,"limit_remaining":0,"usage":5}}')
    with OpenRouterServer(answers={"/api/v1/key": spent}, credits=CREDITS_ORDINARY_KEY) as server:
        snap = with_credits(server).snapshot
    assert snap is not None and (snap.balance, snap.exhausted, snap.note) == (Decimal(0), True, "key limit reached")


def test_zeros_from_a_key_that_is_not_a_management_key_are_not_believed() -> None:
    ordinary = raw_json(200, '{"data":{"limit":null,"limit_remaining":null,"usage":0,"is_management_key":false}}')
    with OpenRouterServer(credits=CREDITS_ZEROS, management_key_itself=ordinary) as server:
        snap = with_credits(server).snapshot
    assert server.paths(MANAGEMENT_KEY) == ["/api/v1/credits", "/api/v1/key"]
    assert snap is not None and snap.balance == Decimal("74.5")
    assert snap.note == UNREAD + "management_key is not a management key (/api/v1/credits answered zeros)"


def test_zeros_from_a_management_key_are_an_empty_account() -> None:
    with OpenRouterServer(credits=CREDITS_ZEROS) as server:
        snap = with_credits(server).snapshot
    assert snap is not None and (snap.balance, snap.exhausted) == (Decimal(0), True)


def test_a_failing_key_call_fails_the_account_even_when_the_credits_answer() -> None:
    with OpenRouterServer() as server:
        result = with_credits(server, api_key=WRONG_KEY)
    assert result.error == "HTTP 401: User not found."


def test_the_management_key_never_shows_even_when_the_server_echoes_it() -> None:
    echo = json_answer(401, {"error": {"code": 401, "message": f"No management key {MANAGEMENT_KEY} found"}})
    with OpenRouterServer(credits=echo) as server:
        snap = with_credits(server).snapshot
    assert snap is not None and snap.note is not None
    assert MANAGEMENT_KEY not in snap.note and MANAGEMENT_KEY[:-2] not in snap.note and "sk-or…yz" in snap.note


# --- management_key in the config ------------------------------------------------------------------

def write_config(folder: Path, accounts: str, mode: int = 0o600) -> Path:
    path = folder / "config.yaml"
    path.write_text(accounts, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_management_key_is_an_openrouter_accounts_secret(tmp_path: Path) -> None:
    path = write_config(tmp_path, "accounts:\n  - name: OpenRouter\n    provider: openrouter\n"
                                  "    api_key: ${OPENROUTER_API_KEY}\n"
                                  "    management_key: ${OPENROUTER_MANAGEMENT_KEY}\n")
    config = load(path, environ={"OPENROUTER_API_KEY": KEY, "OPENROUTER_MANAGEMENT_KEY": MANAGEMENT_KEY})
    assert config.accounts[0].keys(OpenRouterKeys).management_key == MANAGEMENT_KEY
    assert MANAGEMENT_KEY in config.secrets()
    out = io.StringIO()
    assert check_config(config, out) == 0
    assert MANAGEMENT_KEY not in out.getvalue() and KEY not in out.getvalue()
    assert "key sk-Pr…cd, management key sk-or…yz" in out.getvalue()


def test_a_management_key_written_in_a_readable_file_is_warned_about(tmp_path: Path) -> None:
    path = write_config(tmp_path, f"accounts:\n  - name: OpenRouter\n    provider: openrouter\n    api_key: ${{K}}\n"
                                  f"    management_key: {MANAGEMENT_KEY}\n", mode=0o644)
    config = load(path, environ={"K": KEY})
    assert any("readable by group or others" in w for w in config.warnings), config.warnings
    assert not any(MANAGEMENT_KEY in w for w in config.warnings)


def test_management_key_is_not_inherited_across_providers(tmp_path: Path) -> None:
    path = write_config(tmp_path, "defaults:\n  provider: openrouter\n  management_key: ${M}\n"
                                  "accounts:\n  - {name: or, api_key: '${K}'}\n"
                                  "  - {name: ds, provider: deepseek, api_key: '${K}'}\n")
    loaded = load(path, environ={"K": KEY, "M": MANAGEMENT_KEY}).accounts
    accounts = {a.name: a.keys(OpenRouterKeys).management_key for a in loaded}
    assert accounts == {"or": MANAGEMENT_KEY, "ds": None}


def test_management_key_on_another_provider_is_a_config_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, "accounts:\n  - {name: ds, provider: deepseek, api_key: '${K}', "
                                  "management_key: '${M}'}\n")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={"K": KEY, "M": MANAGEMENT_KEY})
    assert "accounts[0].management_key" in str(caught.value) and "only to the provider openrouter" in str(caught.value)
    assert MANAGEMENT_KEY not in str(caught.value)


@pytest.mark.parametrize(("note", "zh"), [
    ("key limit: 74.5000 of 100.0000 USD left; account credits: 5.2500 of 100.5000 USD left",
     "密钥额度：剩余 74.5000 / 100.0000 USD；账户余额：剩余 5.2500 / 100.5000 USD"),
    ("key limit: none; account credits: 74.7500 of 100.5000 USD left",
     "密钥额度：不限；账户余额：剩余 74.7500 / 100.5000 USD"),
    ("account credits not read: HTTP 500: server error", "未能读取账户余额：HTTP 500: server error"),
])
def test_the_notes_read_in_chinese_in_a_chinese_report(note: str, zh: str) -> None:
    assert (localised(note, "zh"), localised(note, "en")) == (zh, note)


# --- whatever the two endpoints answer -----------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(st.tuples(st.sampled_from([200, 200, 200, 401, 403, 500]),
                                  st.one_of(st.binary(max_size=80), st.sampled_from([
                                      b'{"data":{"total_credits":0,"total_usage":0}}',
                                      b'{"data":{"total_credits":1e999,"total_usage":1}}',
                                      b'{"data":{"limit":10,"limit_remaining":null,"usage":1}}',
                                      b'{"data":{"limit":10,"limit_remaining":4,"usage":6,"is_management_key":true}}',
                                      b'{"data":{"total_credits":"12","total_usage":-3}}', b'{"data":null}',
                                      b'{"data":[]}', b'{"error":{"message":"' + MANAGEMENT_KEY.encode() + b'"}}']))),
                        min_size=1, max_size=4))
def test_with_a_management_key_any_answers_give_a_snapshot_or_a_provider_error(
        answers: list[tuple[int, bytes]]) -> None:
    responses = [Response(status, "application/json", body, {}) for status, body in answers]

    class Http:
        calls = 0

        def get(self, url: str, headers: Any = None) -> Response:
            self.calls += 1
            return responses[(self.calls - 1) % len(responses)]

        def together(self, *calls: Any) -> list[Any]:
            return [call() for call in calls]

    one = account_of(name="or", provider="openrouter", api_key=KEY, management_key=MANAGEMENT_KEY)
    try:
        snap = openrouter.fetch(one, Http())  # type: ignore[arg-type]
    except ProviderError as exc:
        assert str(exc) and MANAGEMENT_KEY not in str(exc)
        return
    assert snap.balance is None or snap.balance.is_finite()
    assert MANAGEMENT_KEY not in (snap.note or "")
    assert snap.unlimited == (snap.balance is None)
