"""SiliconFlow ``/v1/user/info`` against a loopback server answering as providers.md §2 and operators.md §3 record."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from monitor.commands import check_config
from monitor.config import load
from monitor.emulators import json_answer
from monitor.providers import PROVIDERS
from monitor.providers.siliconflow import RETIRED
from monitor.report.words import localised
from tests.support.provider_servers import (
    FAULTS,
    KEY,
    SILICONFLOW,
    SILICONFLOW_RETIRED,
    WRONG_KEY,
    account,
    error_for,
    ok,
    query_one,
    serving,
    snapshot_for,
)


def test_normal_answer_gives_total_balance_in_cny() -> None:
    snap = snapshot_for(SILICONFLOW)
    assert (snap.currency, snap.balance, snap.used, snap.total) == ("CNY", Decimal("88.88"), None, None)


def test_default_host_is_the_chinese_platform() -> None:
    assert PROVIDERS["siliconflow"].default_base_url == "https://api.siliconflow.cn"


def test_the_accounts_currency_wins() -> None:
    assert snapshot_for(SILICONFLOW, currency="USD").currency == "USD"


def test_invalid_key_plain_text_401_is_the_message() -> None:
    assert error_for(SILICONFLOW, api_key=WRONG_KEY) == "HTTP 401: Api key is invalid"


@pytest.mark.parametrize(("answer", "message"), [
    *FAULTS,
    pytest.param(ok({"code": 30001, "message": "account is frozen", "status": False, "data": None}),
                 "error in answer: account is frozen", id="code-not-20000-status-false"),
    pytest.param(ok({"code": 50000, "message": "", "status": True, "data": {"totalBalance": "1"}}),
                 "error in answer: code is 50000", id="code-not-20000"),
    pytest.param(ok({"code": "20000", "status": True, "data": {"totalBalance": "1"}}),
                 "error in answer: code is \"20000\"", id="code-as-string"),
    pytest.param(ok({"status": True, "data": {"totalBalance": "1"}}), "answer has no field 'code'", id="no-code"),
    pytest.param(ok({"code": 20000, "status": True, "data": {"balance": "1"}}),
                 "answer has no field 'data.totalBalance'", id="missing-total-balance"),
    pytest.param(ok({"code": 20000, "status": True, "data": {"totalBalance": "88,88 CNY"}}),
                 "field 'data.totalBalance' is not a plain decimal number ('88,88 CNY')",
                 id="non-numeric-total-balance"),
])
def test_faults_end_in_a_clear_error(answer: tuple[int, dict[str, str], bytes], message: str) -> None:
    assert error_for(SILICONFLOW, answer).startswith(message)


# --- the retirement of /v1/user/info (operators.md §3) --------------------------------------------

@pytest.mark.parametrize("answer", [
    pytest.param(SILICONFLOW_RETIRED, id="410-plain-text"),
    pytest.param((410, {}, b""), id="410-empty"),
    pytest.param((410, {"Content-Type": "text/html"}, b"<html><title>410 Gone</title></html>"), id="410-html"),
    pytest.param(json_answer(410, {"code": 41000, "message": "Gone", "status": False, "data": None}),
                 id="410-json"),
    pytest.param(ok({"code": 50001, "message": "userinfo 接口已停止服务", "status": False, "data": None}),
                 id="200-says-stopped"),
    pytest.param(json_answer(404, {"message": "This endpoint is deprecated and no longer available"}),
                 id="404-says-deprecated"),
    pytest.param((404, {"Content-Type": "text/plain"}, b"user info api has been retired"), id="404-plain-text"),
])
def test_a_retired_endpoint_says_siliconflow_no_longer_reports_balances(
        answer: tuple[int, dict[str, str], bytes]) -> None:
    message = error_for(SILICONFLOW, answer)
    assert message == RETIRED
    assert "no longer reports balances to API keys" in message and "console" in message and "remove" in message


def test_a_retired_endpoint_is_asked_once_not_retried() -> None:
    with serving(SILICONFLOW, SILICONFLOW_RETIRED) as server:
        query_one(account(SILICONFLOW, server.url))
    assert len(server.requests) == 1


def test_a_host_that_still_answers_20000_keeps_working_even_while_it_announces_the_end() -> None:
    answer = ok({"code": 20000, "message": "userinfo 接口将停止服务", "status": True,
                 "data": {"balance": "0.88", "chargeBalance": "88.00", "totalBalance": "88.88"}})
    assert snapshot_for(SILICONFLOW, answer).balance == Decimal("88.88")


def test_other_refusals_are_not_called_a_retirement() -> None:
    assert error_for(SILICONFLOW, (404, {"Content-Type": "text/html"}, b"<title>404 Not Found</title>")) \
        == "HTTP 404: text/html, '404 Not Found'"
    assert error_for(SILICONFLOW, api_key=WRONG_KEY) == "HTTP 401: Api key is invalid"
    disabled = json_answer(403, {"code": 40301, "message": "账户已停用", "status": False, "data": None})
    assert error_for(SILICONFLOW, disabled) == "HTTP 403: 账户已停用"


def test_the_retirement_reads_in_chinese_in_a_chinese_report() -> None:
    zh = localised(RETIRED, "zh")
    assert zh != RETIRED and "硅基流动" in zh and "余额" in zh and "控制台" in zh
    assert localised(RETIRED, "en") == RETIRED


def test_check_config_warns_about_every_siliconflow_account(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("accounts:\n"
                    "  - {name: 硅基流动, provider: siliconflow, api_key: '${KEY}'}\n"
                    "  - {name: SF-intl, provider: siliconflow, api_key: '${KEY}', base_url: https://api.siliconflow.com}\n"
                    "  - {name: DeepSeek, provider: deepseek, api_key: '${KEY}'}\n", encoding="utf-8")
    out = io.StringIO()
    assert check_config(load(path, environ={"KEY": KEY}), out) == 0
    [line] = [line for line in out.getvalue().splitlines() if line.startswith("siliconflow")]
    assert line.startswith("siliconflow (硅基流动, SF-intl): warning: SiliconFlow no longer reports balances")
    assert "DeepSeek" not in line and "console" in line and KEY not in out.getvalue()


def test_check_config_says_nothing_of_siliconflow_without_such_an_account(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("accounts:\n  - {name: DeepSeek, provider: deepseek, api_key: '${KEY}'}\n", encoding="utf-8")
    out = io.StringIO()
    check_config(load(path, environ={"KEY": KEY}), out)
    assert "SiliconFlow" not in out.getvalue()
