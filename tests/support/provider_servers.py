"""Loopback servers that answer as ``shared/reference/providers.md`` records, and how to call a provider.

One ``ProviderServer`` plays one provider: the right key gets the provider's answer (or a fault the test
sets), any other key gets that provider's own invalid-key answer. ``Wire`` holds those facts per provider.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from monitor.collect import AccountResult, collect
from monitor.config import Account, HttpSettings, own_keys
from monitor.emulators import CLOUDFLARE_PAGE, Answer, LoopbackServer, RelayEmulator, Request, json_answer
from monitor.providers import PROVIDERS
from monitor.redact import Redactor
from monitor.snapshot import Snapshot
from tests.conftest import MAIN_KEY, Setup, config_text, write_setup

KEY = "sk-" + "Pr0v1d3rK3y" * 4 + "abcd"  # shaped like a real key, so a leak is easy to grep for
WRONG_KEY = "sk-" + "Wr0ngK3y" * 6

NOW = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)

# Faults every provider must survive (providers.md §4 pitfalls 2-4).
CLOUDFLARE: Answer = (403, {"Content-Type": "text/html; charset=UTF-8"}, CLOUDFLARE_PAGE)
EMPTY_429: Answer = (429, {}, b"")


def ok(body: Any) -> Answer:
    return json_answer(200, body)


def raw_json(status: int, text: str) -> Answer:
    """A body written out by hand (to keep a float such as ``49.58`` exactly as the wire has it)."""
    return status, {"Content-Type": "application/json"}, text.encode("utf-8")


@dataclass(frozen=True)
class Wire:
    """A provider's endpoint, its normal answer and its answer to an unknown key (providers.md §2)."""

    provider: str
    path: str
    normal: Answer
    invalid_key: Answer
    settings: dict[str, Any] = field(default_factory=dict)  # account keys the provider needs


