"""The usage maths, pure: no server, no file, no clock."""

from __future__ import annotations

import random
import statistics
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from monitor.report.words import elapsed
from monitor.usage import (
    Period,
    Point,
    Series,
    burn_rate,
    daily_usage,
    days_left,
    period,
    sparkline,
    spike,
    trend,
    usual_rate,
)

T0 = datetime(2026, 11, 27, 13, 5, tzinfo=timezone.utc)
KEEP = timedelta(days=90)


def pt(hours: float, used: str | None = None, balance: str | None = None, fp: str | None = "aaaa") -> Point:
    return Point(T0 + timedelta(hours=hours), fp, Decimal(balance) if balance else None,
                 Decimal(used) if used else None)


def over(*points: Point) -> Period:
    """The period from the first of ``points`` to the last, in the order given (the order of runs)."""
    return period(Series(points), 0 if len(points) > 1 else None, KEEP)


def test_first_record_has_no_period_usage() -> None:
    p = over(pt(0, used="5"))
    assert p.kind == "first" and p.usage is None


def test_usage_is_the_increase_of_used_with_the_elapsed_time() -> None:
    p = over(pt(0, used="7.6600"), pt(12, used="8.8945"))
    assert (p.kind, p.usage, p.elapsed_seconds) == ("usage", Decimal("1.2345"), 43200)


def test_a_decrease_of_used_is_a_reset_never_negative_usage() -> None:
    p = over(pt(0, used="9"), pt(12, used="1"))
    assert p.kind == "reset" and p.usage is None


def test_a_changed_key_fingerprint_is_a_reset_even_if_used_grew() -> None:
    p = over(pt(0, used="1", fp="aaaa"), pt(12, used="5", fp="bbbb"))
    assert p.kind == "reset" and p.reason == "key_changed"


def test_a_hand_edited_record_without_fingerprint_counts_as_the_same_key() -> None:
    p = over(pt(0, used="1", fp=None), pt(12, used="5", fp="bbbb"))
    assert (p.kind, p.usage) == ("usage", Decimal("4"))


def test_balance_only_providers_use_the_balance_drop_and_see_top_ups() -> None:
    assert over(pt(0, balance="10"), pt(12, balance="7.5")).usage == Decimal("2.5")
    topup = over(pt(0, balance="10"), pt(12, balance="60"))
    assert (topup.kind, topup.usage, topup.topup) == ("topup", None, Decimal("50"))


def test_a_previous_snapshot_in_the_future_still_counts_its_usage_without_a_duration() -> None:
    # The runs' order says which came first; the clock moved back, so there is no duration to show.
    p = over(pt(5, used="1"), pt(0, used="2"))
    assert (p.kind, p.usage, p.elapsed_seconds, p.reason) == ("usage", Decimal(1), None, "clock")


def test_two_runs_in_one_second_count_their_usage_and_are_no_clock_step() -> None:
    p = over(pt(0, used="1"), pt(0, used="1.25"))
    assert (p.kind, p.usage, p.elapsed_seconds, p.reason) == ("usage", Decimal("0.25"), 0, "same_second")


def test_elapsed_time_reads_in_hours_and_minutes() -> None:
    assert elapsed(43200, "zh") == "12 小时"
    assert elapsed(12 * 3600 + 5 * 60 + 20, "zh") == "12 小时 5 分钟"
    assert elapsed(59 * 60 + 40, "en") == "1 h"


def test_burn_rate_needs_24_hours_then_averages_per_day() -> None:
    points = Series([pt(0, used="0"), pt(12, used="1")])
    assert burn_rate(points, points.points[-1].time) is None
    points = Series([pt(0, used="0"), pt(12, used="1"), pt(24, used="2"), pt(36, used="3")])
    rate = burn_rate(points, points.points[-1].time)
    assert rate == Decimal(2)
    assert days_left(Decimal(10), rate) == Decimal(5)


def test_burn_rate_leaves_out_resets_and_top_ups() -> None:
    points = Series([pt(0, balance="10"), pt(24, balance="8"), pt(36, balance="50"), pt(48, balance="48")])
    assert burn_rate(points, points.points[-1].time) == Decimal(2)


