"""The report as plain lines: what stdout shows, and what each card block is made of."""

from __future__ import annotations

from decimal import Decimal

from monitor.amounts import rounded
from monitor.report import AccountReport, Report
from monitor.report.words import WORDS, days, elapsed, localised, money, rate
from monitor.usage import sparkline


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
        out.append(w["exhausted"].format(note=note) if a.exhausted else f"{w['note']}{sep}{note}")
    elif a.exhausted:
        out.append(w["exhausted_balance"])
    if a.low_balance and not a.exhausted and a.threshold is not None:  # a note says more, never this less
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
    seconds = p.elapsed_seconds
    clock = p.reason == "clock" or (seconds is not None and seconds < 0)
    same_second = not clock and (p.reason == "same_second" or seconds == 0)
    # Runs in the same second, or a clock step: the usage still counts, but there is no span to say.
    span = None if clock or same_second or seconds is None else elapsed(seconds, language)
    aside = w["clock_moved"] if clock else w["same_second"] if same_second else ""

    def dated(key: str, **values: str) -> str:
        return w[key].format(elapsed=span, **values) if span is not None else w[f"{key}_undated"].format(**values)

    amount = money(p.usage, a.currency) if p.usage is not None else None
    before = p.previous_currency
    if before and a.currency and before != a.currency:  # a relay switched USD → CNY: neither usage nor a reset
        if amount is None:
            return w["period_currency"].format(before=before, after=a.currency)
        return dated("period_currency_usage", amount=amount, before=before, after=a.currency) + aside
    if p.kind == "usage" and amount is not None:
        line = dated("period_usage", amount=amount)
        return line + aside + (w["period_with_topup"].format(amount=money(p.topup, a.currency)) if p.topup else "")
    if p.kind == "reset" and amount is not None:
        return dated("period_approximate", amount=amount) + aside
    if p.kind == "topup" and p.topup is not None:
        return dated("period_topup", amount=money(p.topup, a.currency)) + aside
    if p.kind == "reset":
        return w["period_key_changed"] if p.reason == "key_changed" else dated("period_reset") + aside
    if clock:
        return w["period_clock"]
    if same_second:
        return w["period_same_second"]
    return w.get(f"period_{p.reason or 'first'}", w["period_not_comparable"])


def approximate(report: Report) -> bool:
    """Whether some account's period usage is approximate (a reset inside it): the footnote then says why."""
    return any(a.period is not None and (a.period.approximate or a.period.kind == "reset") for a in report.accounts)


def footnote_lines(report: Report) -> list[str]:
    """The note under the report that resets make period usage approximate, only when one does."""
    return [WORDS[report.language]["footnote"]] if approximate(report) else []


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