DEEPSEEK = Wire(
    "deepseek", "/user/balance",
    ok({"is_available": True, "balance_infos": [
        {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"}]}),
    json_answer(401, {"error": {"message": "Authentication Fails, Your api key: ****abcd is invalid",
                                "type": "authentication_error", "param": None, "code": "invalid_request_error"}}),
)
MOONSHOT = Wire(
    "moonshot", "/v1/users/me/balance",
    raw_json(200, '{"code":0,"data":{"available_balance":49.58,"voucher_balance":46.58,"cash_balance":3.00},'
                  '"scode":"0x0","status":true}'),
    json_answer(401, {"error": {"message": "Invalid Authentication", "type": "invalid_authentication_error"}}),
)
SILICONFLOW = Wire(
    "siliconflow", "/v1/user/info",
    ok({"code": 20000, "message": "OK", "status": True, "data": {
        "id": "userid", "name": "", "image": "", "email": "", "isAdmin": False,
        "balance": "0.88", "status": "normal", "introduction": "", "role": "",
        "chargeBalance": "88.00", "totalBalance": "88.88"}}),
    (401, {"Content-Type": "text/plain; charset=utf-8"}, b"Api key is invalid"),
)
# /v1/user/info after its retirement (operators.md §3): HTTP 410, its body undocumented.
SILICONFLOW_RETIRED: Answer = (410, {"Content-Type": "text/plain; charset=utf-8"}, b"Gone")
OPENROUTER = Wire(
    "openrouter", "/api/v1/key",
    raw_json(200, '{"data":{"label":"sk-or-v1-abc...xyz","limit":100,"limit_remaining":74.5,'
                  '"limit_reset":"monthly","usage":25.5,"usage_daily":1.2,"usage_weekly":8.0,'
                  '"usage_monthly":25.5,"is_free_tier":false}}'),
    json_answer(401, {"error": {"code": 401, "message": "User not found."}}),
)
# A LiteLLM proxy's /key/info asked with the virtual key itself (operators.md §2): nested answer, string code.
LITELLM = Wire(
    "litellm", "/key/info",
    raw_json(200, '{"key":"' + KEY + '","info":{"key_alias":"ci-bot","key_name":"sk-...abcd","spend":3.4127,'
                  '"max_budget":25.0,"budget_duration":"30d","budget_reset_at":"2026-12-01T00:00:00Z",'
                  '"expires":null,"team_id":"team-a","user_id":null,"models":[],"blocked":null,'
                  '"tpm_limit":null,"rpm_limit":null,"model_max_budget":{},"model_spend":{},'
                  '"litellm_budget_table":null}}'),
    json_answer(401, {"error": {"message": "Authentication Error, Invalid proxy server token passed. Unable to find "
                                           "token in cache or `LiteLLM_VerificationTokenTable`",
                                "type": "auth_error", "param": "None", "code": "401"}}),
)
LITELLM_EXPIRED: Answer = json_answer(400, {"error": {
    "message": "Authentication Error - Expired Key. Key Expiry time 2026-11-01 00:00:00+00:00 and current time "
               "2026-11-28 01:05:00+00:00", "type": "expired_key", "param": "None", "code": "400"}})


def litellm_info(spend: str, max_budget: str = "null", **more: str) -> Answer:
    """A nested /key/info answer with these values written as the wire has them (``"null"``, ``"25.0"``)."""
    extra = "".join(f',"{k}":{v}' for k, v in more.items())
    return raw_json(200, '{"key":"' + KEY + f'","info":{{"spend":{spend},"max_budget":{max_budget}{extra}}}}}')


# The account's credits (operators.md §4): a management key's answer, an ordinary key's 403 (message composed
# from providers.md's "Only management keys…"), and the zeros some ordinary keys got instead.
MANAGEMENT_KEY = "sk-or-v1-" + "M4n4g3m3nt" * 6 + "wxyz"
CREDITS = raw_json(200, '{"data":{"total_credits":100.5,"total_usage":25.75}}')
CREDITS_ORDINARY_KEY: Answer = json_answer(
    403, {"error": {"code": 403, "message": "Only management keys can perform this operation"}})
CREDITS_ZEROS = raw_json(200, '{"data":{"total_credits":0,"total_usage":0}}')
MANAGEMENT_KEY_ITSELF = raw_json(200, '{"data":{"label":"sk-or-v1-M4n...xyz","limit":null,"limit_remaining":null,'
                                      '"limit_reset":null,"usage":0,"is_free_tier":false,"is_management_key":true}}')
JSON = Wire(
    "json", "/v1/billing/usage",  # UniAPI's shape (providers.md §1.9)
    ok({"success": True, "data": {"balance": "12.5", "used": 3.25, "cache_used": 0}}),
    json_answer(401, {"success": False, "message": "invalid api key"}),
    {"currency": "USD", "balance": "data.balance", "used": "data.used"},
)


S = TypeVar("S", bound=LoopbackServer)


def quick_to_stop(server: S) -> S:
    """Poll for shutdown every 20 ms instead of 500 ms, so that stopping a server after each test is quick.

    Call before the server starts (before ``with``)."""
    server.thread = threading.Thread(target=server.server.serve_forever, args=(0.02,), daemon=True)
    return server


@dataclass
class ProviderServer(LoopbackServer):
    """Plays one provider on 127.0.0.1; ``answers`` maps a path to what the right key gets there."""

    wire: Wire
    answers: dict[str, Answer] = field(default_factory=dict)
    key: str = KEY
    header: str = "authorization"
    value_prefix: str = "Bearer "
    public: tuple[str, ...] = ("/api/status",)  # answered without a key (new-api's site settings)

    def __post_init__(self) -> None:
        LoopbackServer.__init__(self)
        quick_to_stop(self)
        self.answers.setdefault(self.wire.path, self.wire.normal)

    def handle(self, request: Request) -> Answer:
        path = request.path.split("?", 1)[0]
        if path not in self.answers:
            return 404, {"Content-Type": "text/html"}, b"<html><title>404 Not Found</title></html>"
        if path not in self.public and request.headers.get(self.header) != f"{self.value_prefix}{self.key}":
            return self.wire.invalid_key
        return self.answers[path]

    def answer(self, answer: Answer, path: str | None = None) -> ProviderServer:
        self.answers[path or self.wire.path] = answer
        return self


@dataclass
class OpenRouterServer(ProviderServer):
    """OpenRouter with an account behind its keys (operators.md §4): ``/api/v1/key`` describes whichever key
    asks; ``/api/v1/credits`` gives the management key the account's credits and an ordinary key a 403 (or,
    as OpenRouter did for some, a 200 with zeros: ``ordinary_credits``)."""

    wire: Wire = OPENROUTER
    management_key: str = MANAGEMENT_KEY
    credits: Answer = CREDITS
    ordinary_credits: Answer = CREDITS_ORDINARY_KEY
    management_key_itself: Answer = MANAGEMENT_KEY_ITSELF

    def handle(self, request: Request) -> Answer:
        path = request.path.split("?", 1)[0]
        given = request.headers.get("authorization")
        if given == f"Bearer {self.management_key}":
            return {"/api/v1/credits": self.credits, "/api/v1/key": self.management_key_itself}.get(
                path, self.wire.invalid_key)
        if path == "/api/v1/credits":
            return self.ordinary_credits if given == f"Bearer {self.key}" else self.wire.invalid_key
        return super().handle(request)

    def paths(self, key: str) -> list[str]:
        """The paths asked with ``key``, in order."""
        return [r.path for r in self.requests if r.headers.get("authorization") == f"Bearer {key}"]


@contextmanager
def serving(wire: Wire, answer: Answer | None = None) -> Iterator[ProviderServer]:
    with ProviderServer(wire) as server:
        if answer is not None:
            server.answer(answer)
        yield server


def account(wire: Wire, base: str, **overrides: Any) -> Account:
    fields: dict[str, Any] = {"name": wire.provider, "provider": wire.provider, "api_key": KEY, **wire.settings}
    if PROVIDERS[wire.provider].needs_url:
        fields["url"] = base + wire.path
    else:
        fields["base_url"] = base
    return account_of(**{**fields, **overrides})


def account_of(**values: Any) -> Account:
    """An account as the loader makes it: its provider's own keys (``url=``, ``access_token=``…) go to its
    ``own`` (the module's KEYS); another provider's keys are left out, as the loader leaves json's."""
    others = {name for kind in own_keys().values() for name in kind.__dataclass_fields__}
    kind = own_keys().get(values["provider"])
    mine = {name: value for name, value in values.items() if kind and name in kind.__dataclass_fields__}
    return Account(**{name: value for name, value in values.items() if name not in others},
                   own=kind(**mine) if kind else None)


def query(*accounts: Account, workers: int = 8) -> list[AccountResult]:
    """The accounts through the real collect step, as a run does, without retries."""
    settings = HttpSettings(retries=0, timeout_seconds=5, run_timeout_seconds=30, max_workers=workers)
    return collect(list(accounts), settings, Redactor([KEY, WRONG_KEY]), NOW)


def query_one(one: Account) -> AccountResult:
    (result,) = query(one)
    assert result.error is None or KEY not in result.error
    return result


def snapshot_for(wire: Wire, answer: Answer | None = None, **overrides: Any) -> Snapshot:
    """What the provider makes of ``answer`` (default: its normal answer), through a real run's collect step."""
    with serving(wire, answer) as server:
        result = query_one(account(wire, server.url, **overrides))
    assert result.snapshot is not None, result.error
    return result.snapshot


def error_for(wire: Wire, answer: Answer | None = None, **overrides: Any) -> str:
    """The per-account error the provider gives for ``answer`` (never an exception out of the run)."""
    with serving(wire, answer) as server:
        result = query_one(account(wire, server.url, **overrides))
    assert result.snapshot is None and result.error, result
    assert "unexpected error" not in result.error  # a crash inside the provider, caught by collect
    return result.error


# Answers every provider must turn into a clear error (SPEC "Providers"; providers.md §4, pitfalls 2-4).
FAULTS = [
    pytest.param(CLOUDFLARE, "HTTP 403: text/html, 'Just a moment...'", id="cloudflare-challenge"),
    pytest.param((503, {"Content-Type": "text/html"}, CLOUDFLARE_PAGE), "HTTP 503: text/html, 'Just a moment...'",
                 id="cloudflare-503"),
    pytest.param((200, {"Content-Type": "text/html"}, b"<!doctype html><title>Just a moment...</title>"),
                 "response is not JSON (text/html, 'Just a moment...')", id="html-page-200"),
    pytest.param(EMPTY_429, "HTTP 429: rate limited (empty answer)", id="empty-429"),
    pytest.param((200, {"Content-Type": "application/json"}, b""), "response is not JSON", id="empty-200"),
    pytest.param(raw_json(200, '{"data": '), "response is not JSON", id="cut-off-json"),
]


def mixed_setup(folder: Path, relay: RelayEmulator, deepseek: ProviderServer) -> Setup:
    """The relay's account in USD (the default provider) and a DeepSeek account in CNY, keys from .env."""
    accounts = textwrap.dedent(
        f"""\
        accounts:
          - name: main
            api_key: ${{MAIN_API_KEY}}
          - name: DeepSeek
            provider: deepseek
            api_key: ${{DEEPSEEK_API_KEY}}
            base_url: {deepseek.url}
        """
    )
    return write_setup(folder, config_text(relay.url, None, accounts=accounts),
                       {"MAIN_API_KEY": MAIN_KEY, "DEEPSEEK_API_KEY": KEY})