def test_a_step_back_in_time_counts_its_usage_but_not_its_time_twice_in_the_burn_rate() -> None:
    # Runs in order: 0 h, 24 h, then a run whose clock read 12 h (it moved back), then 48 h.
    points = Series([pt(0, used="0"), pt(24, used="2"), pt(12, used="3"), pt(48, used="5")])
    # 5 spent over the 48 hours the snapshots span: the 36 h "step" from 12 h to 48 h is not added to the
    # 24 h already counted (that would make it 60 h and the rate 2 a day).
    assert burn_rate(points, points.points[-1].time) == Decimal("2.5")


def test_a_snapshot_from_the_future_does_not_stretch_the_burn_rate() -> None:
    # The third run's clock was a day ahead (72 h); the fourth, at 48 h, is right again.
    points = Series([pt(0, used="0"), pt(24, used="2"), pt(72, used="3"), pt(48, used="4")])
    assert burn_rate(points, points.points[-1].time) == Decimal(2)  # 4 over 48 h


def test_sparkline_scales_to_the_largest_day_and_leaves_gaps() -> None:
    assert sparkline([Decimal(0), Decimal(1), None, Decimal(2)]) == "▁▅ █"


def half_hours(count: int, step: str, start_used: str = "10") -> list[Point]:
    """A check every half hour (and a second of cron's start-up jitter either way), spending ``step``."""
    used = Decimal(start_used)
    found = []
    for n in range(count):
        found.append(pt(n / 2 + (n % 3 - 1) / 3600, used=f"{used:f}"))
        used += Decimal(step)
    return found


def test_a_clock_stepped_back_makes_no_spike_of_the_hours_in_between() -> None:
    quiet = half_hours(40, "0.2")  # 20 hours at $0.20 a half hour
    last = quiet[-1]
    back = Point(last.time - timedelta(hours=10), "aaaa", None, last.used + Decimal("0.2"))  # NTP stepped back
    assert spike(Series([*quiet, back]), Decimal(3), Decimal(1)) is None


def test_a_leak_before_a_check_whose_clock_went_back_is_judged_at_that_check() -> None:
    """Found by the on-call trial: the step into a check whose clock NTP had not yet fixed (9 hours behind)
    took "less than no time", but its money was spent: the leak in it is alerted at that check, not one later."""
    quiet = half_hours(40, "0.200001")  # 20 hours at $0.20 a half hour
    last = quiet[-1]
    assert last.used is not None
    back = Point(last.time + timedelta(minutes=30) - timedelta(hours=9), "aaaa", None, last.used + Decimal("2.000001"))
    found = spike(Series([*quiet, back]), Decimal(3), Decimal(1))
    # The leak's $2.000001 with the half hour before it (whose time is the span's: the step back has none).
    assert found is not None and found.usage == Decimal("2.200002")
    assert found.elapsed_seconds == int((last.time - quiet[-2].time).total_seconds())


def test_a_second_of_jitter_does_not_double_the_span_a_spike_is_judged_over() -> None:
    points = half_hours(30, "0.06")
    used = points[-1].used
    assert used is not None
    # The next check starts a second early: its previous snapshot is 29 min 59 s old.
    leak = Point(points[-1].time + timedelta(minutes=29, seconds=59), "aaaa", None, used + Decimal("1.2"))
    found = spike(Series([*points, leak]), Decimal(3), Decimal(1))
    assert found is not None and found.usage == Decimal("1.2") and found.elapsed_seconds == 1799


def test_a_day_with_nothing_measured_has_no_usage_rather_than_zero() -> None:
    # A relay channel that was never refreshed: snapshots with neither a balance nor a used amount.
    blank = Series([pt(0), pt(12), pt(24)])
    assert daily_usage(blank, timezone.utc) == {}
    assert trend(blank, timezone.utc, (T0 + timedelta(hours=24)).date(), 3) == [None, None, None]


