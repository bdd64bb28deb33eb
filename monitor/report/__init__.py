"""The report model, built purely from this run's results, the history and the clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

from monitor import usage
from monitor.result import AccountResult
from monitor.usage import Period, Point, Series, Spike


@dataclass(frozen=True)
class AccountReport:
    name: str
    provider: str
    ok: bool
    error: str | None
    currency: str | None
    balance: Decimal | None
    used: Decimal | None
    total: Decimal | None
    unlimited: bool
    note: str | None
    period: Period | None
    burn_rate: Decimal | None
    days_left: Decimal | None
    trend: tuple[Decimal | None, ...]
    low_balance: bool
    low_days: bool
    threshold: Decimal | None  # the low_balance amount, for the warning line
    spike: Spike | None = None  # spending far faster than usual over the last period
    exhausted: bool = False  # the key can spend no more: balance <= 0, quota used up, expired or disabled
    step_usage: Decimal | None = None  # the usage since the previous snapshot of either command
    site: str | None = None  # the site entry (new-api-admin) this account is an item of
    kind: str | None = None  # of a site's item: "site", "channel", "user", "key" or "team"
    disabled: bool = False  # switched off at the site: shown as such, never alerted

    @property
    def alert(self) -> bool:
        return self.low_balance or self.low_days or self.exhausted or self.spike is not None

    @property
    def conditions(self) -> list[str]:
        """The active alert conditions, as ``--json``'s ``alerts`` lists them."""
        return [name for name, on in (("low", self.low_balance or self.low_days), ("exhausted", self.exhausted),
                                      ("failed", not self.ok), ("spike", self.spike is not None)) if on]


@dataclass(frozen=True)
class Report:
    generated_at: datetime  # aware, in the configured zone
    language: str
    accounts: tuple[AccountReport, ...]  # failures first, then alerts, then the rest (config order within)
    totals: dict[str, Decimal]
    history_warning: str | None = None
    test: bool = False

    @property
    def failed(self) -> int:
        return sum(not a.ok for a in self.accounts)

    @property
    def low(self) -> bool:
        return any(a.alert for a in self.accounts)

    @property
    def state(self) -> str:
        """``failed``, ``low`` or ``ok``: the header colour and the exit bits follow it."""
        return "failed" if self.failed else ("low" if self.low else "ok")


def build(
    results: Sequence[AccountResult],
    history: Mapping[str, Series],
    now: datetime,
    zone: tzinfo,
    language: str,
    retention_days: int,
    history_warning: str | None = None,
    run: str = "report",
) -> Report:
    """The report of one run. ``history`` holds each account's snapshots from before this run, in the
    order of runs; ``run`` is the command (a report measures its period since the previous report, a
    check since the previous snapshot)."""
    today = now.astimezone(zone).date()
    lines = [_account(r, history.get(r.account.name) or Series(), run == "report", now, zone, today,
                      retention_days)
             for r in results]
    lines.sort(key=lambda line: 0 if not line.ok else 1 if line.alert else 2)  # stable: config order within
    totals: dict[str, Decimal] = {}
    for line in lines:
        # A relay's users hold the relay's own quota, not money of ours: their sum is in the site's summary. A
        # channel the relay disabled holds a balance nobody can spend: left out, as the site's summary does.
        # A LiteLLM key's or team's balance is what its budget leaves, not money held: left out too.
        if line.ok and line.balance is not None and not line.unlimited and line.currency \
                and line.kind not in ("user", "key", "team") \
                and not line.disabled:
            totals[line.currency] = totals.get(line.currency, Decimal(0)) + line.balance
    return Report(now.astimezone(zone), language, tuple(lines), totals, history_warning)


def _account(
    result: AccountResult, past: Series, report: bool, now: datetime, zone: tzinfo,
    today: date, retention_days: int,
) -> AccountReport:
    account = result.account
    snap = result.snapshot
    if snap is None:
        return AccountReport(
            account.name, account.provider, False, result.error, account.currency, None, None, None, False, None,
            None, None, None, tuple(usage.trend(past, zone, today)),
            False, False, account.low_balance, site=result.site, kind=result.kind,
        )
    series = Series(past.points)
    series.add(Point(result.time, result.fingerprint, snap.balance, snap.used, snap.currency))
    end = len(series) - 1
    retention = timedelta(days=retention_days)
    # A check: since the previous snapshot of either kind. A report: since the previous report, over every
    # snapshot in between; with no report yet but checks already run, since the first of them.
    start = (end - 1 if end else None) if not report else series.last_report(end)
    if report and start is None and end:
        start = 0
    period = usage.period(series, start, retention)
    step = period if not report else usage.period(series, end - 1 if end else None, retention)
    # Only the snapshots in this run's currency: after a relay switched to CNY, its USD week says nothing
    # about how fast the CNY balance goes (and summed with CNY steps it would be wrong).
    rate = usage.burn_rate(series.in_money(snap.currency), now)
    left = None if snap.unlimited else usage.days_left(snap.balance, rate)
    exhausted = snap.exhausted or (not snap.unlimited and snap.balance is not None and snap.balance <= 0)
    low_balance = exhausted or (
        not snap.unlimited and snap.balance is not None and snap.balance < account.low_balance
    )
    low_days = left is not None and left < account.low_days
    window = timedelta(minutes=getattr(account, "spike_window_minutes", 30))
    recent = end > 0 and (result.time - series.points[end - 1].time) <= retention
    spike = usage.spike(series, account.spike_factor, account.spike_min_amount, window) if recent else None
    if snap.disabled:  # a channel or user switched off at the site: its numbers are shown, never alerted
        low_balance, low_days, exhausted, spike = False, False, False, None
    return AccountReport(
        account.name, account.provider, True, None, snap.currency, snap.balance, snap.used, snap.total,
        snap.unlimited, snap.note, period, rate, left,
        tuple(usage.trend(series, zone, today)),
        low_balance, low_days, account.low_balance, spike, exhausted, step.usage,
        site=result.site, kind=result.kind, disabled=snap.disabled,
    )
