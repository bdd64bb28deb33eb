"""OpenRouter: ``GET /api/v1/key`` for the key itself; with a ``management_key``, also the account's
``GET /api/v1/credits`` (reference/operators.md §4); USD.

A key's ``limit`` is a cap the account sets on that key, not money: an unlimited key, or one whose cap is
above what the account holds, can spend only the account's credits. With a management key both are read,
and the lower one is the balance the thresholds judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from monitor.amounts import shown
from monitor.checks import nonempty
from monitor.http import HttpClient
from monitor.providers import base_url, common
from monitor.redact import Redactor, mask
from monitor.schema import setting
from monitor.settings import Account, ProviderKeys
from monitor.snapshot import ProviderError, Snapshot


@dataclass(frozen=True)
class OpenRouterKeys(ProviderKeys):
    management_key: str | None = field(default=None, metadata=setting(nonempty, secret=True))  # for the credits


KEYS = OpenRouterKeys


def credential(account: Account) -> str:
    """check-config's account line: the key and the management key, masked."""
    management_key = account.keys(OpenRouterKeys).management_key
    return f"key {mask(account.api_key)}" + (f", management key {mask(management_key)}" if management_key else "")


@dataclass(frozen=True)
class Credits:
    """The whole account's credits: purchased (``total_credits``) and spent (``total_usage``), all time."""

    total: Decimal
    used: Decimal

    @property
    def left(self) -> Decimal:
        return common.exact("-", self.total, self.used)


def fetch(account: Account, http: HttpClient) -> Snapshot:
    base = base_url(account)
    currency = account.currency or "USD"

    def key() -> Any:
        return common.get_json(http, f"{base}/api/v1/key", common.bearer(account.api_key))

    management_key = account.keys(OpenRouterKeys).management_key
    if not management_key:
        return from_answer(key(), currency)
    # Never a secret in a message, even one a server echoed (the run masks them too: this holds without it).
    hide = Redactor([management_key, account.api_key])
    try:
        body, credits = http.together(key, lambda: read_credits(http, base, management_key))
        return from_answer(body, currency, hide(credits) if isinstance(credits, str) else credits)
    except ProviderError as exc:
        raise ProviderError(hide(str(exc))) from None


def read_credits(http: HttpClient, base: str, management_key: str) -> Credits | str:
    """The account's credits, or why they could not be read (a message, not an exception: the key's own
    answer is still worth reporting)."""
    headers = common.bearer(management_key)
    try:
        credits = credits_from_answer(common.get_json(http, f"{base}/api/v1/credits", headers))
        if credits.total == 0 and credits.used == 0:
            # An ordinary key gets a 200 with zeros instead of a 403 (providers.md §4 pitfall 11): believe
            # zeros only from a key that says it is a management key.
            itself = common.dig(common.get_json(http, f"{base}/api/v1/key", headers), "data")
            if not isinstance(itself, dict) or itself.get("is_management_key") is not True:
                return "management_key is not a management key (/api/v1/credits answered zeros)"
    except ProviderError as exc:
        hint = " (is management_key a management key?)" if str(exc).startswith(("HTTP 401", "HTTP 403")) else ""
        return f"{exc}{hint}"
    return credits


def credits_from_answer(body: Any) -> Credits:
    return Credits(common.amount(common.dig(body, "data.total_credits"), "data.total_credits"),
                   common.amount(common.dig(body, "data.total_usage"), "data.total_usage"))


def from_answer(body: Any, currency: str, credits: Credits | str | None = None) -> Snapshot:
    """total = ``limit``, used = ``usage`` (all time), balance = ``limit_remaining``; a null limit is unlimited.

    ``limit_remaining`` is not ``limit − usage`` when the limit resets daily, weekly or monthly; the all-time
    ``usage`` keeps period usage right across such resets.

    With the account's ``credits``, the balance is the lower of ``limit_remaining`` and the credits left
    (the credits alone for an unlimited key), and a note shows both; ``used`` and ``total`` stay the key's,
    so that period usage is this key's spending whether or not a management key is set. When the credits
    could not be read (``credits`` is the reason), the key's own numbers are reported with the reason in
    the note, never silently.
    """
    used = common.amount(common.dig(body, "data.usage"), "data.usage")
    limit = common.optional_amount(body, "data.limit")
    remaining = common.optional_amount(body, "data.limit_remaining")
    if limit is None or remaining is None:
        limit = remaining = None  # one null is enough: the key has no cap
    if isinstance(credits, Credits):
        key_side = "none" if remaining is None else f"{shown(remaining)} of {shown(limit)} {currency} left"
        account_side = f"{shown(credits.left)} of {shown(credits.total)} {currency} left"
        note = f"key limit: {key_side}; account credits: {account_side}"
        balance = credits.left if remaining is None else min(remaining, credits.left)
        return Snapshot(currency=currency, balance=balance, used=used, total=limit, note=note, exhausted=balance <= 0)
    unread = None if credits is None else f"account credits not read: {credits}"
    if remaining is None:
        return Snapshot(currency=currency, balance=None, used=used, unlimited=True, note=unread)
    spent = remaining <= 0
    return Snapshot(currency=currency, balance=remaining, used=used, total=limit,
                    note="key limit reached" if spent else unread, exhausted=spent)
