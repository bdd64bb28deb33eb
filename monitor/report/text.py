"""The report as plain lines: what stdout shows, and what each card block is made of."""

from __future__ import annotations

from decimal import Decimal

from monitor.amounts import rounded
from monitor.report import AccountReport, Report
from monitor.report.words import WORDS, days, elapsed, localised, money, rate
from monitor.usage import Period, sparkline


def title(report: Report) -> str:
    w = WORDS[report.language]
    return f"{w['title']}{w['test'] if report.test else ''} {report.generated_at:%Y-%m-%d %H:%M}"


def status_line(a: AccountReport) -> str:
    mark = "❌" if not a.ok else "✅"
    warn = " ⚠️" if a.alert else ""
    return f"{mark} {a.name}{warn}"


def detail_lines(a: AccountReport, language: str) -> list[str]:
    """Everything under an account's name, one fact per line."""
    w = WORDS[language]
    sep = w["sep"]
    if not a.ok:
        return [f"{w['failed']}{sep}{localised(a.error or '', language)}"]
    out = []
    if a.unlimited:
        out.append(f"{w['remaining']}{sep}{w['unlimited']}")
    elif a.balance is not None:
        out.append(f"{w['remaining']}{sep}{money(a.balance, a.currency)}")
    if a.used is not None:
        out.append(f"{w['used']}{sep}{money(a.used, a.currency)}")
    if a.period is not None:
        out.append(period_line(a, language))
    if a.total is not None:
        out.append(f"{w['total']}{sep}{money(a.total, a.currency)}")
    if a.burn_rate is not None:
        shown = rate(a.burn_rate, a.currency)
        out.append(w["burn_days"].format(rate=shown, days=days(a.days_left)) if a.days_left is not None
                   else w["burn"].format(rate=shown))
    if sum(v is not None for v in a.trend) >= 2:  # one day is no trend
        out.append(f"{w['trend']}{sep}{sparkline(a.trend)}")
    if a.note:
        note = localised(a.note, language)
        out.append(w["exhausted"].format(note=note) if a.low_balance else f"{w['note']}{sep}{note}")
    if a.low_balance and not a.note and a.threshold is not None:
        out.append(w["low_balance"].format(threshold=money(a.threshold, a.currency)))
    if a.low_days and a.days_left is not None:
        out.append(w["low_days"].format(days=days(a.days_left)))
    if a.spike is not None:
        out.append(spike_line(a, language))
    return out


def spike_line(a: AccountReport, language: str) -> str:
    w = WORDS[language]
    s = a.spike
    assert s is not None
    factor = s.factor
    values = {"elapsed": elapsed(s.elapsed_seconds, language), "amount": money(s.usage, a.currency)}
    if factor is None:
        return w["spike_idle"].format(**values)
    return w["spike"].format(**values, factor=f"{rounded(factor, Decimal('0.1')):f}")


def period_line(a: AccountReport, language: str) -> str:
    w = WORDS[language]
    p = a.period
    assert p is not None
    if p.reason == "not_comparable" and p.previous_currency and a.currency:
        return w["period_currency"].format(before=p.previous_currency, after=a.currency)
    if p.since is not None and not p.elapsed_seconds and (p.usage is not None or p.topup is not None):
        return _untimed(p, a.currency, w)
    span = elapsed(p.elapsed_seconds or 0, language)
    if p.kind == "usage" and p.usage is not None:
        line = w["period_usage"].format(elapsed=span, amount=money(p.usage, a.currency))
        return line + (w["period_with_topup"].format(amount=money(p.topup, a.currency)) if p.topup else "")
    if p.kind == "reset" and p.usage is not None:
        return w["period_approximate"].format(elapsed=span, amount=money(p.usage, a.currency))
    if p.kind == "topup" and p.topup is not None:
        return w["period_topup"].format(elapsed=span, amount=money(p.topup, a.currency))
    if p.kind == "reset":
        return w["period_key_changed"] if p.reason == "key_changed" else w["period_reset"].format(elapsed=span)
    return w[f"period_{p.reason or 'first'}"]


def _untimed(p: Period, currency: str | None, w: dict[str, str]) -> str:
    """A period with no duration to show (the clock moved back, or two runs in one second): its amounts."""
    if p.usage is not None:
        line = w["period_untimed_approximate" if p.approximate else "period_untimed"].format(
            amount=money(p.usage, currency))
        line += w["period_with_topup"].format(amount=money(p.topup, currency)) if p.topup else ""
    else:
        assert p.topup is not None
        line = w["period_topup_untimed"].format(amount=money(p.topup, currency))
    return line + (w["clock_moved"] if p.elapsed_seconds is None else "")


def totals_line(report: Report) -> str:
    w = WORDS[report.language]
    shown = " · ".join(money(v, c) for c, v in sorted(report.totals.items()))
    return f"{w['totals']}{w['sep']}{shown or w['no_totals']}"


def summary_lines(report: Report, history_problem: str | None = None) -> list[str]:
    w = WORDS[report.language]
    ok = sum(a.ok for a in report.accounts)
    out = [totals_line(report), w["succeeded"].format(ok=ok, all=len(report.accounts))]
    if report.history_warning:
        out.append(w["history_warning"].format(warning=report.history_warning))
    if history_problem:
        out.append(w["history_not_saved"].format(reason=history_problem))
    return out


def render(report: Report, history_problem: str | None = None) -> str:
    """The whole report as text for a terminal or a mail from cron."""
    out = [title(report), ""]
    for a in report.accounts:
        out.append(status_line(a))
        out += [f"  {line}" for line in detail_lines(a, report.language)]
    out += ["", *summary_lines(report, history_problem), WORDS[report.language]["footnote"]]
    return "\n".join(out) + "\n"
