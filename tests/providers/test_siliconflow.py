"""SiliconFlow ``/v1/user/info`` against a loopback server answering as providers.md §2 records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monitor.providers import PROVIDERS
from tests.provider_servers import FAULTS, SILICONFLOW, WRONG_KEY, error_for, ok, snapshot_for


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
