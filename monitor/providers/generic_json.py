"""Any JSON balance endpoint: the account gives the ``url``, the ``headers``, dotted paths and a ``divisor``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from monitor.http import HttpClient
from monitor.providers import common
from monitor.settings import Account
from monitor.snapshot import ProviderError, Snapshot

DEFAULT_HEADERS = {"Authorization": "Bearer {api_key}"}


def fetch(account: Account, http: HttpClient) -> Snapshot:
    if not account.url or not account.balance or not account.currency:
        raise ProviderError("provider json needs url, balance and currency")  # config.py rejects this earlier
    body = common.get_json(http, account.url, headers_for(account.headers, account.api_key))
    return from_answer(body, account.currency, account.balance, account.used, account.total, account.divisor)


def headers_for(template: Mapping[str, str], api_key: str) -> dict[str, str]:
    """The request headers, ``{api_key}`` replaced in every value (other braces are left as they are)."""
    return {name: value.replace("{api_key}", api_key) for name, value in (template or DEFAULT_HEADERS).items()}


def from_answer(body: Any, currency: str, balance: str, used: str | None = None, total: str | None = None,
                divisor: Decimal = Decimal(1)) -> Snapshot:
    """Each configured path must lead to a number (or a decimal string); every amount is divided by ``divisor``."""
    if divisor <= 0:
        raise ProviderError("divisor must be more than 0")

    def at(path: str | None) -> Decimal | None:
        return None if path is None else common.divide(common.amount(common.dig(body, path), path), divisor)

    return Snapshot(currency=currency, balance=at(balance), used=at(used), total=at(total))
