"""The report's sections, with a site (``new-api-admin``, ``litellm-admin``) shown as a summary and only the
items that need a look, so that a site of 200 channels and 2,000 users stays readable (and fits one Feishu card).

Every item is still an account of its own: the full list is in ``--json``, the metrics and ``history``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from monitor.report import AccountReport, Report
from monitor.report.text import detail_lines, footnote_lines, status_line, summary_lines, title
from monitor.report.words import WORDS, localised, money

# Items listed per site and kind; the others that need a look are counted in one line. With the bytes
# the listed items' lines may take (whatever their names, errors or spikes), a site whose every item needs
# a look still fits one Feishu card (20 KB, markup and escaping included) beside its summary.
SHOWN = {"channel": 12, "user": 8, "key": 12, "team": 8}
# UTF-8 bytes of the listed items' text, per site and kind (a site has channels and users, or keys and teams)
BUDGET = {"channel": 6_000, "user": 5_000, "key": 6_000, "team": 5_000}


@dataclass(frozen=True)
class Section:
    """What the report shows as one block: a heading ("✅ main ⚠️") and the lines under it."""

    heading: str
    lines: tuple[str, ...]


def sections(report: Report) -> list[Section]:
    """The report's blocks in order: an account as its status and details; a site, at the place of its most
    urgent member, as its summary followed by its failing and alerting items."""
    members: dict[str, list[AccountReport]] = {}
    for a in report.accounts:
        if a.site is not None:
            members.setdefault(a.site, []).append(a)
    out: list[Section] = []
    for a in report.accounts:
        if a.site is None:
            out.append(Section(status_line(a), tuple(detail_lines(a, report.language))))
        elif a.site in members:
            out += site_sections(a.site, members.pop(a.site), report.language)
    return out


def needs_look(a: AccountReport) -> bool:
    """A site's item worth a line of its own: failing, low, exhausted or spiking (never a disabled one)."""
    return a.kind != "site" and not a.disabled and (not a.ok or a.alert)


def site_sections(name: str, accounts: Sequence[AccountReport], language: str) -> list[Section]:
    w = WORDS[language]
    site = next((a for a in accounts if a.kind == "site"), None)
    channels = [a for a in accounts if a.kind == "channel"]
    users = [a for a in accounts if a.kind == "user"]
    keys = [a for a in accounts if a.kind == "key"]  # a LiteLLM proxy's virtual keys and teams
    teams = [a for a in accounts if a.kind == "team"]
    failed = site is not None and not site.ok
    mark = "❌" if failed else "✅"
    warn = " ⚠️" if any(needs_look(a) for a in accounts) else ""
    lines = [f"{w['failed']}{w['sep']}{localised(site.error or '', language)}"] if site and failed else []
    if channels:
        lines += channel_summary(channels, language)
    if users:
        lines.append(user_summary(users, language))
    lines += [budget_summary(kind, items, language) for kind, items in (("key", keys), ("team", teams)) if items]
    out = [Section(f"{mark} {name}{warn}", tuple(lines))]
    for kind, items in (("channel", channels), ("user", users), ("key", keys), ("team", teams)):
        flagged = sorted((a for a in items if needs_look(a)), key=_urgency)
        shown, budget = 0, BUDGET[kind]
        for a in flagged[: SHOWN[kind]]:
            section = Section(status_line(a), tuple(detail_lines(a, language)))
            size = sum(len(text.encode("utf-8")) + 1 for text in (section.heading, *section.lines))
            if size > budget:
                break
            budget -= size
            shown += 1
            out.append(section)
        hidden = len(flagged) - shown
        if hidden > 0:
            out.append(Section("", (w[f"site_more_{kind}s"].format(count=hidden),)))
    return out


def _urgency(a: AccountReport) -> tuple[int, Decimal]:
    """Failures first, then the emptiest (in the order of the report among equals)."""
    rank = 0 if not a.ok else 1 if a.exhausted else 2 if a.low_balance or a.low_days else 3
    return rank, a.balance if a.balance is not None else Decimal("Infinity")


def channel_summary(channels: Sequence[AccountReport], language: str) -> list[str]:
    w = WORDS[language]
    disabled = sum(a.disabled for a in channels)
    failed = sum(not a.ok for a in channels)
    low = sum(a.ok and not a.disabled and a.alert for a in channels)
    unknown = sum(a.ok and not a.disabled and not a.alert and a.balance is None for a in channels)
    ok = len(channels) - disabled - failed - low - unknown
    counts = w["site_channels"].format(count=len(channels), ok=ok, low=low, failed=failed, disabled=disabled)
    if unknown:
        counts += w["site_channels_unknown"].format(unknown=unknown)
    sums: dict[str, Decimal] = {}
    for a in channels:
        if a.ok and not a.disabled and a.balance is not None and a.currency:
            sums[a.currency] = sums.get(a.currency, Decimal(0)) + a.balance
    shown = " · ".join(money(v, c) for c, v in sorted(sums.items())) or w["no_totals"]
    return [counts, f"{w['site_channel_sum']}{w['sep']}{shown}"]


def user_summary(users: Sequence[AccountReport], language: str) -> str:
    w = WORDS[language]
    low = sum(a.ok and not a.disabled and a.alert for a in users)
    failed = sum(not a.ok for a in users)
    sums: dict[str, Decimal] = {}
    for a in users:
        if a.ok and a.balance is not None and a.currency:
            sums[a.currency] = sums.get(a.currency, Decimal(0)) + a.balance
    shown = " · ".join(money(v, c) for c, v in sorted(sums.items())) or w["no_totals"]
    line = w["site_users"].format(count=len(users), low=low, remaining=shown)
    return line + (w["site_users_failed"].format(failed=failed) if failed else "")


def budget_summary(kind: str, items: Sequence[AccountReport], language: str) -> str:
    """A LiteLLM proxy's keys or teams: how many, how many low or spent, failed, without a budget. Their
    budgets are not summed: a team's keys spend the team's budget too."""
    low = sum(a.ok and not a.disabled and a.alert for a in items)
    failed = sum(not a.ok for a in items)
    unlimited = sum(a.ok and a.unlimited for a in items)
    return WORDS[language][f"site_{kind}s"].format(count=len(items), low=low, failed=failed, unlimited=unlimited)


def render(report: Report, history_problem: str | None = None) -> str:
    """The whole report as text for a terminal or a mail from cron."""
    out = [title(report), ""]
    for section in sections(report):
        if section.heading:
            out.append(section.heading)
        out += [f"  {line}" for line in section.lines]
    out += ["", *summary_lines(report, history_problem), *footnote_lines(report)]
    return "\n".join(out) + "\n"
