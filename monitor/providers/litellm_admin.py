"""A LiteLLM proxy as its admin sees it: every virtual key and every team, with the master key.

Reads ``GET /key/list?return_full_object=true`` (every page, 100 keys a page) and ``GET /team/list`` (a bare
list, or the paginated ``{"teams": …}`` answer of newer versions) with ``Authorization: Bearer <master key>``
(reference/operators.md §2b). Each key is ``<alias>`` (else its token's short hash), each team
``team:<alias>`` (else its id); their numbers are read as the ``litellm`` provider reads one key's
(``litellm.from_answer``): used = spend, total = max_budget, balance = total − spend, no budget = unlimited,
blocked = exhausted with a note. USD.

The master key is a secret (redacted as every ``api_key``). A key row's ``token`` is the key's hash, not the
key, but only its first 8 characters are ever shown; the whole hash goes to the run's redactor all the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from monitor.http import HttpClient
from monitor.providers import base_url, common, litellm
from monitor.settings import Account
from monitor.snapshot import Item, ProviderError

PAGE_SIZE = 100  # the most /key/list gives
MAX_PAGES = 1000  # 100,000 keys: more is a proxy that ignores the page number
SHORT_HASH = 8
_MAX_NAME = 60


def fetch(account: Account, http: HttpClient) -> list[Item]:
    """The site (``kind`` "site"), then its keys and teams. A list that cannot be read makes the site item
    fail with the reason; when neither could be read the whole entry fails (``ProviderError``)."""
    base = base_url(account)
    headers = common.bearer(account.api_key)
    currency = account.currency or "USD"
    parts: list[tuple[str, Callable[[], list[Item]]]] = [
        ("keys", lambda: _keys(http, base, headers, currency)),
        ("teams", lambda: _teams(http, base, headers, currency)),
    ]
    outcomes = http.together(*(common.caught(call) for _, call in parts))
    return common.site_items(account.name, currency,
                             [(what, found, error) for (what, _), (found, error) in zip(parts, outcomes)])


# --- keys --------------------------------------------------------------------------------------------


def _keys(http: HttpClient, base: str, headers: Mapping[str, str], currency: str) -> list[Item]:
    first = _key_page(http, base, headers, 1)
    pages = [first]
    count = _count(first.get("total_pages"))
    if count is None:
        total = _count(first.get("total_count"))
        count = math.ceil(total / PAGE_SIZE) if total else 1
    if count > MAX_PAGES:
        raise ProviderError(f"/key/list has {count} pages, more than {MAX_PAGES}")
    if count > 1:
        pages += http.together(*(_key_getter(http, base, headers, n) for n in range(2, count + 1)))
    rows: dict[str, dict[str, Any]] = {}
    for page in pages:
        for row in page["keys"]:
            if isinstance(row, str):
                raise ProviderError("/key/list answered hashed tokens only (a proxy too old for "
                                    "return_full_object=true): no spend to read")
            token = row.get("token") if isinstance(row, dict) else None
            if isinstance(token, str) and token:
                rows.setdefault(token, row)
    http.redactor.add(*rows)  # hashes, not keys: never shown whole all the same
    names = [_name(row.get("key_alias")) or token[:SHORT_HASH] for token, row in rows.items()]
    repeated = {n for n in names if names.count(n) > 1}
    items = []
    for (token, row), name in zip(rows.items(), names):
        if name in repeated:  # two keys of one alias
            name = f"{name}#{token[:SHORT_HASH]}"
        items.append(_item("key", name, f"key:{token[:16]}", row, currency))
    return items


def _key_getter(http: HttpClient, base: str, headers: Mapping[str, str], number: int) -> Callable[[], dict[str, Any]]:
    return lambda: _key_page(http, base, headers, number)


def _key_page(http: HttpClient, base: str, headers: Mapping[str, str], number: int) -> dict[str, Any]:
    url = f"{base}/key/list?return_full_object=true&page={number}&size={PAGE_SIZE}"
    body = common.get_json(http, url, headers)
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise ProviderError("/key/list: answer of an unknown shape (no list of keys)")
    return body


# --- teams -------------------------------------------------------------------------------------------


def _teams(http: HttpClient, base: str, headers: Mapping[str, str], currency: str) -> list[Item]:
    body = common.get_json(http, f"{base}/team/list", headers)
    if isinstance(body, dict) and isinstance(body.get("teams"), list):  # the paginated shape (v2)
        body = body["teams"]
    if not isinstance(body, list):
        raise ProviderError("/team/list: answer of an unknown shape (no list of teams)")
    items = []
    seen: set[str] = set()
    for row in body:
        ident = row.get("team_id") if isinstance(row, dict) else None
        if not isinstance(ident, str) or not ident or ident in seen:
            continue
        seen.add(ident)
        name = _name(row.get("team_alias")) or _name(ident)
        items.append(_item("team", f"team:{name}", f"team:{ident}", row, currency))
    names = [item.name for item in items]
    return [item if names.count(item.name) == 1 else
            Item(item.kind, f"{item.name}#{item.ident.removeprefix('team:')[:SHORT_HASH]}", item.ident,
                 item.snapshot, item.error)
            for item in items]


# --- both --------------------------------------------------------------------------------------------


def _item(kind: str, name: str, ident: str, row: dict[str, Any], currency: str) -> Item:
    try:
        return Item(kind, name, ident, litellm.from_answer({"info": row}, currency, kind))
    except ProviderError as exc:
        return Item(kind, name, ident, None, str(exc))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _name(value: Any) -> str:
    text = " ".join("".join(c if c.isprintable() else " " for c in str(value or "")).split())
    return text[: _MAX_NAME - 1] + "…" if len(text) > _MAX_NAME else text
