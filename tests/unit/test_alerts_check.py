"""The pure parts of `check`: the spike rule, a report's period over the checks inside it, and which
alerts started or ended against the state kept in the history's state file. No server, no file, no clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from monitor import alerts
from monitor.report import AccountReport, Report
from monitor.usage import Period, Point, Series, Spike, period, spike, usual_rate

T0 = datetime(2026, 11, 21, 1, 17, 3, 412345, tzinfo=timezone.utc)
HALF = timedelta(minutes=30, seconds=1, microseconds=250000)  # a cron check is never exactly on time
KEEP = timedelta(days=90)
FACTOR, MIN = Decimal(3), Decimal(1)


def used_series(steps: list[str], start: str = "7.660000", fp: str | None = "3f2a9c1b") -> list[Point]:
    """Half-hourly snapshots of a relay key whose ``used`` grows by each of ``steps`` in turn."""
    used = Decimal(start)
    points = [Point(T0, fp, Decimal(20) - used, used, "USD")]
    for n, amount in enumerate(steps, 1):
        used += Decimal(amount)
        points.append(Point(T0 + HALF * n, fp, Decimal(20) - used, used, "USD"))
    return points


def after(points: list[Point], spent: str, total: str = "20", gap: timedelta = HALF) -> Point:
    last = points[-1]
    assert last.used is not None
    used = last.used + Decimal(spent)
    return Point(last.time + gap, last.fingerprint, Decimal(total) - used, used, "USD")


def spiked(points: list[Point], current: Point, factor: Decimal = FACTOR, min_amount: Decimal = MIN) -> Spike | None:
    """The spike rule at ``current``, after ``points`` (in the order of runs), over the default 30 minutes."""
    return spike(Series([*points, current]), factor, min_amount)


def usual(points: list[Point]) -> Fraction | None:
    """The usual rate (per day) up to the last of ``points``."""
    return usual_rate(Series(points), len(points) - 1)


def over(points: list[Point], current: Point) -> Period:
    """A report's period: from the first of ``points`` (its previous report) over the rest to ``current``."""
    return period(Series([*points, current]), 0 if points else None, KEEP)


# --- spike ------------------------------------------------------------------------------------------------


def test_fewer_than_four_periods_never_spike_however_large_the_spend() -> None:
    points = used_series(["0.012345", "0.013579", "0.011111"])  # three periods
    assert spiked(points, after(points, "9.876543")) is None
    points = used_series(["0.012345", "0.013579", "0.011111", "0.012000"])  # four: now it may
    found = spiked(points, after(points, "9.876543"))
    assert found is not None and found.usage == Decimal("9.876543")


def test_the_usual_rate_is_the_median_so_one_earlier_burst_does_not_raise_it() -> None:
    points = used_series(["0.010000", "0.020000", "5.000000", "0.030000", "0.010000"])
    seconds = Fraction(str(HALF.total_seconds()))
    assert usual(points) == Fraction("0.020000") * 86400 / seconds
    found = spiked(points, after(points, "0.200000"), FACTOR, Decimal("0.1"))
    assert found is not None and found.factor is not None and found.factor == Decimal(10)


def test_a_spend_just_under_the_factor_is_no_spike_and_at_the_factor_is_one() -> None:
    points = used_series(["0.500000"] * 6)
    assert spiked(points, after(points, "1.499999")) is None
    found = spiked(points, after(points, "1.500000"))
    assert found is not None and found.factor == Decimal(3)


def test_spike_min_amount_keeps_small_spends_quiet_even_at_many_times_the_rate() -> None:
    points = used_series(["0.001000"] * 10)
    assert spiked(points, after(points, "0.999999")) is None  # 1000× but under $1
    assert spiked(points, after(points, "0.999999"), FACTOR, Decimal("0.5")) is not None


def test_an_idle_week_then_a_spend_of_spike_min_amount_is_a_spike_with_no_factor() -> None:
    points = used_series(["0"] * 336)  # a week of half-hourly checks, nothing spent
    assert spiked(points, after(points, "0.999999")) is None
    found = spiked(points, after(points, "5.000000"))
    assert found == Spike(Decimal("5.000000"), int(HALF.total_seconds()), found.rate if found else Decimal(0),
                          Decimal(0))
    assert found is not None and found.factor is None  # "after 7 days with almost none"


