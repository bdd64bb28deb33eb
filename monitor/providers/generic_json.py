"""Any JSON balance endpoint: the account gives the ``url``, the ``headers``, dotted paths and a ``divisor``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from monitor import checks
from monitor.checks import rule
from monitor.http import HttpClient
from monitor.providers import common
from monitor.schema import setting
from monitor.settings import Account, ProviderKeys
from monitor.snapshot import ProviderError, Snapshot

DEFAULT_HEADERS = {"Authorization": "Bearer {api_key}"}


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, (str, int)) for v in value.values()):
        raise ValueError("must be a mapping of header names to strings")
    return {str(k): str(v) for k, v in value.items()}


_PATH = setting(checks.nonempty, secret=False)  # a dotted path into the answer


@dataclass(frozen=True)
class JsonKeys(ProviderKeys):
    """Where to ask, how, and where the amounts are in the answer. (The table marks the provider
    ``needs_url``: an account must give url, currency and balance.)"""

    url: str | None = field(default=None, metadata=setting(checks.url, secret="endpoint"))
    headers: Mapping[str, str] = field(default_factory=dict, metadata=setting(_headers, secret="header"))
    balance: str | None = field(default=None, metadata=_PATH)
    used: str | None = field(default=None, metadata=_PATH)
    total: str | None = field(default=None, metadata=_PATH)
    divisor: Decimal = field(default=Decimal("1"), metadata=setting(rule(checks.money, lambda amount: amount != 0, (
        "must be more than 0 (every amount is divided by it)"))))
    refused: ClassVar[bool] = False  # given on another provider's account (a relay's defaults, say): ignored

    def endpoint(self) -> str | None:
        return self.url


KEYS = JsonKeys


def fetch(account: Account, http: HttpClient) -> Snapshot:
    keys = account.keys(JsonKeys)
    if not keys.url or not keys.balance or not account.currency:
        raise ProviderError("provider json needs url, balance and currency")  # config.py rejects this earlier
    body = common.get_json(http, keys.url, headers_for(keys.headers, account.api_key))
    return from_answer(body, account.currency, keys.balance, keys.used, keys.total, keys.divisor)


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
