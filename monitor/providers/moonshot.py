"""Moonshot / Kimi: ``GET /v1/users/me/balance``; CNY on api.moonshot.cn, USD on api.moonshot.ai."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from monitor.http import HttpClient
from monitor.providers import base_url, common
from monitor.settings import Account
from monitor.snapshot import ProviderError, Snapshot

REGION_HINT = "a key from platform.moonshot.cn works only on api.moonshot.cn, one from .ai only on api.moonshot.ai"


def fetch(account: Account, http: HttpClient) -> Snapshot:
    base = base_url(account)
    response = http.get(f"{base}/v1/users/me/balance", common.bearer(account.api_key))
    try:
        body = common.parse(response)
    except ProviderError as exc:
        if response.status == 401:
            raise ProviderError(f"{exc} ({REGION_HINT})") from None
        raise
    return from_answer(body, account.currency or currency_of(base))


def currency_of(base: str) -> str:
    """The answer names no currency: the global platform (``.ai``) bills in USD, the Chinese one in CNY."""
    host = (urlsplit(base).hostname or "").lower()
    return "USD" if host.endswith(".ai") else "CNY"


def from_answer(body: Any, currency: str) -> Snapshot:
    """``data.available_balance`` (voucher + cash). Cash may be negative (a debt); that is not an error."""
    common.expect(body, "code", 0)
    balance = common.amount(common.dig(body, "data.available_balance"), "data.available_balance")
    cash = common.optional_amount(body, "data.cash_balance")
    note = f"cash balance is negative ({cash}): the account owes" if cash is not None and cash < 0 else None
    return Snapshot(currency=currency, balance=balance, note=note)
