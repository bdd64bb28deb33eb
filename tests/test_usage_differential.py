"""The usage maths against a plain model of SPEC.md, on random histories.

The model below (``judge``, ``model_period``, ``model_burn_rate``, ``model_spike``) is the SPEC's "Usage
over the period" and the spike of "Alerts", written out pair by pair in exact fractions, with no
shortcut and no knowledge of the real code. Where the SPEC is silent it follows the program, and says
so in a comment marked "SPEC silent". Hypothesis makes random
runs of one account — amounts with 0 to 8 decimals, resets, top-ups, key changes, currency changes,
failed runs, clock steps back, report and check records mixed, hand-edited records without a
fingerprint or a currency — writes them as history records (times as people and tools write them),
parses them with ``history.parse`` and asks ``report.build`` for this run's account line. Both must
agree exactly: period kind, usage, top-up, approximate flag, burn rate, days left and spike.

Rates are rationals; the model rounds each once, to the Decimal context (28 digits), as one correctly
rounded division does. Money is compared as it is, exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st

from monitor.collect import AccountResult
from monitor.config import Account
from monitor.history import parse_all
from monitor.report import AccountReport, build
from monitor.snapshot import Snapshot
from tests.time_forms import time_text

T0 = datetime(2026, 11, 20, 1, 5, tzinfo=timezone.utc)
ZONE = ZoneInfo("Asia/Shanghai")
KEYS = ("3f2a9c1b", "0ldk3y00")
WEEK = timedelta(days=7)
DAY = timedelta(hours=24)


# --- the model ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snap:
    """One record as the generator made it (the truth, not what a parser read)."""

    time: datetime
    run: str  # report | check
    ok: bool
    fp: str | None  # None: edited by hand, the same key as any
    currency: str | None  # None: edited by hand, comparable with any
    balance: Decimal | None
    used: Decimal | None


@dataclass(frozen=True)
class Pair:
    kind: str  # usage | reset | topup | incomparable
    amount: Fraction | None = None  # the usage, or the top-up
    raised: Fraction | None = None  # usage: the quota was raised by this much too


def judge(a: Snap, b: Snap) -> Pair:
    """One pair of snapshots, by the SPEC's rules."""
    if a.fp is not None and b.fp is not None and a.fp != b.fp:
        return Pair("reset")  # the key was changed (SPEC silent: before a change of currency in the same pair)
    if a.currency is not None and b.currency is not None and a.currency != b.currency:
        return Pair("incomparable")  # two numbers in two currencies
    if a.used is not None and b.used is not None:
        spent = Fraction(b.used) - Fraction(a.used)
        if spent < 0:
            return Pair("reset")
        # SPEC silent: a relay key's balance (total − used) that rose beyond the spending had its quota
        # raised by the difference, a top-up to say in the report, never usage.
        raised = None if a.balance is None or b.balance is None else Fraction(b.balance) - Fraction(a.balance) + spent
        return Pair("usage", spent, raised if raised is not None and raised > 0 else None)
    if a.balance is not None and b.balance is not None:
        spent = Fraction(a.balance) - Fraction(b.balance)
        return Pair("topup", -spent) if spent < 0 else Pair("usage", spent)
    return Pair("incomparable")


def same_money(s: Snap, current: Snap) -> bool:
    return s.currency is None or current.currency is None or s.currency == current.currency


def dec(value: Fraction) -> Decimal:
    """A rational as the Decimal context rounds it once."""
    return Decimal(value.numerator) / Decimal(value.denominator)


