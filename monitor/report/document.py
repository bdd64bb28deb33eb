"""The report as the SPEC's ``--json`` document, for ops scripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from monitor.amounts import shown as money
from monitor.report import AccountReport, Report


class ChannelOutcome(Protocol):
    """What the document needs of one channel's outcome (a channel's ``Result``): the report does not
    depend on the channels."""

    @property
    def channel(self) -> str: ...

    @property
    def delivered(self) -> bool: ...

    @property
    def parts(self) -> int: ...

    @property
    def error(self) -> str | None: ...

    def as_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class MetricsResult:
    """What became of this run's metrics, for ``--json`` (``metrics``)."""

    written: bool = False  # the textfile was replaced
    pushed: bool = False  # the Pushgateway accepted the push
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"written": self.written, "pushed": self.pushed, "error": self.error}


@dataclass(frozen=True)
class Delivery:
    """Every channel's outcome together: delivered only when each channel delivered."""

    attempted: bool = False
    delivered: bool = False
    parts: int = 0
    error: str | None = None
    channels: tuple[ChannelOutcome, ...] = ()

    @classmethod
    def of(cls, results: Sequence[ChannelOutcome]) -> Delivery:
        failed = [r for r in results if not r.delivered]
        error = "; ".join(f"{r.channel}: {r.error}" for r in failed) or None
        return cls(bool(results), bool(results) and not failed, sum(r.parts for r in results), error,
                   tuple(results))


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
            "approximate": p.approximate,
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
        "alerts": a.conditions,
        **({"usual_rate_per_day": money(a.spike.usual)} if a.spike is not None else {}),
        # A site's item (new-api-admin, litellm-admin): which site, what it is ("site", "channel", "user", "key",
        # "team"), switched off.
        **({"site": a.site, "kind": a.kind, "disabled": a.disabled} if a.site is not None else {}),
    }


def document(
    report: Report,
    exit_code: int,
    delivery: Delivery | None,
    history_saved: bool,
    history_warning: str | None,
    order: list[str] | None = None,
    metrics: MetricsResult | None = None,
) -> dict[str, Any]:
    """``order`` lists account names in config order (the report itself puts alerts first).

    ``delivery`` is None in the document the webhook channel posts: delivery is not known yet then.
    """
    accounts = list(report.accounts)
    if order is not None:
        rank = {name: i for i, name in enumerate(order)}
        accounts.sort(key=lambda a: rank.get(a.name, len(rank)))
    return {
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "exit_code": exit_code,
        "accounts": [account(a, report) for a in accounts],
        "totals": {currency: money(v) for currency, v in sorted(report.totals.items())},
        "delivery": None if delivery is None else {
            "attempted": delivery.attempted,
            "delivered": delivery.delivered,
            "parts": delivery.parts,
            "error": delivery.error,
            "channels": [r.as_json() for r in delivery.channels],
        },
        "history": {"saved": history_saved, "warning": history_warning},
        "metrics": (metrics or MetricsResult()).as_json(),
    }
