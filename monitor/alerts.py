"""Which alerts started or ended since the last delivered message, the short message that says so, and
the state to keep for the next run. Pure: the history file stores the state, ``run.py`` posts.

The state is the history's ``"alerts"`` object: for each account, each condition that was active in the
last message delivered, with the time it was last posted::

    {"main": {"low": "2026-11-28T01:05:00+00:00"}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.records import parse_time, utc_text
from monitor.report import AccountReport, Report
from monitor.report.text import spike_line
from monitor.report.words import WORDS, days, localised, money

CONDITIONS = ("failed", "exhausted", "low", "spike")
SITE_LINES = 20  # the changes of one relay site (new-api-admin) listed in a message; the others counted
State = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Change:
    account: str
    condition: str  # failed | low | spike
    started: bool  # False: it ended
    repeat: bool = False  # still active, posted again after alerts.repeat_hours


def posted(state: Mapping[str, Any]) -> dict[str, dict[str, datetime]]:
    """The state as read from the file; an entry a person broke by hand is left out, not a crash."""
    found: dict[str, dict[str, datetime]] = {}
    for name, conditions in state.items():
        if not isinstance(conditions, dict):
            continue
        for condition, when in conditions.items():
            moment = parse_time(when)
            if condition in CONDITIONS and moment is not None:
                found.setdefault(name, {})[condition] = moment
    return found


def active(a: AccountReport, before: Mapping[str, datetime]) -> set[str]:
    """The conditions active now. A failed query says nothing about the balance or the spending: a low
    balance or a spike posted before stays as it was, never "recovered" by an error."""
    now = set(a.conditions)
    if not a.ok:
        now |= set(before) & {"low", "exhausted", "spike"}
    return now


def changes(report: Report, state: Mapping[str, Any], now: datetime, repeat_hours: float) -> list[Change]:
    before = posted(state)
    found = []
    for a in report.accounts:
        was = before.get(a.name, {})
        current = active(a, was)
        for condition in CONDITIONS:
            if condition in current and condition not in was:
                found.append(Change(a.name, condition, True))
            elif condition in was and condition not in current:
                if condition == "spike" and current & {"low", "exhausted"}:
                    continue  # a key that is still low or dry: no green "back to usual" card for it
                found.append(Change(a.name, condition, False))
            elif condition in current and repeat_hours > 0 and now - was[condition] >= timedelta(hours=repeat_hours):
                found.append(Change(a.name, condition, True, repeat=True))
    return found


def next_state(report: Report, state: Mapping[str, Any], now: datetime, posted_now: list[Change]) -> State:
    """The state once a message with ``posted_now`` was delivered (a report delivers every condition)."""
    before = posted(state)
    fresh = {(c.account, c.condition) for c in posted_now if c.started}
    out: State = {}
    for a in report.accounts:
        was = before.get(a.name, {})
        for condition in sorted(active(a, was)):
            moment = now if (a.name, condition) in fresh or condition not in was else was[condition]
            out.setdefault(a.name, {})[condition] = utc_text(moment)
    return out


def lines(report: Report, found: list[Change]) -> list[str]:
    """One line per change, in the report's order: what started (with the numbers), then what ended."""
    w = WORDS[report.language]
    by_name = {a.name: a for a in report.accounts}
    # A key that ran dry says so; that it is also below its threshold goes without saying.
    dry = {(c.account, c.started) for c in found if c.condition == "exhausted"}
    found = [c for c in found if not (c.condition == "low" and (c.account, c.started) in dry)]
    out = []
    per_site: dict[str, int] = {}  # a relay site's first run may start hundreds: the rest are counted
    for change in sorted(found, key=lambda c: (not c.started, CONDITIONS.index(c.condition))):
        a = by_name[change.account]
        if a.site is not None:
            per_site[a.site] = per_site.get(a.site, 0) + 1
            if per_site[a.site] > SITE_LINES:
                continue
        text = _started(a, change.condition, report.language) if change.started else _ended(a, change.condition,
                                                                                            report.language)
        out.append(text + (w["alert_still"] if change.repeat else ""))
    out += [w["alert_site_more"].format(site=site, count=n - SITE_LINES) for site, n in per_site.items()
            if n > SITE_LINES]
    return out


def _started(a: AccountReport, condition: str, language: str) -> str:
    w = WORDS[language]
    balance = money(a.balance, a.currency) if a.balance is not None else "-"
    if condition == "failed":
        return w["alert_failed"].format(name=a.name, error=localised(a.error or "", language))
    if condition == "spike" and a.spike is not None:
        return w["alert_spike"].format(name=a.name, line=spike_line(a, language).removeprefix("⚠️ "))
    if condition == "exhausted" and not a.note:
        return w["alert_exhausted_balance"].format(name=a.name, balance=balance)
    if condition in ("low", "exhausted") and a.note and a.low_balance:
        return w["alert_exhausted"].format(name=a.name, note=localised(a.note, language))
    if condition == "low" and a.low_balance and a.threshold is not None:
        return w["alert_low"].format(name=a.name, balance=balance, threshold=money(a.threshold, a.currency))
    if condition == "low" and a.days_left is not None:
        return w["alert_low_days"].format(name=a.name, days=days(a.days_left), balance=balance)
    # A failed query kept it active.
    return w["alert_failed"].format(name=a.name, error=localised(a.error, language) if a.error else condition)


def _ended(a: AccountReport, condition: str, language: str) -> str:
    w = WORDS[language]
    if condition == "failed":
        return w["ended_failed"].format(name=a.name)
    if condition == "spike":
        return w["ended_spike"].format(name=a.name)
    balance = money(a.balance, a.currency) if a.balance is not None else "-"
    topup = a.period.topup if a.period is not None else None
    if topup:
        return w["ended_low_topup"].format(name=a.name, topup=money(topup, a.currency), balance=balance)
    return w["ended_low"].format(name=a.name, balance=balance)


def for_channel(state: Mapping[str, Any], label: str) -> Mapping[str, Any]:
    """What channel ``label`` was last told (an imported state without channels stands for every one)."""
    own = state.get(label)
    if isinstance(own, dict):
        return own
    shared = state.get("*")
    return shared if isinstance(shared, dict) else {}


def merged(told: Mapping[str, Any], new: State, accounts: set[str]) -> dict[str, Any]:
    """``told`` with the state of ``accounts`` (this run's) replaced by ``new``: another config's accounts
    in the same history keep theirs."""
    return {**{name: value for name, value in told.items() if name not in accounts}, **new}


def title(report: Report, found: list[Change]) -> str:
    w = WORDS[report.language]
    key = "alert_title" if any(c.started for c in found) else "recovered_title"
    return f"{w[key]} {report.generated_at:%Y-%m-%d %H:%M}"


def state_of(found: list[Change]) -> str:
    """The message's colour: red for a failure that started, orange for another alert, green for recoveries."""
    started = {c.condition for c in found if c.started}
    return "failed" if "failed" in started else ("low" if started else "ok")
