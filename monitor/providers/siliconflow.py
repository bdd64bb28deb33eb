"""SiliconFlow: ``GET /v1/user/info``; ``code`` 20000 means ok, ``data.totalBalance`` is a string, in CNY."""

from __future__ import annotations

from typing import Any

from monitor.config import Account
from monitor.http import HttpClient
from monitor.providers import base_url, common
from monitor.snapshot import Snapshot

OK = 20000


def fetch(account: Account, http: HttpClient) -> Snapshot:
    body = common.get_json(http, f"{base_url(account)}/v1/user/info", common.bearer(account.api_key))
    return from_answer(body, account.currency or "CNY")


def from_answer(body: Any, currency: str) -> Snapshot:
    """``totalBalance`` is the granted ``balance`` plus the topped-up ``chargeBalance``; no usage is reported."""
    common.dig(body, "code")  # an answer without it is not SiliconFlow's
    common.expect(body, "code", OK)
    balance = common.amount(common.dig(body, "data.totalBalance"), "data.totalBalance")
    return Snapshot(currency=currency, balance=balance)
