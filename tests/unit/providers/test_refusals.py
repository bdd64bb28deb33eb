"""Which refusals are a valid key with nothing left (ok, balance 0) and which are failures.

Every refusal message in shared/reference/providers.md is here. Only a 401 that says the quota is used up
or the key has expired is a balance of 0; a 403, an invalid, unknown or disabled key is a failed account.
"""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from monitor.emulators import RelayEmulator, Token, json_answer
from monitor.http import Response
from monitor.providers import common
from monitor.snapshot import ProviderError
from tests.conftest import MAIN_KEY, cli_run, write_setup

EXHAUSTED, EXPIRED, FAILED = "quota exhausted", "key expired", None


def error_body(message: str, kind: str = "one_api_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": kind}}, ensure_ascii=False).encode()


REFUSALS = [
    # one-api / new-api TokenAuth (reference §1.6)
    (401, error_body("无效的令牌 (request id: 20261128090500123456)"), FAILED),
    (401, error_body("无效的令牌 (request id: 20261128090500123456)", "new_api_error"), FAILED),
    (401, error_body("Invalid token (request id: 20261128090500123456)", "new_api_error"), FAILED),
    (401, error_body("令牌 ci-bot（#12）额度已用尽"), EXHAUSTED),
    (401, error_body("该令牌额度已用尽"), EXHAUSTED),
    (401, error_body("[sk-abc***xyz] 该令牌额度已用尽 TokenStatusExhausted[sk-main]", "new_api_error"), EXHAUSTED),
    (401, error_body("该令牌已过期 (request id: 20261128090500123457)"), EXPIRED),
    (401, error_body("该令牌已过期"), EXPIRED),
    (401, error_body("该令牌状态不可用"), FAILED),
    (403, error_body("用户已被封禁"), FAILED),
    (403, error_body("您的 IP 不在令牌允许访问的列表中"), FAILED),
    (401, json.dumps({"success": False, "message": "No Authorization header"}).encode(), FAILED),
    (401, json.dumps({"success": False, "message": "Invalid Bearer token"}).encode(), FAILED),
    (401, json.dumps({"success": False, "message": "无效的令牌"}, ensure_ascii=False).encode(), FAILED),
    (404, error_body("Invalid URL (GET /api/usage/token)", "invalid_request_error"), FAILED),
    (429, b"", FAILED),
    # an invalid-key message that also says 过期 / expired stays a failure
    (401, error_body("无效的令牌或令牌已过期 (request id: 20261128090500123458)"), FAILED),
    (401, error_body("Invalid token: the token is invalid or expired"), FAILED),
    # a 403 is never a balance of 0, whatever it says
    (403, error_body("You have insufficient permissions for this operation. Missing scopes: api.model.read",
                     "invalid_request_error"), FAILED),
    (403, error_body("该令牌额度已用尽"), FAILED),
    (403, error_body("该令牌已过期"), FAILED),
    # OpenAI official keys (§1.10), OpenRouter /credits (§2)
    (403, error_body("Your request to GET /v1/dashboard/billing/subscription must be made with a session key "
                     "(that is, it can only be made from the browser). You made it with the following key type: "
                     "secret.", "server_error"), FAILED),
    (403, error_body("Only management keys can perform this operation"), FAILED),
    # native providers' invalid keys (§2)
    (401, error_body("Authentication Fails, Your api key: ****abcd is invalid", "authentication_error"), FAILED),
    (401, error_body("Authentication Fails (no such user)", "authentication_error"), FAILED),
    (401, error_body("Invalid Authentication", "invalid_authentication_error"), FAILED),
    (401, b"Api key is invalid", FAILED),
    (401, json.dumps({"error": {"code": 401, "message": "User not found."}}).encode(), FAILED),
    # sub2api (§1.9)
    (401, json.dumps({"type": "error", "error": {"type": "authentication_error",
                                                 "message": "Invalid API key"}}).encode(), FAILED),
    # English wording of the same two states
    (401, error_body("token quota is exhausted"), EXHAUSTED),
    (401, error_body("The token has expired"), EXPIRED),
]


@pytest.mark.parametrize(("status", "body", "expected"), REFUSALS,
                         ids=[f"{i}-{s}-{e or 'failed'}" for i, (s, _, e) in enumerate(REFUSALS)])
def test_each_refusal_is_a_zero_balance_only_when_a_401_says_exhausted_or_expired(
        status: int, body: bytes, expected: str | None) -> None:
    kind = "application/json" if body.startswith(b"{") else "text/plain; charset=utf-8"
    with pytest.raises(ProviderError) as caught:
        common.parse(Response(status, kind, body, {}))
    if expected is None:
        assert not isinstance(caught.value, common.QuotaExhausted), caught.value
    else:
        assert isinstance(caught.value, common.QuotaExhausted) and caught.value.note == expected
    assert str(caught.value).startswith(f"HTTP {status}")


def run_against(tmp_path: Path, status: int, message: str) -> tuple[int, dict[str, object], str]:
    tokens = {MAIN_KEY[3:]: Token(total=Decimal(20), used=Decimal("7.66"))}
    with RelayEmulator(tokens=tokens) as relay:
        relay.faults["/v1/dashboard/billing/subscription"] = lambda r: json_answer(
            status, {"error": {"message": message, "type": "invalid_request_error"}})
        config = textwrap.dedent(
            f"""\
            history: {{file: h.json}}
            defaults: {{base_url: "{relay.url}", low_balance: 5}}
            accounts:
              - {{name: main, api_key: "${{MAIN}}"}}
            """)
        setup = write_setup(tmp_path / "etc", config, {"MAIN": MAIN_KEY})
        text = cli_run(["run", "-c", str(setup.config), "--dry-run"], tmp_path / "home")
        result = cli_run(["run", "-c", str(setup.config), "--json", "--dry-run"], tmp_path / "home")
    assert text.returncode == result.returncode
    (line,) = json.loads(result.stdout)["accounts"]
    return result.returncode, line, text.stdout


def test_a_403_insufficient_permissions_is_a_failed_account_not_a_zero_balance(tmp_path: Path) -> None:
    message = "You have insufficient permissions for this operation. Missing scopes: api.model.read"
    code, line, text = run_against(tmp_path, 403, message)
    assert code & 2 and not code & 1  # failed, not low
    assert (line["ok"], line["balance"], line["note"]) == (False, None, None)
    assert line["error"].startswith("HTTP 403: You have insufficient permissions")
    assert "❌" in text and "¥0" not in text and "$0" not in text


def test_a_401_saying_the_quota_is_used_up_is_ok_with_balance_zero_and_low(tmp_path: Path) -> None:
    code, line, text = run_against(tmp_path, 401, "令牌 main（#1）额度已用尽")
    assert code == 1  # low, not failed
    assert (line["ok"], line["balance"], line["note"], line["low_balance"]) == (True, "0.0000", EXHAUSTED, True)
