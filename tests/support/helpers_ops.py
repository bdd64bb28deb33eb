"""Helpers for the ops tests: a synthetic ten-day history in the SPEC's record format, a heartbeat
receiver, and reading a terminal table by display columns."""

from __future__ import annotations

import json
import os
import socket
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.emulators import LoopbackServer, Request, json_answer
from monitor.redact import fingerprint
from tests.conftest import MAIN_KEY, SPARE_KEY

ZONE = ZoneInfo("Asia/Shanghai")
STEP = timedelta(hours=12)
OFFSET = timedelta(minutes=10)  # records sit 10 minutes off the 12-hour grid: none falls on the 7-day edge
CJK_ACCOUNT = "深度求索"


@dataclass
class Synthetic:
    """The records, and what a person would compute from them by hand: each step between two
    consecutive snapshots of an account, dated by the later one (time, kind, amount)."""

    records: list[dict[str, Any]]
    steps: dict[str, list[tuple[datetime, str, Decimal]]] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def time_of(self, k: int) -> datetime:
        """The time of the k-th snapshot before ``now`` (k = 1 is the latest)."""
        return self.now - STEP * k - OFFSET

    def per_day(self, account: str) -> dict[date, tuple[Decimal, set[str]]]:
        days: dict[date, tuple[Decimal, set[str]]] = {}
        for moment, kind, amount in self.steps[account]:
            day = moment.astimezone(ZONE).date()
            total, events = days.get(day, (Decimal(0), set()))
            if kind == "usage":
                total += amount
            else:
                events = events | {kind}
            days[day] = (total, events)
        return days


def record(moment: datetime, account: str, fp: str | None, provider: str, currency: str,
           balance: Decimal | None, used: Decimal | None, total: Decimal | None) -> dict[str, Any]:
    def text(v: Decimal | None) -> str | None:
        return None if v is None else f"{v:.4f}"

    return {"time": moment.astimezone(timezone.utc).isoformat(timespec="seconds"), "account": account,
            "key_fingerprint": fp, "provider": provider, "ok": True, "currency": currency,
            "balance": text(balance), "used": text(used), "total": text(total), "unlimited": False, "error": None}


def synthetic_history(days: int = 10, reset_at: int = 6, topup_at: int = 4,
                      now: datetime | None = None) -> Synthetic:
    """Two snapshots a day for ``days`` days, ending 12 h 10 min before ``now``:

    - ``main`` (the relay's main key): used grows $0.50 a step; at snapshot ``reset_at`` the relay's
      counter was reset (used drops from $18.50 on a $30 grant to a new $20 grant). Its latest snapshot
      has used $7.16, so the relay's $7.66 continues the series with one more $0.50 step.
    - ``spare``: used grows $0.25 a step, ending at $9.75 (the relay answers $10).
    - ``深度求索``: a balance-only account (no ``used``), ¥2 a step, topped up ¥100 at ``topup_at``.
    """
    synthetic = Synthetic([], now=now or datetime.now(timezone.utc))
    count = days * 2
    main_fp, spare_fp = fingerprint(MAIN_KEY), fingerprint(SPARE_KEY)
    balance_cny = Decimal(150)
    for k in range(count, 0, -1):  # oldest first
        moment = synthetic.time_of(k)
        if k > reset_at:
            used = Decimal("18.50") - Decimal("0.5") * (k - reset_at - 1)
            main = record(moment, "main", main_fp, "openai-billing", "USD", Decimal(30) - used, used, Decimal(30))
        else:
            used = Decimal("7.66") - Decimal("0.5") * k
            main = record(moment, "main", main_fp, "openai-billing", "USD", Decimal(20) - used, used, Decimal(20))
        spare_used = Decimal("10") - Decimal("0.25") * k
        spare = record(moment, "spare", spare_fp, "openai-billing", "USD", Decimal(50) - spare_used, spare_used,
                       Decimal(50))
        if k == topup_at:
            balance_cny += Decimal(100)
        elif k != count:
            balance_cny -= Decimal(2)
        cny = record(moment, CJK_ACCOUNT, "5d1c0e77", "deepseek", "CNY", balance_cny, None, None)
        synthetic.records += [main, spare, cny]
        if k != count:
            synthetic.steps.setdefault("main", []).append(
                (moment, "reset" if k == reset_at else "usage", Decimal("0.5")))
            synthetic.steps.setdefault("spare", []).append((moment, "usage", Decimal("0.25")))
            synthetic.steps.setdefault(CJK_ACCOUNT, []).append(
                (moment, "topup" if k == topup_at else "usage", Decimal(100) if k == topup_at else Decimal(2)))
    return synthetic


def write_history(path: Path, records: list[dict[str, Any]]) -> None:
    """A history file of the earlier release (the v1 document), mode 0600: the first run imports it."""
    path.write_text(json.dumps({"version": 1, "records": records}, ensure_ascii=False, indent=1), encoding="utf-8")
    os.chmod(path, 0o600)


# --- a heartbeat receiver ------------------------------------------------------------------------------


class HeartbeatServer(LoopbackServer):
    """Answers every GET with 200 "OK", as Healthchecks.io does; ``requests`` records them."""

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        return json_answer(200, "OK")


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --- reading a terminal table --------------------------------------------------------------------------


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def columns_of(rule: str) -> list[tuple[int, int]]:
    """The display-column spans of a table from its rule line (``----  ------  ---``)."""
    spans, start = [], None
    for i, c in enumerate(rule + " "):
        if c == "-" and start is None:
            start = i
        elif c != "-" and start is not None:
            spans.append((start, i))
            start = None
    return spans


def cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    """The cells of one table line, cut at display columns (a CJK character is two columns wide)."""
    by_column: list[str] = []
    for c in line:
        by_column.append(c)
        if display_width(c) == 2:
            by_column.append("")  # the second half of a wide character
    return ["".join(by_column[a:b]).strip() for a, b in spans]