def test_only_the_previous_seven_days_count_for_the_usual_rate() -> None:
    # A busy month ago, then four quiet periods: the old busy periods do not hide today's spike.
    old = used_series(["3.000000"] * 20)
    recent = [Point(p.time + timedelta(days=30), p.fingerprint, p.balance, p.used, p.currency)
              for p in used_series(["0.010000"] * 4, start="67.660000")]
    assert usual(old + recent) == Fraction("0.010000") * 86400 / Fraction(str(HALF.total_seconds()))

    assert spiked(old + recent, after(recent, "2.000000", total="100")) is not None


def test_resets_and_top_ups_are_left_out_of_the_usual_rate_and_never_spike() -> None:
    points = used_series(["0.500000"] * 3)
    reset = Point(points[-1].time + HALF, points[-1].fingerprint, Decimal(20), Decimal(0), "USD")
    points.append(reset)
    assert usual(points) is None  # three usage periods and a reset: not enough
    # A reset as the last step is no spend at all, however large used was before.
    busy = used_series(["0.010000"] * 8)
    assert spiked(busy, Point(busy[-1].time + HALF, "3f2a9c1b", Decimal(20), Decimal("0.000001"), "USD")) is None
    # A new key (fingerprint changed) is a reset too, even though its used is higher.
    assert spiked(busy, Point(busy[-1].time + HALF, "b0b0b0b0", Decimal(10), Decimal(50), "USD")) is None


def test_an_unlimited_key_spikes_on_used_alone() -> None:
    used = Decimal("1.500000")
    points = []
    for n in range(8):
        points.append(Point(T0 + HALF * n, "aa11bb22", None, used, "USD"))  # no balance: unlimited
        used += Decimal("0.020000")
    current = Point(points[-1].time + HALF, "aa11bb22", None, used + Decimal("2.468013"), "USD")
    found = spiked(points, current)
    assert found is not None and found.usage == Decimal("2.488013")


def test_a_short_gap_is_judged_over_the_window_back_to_an_older_snapshot() -> None:
    # The report at 09:05 comes 18 minutes after the 08:47 check: it judges the 48 minutes since 08:17, so a
    # leak that began before the check is not lost between the check and the report.
    points = used_series(["0.300000"] * 6)
    found = spiked(points, after(points, "2.000000", gap=timedelta(minutes=18)), FACTOR, Decimal("0.4"))
    assert found is not None
    span = int((HALF + timedelta(minutes=18)).total_seconds())
    assert (found.usage, found.elapsed_seconds) == (Decimal("2.300000"), span)
    # The usual spend over those 48 minutes is no spike, however short the last gap.
    assert spiked(points, after(points, "0.300000", gap=timedelta(minutes=18)), FACTOR, Decimal("0.4")) is None
    assert spiked(points, after(points, "0.300000", gap=timedelta(minutes=5)), FACTOR, Decimal("0.4")) is None


# --- a report's period over the checks inside it --------------------------------------------------------


def balance_series(balances: list[str]) -> list[Point]:
    return [Point(T0 + HALF * n, "5d1c0e77", Decimal(b), None, "CNY") for n, b in enumerate(balances)]


def test_a_top_up_between_two_checks_leaves_the_period_exact() -> None:
    points = balance_series(["110.000000", "109.876544", "109.500000", "209.500000", "209.123457"])
    p = over(points[:-1], points[-1])
    assert (p.kind, p.usage, p.topup, p.approximate) == ("usage", Decimal("0.876543"), Decimal(100), False)
    assert p.since == T0 and p.elapsed_seconds == int((HALF * 4).total_seconds())


def test_a_reset_between_two_checks_makes_the_period_approximate_with_the_other_steps_counted() -> None:
    points = used_series(["0.250000", "0.125000"])
    reset = Point(points[-1].time + HALF, points[-1].fingerprint, Decimal(30), Decimal(0), "USD")
    later = Point(reset.time + HALF, reset.fingerprint, Decimal("29.5"), Decimal("0.5"), "USD")
    p = over([*points, reset], later)
    assert (p.kind, p.usage, p.approximate, p.reason) == ("reset", Decimal("0.875000"), True, "reset")


def test_a_period_of_only_resets_shows_no_made_up_usage() -> None:
    points = used_series(["0.250000"])
    reset = Point(points[-1].time + HALF, points[-1].fingerprint, Decimal(30), Decimal("0.1"), "USD")
    again = Point(reset.time + HALF, reset.fingerprint, Decimal(30), Decimal("0.05"), "USD")
    p = over([points[-1], reset], again)
    assert (p.kind, p.usage, p.approximate) == ("reset", None, True)