def test_daily_usage_is_each_local_days_steps_whether_the_clock_went_forward_or_back() -> None:
    """Half-hourly snapshots across New York's change to winter time: each step counts on the local day of its
    later snapshot, found by bisection while times go forward and step by step once the clock went back."""
    zone = ZoneInfo("America/New_York")
    start = datetime(2026, 10, 30, 2, 17, tzinfo=timezone.utc)
    forward = [Point(start + timedelta(minutes=30 * n), "aaaa", None, Decimal(n * n).scaleb(-6)) for n in range(300)]
    back = forward[:150] + [Point(p.time - timedelta(hours=9), "aaaa", None, p.used) for p in forward[150:]]
    for points in (forward, back):
        expected: dict[date, Decimal] = {}
        for before, after in zip(points, points[1:]):
            day = after.time.astimezone(zone).date()
            expected[day] = expected.get(day, Decimal(0)) + after.used - before.used  # type: ignore[operator]
        found = daily_usage(Series(points), zone)
        assert {day: usage for day, (usage, _) in found.items()} == expected
        since = min(expected) + timedelta(days=2)
        assert daily_usage(Series(points), zone, since) == {d: v for d, v in found.items() if d >= since}


SPENDS = {  # how much each half-hour step spends, by the kind of week, and how late or early cron starts it (µs)
    "steady": (lambda rng: Decimal("0.012500"), 0),  # one spend all week: hundreds of equal rates
    "near": (lambda rng: Decimal("0.01") + rng.randrange(4) * Decimal("1E-24"), 0),  # a float cannot tell them apart
    "tiny": (lambda rng: rng.randrange(4) * Decimal("1E-330"), 0),  # a float makes them all 0
    "real": (lambda rng: Decimal(rng.randrange(0, 3_000_000)) / 1_000_000, 2_000_000),  # six decimals, some idle
}


@pytest.mark.parametrize("week", SPENDS)
@pytest.mark.parametrize("seed", range(12))
def test_the_usual_rate_is_the_exact_median_of_the_weeks_rates(week: str, seed: int) -> None:
    """A week of half-hourly checks, each step's spend per day exactly: the median is the exact middle one
    (or the mean of the two), however close the rates are to each other."""
    rng = random.Random(seed)
    spend, jitter = SPENDS[week]
    moment, used = datetime(2026, 11, 27, 1, 17, 0, 318207, tzinfo=timezone.utc), Decimal(0)
    points = [Point(moment, "aaaa", None, used, "USD", "check")]
    for _ in range(rng.randrange(4, 330)):  # at most a week of half hours: every step is in it
        moment += timedelta(minutes=30, microseconds=rng.randint(-jitter, jitter))
        used += spend(rng)
        points.append(Point(moment, "aaaa", None, used, "USD", "check"))
    rates = [Fraction(b.used - a.used) * 86400 / Fraction((b.time - a.time).total_seconds())  # type: ignore[operator]
             for a, b in zip(points, points[1:])]
    assert usual_rate(Series(points), len(points) - 1) == statistics.median(rates)


@pytest.mark.parametrize("before", [[], [-2.0, -3.0]], ids=["forward", "clock-back-before-the-week"])
def test_the_usual_rates_week_begins_at_the_snapshot_exactly_seven_days_old(before: list[float]) -> None:
    """A snapshot exactly 7×24 h before the last one opens the week: the step into it (from an older one) is
    left out, the step out of it is in. Found by bisection while the clock only went forward, step by step
    once it went back (here before the week); either way the same week."""
    low, high = Decimal("0.010000"), Decimal("0.030000")
    times = [*before, -0.5] + [n / 2 for n in range(7 * 48 + 1)]  # 0 h is exactly a week before the last
    spends = [Decimal(0)] * (len(before) + 1) + [Decimal("9")]  # into 0 h: a burst from before the week
    spends += [low if n % 2 else high for n in range(1, 7 * 48 + 1)]  # out of 0 h: a low one; half and half
    used, points = Decimal(0), []
    for hours, spent in zip(times, spends):
        used += spent
        points.append(pt(hours, used=f"{used:f}"))
    # 336 steps, half low, half high: the mean of the two. One step more or less on either side would make
    # the median the high rate.
    per_day = 86400 / Fraction(1800)
    assert usual_rate(Series(points), len(points) - 1) == (Fraction(low) + Fraction(high)) * per_day / 2
