"""A relay site as its admin sees it (one-api, new-api, one-hub, done-hub): every upstream channel and user.

Reads ``GET /api/channel/`` and ``GET /api/user/`` (every page, in each fork's paging and shape) with the
admin's system access token and, for new-api, the ``New-Api-User`` header (``user_header``). With
``refresh: true`` each enabled channel's upstream is first asked for a fresh balance through
``GET /api/channel/update_balance/<id>``, one request per channel, at most ``per_host`` at once.

Never requested: the bulk ``/api/channel/update_balance`` (it disables every channel whose balance reads 0
or less) and ``/api/user/token`` (it issues a new admin token and kills the old one).

Rows carry secrets (a user's ``access_token``, a channel's upstream ``key``): only the fields named below
are read, rows are never logged, and each such value goes to the run's redactor all the same, so no
message (an upstream's error echoing its key) can show one.

Currency of a channel's balance: the relay stores the number its upstream reported, without a unit
(reference/operators.md §1c). It is US dollars for every type except DeepSeek and SiliconFlow, whose
balance is yuan, unconverted; those types are labelled CNY (their numbers differ between forks, see
``_CNY_TYPES``). A user's quota is shown as the site shows it (``/api/status``, as the ``new-api`` provider).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from monitor import checks
from monitor.checks import nonempty, rule
from monitor.http import HttpClient
from monitor.providers import base_url, common, new_api
from monitor.redact import mask
from monitor.schema import setting
from monitor.settings import Account, ProviderKeys
from monitor.snapshot import Item, ProviderError, Snapshot

PAGE_SIZE = 100  # one-hub and done-hub refuse more than 100
MAX_PAGES = 1000  # 100,000 rows (one-api: 10,000): more is a relay that ignores the page number
NOT_AVAILABLE = "balance not available"
# Channel types whose upstream balance is yuan, by fork (reference/operators.md §1c). In the list shapes
# of one-api and new-api: DeepSeek is 36 in one-api and 43 in new-api, SiliconFlow 44 and 40; each number
# is, in the other fork, a type without a balance endpoint (Suno, MokaAI, Doubao, Proxy), so the union
# never mislabels a balance. one-hub and done-hub (their own shape): DeepSeek 28, SiliconFlow 45.
_CNY_TYPES = {"list": frozenset({36, 40, 43, 44}), "items": frozenset({36, 40, 43, 44}), "data": frozenset({28, 45})}
_UNSUPPORTED = re.compile(r"尚未实现|未实现|不支持|not implemented|not supported|unsupported", re.I)
_DISABLED_NOTES = {2: "channel disabled", 3: "channel disabled by the relay"}
_MAX_NAME = 60


WATCHABLE = ("channels", "users")


def _watch(value: Any) -> tuple[str, ...]:
    found = checks.string_list(value)
    for item in found:
        if item not in WATCHABLE:
            close = difflib.get_close_matches(item, WATCHABLE, n=1, cutoff=0.6)
            raise ValueError(f"{item!r} is not channels or users" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if not found:
        raise ValueError("must list channels, users or both")
    return tuple(dict.fromkeys(found))


def _user_id(value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else nonempty(value).strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError("must be the admin's numeric user id (e.g. 1), not a user name")
    return text


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {checks.type_name(value)}")
    return value


@dataclass(frozen=True)
class NewApiAdminKeys(ProviderKeys):
    """A relay site as its admin sees it (reference/operators.md §1): the admin's system access token
    (系统访问令牌, instead of an api_key), the admin's numeric user id sent as ``user_header`` (forks renamed
    it), what to watch, whether each channel's balance is refreshed first, and the users' threshold."""

    access_token: str | None = field(default=None, metadata=setting(nonempty, secret=True, required=True))
    user_id: str | None = field(default=None, metadata=setting(_user_id, secret=False))
    user_header: str = field(default="New-Api-User", metadata=setting(rule(
        nonempty, lambda text: re.fullmatch(r"[A-Za-z0-9-]+", text),
        lambda text: f"must be an HTTP header name such as New-Api-User, not {text!r}"), secret=False))
    watch: tuple[str, ...] = field(default=("channels",), metadata=setting(_watch, secret=False))
    refresh: bool = field(default=False, metadata=setting(_boolean))
    user_low_balance: Decimal | None = field(default=None, metadata=setting(checks.money))  # else low_balance


KEYS = NewApiAdminKeys


def credential(account: Account) -> str:
    """check-config's account line: how the entry signs in (masked) and what it watches."""
    keys = account.keys(NewApiAdminKeys)
    header = f", {keys.user_header}: {keys.user_id}" if keys.user_id else ""
    refresh = ", refreshes each channel's balance first" if keys.refresh else ""
    return f"access token {mask(keys.access_token or '')}{header}; watches {' and '.join(keys.watch)}{refresh}"


