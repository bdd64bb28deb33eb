"""SiliconFlow: ``GET /v1/user/info``; ``code`` 20000 means ok, ``data.totalBalance`` is a string, in CNY.

SiliconFlow retired ``/v1/user/info`` (HTTP 410 since 2026-08; reference/operators.md §3) and offers API keys
no other way to read a balance. A 410, or an answer that says the endpoint stopped, is reported as
``RETIRED``: a permanent state of the account, not a wrong key. A host that still answers code 20000 (a
mirror, a proxy, the service changing its mind) keeps working.
"""

from __future__ import annotations

import re
from typing import Any

from monitor.http import HttpClient, Response
from monitor.providers import base_url, common
from monitor.settings import Account
from monitor.snapshot import ProviderError, Snapshot

OK = 20000
RETIRED = ("SiliconFlow no longer reports balances to API keys (/v1/user/info is retired); "
           "watch the balance in the SiliconFlow console and remove this account")
# How an answer says the endpoint is gone (the 410's body is not documented: its words, in either language).
# Not "停用" or "disabled": those are what a disabled key or account is called.
_RETIREMENT = re.compile(r"停止服务|下线|废弃|retired|deprecated|discontinued|decommissioned|sunset|"
                         r"no longer (?:available|supported)", re.I)


def fetch(account: Account, http: HttpClient) -> Snapshot:
    response = http.get(f"{base_url(account)}/v1/user/info", common.bearer(account.api_key))
    try:
        body = common.parse(response)
        return from_answer(body, account.currency or "CNY")
    except ProviderError:
        if is_retired(response):
            raise ProviderError(RETIRED) from None
        raise


def is_retired(response: Response) -> bool:
    """A 410, or a refusal whose message says the endpoint stopped (never an answer that holds a balance)."""
    if response.status == 410:
        return True
    message = common.error_message(common.json_body(response))
    if message is None and response.content_type.split(";")[0].strip().lower() == "text/plain":
        message = response.body.decode("utf-8", "replace")
    return bool(message and _RETIREMENT.search(message))


def from_answer(body: Any, currency: str) -> Snapshot:
    """``totalBalance`` is the granted ``balance`` plus the topped-up ``chargeBalance``; no usage is reported."""
    common.dig(body, "code")  # an answer without it is not SiliconFlow's
    common.expect(body, "code", OK)
    balance = common.amount(common.dig(body, "data.totalBalance"), "data.totalBalance")
    return Snapshot(currency=currency, balance=balance)
