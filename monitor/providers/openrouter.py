"""OpenRouter: ``GET /api/v1/key`` for the key itself (``/credits`` needs a management key); USD."""

from __future__ import annotations

from typing import Any

from monitor.config import Account
from monitor.http import HttpClient
from monitor.providers import base_url, common
from monitor.snapshot import Snapshot


def fetch(account: Account, http: HttpClient) -> Snapshot:
    body = common.get_json(http, f"{base_url(account)}/api/v1/key", common.bearer(account.api_key))
    return from_answer(body, account.currency or "USD")


def from_answer(body: Any, currency: str) -> Snapshot:
    """total = ``limit``, used = ``usage`` (all time), balance = ``limit_remaining``; a null limit is unlimited.

    ``limit_remaining`` is not ``limit − usage`` when the limit resets daily, weekly or monthly; the all-time
    ``usage`` keeps period usage right across such resets.
    """
    used = common.amount(common.dig(body, "data.usage"), "data.usage")
    limit = common.optional_amount(body, "data.limit")
    remaining = common.optional_amount(body, "data.limit_remaining")
    if limit is None or remaining is None:
        return Snapshot(currency=currency, balance=None, used=used, unlimited=True)
    spent = remaining <= 0
    return Snapshot(currency=currency, balance=remaining, used=used, total=limit,
                    note="key limit reached" if spent else None, exhausted=spent)