def seconds(span: timedelta) -> Fraction:
    return Fraction(span // timedelta(microseconds=1), 10**6)


@dataclass(frozen=True)
class Expected:
    kind: str
    reason: str | None
    since: datetime | None
    elapsed_seconds: int | None
    usage: Decimal | None
    topup: Decimal | None
    approximate: bool


def model_period(history: list[Snap], current: Snap, run: str, retention: timedelta) -> Expected:
    """This run's period, as ``--json``'s ``period`` says it."""
    ok = sorted((s for s in history if s.ok), key=lambda s: s.time)
    # The clock moved back. SPEC silent: a report says so too when only a check record is in the future,
    # and a snapshot at this very instant counts as one in the future (no elapsed time).
    if ok and ok[-1].time >= current.time:
        return Expected("first", "clock", ok[-1].time, None, None, None, False)
    # A report: since the previous report record; a check: since the previous record of either kind.
    # SPEC silent: a report after checks only (no report record yet) measures since the first of them.
    reports = [s for s in ok if s.run == "report"]
    start = ok[-1] if run == "check" and ok else reports[-1] if reports else ok[0] if ok else None
    if start is None:
        return Expected("first", "first", None, None, None, None, False)
    elapsed = int(seconds(current.time - start.time))
    if current.time - start.time > retention:
        return Expected("first", "too_old", start.time, elapsed, None, None, False)
    chain = [s for s in ok if s.time >= start.time] + [current]
    # A reset says why: the key was changed somewhere in the period, or a counter went down.
    changed = any(a.fp is not None and b.fp is not None and a.fp != b.fp for a, b in zip(chain, chain[1:]))
    why = "key_changed" if changed else "reset"
    # The sum over the pairs of what each measured. With several, a pair in another currency than this
    # run's (before a relay switched to CNY) cannot be added to it: SPEC silent, it makes the sum
    # approximate as a reset does. (One pair alone is judged by its own rule.)
    pairs = [judge(a, b) if len(chain) == 2 or same_money(a, current) and same_money(b, current)
             else Pair("incomparable") for a, b in zip(chain, chain[1:])]
    if all(p.kind == "incomparable" for p in pairs):
        return Expected("first", "not_comparable", start.time, elapsed, None, None, False)
    spent = [p.amount for p in pairs if p.kind == "usage" and p.amount is not None]
    topups = [t for p in pairs for t in (p.amount if p.kind == "topup" else p.raised,) if t is not None]
    usage = dec(sum(spent, Fraction(0))) if spent else None  # nothing measured: no number, not 0
    topup = dec(sum(topups, Fraction(0))) if topups else None
    if any(p.kind in ("reset", "incomparable") for p in pairs):
        # SPEC silent: one pair that is a reset shows the reset, with no number to call approximate.
        return Expected("reset", why, start.time, elapsed, usage, topup, len(pairs) > 1)
    if usage is None:
        return Expected("topup", None, start.time, elapsed, None, topup, False)
    return Expected("usage", None, start.time, elapsed, usage, topup, False)


def model_burn_rate(history: list[Snap], current: Snap, now: datetime) -> Decimal | None:
    """Usage over the last 7×24 h (resets and top-ups left out) per hour of the records' span, × 24: the
    records in this run's currency (the CNY balance goes at the CNY rate)."""
    window = sorted((s for s in history if s.ok and now - WEEK <= s.time < now and same_money(s, current)),
                    key=lambda s: s.time) + [current]
    span = window[-1].time - window[0].time
    if span < DAY:
        return None
    spent = sum((p.amount for p in (judge(a, b) for a, b in zip(window, window[1:]))
                 if p.kind == "usage" and p.amount is not None), Fraction(0))
    return dec(spent / (seconds(span) / 3600) * 24)


def model_days_left(balance: Decimal | None, rate: Decimal | None, unlimited: bool) -> Decimal | None:
    """Balance ÷ burn rate. SPEC silent: none at a rate of 0 (never), 0 days when overdrawn."""
    if unlimited or balance is None or rate is None or rate <= 0:
        return None
    return dec(Fraction(max(balance, Decimal(0))) / Fraction(rate))


def model_spike(history: list[Snap], current: Snap, factor: Decimal, least: Decimal,
                retention: timedelta) -> tuple[Decimal, Decimal] | None:
    """(usage, usual rate) when this run's period is a spike, else None. SPEC silent: top-ups are left out
    of the usual rate like resets, the 7×24 h are those before the period's start, and an idle week
    needs its 4 periods too."""
    ok = sorted((s for s in history if s.ok), key=lambda s: s.time)
    if not ok or ok[-1].time >= current.time:
        return None  # no period as check measures it (first record, or the clock moved back)
    previous = ok[-1]
    if current.time - previous.time > retention:
        return None
    pair = judge(previous, current)
    if pair.kind != "usage" or pair.amount is None or pair.amount < Fraction(least):
        return None
    week = [s for s in ok if previous.time - WEEK <= s.time and same_money(s, current)]
    rates = sorted(p.amount / seconds(b.time - a.time) * 86400 for a, b in zip(week, week[1:])
                   if (p := judge(a, b)).kind == "usage" and p.amount is not None)
    if len(rates) < 4:
        return None
    middle = len(rates) // 2
    usual = rates[middle] if len(rates) % 2 else (rates[middle - 1] + rates[middle]) / 2
    rate = pair.amount / seconds(current.time - previous.time) * 86400
    if usual > 0 and rate < Fraction(factor) * usual:
        return None
    return dec(pair.amount), dec(usual)


# --- random runs ----------------------------------------------------------------------------------------


def plain(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:f}"


@dataclass(frozen=True)
class Case:
    history: list[Snap]
    raw: list[dict[str, Any]]
    current: Snap
    run: str
    retention_days: int
    unlimited: bool
    factor: Decimal
    least: Decimal


@st.composite
def cases(draw: st.DrawFn) -> Case:
    balance_only = draw(st.booleans())
    used, total, balance = Decimal(0), Decimal(100), Decimal(50)
    clock, key, currency = T0, KEYS[0], "USD"
    snaps: list[Snap] = []
    raw: list[dict[str, Any]] = []
    count = draw(st.integers(0, 16))
    for n in range(count + 1):  # the last one is this run
        jump = draw(st.integers(0, 19))
        if jump == 0 and n:
            clock += timedelta(seconds=draw(st.integers(-6 * 3600, -1)))  # the clock moved back
        elif jump <= 4:
            clock += timedelta(seconds=draw(st.integers(4 * 3600, 3 * 86400)))
        else:
            clock += timedelta(seconds=draw(st.integers(600, 4 * 3600)))
        style = draw(st.integers(0, 3))
        micro = draw(st.integers(0, 999_999)) if style == 1 else (draw(st.integers(0, 999)) * 1000 if style == 2 else 0)
        moment = clock.replace(microsecond=micro)
        places = draw(st.integers(0, 8))
        amount = Decimal(draw(st.integers(0, 5 * 10**places))) / 10**places
        event = draw(st.sampled_from(["spend"] * 6 + ["burst", "idle", "reset", "topup", "key", "currency", "failed"]))
        if event in ("spend", "burst"):
            spent = amount * (20 if event == "burst" else 1)
            used, balance = used + spent, balance - spent
        elif event == "reset" and not balance_only:
            used = amount  # the relay zeroed its counter (or not quite: any new value)
        elif event == "topup":
            total, balance = total + amount * 10, balance + amount * 10
        elif event == "key":
            key = KEYS[1] if key == KEYS[0] else KEYS[0]
            used, balance = amount, amount * 7
        elif event == "currency":
            currency = "CNY" if currency == "USD" else "USD"
            used, total, balance = used * 7, total * 7, balance * 7
        if not balance_only:
            balance = total - used  # a relay key's quota: what is left of the total
        ok = event != "failed"
        run = draw(st.sampled_from(["report", "check"]))
        fp = None if draw(st.integers(0, 9)) == 0 and n < count else key
        cur = None if draw(st.integers(0, 9)) == 0 and n < count else currency
        snap = Snap(moment, run, ok, fp, cur, balance if ok else None, used if ok and not balance_only else None)
        snaps.append(snap)
        record: dict[str, Any] = {
            "time": time_text(moment, style), "account": "main", "key_fingerprint": fp,
            "provider": "deepseek" if balance_only else "openai-billing", "ok": ok,
            "currency": cur, "balance": plain(snap.balance), "used": plain(snap.used),
            "total": None if balance_only or not ok else plain(total), "unlimited": False,
            "error": None if ok else "HTTP 500",
        }
        if run == "check" or draw(st.booleans()):  # a record without "run" is a report record
            record["run"] = run
        if cur is None and draw(st.booleans()):
            del record["currency"]
        if fp is None and draw(st.booleans()):
            record["key_fingerprint"] = ""  # as blank as null
        if ok and draw(st.integers(0, 9)) == 0:  # typed in by hand as JSON numbers (where a float holds them)
            record.update((k, int(v) if v == v.to_integral_value() else float(v))
                          for k, v in (("balance", snap.balance), ("used", snap.used))
                          if v is not None and Decimal(repr(float(v))) == v)
        raw.append(record)
    assume(len({s.time for s in snaps}) == len(snaps))
    raw.pop()  # this run's record is not in the history yet
    # Another account's records, which must change nothing.
    for _ in range(draw(st.integers(0, 3))):
        moment = T0 + timedelta(seconds=draw(st.integers(0, 10 * 86400)))
        raw.append({"time": time_text(moment, 0), "account": "spare", "key_fingerprint": KEYS[1],
                    "provider": "deepseek", "ok": True, "currency": "USD", "balance": "0.00000001",
                    "used": "999", "run": draw(st.sampled_from(["report", "check"]))})
    return Case(snaps[:-1], raw, snaps[-1], draw(st.sampled_from(["report", "check"])),
                draw(st.sampled_from([1, 2, 90])), draw(st.integers(0, 9)) == 0,
                draw(st.sampled_from([Decimal(1), Decimal("1.5"), Decimal(3)])),
                draw(st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1), Decimal(5)])))


