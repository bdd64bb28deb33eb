"""new-api relays: ``GET /api/usage/token`` (raw quota) converted with the site's public ``/api/status``.

``/api/usage/token`` still answers for exhausted and expired keys, which the billing routes refuse with a
401. A relay without it (one-api: 404; a custom page: HTML) or one that rate-limits it (20 requests per
20 minutes per client IP: 429) is asked through the billing routes instead, as ``openai-billing`` does.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.http import HttpClient, Response
from monitor.providers import base_url, common, openai_billing
from monitor.settings import Account
from monitor.snapshot import ProviderError, Snapshot

KEYS = openai_billing.KEYS  # hard_limit, for the billing routes it falls back to
DISPLAY_TYPES = ("USD", "CNY", "TOKENS")
_RATE_LIMITED = "new-api: hosts whose /api/usage/token answered 429"


@dataclass(frozen=True)
class Site:
    """How a relay shows raw quota: ``quota_per_unit`` units make one dollar; CNY sites multiply by the rate.

    A site that shows raw tokens (``TOKENS``) is reported in dollars, quota ÷ ``quota_per_unit``: money is
    what balances and thresholds are about, and that is the site's own price of a unit.
    """

    quota_per_unit: Decimal
    display: str  # USD, CNY or TOKENS
    exchange_rate: Decimal | None = None  # yuan per dollar (CNY display only)

    @property
    def currency(self) -> str:
        return "CNY" if self.display == "CNY" else "USD"

    def money(self, quota: Decimal) -> Decimal:
        # Multiply first: quota × rate is exact, and one division rounds at most once (only if it never ends).
        scaled = quota if self.exchange_rate is None else common.exact("*", quota, self.exchange_rate)
        return common.divide(scaled, self.quota_per_unit)


def fetch(account: Account, http: HttpClient) -> Snapshot:
    base = base_url(account)
    headers = common.bearer(account.api_key)
    limited = _rate_limited_hosts(http)
    # Every way on needs the site's units (cached per host): asked for beside the key's own request.
    response, _ = http.together(lambda: None if base in limited else http.get(f"{base}/api/usage/token", headers),
                                lambda: _site_or_none(http, base))
    if response is None or not _has_token_usage(response):
        if response is not None and response.status == 429:
            limited.add(base)  # the limit lasts minutes: the other keys on this relay go straight to billing
        return _from_billing(account, http, base)
    try:
        body = common.parse(response)
    except common.QuotaExhausted as exc:
        site = _site_or_none(http, base)
        return common.exhausted(exc, account.currency or (site.currency if site else "USD"))
    return from_answer(body, _site(http, base), account.currency, time.time())


def from_answer(body: Any, site: Site, currency: str | None, now: float) -> Snapshot:
    """The snapshot from an ``/api/usage/token`` answer; ``currency`` (the account's) only relabels it.

    Exhausted and expired keys keep their numbers, with a note, and count as exhausted (an alert).
    """
    common.expect(body, "code", True)

    def quota(field: str) -> Decimal:
        return site.money(common.amount(common.dig(body, f"data.{field}"), f"data.{field}"))

    label = currency or site.currency
    used = quota("total_used")
    expires = common.optional_amount(body, "data.expires_at")  # Unix seconds; 0 (or -1) is never
    expired = expires is not None and 0 < expires <= Decimal(str(now))
    if common.dig(body, "data.unlimited_quota") is True:
        # total_available means nothing for an unlimited key.
        return Snapshot(currency=label, balance=None, used=used, unlimited=True,
                        note="key expired" if expired else None, exhausted=expired)
    available = quota("total_available")
    spent = available <= 0
    note = "key expired" if expired else "quota exhausted" if spent else None
    return Snapshot(currency=label, balance=available, used=used, total=quota("total_granted"),
                    note=note, exhausted=expired or spent)


def site_from_status(body: Any) -> Site:
    """The units of a relay from its ``/api/status`` (new-api's ``quota_display_type`` or one-api's older flag)."""
    data = common.dig(body, "data")
    if not isinstance(data, dict):
        raise ProviderError("field 'data' of /api/status is not an object")
    per_unit = common.amount(common.dig(body, "data.quota_per_unit"), "data.quota_per_unit")
    if per_unit <= 0:
        raise ProviderError(f"quota_per_unit is {per_unit}, not a positive number")
    display = data.get("quota_display_type")
    if display is None:
        display = "TOKENS" if data.get("display_in_currency") is False else "USD"
    if display not in DISPLAY_TYPES:
        shown = common.shorten(str(display), 20)
        raise ProviderError(f"unknown quota_display_type {shown!r} (known: {', '.join(DISPLAY_TYPES)})")
    if display != "CNY":
        return Site(per_unit, display)
    rate = common.amount(common.dig(body, "data.usd_exchange_rate"), "data.usd_exchange_rate")
    if rate <= 0:
        raise ProviderError(f"usd_exchange_rate is {rate}, not a positive number")
    return Site(per_unit, display, rate)


def _has_token_usage(response: Response) -> bool:
    """False when the relay has no usable ``/api/usage/token``: 404, 429, a page that is not JSON, or a
    2xx JSON answer of another shape. Errors it reports itself (401, an error in a 200) are its answer."""
    if response.status in (404, 429):
        return False
    body = common.json_body(response)
    if body is None:
        return False
    if 200 <= response.status < 300 and isinstance(body, dict) and not body.get("error") \
            and body.get("success") is not False:
        data = body.get("data")
        return isinstance(data, dict) and data.get("object") == "token_usage"
    return True


def _from_billing(account: Account, http: HttpClient, base: str) -> Snapshot:
    # The billing routes answer in the site's display units: dollars, yuan, or raw quota (TOKENS).
    site = _site_or_none(http, base)
    currency = account.currency or (site.currency if site else "USD")
    snapshot = openai_billing.fetch(dataclasses.replace(account, base_url=base, currency=currency), http)
    if site is None or site.display != "TOKENS":
        return snapshot

    def scaled(value: Decimal | None) -> Decimal | None:
        return None if value is None else site.money(value)

    return dataclasses.replace(snapshot, balance=scaled(snapshot.balance), used=scaled(snapshot.used),
                               total=scaled(snapshot.total))


def site(http: HttpClient, base: str) -> Site:
    """The relay's units from its ``/api/status``, asked once per run and host; ``ProviderError`` if unreadable."""
    return _site(http, base)


def _site(http: HttpClient, base: str) -> Site:
    found = http.cached(f"new-api: /api/status of {base}", lambda: _load_site(http, base))
    if isinstance(found, Site):
        return found
    raise ProviderError(str(found))


def _site_or_none(http: HttpClient, base: str) -> Site | None:
    try:
        return _site(http, base)
    except ProviderError:
        return None


def _load_site(http: HttpClient, base: str) -> Site | str:
    # A failure is cached too (as its message): one broken /api/status is asked once per run, not per key.
    try:
        return site_from_status(common.get_json(http, f"{base}/api/status", {}))
    except ProviderError as exc:
        return f"cannot read the relay's units from /api/status: {exc}"


def _rate_limited_hosts(http: HttpClient) -> set[str]:
    found = http.cached(_RATE_LIMITED, set)
    assert isinstance(found, set)
    return found