def test_a_period_of_only_top_ups_is_a_top_up() -> None:
    points = balance_series(["10.000000", "60.000000", "110.000000"])
    p = over(points[:-1], points[-1])
    assert (p.kind, p.usage, p.topup) == ("topup", None, Decimal(100))


def test_a_relay_key_whose_quota_was_raised_says_by_how_much() -> None:
    points = used_series(["0.123456"])
    raised = after(points, "0.010001", total="30")  # $10 added to the grant, $0.010001 spent meanwhile
    p = over([points[-1]], raised)
    assert (p.kind, p.usage, p.topup) == ("usage", Decimal("0.010001"), Decimal(10))
    p = over(points, raised)
    assert (p.kind, p.usage, p.topup) == ("usage", Decimal("0.133457"), Decimal(10))


def test_no_previous_report_is_a_first_record_and_a_clock_that_moved_back_still_counts_usage() -> None:
    current = used_series(["0.5"])[-1]
    assert current.used is not None and current.balance is not None
    assert over([], current).kind == "first"
    # The previous report's clock was a minute ahead: the usage is shown, without a duration.
    ahead = Point(current.time + timedelta(minutes=1), current.fingerprint, current.balance + Decimal("0.25"),
                  current.used - Decimal("0.25"), "USD")
    p = over([ahead], current)
    assert (p.kind, p.usage, p.elapsed_seconds, p.reason) == ("usage", Decimal("0.25"), None, "clock")


# --- alerts: what changed against the state ---------------------------------------------------------------

NOW = datetime(2026, 11, 28, 14, 47, 12, 345678, tzinfo=timezone.utc)


def account(name: str = "main", ok: bool = True, balance: str | None = "12.340000", low: bool = False,
            the_spike: Spike | None = None, topup: str | None = None, error: str | None = None) -> AccountReport:
    period = Period("usage", NOW - HALF, int(HALF.total_seconds()), Decimal("0.012345"),
                    topup=Decimal(topup) if topup else None) if ok else None
    return AccountReport(
        name, "openai-billing", ok, error if not ok else None, "USD", Decimal(balance) if ok and balance else None,
        None, None, False, None, period, None, None, (), low, False, Decimal(5), the_spike)


def report(*accounts: AccountReport, language: str = "zh") -> Report:
    return Report(NOW, language, accounts, {})


def changes(r: Report, state: dict[str, Any], repeat_hours: float = 0) -> list[tuple[str, str, bool, bool]]:
    return [(c.account, c.condition, c.started, c.repeat) for c in alerts.changes(r, state, NOW, repeat_hours)]


LEAK = Spike(Decimal("12.000000"), 5400, Decimal("192"), Decimal("24"))


def test_nothing_active_and_nothing_posted_before_is_no_change() -> None:
    assert changes(report(account(), account("spare")), {}) == []


def test_a_low_balance_starts_once_with_its_numbers_then_stays_quiet() -> None:
    r = report(account(balance="1.234567", low=True))
    found = alerts.changes(r, {}, NOW, 0)
    assert [(c.condition, c.started) for c in found] == [("low", True)]
    assert alerts.lines(r, found) == ["⚠️ main：余额不足，剩余 $1.2346（阈值 $5.0000）"]
    state = alerts.next_state(r, {}, NOW, found)
    assert state == {"main": {"low": "2026-11-28T14:47:12+00:00"}}
    assert changes(r, state) == []


def test_a_recovery_says_by_how_much_it_was_topped_up() -> None:
    state = {"main": {"low": "2026-11-28T06:17:00+00:00"}}
    r = report(account(balance="21.234567", topup="20.000000"))
    found = alerts.changes(r, state, NOW, 0)
    assert alerts.lines(r, found) == ["✅ main 已恢复：充值 $20.0000，剩余 $21.2346"]
    assert alerts.title(r, found).startswith("✅") and alerts.state_of(found) == "ok"
    assert alerts.next_state(r, state, NOW, found) == {}


def test_a_failed_query_keeps_low_and_spike_and_is_no_recovery() -> None:
    state = {"main": {"low": "2026-11-28T06:17:00+00:00", "spike": "2026-11-28T06:47:00+08:00"}}
    r = report(account(ok=False, error="HTTP 500 from the relay"))
    found = alerts.changes(r, state, NOW, 0)
    assert [(c.condition, c.started) for c in found] == [("failed", True)]  # no "low ended", no "spike ended"
    assert alerts.lines(r, found) == ["❌ main：查询失败：HTTP 500 from the relay"]
    assert alerts.state_of(found) == "failed"
    state = alerts.next_state(r, state, NOW, found)
    assert set(state["main"]) == {"failed", "low", "spike"}
    assert state["main"]["low"] == "2026-11-28T06:17:00+00:00"  # kept as it was posted
    # The query works again and the key is still low: only the failure ended (that the spending is back
    # to usual is no green news for a key that is still low: it is dropped without a message).
    back = report(account(balance="1.5", low=True))
    assert changes(back, state) == [("main", "failed", False, False)]
    assert alerts.next_state(back, state, NOW, []) == {"main": {"low": "2026-11-28T06:17:00+00:00"}}