def real(case: Case) -> AccountReport:
    """This run's account line as the program builds it, from the records as the history file gives them."""
    c = case.current
    account = Account(name="main", provider="openai-billing", api_key="sk-" + "k" * 40,
                      spike_factor=case.factor, spike_min_amount=case.least)
    snapshot = Snapshot(c.currency or "USD", c.balance, c.used, None, case.unlimited) if c.ok else None
    result = AccountResult(account, c.time, c.fp or KEYS[0], snapshot, None if c.ok else "HTTP 500")
    records = sorted(parse_all(case.raw), key=lambda r: r.time)  # as HistoryFile.load returns them
    report = build([result], records, c.time, ZONE, "zh", case.retention_days, run=case.run)
    return report.accounts[0]


def agree(case: Case) -> AccountReport:
    """The program's account line, once it agrees with the model on everything."""
    line = real(case)
    c = case.current
    if not c.ok:
        assert (line.ok, line.period, line.burn_rate, line.days_left, line.spike) == (False, None, None, None, None)
        return line
    p = line.period
    assert p is not None
    got = Expected(p.kind, p.reason if p.kind in ("first", "reset") else None, p.since, p.elapsed_seconds, p.usage,
                   p.topup, p.approximate)
    assert got == model_period(case.history, c, case.run, timedelta(days=case.retention_days))

    rate = model_burn_rate(case.history, c, c.time)
    assert line.burn_rate == rate
    assert line.days_left == model_days_left(c.balance, rate, case.unlimited)

    spike = model_spike(case.history, c, case.factor, case.least, timedelta(days=case.retention_days))
    assert (None if line.spike is None else (line.spike.usage, line.spike.usual)) == spike
    return line