@dataclass(frozen=True)
class _Page:
    shape: str  # "list" (one-api, new-api 2025-04 channels: p from 0), "items" (new-api), "data" (one-hub)
    rows: list[dict[str, Any]]
    total: int | None  # rows in all pages, where the answer says
    size: int | None  # rows per page, where the answer says


def fetch(account: Account, http: HttpClient) -> list[Item]:
    """The site (``kind`` "site"), then its channels and users. A list that cannot be read makes the site
    item fail with the reason; when nothing could be read the whole entry fails (``ProviderError``)."""
    base = base_url(account)
    keys = account.keys(NewApiAdminKeys)
    headers = _headers(keys)
    secrets: list[str] = []  # what the rows carry, handed to the redactor at once (one compile, not two)
    parts: list[tuple[str, Callable[[], list[Item]]]] = []
    if "channels" in keys.watch:
        parts.append(("channels", lambda: _channels(keys.refresh, http, base, headers, secrets)))
    if "users" in keys.watch:
        parts.append(("users", lambda: _users(http, base, headers, secrets, keys.user_low_balance)))
    outcomes = http.together(*(common.caught(call, _explained) for _, call in parts))
    if secrets:
        http.redactor.add(*secrets)  # before any item's error is shown (collect redacts them)
    return common.site_items(account.name, "USD",
                             [(what, found, error) for (what, _), (found, error) in zip(parts, outcomes)])


def _explained(message: str) -> str:
    """The relay's own refusal, with what to change in the config when it says."""
    if "New-Api-User" in message:
        return f"{message} (set user_id to the admin's numeric user id)"
    if "access token" in message:
        return f"{message} (access_token must be the admin's system access token, not an sk- key)"
    return message


def _headers(keys: NewApiAdminKeys) -> dict[str, str]:
    # The bare token: one-api and new-api also accept "Bearer <token>", but not every fork strips it.
    headers = {"Authorization": keys.access_token or ""}
    if keys.user_id:
        headers[keys.user_header] = keys.user_id
    return headers


# --- paging ------------------------------------------------------------------------------------------


