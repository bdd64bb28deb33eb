"""one-api / new-api and kin: ``/v1/dashboard/billing/subscription`` + ``/v1/dashboard/billing/usage``."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from monitor.checks import nonempty, rule
from monitor.http import HttpClient
from monitor.providers import common
from monitor.schema import setting
from monitor.settings import Account, ProviderKeys
from monitor.snapshot import ProviderError, Snapshot

UNLIMITED = Decimal(100_000_000)  # relays force every *_limit_usd to exactly 1e8 for unlimited keys
OVERDRAWN = ("overdrawn: used more than the limit "
             "(if the relay's page shows another balance, set hard_limit: remaining)")


@dataclass(frozen=True)
class BillingKeys(ProviderKeys):
    """What ``hard_limit_usd`` means on this relay: the key's ``total`` (most relays) or what is ``remaining``
    (some one-api sites). new-api names these keys too: it falls back to the billing routes."""

    hard_limit: str = field(default="total", metadata=setting(rule(nonempty, lambda text: text in (
        "total", "remaining"), lambda text: f"must be total (the default) or remaining, not {text!r}")))


KEYS = BillingKeys


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
    return from_answers(subscription, usage, currency, account.keys(BillingKeys).hard_limit)


def from_answers(subscription: object, usage: object, currency: str, hard_limit: str = "total") -> Snapshot:
    """The snapshot from the two answers (pure, so the wire shapes are tested without a server).

    ``hard_limit`` says what ``hard_limit_usd`` is: the key's ``total`` (one-api and new-api by default), or
    the ``remaining`` quota (one-api in user mode, older one-api releases: reference/providers.md §1.2).
    """
    if not isinstance(subscription, dict) or not isinstance(usage, dict):
        raise ProviderError("answer is not a JSON object")
    limit = common.amount(common.dig(subscription, "hard_limit_usd"), "hard_limit_usd")
    used = common.divide(common.amount(common.dig(usage, "total_usage"), "total_usage"), Decimal(100))  # cents
    if limit == UNLIMITED:
        return Snapshot(currency=currency, balance=None, used=used, total=None, unlimited=True)
    for name, value in (("hard_limit_usd", limit), ("total_usage", used)):
        if value < 0:
            raise ProviderError(f"field {name!r} is negative ({value}): a relay never reports that")
    if hard_limit == "remaining":
        return Snapshot(currency=currency, balance=limit, used=used, total=common.exact("+", limit, used))
    balance = common.exact("-", limit, used)
    if balance < 0:
        # Overdrawn (a relay lets the last request finish), or a site whose "limit" is really what is left:
        # either way the number is shown as it is and alerted on, never replaced by a guess.
        return Snapshot(currency=currency, balance=balance, used=used, total=limit, note=OVERDRAWN, exhausted=True)
    return Snapshot(currency=currency, balance=balance, used=used, total=limit)
