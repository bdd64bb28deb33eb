"""The report as the SPEC's ``--json`` document, for ops scripts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.amounts import shown as money
from monitor.metrics import MetricsResult
from monitor.report import AccountReport, Report


@dataclass(frozen=True)
class Delivery:
    attempted: bool = False
    delivered: bool = False
    parts: int = 0
    error: str | None = None


def _two(value: Decimal | None) -> str | None:
    return money(value, Decimal("0.01"))


def account(a: AccountReport, report: Report) -> dict[str, Any]:
    period = None
    if a.period is not None:
        p = a.period
        period = {
            "kind": p.kind,
            "since": p.since.astimezone(report.generated_at.tzinfo).isoformat(timespec="seconds") if p.since else None,
            "elapsed_seconds": p.elapsed_seconds,
            "usage": money(p.usage),
            "topup": money(p.topup),
            "reason": p.reason,
        }
    return {
        "name": a.name,
        "provider": a.provider,
        "ok": a.ok,
        "error": a.error,
        "currency": a.currency,
        "balance": money(a.balance),
        "used": money(a.used),
        "total": money(a.total),
        "unlimited": a.unlimited,
        "note": a.note,
        "low_balance": a.low_balance,
        "low_days": a.low_days,
        "period": period,
        "burn_rate_per_day": money(a.burn_rate),
        "days_left": _two(a.days_left),
    }


def document(
    report: Report,
    exit_code: int,
    delivery: Delivery,
    history_saved: bool,
    history_warning: str | None,
    order: list[str] | None = None,
    metrics: MetricsResult | None = None,
) -> dict[str, Any]:
    """``order`` lists account names in config order (the report itself puts alerts first)."""
    accounts = list(report.accounts)
    if order is not None:
        rank = {name: i for i, name in enumerate(order)}
        accounts.sort(key=lambda a: rank.get(a.name, len(rank)))
    return {
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "exit_code": exit_code,
        "accounts": [account(a, report) for a in accounts],
        "totals": {currency: money(v) for currency, v in sorted(report.totals.items())},
        "delivery": {
            "attempted": delivery.attempted,
            "delivered": delivery.delivered,
            "parts": delivery.parts,
            "error": delivery.error,
        },
        "history": {"saved": history_saved, "warning": history_warning},
        "metrics": (metrics or MetricsResult()).as_json(),
    }
