"""Period usage never subtracts amounts in different currencies (a relay switching to CNY, a DeepSeek
account whose first balance entry changed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from monitor.collect import AccountResult
from monitor.config import Account
from monitor.report import build
from monitor.report.site import render
from monitor.snapshot import Snapshot
from monitor.usage import Period, Point, Series, burn_rate, period
from tests.support.history_support import past

T0 = datetime(2026, 11, 27, 13, 5, tzinfo=timezone.utc)
RETENTION = timedelta(days=90)


def point(hours: float, balance: str, currency: str | None) -> Point:
    return Point(T0 + timedelta(hours=hours), "3f2a9c1b", Decimal(balance), None, currency)


def over(*points: Point) -> Period:
    """The period from the first of ``points`` to the last (in the order of runs)."""
    return period(Series(points), 0, RETENTION)


def test_a_currency_change_gives_no_period_usage_and_says_why() -> None:
    got = over(point(0, "20", "USD"), point(12, "146", "CNY"))
    assert (got.kind, got.usage, got.topup, got.reason) == ("first", None, None, "not_comparable")
    assert got.previous_currency == "USD"  # "币种变更：USD → CNY"


def test_same_currency_still_counts_usage_and_top_ups() -> None:
    assert over(point(0, "110", "CNY"), point(12, "97.5", "CNY")).usage == Decimal("12.5")
    assert over(point(0, "97.5", "CNY"), point(12, "197.5", "CNY")).topup == Decimal(100)


def test_a_record_without_currency_compares_with_any() -> None:
    assert over(point(0, "110", None), point(12, "100", "CNY")).usage == Decimal(10)


def test_burn_rate_skips_the_step_across_a_currency_change() -> None:
    # Neither the amount nor the 12 h of the step from USD to CNY count: 20 spent over the 24 h in CNY.
    points = Series([point(0, "20", "USD"), point(12, "146", "CNY"), point(24, "136", "CNY"),
                     point(36, "126", "CNY")])
    assert burn_rate(points, T0 + timedelta(hours=36)) == Decimal(20)
    assert burn_rate(points.in_money("CNY"), T0 + timedelta(hours=36)) == Decimal(20)


def test_the_report_names_the_currencies_of_the_change() -> None:
    account = Account("relay", "openai-billing", "sk-test", base_url="https://relay.example.com")
    before = {"time": T0.isoformat(), "account": "relay", "key_fingerprint": "3f2a9c1b", "ok": True,
              "currency": "USD", "balance": "20"}
    now = T0 + timedelta(hours=12)
    result = AccountResult(account, now, "3f2a9c1b", Snapshot("CNY", Decimal("146")), None)
    text = render(build([result], past([before]), now, timezone.utc, "zh", 90))
    assert "币种变更：USD → CNY，本时段不计用量" in text
