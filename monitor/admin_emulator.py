"""A loopback relay that answers its admin API as one-api, new-api (2025-04 and newer) and one-hub do.

Built from ``shared/reference/operators.md`` §1: the access token and ``New-Api-User`` checks (401s, and
HTTP 200 with ``success: false``), each fork's paging and ``data`` shape, rows that carry secrets (a user's
``access_token``, a channel's ``key`` where asked), the per-channel balance refresh and the bulk refresh that
disables every channel whose balance reads 0 or less. For the tests, the demo and the benchmark.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.emulators import Answer, LoopbackServer, Request, json_answer

FLAVOURS = ("one-api", "new-api-2025", "new-api", "one-hub")
UNSUPPORTED = "unsupported"  # what Channel.refresh says for a type without a balance endpoint


@dataclass
class Channel:
    id: int
    name: str
    type: int = 1
    status: int = 1  # 1 enabled, 2 disabled by hand, 3 disabled by the relay
    balance: Decimal = Decimal(0)  # in the upstream's unit
    updated: int = 0  # balance_updated_time, Unix seconds; 0 = never refreshed
    key: str = ""
    # What /api/channel/update_balance/<id> finds upstream: a balance, UNSUPPORTED, or an error message.
    refresh: Decimal | str | None = None

    def row(self, with_key: bool) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type, "status": self.status,
                               "balance": float(self.balance), "balance_updated_time": self.updated,
                               "used_quota": 0, "group": "default", "tag": None}
        if with_key:
            row["key"] = self.key
        return row


@dataclass
class User:
    id: int
    username: str
    quota: int  # raw quota units left
    used_quota: int = 0
    status: int = 1  # 1 enabled, 2 disabled
    access_token: str = ""

    def row(self, with_token: bool) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id, "username": self.username, "display_name": self.username,
                               "role": 1, "status": self.status, "quota": self.quota,
                               "used_quota": self.used_quota, "request_count": 0, "group": "default"}
        if with_token:
            row["access_token"] = self.access_token
        return row


@dataclass
class RelayAdminEmulator(LoopbackServer):
    token: str
    flavour: str = "new-api"
    admin_id: int = 1
    channels: list[Channel] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    latency: float = 0.0  # seconds before each answer
    admin: bool = True  # False: the token's owner is an ordinary user (权限不足)
    keys_in_rows: bool = False  # channel rows that carry the upstream key
    totals: bool = True  # False: pages without their total (a version or proxy that leaves it out)
    status: dict[str, Any] = field(default_factory=lambda: {"quota_per_unit": 500000, "display_in_currency": True})
    bulk_refreshes: int = 0  # requests of the bulk refresh, which must never come
    refreshing: int = 0
    most_refreshing: int = 0  # the most per-channel refreshes in flight at once

    def __post_init__(self) -> None:
        super().__init__()
        assert self.flavour in FLAVOURS
        self._guard = threading.Lock()

    def paths(self) -> list[str]:
        return [urlsplit(r.path).path for r in self.requests]

    def handle(self, request: Request) -> Answer:
        refreshing = urlsplit(request.path).path.startswith("/api/channel/update_balance/")
        if refreshing:
            with self._guard:
                self.refreshing += 1
                self.most_refreshing = max(self.most_refreshing, self.refreshing)
        try:
            if self.latency:
                time.sleep(self.latency)
            return self._handle(request)
        finally:
            if refreshing:
                with self._guard:
                    self.refreshing -= 1

    def _handle(self, request: Request) -> Answer:
        split = urlsplit(request.path)
        path, query = split.path, {k: v[-1] for k, v in parse_qs(split.query).items()}
        if path == "/api/status":
            return json_answer(200, {"success": True, "message": "", "data": self.status})
        refused = self._refused(request)
        if refused:
            return refused
        if path == "/api/user/token":  # issues a new token and kills the old one, as the real relay does
            self.token = "regenerated-" + self.token
            return json_answer(200, {"success": True, "message": "", "data": self.token})
        if path in ("/api/channel/update_balance", "/api/channel/update_balance/"):
            return self._bulk()
        if path.startswith("/api/channel/update_balance/"):
            return self._refresh(path.rsplit("/", 1)[1])
        if path == "/api/channel/":
            return self._list([c.row(self.keys_in_rows) for c in self.channels], query, channels=True)
        if path == "/api/user/":
            tokens = self.flavour in ("one-api", "new-api-2025")  # rows minus the password only
            return self._list([u.row(tokens) for u in self.users], query, channels=False)
        return 200, {"Content-Type": "text/html"}, b"<!doctype html><title>New API</title>"  # the web UI

    def _refused(self, request: Request) -> Answer | None:
        given = request.headers.get("authorization", "")
        if not given:
            return _error(401, "无权进行此操作，未登录且未提供 access token")
        if given.removeprefix("Bearer ") != self.token:
            return _error(200, "无权进行此操作，access token 无效")
        if self.flavour.startswith("new-api"):
            user = request.headers.get("new-api-user")
            if user is None:
                return _error(401, "无权进行此操作，未提供 New-Api-User")
            if not user.strip().isdigit():
                return _error(401, "无权进行此操作，New-Api-User 格式错误")
            if int(user) != self.admin_id:
                return _error(401, "无权进行此操作，New-Api-User 与登录用户不匹配")
        if not self.admin:
            return _error(200, "无权进行此操作，权限不足")
        return None

    def _list(self, rows: list[dict[str, Any]], query: dict[str, str], channels: bool) -> Answer:
        def number(name: str, default: int) -> int:
            try:
                return int(query.get(name, default))
            except ValueError:
                return default

        if self.flavour == "one-hub":
            n, size = max(number("page", 1), 1), number("size", 10)
            if size > 100:
                return _error(200, "size 参数不能超过 100")
            chunk = rows[(n - 1) * size: n * size]
            return _ok({"data": chunk, "page": n, "size": size, "total_count": len(rows)})
        if self.flavour == "one-api" or (self.flavour == "new-api-2025" and channels):
            size = 10 if self.flavour == "one-api" else number("page_size", 0)  # 2025-04: absent gives none
            p = number("p", 0)
            return _ok(rows[p * size: (p + 1) * size])
        p, size = max(number("p", 1), 1), number("page_size", 10)
        size = size if size > 0 else 10
        page: dict[str, Any] = {"items": rows[(p - 1) * size: p * size], "total": len(rows), "page": p,
                                "page_size": size}
        if channels and self.flavour == "new-api":
            page["type_counts"] = {}
        if not self.totals:
            del page["total"]
        return _ok(page)

    def _refresh(self, ident: str) -> Answer:
        channel = next((c for c in self.channels if str(c.id) == ident), None)
        if channel is None:
            return _error(200, "record not found")
        found = channel.refresh if channel.refresh is not None else channel.balance
        if found == UNSUPPORTED:
            return _error(200, "尚未实现")
        if isinstance(found, str):
            return _error(200, found)
        channel.balance, channel.updated = found, int(time.time())
        return json_answer(200, {"success": True, "message": "", "balance": float(found)})

    def _bulk(self) -> Answer:
        # The real relay refreshes every enabled channel and disables each whose balance reads <= 0.
        self.bulk_refreshes += 1
        for channel in self.channels:
            if channel.status == 1 and channel.balance <= 0:
                channel.status = 3
        return json_answer(200, {"success": True, "message": ""})


def _ok(data: Any) -> Answer:
    return json_answer(200, {"success": True, "message": "", "data": data})


def _error(status: int, message: str) -> Answer:
    return json_answer(status, {"success": False, "message": message})