@settings(max_examples=int(os.environ.get("USAGE_EXAMPLES", "400")), deadline=None, phases=[Phase.generate])
@given(case=cases())
def test_the_usage_maths_agrees_with_the_specs_model(case: Case) -> None:
    agree(case)


# --- what the model found, as plain examples ------------------------------------------------------------


def by_hand(rows: Sequence[tuple[float, str, str]], run: str = "check", retention_days: int = 90) -> Case:
    """A relay key's records, ``(hours after T0, currency, used)``: a report record, check records, this run."""
    snaps = [Snap(T0 + timedelta(hours=h), "report" if n == 0 else "check", True, KEYS[0], cur,
                  Decimal(100) - Decimal(used), Decimal(used)) for n, (h, cur, used) in enumerate(rows)]
    raw = [{"time": time_text(s.time, 0), "account": "main", "key_fingerprint": s.fp, "provider": "openai-billing",
            "ok": True, "currency": s.currency, "balance": plain(s.balance), "used": plain(s.used), "total": "100",
            "unlimited": False, "error": None, "run": s.run} for s in snaps[:-1]]
    return Case(snaps[:-1], raw, snaps[-1], run, retention_days, False, Decimal(3), Decimal(1))


def hourly(hours: int, currency: str = "USD", per_hour: int = 1) -> list[tuple[float, str, str]]:
    return [(h, currency, str(h * per_hour)) for h in range(hours + 1)]


def test_spending_exactly_factor_times_the_usual_rate_is_a_spike() -> None:
    # $1.10 every 3 hours, then $3.30 in 3 hours with spike_factor 3. Rounded in steps, 26.4 per day fell
    # just under 3 × 8.800…003.
    rows = [(3 * n, "USD", str(Decimal("1.1") * n)) for n in range(6)] + [(18, "USD", "8.8")]
    line = agree(by_hand(rows))
    assert line.spike is not None and (line.spike.rate, line.spike.usual) == (Decimal("26.4"), Decimal("8.8"))


def test_a_relay_switching_its_display_to_cny_is_not_a_spike_nor_a_mixed_burn_rate() -> None:
    # Two days at $1 an hour, the switch (used × 7), then ¥7 an hour: the same spending in another currency.
    rows = [*hourly(48), *((h, "CNY", str(7 * h)) for h in range(52, 81))]
    line = agree(by_hand(rows))
    assert line.spike is None
    assert line.burn_rate == Decimal(168)  # ¥ per day, from the CNY records alone


def test_a_report_over_checks_across_a_currency_change_adds_only_this_currencys_steps() -> None:
    rows = [(0, "USD", "0"), (1, "USD", "1"), (2, "USD", "2"), (3, "CNY", "14"), (4, "CNY", "21")]
    line = agree(by_hand(rows, run="report"))  # the first record is the previous report, checks after it
    assert line.period is not None and (line.period.usage, line.period.approximate) == (Decimal(7), True)


def test_no_spike_when_the_clock_moved_back() -> None:
    rows = [*hourly(6), (8, "USD", "7"), (7, "USD", "11")]  # a record from a clock that ran ahead
    assert agree(by_hand(rows)).spike is None  # check measures no period: nothing to call a spike


def test_no_spike_over_a_period_older_than_retention() -> None:
    rows = [*hourly(6), (31, "USD", "106")]  # retention 1 day: the previous snapshot is past it
    assert agree(by_hand(rows, retention_days=1)).spike is None
