"""one-api / new-api and kin: ``/v1/dashboard/billing/subscription`` + ``/v1/dashboard/billing/usage``."""

from __future__ import annotations

from decimal import Decimal

from monitor.config import Account
from monitor.http import HttpClient
from monitor.providers import common
from monitor.snapshot import ProviderError, Snapshot

UNLIMITED = Decimal(100_000_000)  # relays force every *_limit_usd to exactly 1e8 for unlimited keys


def fetch(account: Account, http: HttpClient) -> Snapshot:
    currency = account.currency or "USD"
    base = account.base_url
    headers = common.bearer(account.api_key)
    try:
        subscription, usage = http.together(  # independent: both in flight at once
            lambda: common.get_json(http, f"{base}/v1/dashboard/billing/subscription", headers),
            lambda: common.get_json(http, f"{base}/v1/dashboard/billing/usage", headers))
    except common.QuotaExhausted as exc:
        return common.exhausted(exc, currency)
    return from_answers(subscription, usage, currency)


def from_answers(subscription: object, usage: object, currency: str) -> Snapshot:
    """The snapshot from the two answers (pure, so the wire shapes are tested without a server)."""
    if not isinstance(subscription, dict) or not isinstance(usage, dict):
        raise ProviderError("answer is not a JSON object")
    limit = common.amount(common.dig(subscription, "hard_limit_usd"), "hard_limit_usd")
    used = common.amount(common.dig(usage, "total_usage"), "total_usage") / 100  # cents
    if limit == UNLIMITED:
        return Snapshot(currency=currency, balance=None, used=used, total=None, unlimited=True)
    if limit < 0 or used < 0:
        raise ProviderError(f"relay reports a negative amount (limit {limit}, used {used})")
    if used > limit:
        # one-api in user mode reports the remaining balance as the limit (songquanpeng/one-api#202):
        # subtracting the usage again would invent a debt.
        return Snapshot(currency=currency, balance=limit, used=used, total=None,
                        note="relay reports the remaining balance as its limit")
    return Snapshot(currency=currency, balance=limit - used, used=used, total=limit)