def test_a_spike_line_has_the_numbers_and_the_reason() -> None:
    r = report(account(the_spike=LEAK))
    found = alerts.changes(r, {}, NOW, 0)
    assert alerts.lines(r, found) == [
        "🔥 main：用量异常：过去 1 小时 30 分钟用量 $12.0000，约为近 7 天常态速率的 8.0 倍"]
    idle = report(account(the_spike=Spike(Decimal("5"), 1800, Decimal("240"), Decimal(0))), language="en")
    assert alerts.lines(idle, alerts.changes(idle, {}, NOW, 0)) == [
        "🔥 main: Unusual spending: $5.0000 in the past 30 min, after 7 days with almost none"]


def test_repeat_hours_reposts_a_still_active_alert_once_that_long_has_passed() -> None:
    r = report(account(balance="1.234567", low=True))
    posted = {"main": {"low": (NOW - timedelta(hours=5, minutes=59)).isoformat()}}
    assert changes(r, posted, repeat_hours=6) == []
    assert changes(r, posted, repeat_hours=0) == []
    due = {"main": {"low": (NOW - timedelta(hours=6)).isoformat()}}
    found = alerts.changes(r, due, NOW, 6)
    assert [(c.condition, c.started, c.repeat) for c in found] == [("low", True, True)]
    assert alerts.lines(r, found)[0].endswith("（仍未恢复）")
    assert alerts.next_state(r, due, NOW, found)["main"]["low"] == "2026-11-28T14:47:12+00:00"


def test_a_state_edited_by_hand_is_read_as_far_as_it_makes_sense() -> None:
    state: dict[str, Any] = {"main": {"low": "yesterday", "spike": "2026-11-28T01:05:00Z", "odd": "x"},
                             "spare": "broken", "gone": {"low": "2026-11-28T01:05:00+08:00"}}
    r = report(account(the_spike=LEAK), account("spare"))
    assert changes(r, state) == []  # main's spike was posted; its unreadable "low" counts as not posted
    assert alerts.next_state(r, state, NOW, []) == {"main": {"spike": "2026-11-28T01:05:00+00:00"}}


def test_changes_come_alerts_first_then_recoveries() -> None:
    state = {"spare": {"failed": "2026-11-28T06:17:00+00:00"}}
    r = report(account(balance="1.234567", low=True), account("spare", balance="40.000000"))
    found = alerts.changes(r, state, NOW, 0)
    assert alerts.lines(r, found) == ["⚠️ main：余额不足，剩余 $1.2346（阈值 $5.0000）", "✅ spare 已恢复：查询恢复正常"]
    assert alerts.title(r, found).startswith("🚨") and alerts.state_of(found) == "low"


def test_two_snapshots_in_one_second_are_taken_in_the_order_of_runs_and_counted_once() -> None:
    # Times are saved to the second: a check and the report started together at boot by their timers
    # leave two records with one time. Their order is the order of runs: the step between them counts its
    # spend once, has no rate, and is never counted again by a later run.
    points = used_series(["0.100000"] * 8)
    first = after(points, "0.100000")
    assert first.used is not None and first.balance is not None
    second = Point(first.time, first.fingerprint, first.balance - Decimal("0.05"), first.used + Decimal("0.05"), "USD")
    series = Series([*points, first, second])
    last = series.steps[-1]
    assert last is not None and (last.kind, last.amount, last.seconds) == ("usage", Decimal("0.05"), 0)
    p = period(series, len(points), KEEP)
    assert (p.usage, p.elapsed_seconds, p.reason) == (Decimal("0.05"), 0, "same_second")
    # The step without time is left out of the usual rate (no division by zero, no infinite rate).
    assert usual(points) == usual([*points, first, second]) == Fraction("0.100000") * 86400 / Fraction("1801.25")
    later = Point(second.time + HALF, second.fingerprint, second.balance, second.used, "USD")
    assert spiked([*points, first, second], later) is None  # nothing spent since: the 0.05 is not counted again
