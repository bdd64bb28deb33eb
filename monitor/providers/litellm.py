"""LiteLLM proxy, one virtual key: ``GET {base_url}/key/info`` with the key itself (reference/operators.md §2); USD.

The key's own budget is enforced only on LLM routes, so an over-budget key still reads its numbers here;
an expired key gets a 400 and an unknown one a 401, both failures ("unknown", never a balance of 0).
"""

from __future__ import annotations

from typing import Any

from monitor.http import HttpClient
from monitor.providers import base_url, common
from monitor.settings import Account
from monitor.snapshot import ProviderError, Snapshot


def fetch(account: Account, http: HttpClient) -> Snapshot:
    body = common.get_json(http, f"{base_url(account)}/key/info", common.bearer(account.api_key))
    return from_answer(body, account.currency or "USD")


def from_answer(body: Any, currency: str, what: str = "key") -> Snapshot:
    """used = ``info.spend``, total = ``info.max_budget``, balance = total − used; a null budget is unlimited.

    With a ``budget_duration`` LiteLLM sets ``spend`` back to 0 at each ``budget_reset_at``: ``used`` going
    down is the reset the usage maths already knows, never negative usage. Spend beyond the budget gives a
    negative balance (noted, and alerted as exhausted), as does a ``blocked`` key (which can spend nothing).
    The answer is ``{"key": …, "info": {…}}``; the older flat object (``spend`` at the top) is read too, as
    are the rows of ``/key/list`` and ``/team/list`` (``litellm-admin``: ``what`` names them in the notes).
    """
    flat = isinstance(body, dict) and "info" not in body and "spend" in body
    where = "" if flat else "info."
    info = body if flat else common.dig(body, "info")
    if not isinstance(info, dict):
        raise ProviderError("field 'info' is not an object")
    used = common.amount(common.dig(body, f"{where}spend"), f"{where}spend")
    budget = common.optional_amount(body, f"{where}max_budget")
    blocked = info.get("blocked") is True
    if budget is None:
        return Snapshot(currency=currency, balance=None, used=used, unlimited=True,
                        note=f"{what} blocked" if blocked else None, exhausted=blocked)
    balance = common.exact("-", budget, used)
    spent = balance <= 0
    note = f"{what} blocked" if blocked else f"{what} budget reached" if spent else None
    return Snapshot(currency=currency, balance=balance, used=used, total=budget, note=note,
                    exhausted=blocked or spent)