def _rows(http: HttpClient, base: str, path: str, headers: Mapping[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """Every row of an admin list, whatever the fork's paging; each id once. Returns (shape, rows)."""
    # The first page under every fork's parameters: new-api's p (from 0 in old lists, from 1 where the
    # answer has items: 0 counts as 1), one-hub's page and size. Unknown parameters are ignored.
    first = _page(http, f"{base}{path}?p=0&page_size={PAGE_SIZE}&page=1&size={PAGE_SIZE}&id_sort=true", headers)
    pages = [first]
    if first.total is None:  # one-api, new-api 2025-04 channels (or a page without its total)
        pages += _until_empty(http, base, path, headers, first)
    elif first.rows:
        count = math.ceil(first.total / (first.size or len(first.rows)))
        if count > MAX_PAGES:
            raise ProviderError(f"{path} lists {first.total} rows, more than {MAX_PAGES} pages")
        if count > 1:
            pages += http.together(*(_getter(http, _url(base, path, first.shape, n), headers)
                                     for n in range(2, count + 1)))
    seen: dict[int, dict[str, Any]] = {}
    for page in pages:
        for row in page.rows:
            ident = row.get("id")
            if isinstance(ident, int) and not isinstance(ident, bool):
                seen.setdefault(ident, row)
    return first.shape, [seen[ident] for ident in sorted(seen)]


def _until_empty(http: HttpClient, base: str, path: str, headers: Mapping[str, str], first: _Page) -> list[_Page]:
    """The pages after the first of a list that does not say how long it is (one-api: 10 rows a page,
    whatever is asked), fetched ``per_host`` at a time until one is empty or brings nothing new."""
    found: list[_Page] = []
    known = {row.get("id") for row in first.rows}
    batch = max(http.settings.per_host, 1)
    number = 1 if first.shape == "list" else 2  # new-api's list counts pages from 0; the paged answers from 1
    while first.rows:
        if number > MAX_PAGES:
            raise ProviderError(f"{path} has more than {MAX_PAGES} pages")
        pages: list[_Page] = http.together(*(_getter(http, _url(base, path, first.shape, n), headers)
                                             for n in range(number, number + batch)))
        number += batch
        for page in pages:
            ids = {row.get("id") for row in page.rows}
            if not page.rows or ids <= known:
                return found
            known |= ids
            found.append(page)
    return found


def _url(base: str, path: str, shape: str, number: int) -> str:
    if shape == "data":
        return f"{base}{path}?page={number}&size={PAGE_SIZE}"
    return f"{base}{path}?p={number}&page_size={PAGE_SIZE}&id_sort=true"


def _getter(http: HttpClient, url: str, headers: Mapping[str, str]) -> Callable[[], _Page]:
    return lambda: _page(http, url, headers)


def _page(http: HttpClient, url: str, headers: Mapping[str, str]) -> _Page:
    body = common.get_json(http, url, headers)
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list):
        return _Page("list", _objects(data), None, None)
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return _Page("items", _objects(data["items"]), _count(data.get("total")), _count(data.get("page_size")))
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return _Page("data", _objects(data["data"]), _count(data.get("total_count")), _count(data.get("size")))
    if data is None and isinstance(body, dict) and "data" in body:
        return _Page("list", [], None, None)  # an empty list answers data: null in some versions
    raise ProviderError("answer of an unknown shape (data is neither a list nor a page of items)")


def _objects(rows: list[Any]) -> list[dict[str, Any]]:
    return [row for row in rows if isinstance(row, dict)]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _secrets(rows: list[dict[str, Any]], field: str) -> list[str]:
    """Every secret the rows carry in ``field``, for the run's redactor (never shown, whatever echoes it)."""
    found: list[str] = []
    for row in rows:
        value = row.get(field)
        if isinstance(value, str) and value.strip():
            found += [value, *value.split("\n")]  # a multi-key channel holds one key per line
    return found


def _name(value: Any, ident: int) -> str:
    text = " ".join("".join(c if c.isprintable() else " " for c in str(value or "")).split())
    if len(text) > _MAX_NAME:
        text = text[: _MAX_NAME - 1] + "…"
    return text or f"#{ident}"


# --- channels ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Refreshed:
    balance: Decimal | None = None  # None: the relay cannot read this channel's balance
    error: str | None = None


def _channels(refresh: bool, http: HttpClient, base: str, headers: Mapping[str, str],
              secrets: list[str]) -> list[Item]:
    shape, rows = _rows(http, base, "/api/channel/", headers)
    secrets += _secrets(rows, "key")
    fresh = _refresh(http, base, headers, rows) if refresh else {}
    names = [_name(row.get("name"), row["id"]) for row in rows]
    repeated = {n for n in names if names.count(n) > 1} if len(set(names)) < len(names) else set()
    now = time.time()
    items = []
    for row, name in zip(rows, names):
        if name in repeated or name.startswith("@"):  # two channels of one name, or one that reads as a user
            name = f"{name}#{row['id']}"
        items.append(_channel(row, name, fresh.get(row["id"]), _CNY_TYPES[shape], now))
    return items


def _channel(row: dict[str, Any], name: str, fresh: _Refreshed | None, cny: frozenset[int], now: float) -> Item:
    ident = f"channel:{row['id']}"
    currency = "CNY" if row.get("type") in cny else "USD"
    status = row.get("status")
    disabled = status in _DISABLED_NOTES
    note = _DISABLED_NOTES.get(status) if isinstance(status, int) else None
    if fresh is not None and fresh.error is not None:
        return Item("channel", name, ident, None, fresh.error)
    try:
        if fresh is not None:
            balance = fresh.balance
        else:
            updated = _count(row.get("balance_updated_time"))  # Unix seconds
            # Never refreshed (0 or absent): the 0 in ``balance`` is no reading. Types without a balance
            # endpoint never are.
            balance = common.amount(row.get("balance"), "balance") if updated else None
            if updated and not disabled:
                note = _age(now - updated) or note
    except ProviderError as exc:
        return Item("channel", name, ident, None, str(exc))
    if balance is None and not disabled:
        note = NOT_AVAILABLE
    return Item("channel", name, ident, Snapshot(currency, balance, note=note, disabled=disabled))


def _age(seconds: float) -> str | None:
    days = int(seconds // 86400)
    return f"balance last refreshed {days} days ago" if days >= 1 else None


def _refresh(http: HttpClient, base: str, headers: Mapping[str, str],
             rows: list[dict[str, Any]]) -> dict[int, _Refreshed | None]:
    """A fresh balance for each enabled channel, one request per channel, ``per_host`` at a time.

    A channel left when the run's time is nearly up is not refreshed (None): it keeps the balance the
    list gave, so slow upstreams cost a stale number, never the whole site."""
    ids = [row["id"] for row in rows if row.get("status") == 1]
    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=min(max(http.settings.per_host, 1), len(ids)),
                            thread_name_prefix="balance-refresh") as pool:
        return dict(zip(ids, pool.map(lambda ident: _refresh_one(http, base, headers, ident), ids)))


def _refresh_one(http: HttpClient, base: str, headers: Mapping[str, str], ident: int) -> _Refreshed | None:
    left = http.remaining()
    if left is not None and left < http.settings.timeout_seconds + 1:  # room for one more request, and then some
        return None
    # Only ever with an id: the bulk route disables every channel whose balance reads 0 or less.
    url = f"{base}/api/channel/update_balance/{int(ident)}"
    try:
        response = http.get(url, headers)
        body = common.json_body(response)
        if isinstance(body, dict) and body.get("success") is False and 200 <= response.status < 300:
            message = common.error_message(body) or "unspecified"
            if _UNSUPPORTED.search(message):
                return _Refreshed()
            return _Refreshed(error=f"balance refresh failed: {message}")
        body = common.parse(response)
        value = body.get("balance") if isinstance(body, dict) else None
        # new-api answers plan usage (Zhipu, MiniMax) or a raw response instead of a balance for some types.
        return _Refreshed(None if value is None else common.amount(value, "balance"))
    except ProviderError as exc:
        return _Refreshed(error=f"balance refresh failed: {exc}")


# --- users -------------------------------------------------------------------------------------------


def _users(http: HttpClient, base: str, headers: Mapping[str, str], secrets: list[str],
           low_balance: Decimal | None) -> list[Item]:
    site_units, (_, rows) = http.together(lambda: new_api.site(http, base),
                                          lambda: _rows(http, base, "/api/user/", headers))
    secrets += _secrets(rows, "access_token")
    items = []
    for row in rows:
        if row.get("DeletedAt") or row.get("deleted_at"):
            continue  # new-api 2025-04 lists deleted users too
        items.append(dataclasses.replace(_user(row, site_units), low_balance=low_balance))
    return items


def _user(row: dict[str, Any], site: new_api.Site) -> Item:
    name = "@" + _name(row.get("username"), row["id"])
    ident = f"user:{row['id']}"
    disabled = row.get("status") == 2
    try:
        balance = site.money(common.amount(row.get("quota"), "quota"))
        used = site.money(common.amount(row.get("used_quota", 0), "used_quota"))
    except ProviderError as exc:
        return Item("user", name, ident, None, str(exc))
    snapshot = Snapshot(site.currency, balance, used, common.exact("+", balance, used),
                        note="user disabled" if disabled else None, disabled=disabled)
    return Item("user", name, ident, snapshot)
