"""DeepSeek: ``GET /user/balance``, one balance per currency (CNY or USD), amounts as strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from monitor.http import HttpClient
from monitor.providers import base_url, common
from monitor.settings import Account
from monitor.snapshot import ProviderError, Snapshot


def fetch(account: Account, http: HttpClient) -> Snapshot:
    body = common.get_json(http, f"{base_url(account)}/user/balance", common.bearer(account.api_key))
    return from_answer(body, account.currency)


def from_answer(body: Any, currency: str | None) -> Snapshot:
    """The entry for ``currency`` when the account names one, else the first entry of ``balance_infos``.

    DeepSeek reports no usage, so ``used`` and ``total`` are None; ``is_available: false`` (too little
    left to call the API) is still a snapshot, marked exhausted.
    """
    infos = common.dig(body, "balance_infos")
    if not isinstance(infos, list) or not all(isinstance(i, dict) for i in infos):
        raise ProviderError("field 'balance_infos' is not a list of balances")
    available = common.dig(body, "is_available")
    if not isinstance(available, bool):
        raise ProviderError("field 'is_available' is not true or false")
    note = None if available else "quota exhausted"
    if not infos:
        # A new or drained account may list no currency at all: nothing is left, in any currency.
        return Snapshot(currency=currency or "CNY", balance=Decimal(0), note=note or "no balance listed",
                        exhausted=True)
    found = [str(i.get("currency")).upper() for i in infos]
    if currency is None:
        entry = infos[0]
    elif currency in found:
        entry = infos[found.index(currency)]
    else:
        listed = ", ".join(found)
        raise ProviderError(f"answer has no {currency} balance (it lists {listed}); fix the account's currency")
    code = entry.get("currency")
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise ProviderError(f"balance entry has no currency code ({common.shorten(str(code), 20)!r})")
    balance = common.amount(common.dig(entry, "total_balance"), "total_balance")
    return Snapshot(currency=code.upper(), balance=balance, note=note, exhausted=not available)
