"""A loopback LiteLLM proxy that answers its admin lists as reference/operators.md §2 describes.

``GET /key/list`` (``page`` from 1, ``size`` 1–100, ``return_full_object``: hashed token strings without it),
``GET /team/list`` (a bare list, or the paginated ``{"teams": …}`` shape of newer versions), and LiteLLM's
errors (``{"error": {"message", "type", "param", "code"}}``, ``code`` a string): a wrong master key is a 401.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.emulators import Answer, LoopbackServer, Request, json_answer


@dataclass
class Key:
    secret: str  # the virtual key itself (sk-…): never in an answer, only its hash
    alias: str | None = None
    spend: Decimal = Decimal(0)
    max_budget: Decimal | None = None
    blocked: bool | None = None
    team_id: str | None = None

    @property
    def token(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()

    def row(self) -> dict[str, Any]:
        return {"token": self.token, "key_name": f"sk-...{self.secret[-4:]}", "key_alias": self.alias,
                "spend": float(self.spend), "max_budget": None if self.max_budget is None else float(self.max_budget),
                "budget_duration": None, "budget_reset_at": None, "expires": None, "team_id": self.team_id,
                "user_id": None, "models": [], "blocked": self.blocked}


@dataclass
class Team:
    team_id: str
    alias: str | None = None
    spend: Decimal = Decimal(0)
    max_budget: Decimal | None = None
    blocked: bool = False

    def row(self) -> dict[str, Any]:
        return {"team_id": self.team_id, "team_alias": self.alias, "spend": float(self.spend),
                "max_budget": None if self.max_budget is None else float(self.max_budget),
                "budget_duration": None, "budget_reset_at": None, "models": [], "blocked": self.blocked,
                "members_with_roles": []}


@dataclass
class LiteLLMAdminEmulator(LoopbackServer):
    master_key: str
    keys: list[Key] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    team_pages: bool = False  # True: /team/list answers the paginated {"teams": …} shape

    def __post_init__(self) -> None:
        super().__init__()

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def handle(self, request: Request) -> Answer:
        split = urlsplit(request.path)
        path, query = split.path, {k: v[-1] for k, v in parse_qs(split.query).items()}
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if given != self.master_key:
            return _error(401, "Authentication Error, Invalid proxy server token passed. Unable to find token "
                          "in cache or `LiteLLM_VerificationTokenTable`", "auth_error")
        if path == "/key/list":
            page, size = int(query.get("page", "1")), int(query.get("size", "10"))
            if page < 1 or not 1 <= size <= 100:
                return _error(422, "page must be >= 1 and size between 1 and 100", "bad_request_error")
            full = query.get("return_full_object", "false") == "true"
            chunk = self.keys[(page - 1) * size: page * size]
            return json_answer(200, {"keys": [k.row() if full else k.token for k in chunk],
                                     "total_count": len(self.keys), "current_page": page,
                                     "total_pages": -(-len(self.keys) // size)})
        if path == "/team/list":
            rows = [t.row() for t in self.teams]
            if self.team_pages:
                return json_answer(200, {"teams": rows, "total": len(rows), "page": 1, "page_size": len(rows) or 1,
                                         "total_pages": 1})
            return json_answer(200, rows)
        return _error(404, "Not Found", "not_found_error")


def _error(status: int, message: str, kind: str) -> Answer:
    return json_answer(status, {"error": {"message": message, "type": kind, "param": None, "code": str(status)}})
