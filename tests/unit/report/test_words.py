"""How the report, the card and the alert messages say things: durations as people say them, the footnote
only where it applies, a change of currency, runs in one second and clock steps. Pure: no server, no file."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from monitor import alerts
from monitor.notify.feishu_card import card
from monitor.report import AccountReport, Report
from monitor.report.site import render
from monitor.report.text import period_line, spike_line
from monitor.report.words import elapsed
from monitor.usage import Period, Spike

NOW = datetime(2026, 11, 28, 14, 47, 12, 345678, tzinfo=timezone(timedelta(hours=8)))
USED = Decimal("0.012345")  # six decimals, as relays give them: shown $0.0123


def account(period: Period | None = None, currency: str = "USD", name: str = "main", spike: Spike | None = None,
            ok: bool = True, error: str | None = None, note: str | None = None, low: bool = False) -> AccountReport:
    return AccountReport(
        name, "openai-billing", ok, error, currency, Decimal("12.340001") if ok else None, Decimal("7.659999"),
        None, False, note, period, None, None, (), low, False, Decimal(5), spike,
        exhausted=low and note == "quota exhausted")  # as a relay's "quota used up" answer makes it


def usage(seconds: int, amount: Decimal | None = USED, kind: str = "usage", topup: Decimal | None = None,
          reason: str | None = None) -> Period:
    return Period(kind, NOW - timedelta(seconds=seconds), seconds, amount, topup, reason)


def card_words(report: Report) -> str:
    built = card(report, report.accounts)
    texts = [built["header"]["title"]["content"]]
    for element in built["elements"]:
        if element["tag"] == "div":
            texts.append(element["text"]["content"])
        elif element["tag"] == "note":
            texts += [e["content"] for e in element["elements"]]
    return "\n".join(texts)


# --- durations ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "zh", "en"), [
    (29, "29 秒", "29 s"),
    (89, "1 分钟", "1 min"),
    (90, "2 分钟", "2 min"),  # 1.5 min, half-up
    (150, "3 分钟", "3 min"),  # 2.5 min: half-up, where half-to-even said 2
    (30 * 60 + 29, "30 分钟", "30 min"),
    (2 * 3600, "2 小时", "2 h"),
    (2 * 3600 + 5 * 60 - 30, "2 小时 5 分钟", "2 h 5 min"),
    (12 * 3600 + 10 * 60 + 3, "12 小时 10 分钟", "12 h 10 min"),
    (24 * 3600 - 20, "1 天", "1 d"),
    (3 * 86400, "3 天", "3 d"),
    (3 * 86400 + 4 * 3600 + 29 * 60 + 40, "3 天 4 小时", "3 d 4 h"),  # 4 h 29 min 40 s: not 4 h 30 min, then 5 h
    (3 * 86400 + 4 * 3600 + 30 * 60, "3 天 5 小时", "3 d 5 h"),
    (40 * 86400 + 7 * 60, "40 天", "40 d"),
])
def test_durations_read_as_people_say_them(seconds: int, zh: str, en: str) -> None:
    assert (elapsed(seconds, "zh"), elapsed(seconds, "en")) == (zh, en)


def test_the_text_the_card_the_alert_and_the_spike_line_share_the_durations() -> None:
    leak = Spike(Decimal("1.208641"), 90, Decimal("1160.295360"), Decimal("2.901234"))
    a = account(usage(150), spike=leak)
    zh, en = Report(NOW, "zh", (a,), {}), Report(NOW, "en", (a,), {})
    assert "在过去的 3 分钟用量为：$0.0123" in render(zh) and "在过去的 3 分钟用量为：$0.0123" in card_words(zh)
    assert "Usage in the past 3 min: $0.0123" in render(en)
    assert spike_line(a, "zh") == "⚠️ 用量异常：过去 2 分钟用量 $1.2086，约为近 7 天常态速率的 399.9 倍"
    assert alerts.lines(zh, [alerts.Change("main", "spike", True)]) == [
        "🔥 main：用量异常：过去 2 分钟用量 $1.2086，约为近 7 天常态速率的 399.9 倍"]
    assert alerts.lines(en, [alerts.Change("main", "spike", True)]) == [
        "🔥 main: Unusual spending: $1.2086 in the past 2 min, about 399.9× the usual rate of 7 days"]
    forty = account(usage(40 * 86400 + 7 * 60))
    assert period_line(forty, "zh") == "在过去的 40 天用量为：$0.0123"
    assert period_line(forty, "en") == "Usage in the past 40 d: $0.0123"


# --- the footnote -------------------------------------------------------------------------------------


def test_the_footnote_stands_only_under_a_report_with_an_approximate_period() -> None:
    topup = usage(150, None, kind="topup", topup=Decimal("100.000001"))
    plain = Report(NOW, "zh", (account(usage(43200 + 603)), account(topup, name="spare")), {})
    assert "注：" not in render(plain) and "注：" not in card_words(plain)
    reset = Period("reset", NOW - timedelta(hours=12), 43200, USED, reason="reset", approximate=True)
    rough = Report(NOW, "en", (account(usage(150)), account(reset, name="spare")), {})
    assert render(rough).rstrip().endswith("a reset or a new key in between makes it approximate.")
    assert "Note: period usage is the difference" in card_words(rough)
    changed = Period("reset", NOW - timedelta(hours=12), 43200, None, reason="key_changed")
    assert "注：" in render(Report(NOW, "zh", (account(changed),), {}))


# --- a change of currency -----------------------------------------------------------------------------


def test_a_currency_switch_says_so_not_a_reset() -> None:
    switched = Period("first", NOW - timedelta(hours=12), 43200 + 150, None, reason="not_comparable",
                      previous_currency="USD")
    a = account(switched, currency="CNY")
    assert period_line(a, "zh") == "币种变更：USD → CNY，本时段不计用量"
    assert period_line(a, "en") == "Currency changed: USD → CNY, no usage counted for this period"
    # Over a report's period, the checks after the switch still measured CNY usage.
    after = Period("reset", NOW - timedelta(hours=12), 43200 + 150, Decimal("2.991800"), reason="reset",
                   approximate=True, previous_currency="USD")
    line = period_line(account(after, currency="CNY"), "zh")
    assert line == "在过去的 12 小时 3 分钟用量约为：¥2.9918（币种变更：USD → CNY，变更前的用量不计）"
    assert "重置" not in line


# --- runs in one second, and clock steps --------------------------------------------------------------


def test_two_runs_in_the_same_second_show_the_usage_and_say_nothing_of_a_clock() -> None:
    same = account(usage(0, reason="same_second"))
    assert period_line(same, "zh") == "用量为：$0.0123（与上次运行在同一秒）"
    assert period_line(same, "en") == "Usage: $0.0123 (in the same second as the previous run)"
    nothing = account(Period("first", NOW, 0, None, reason="same_second"))
    for language in ("zh", "en"):
        for line in (period_line(same, language), period_line(nothing, language)):
            assert "时钟" not in line and "clock" not in line and "0 分钟" not in line and " 0 s" not in line


def test_a_clock_step_back_shows_the_usage_without_a_duration_and_says_the_clock_moved() -> None:
    back = account(usage(-3598, reason="clock"))
    zh = period_line(back, "zh")
    assert zh.startswith("用量为：$0.0123（") and "系统时钟被调整过" in zh and "小时" not in zh
    assert "the clock moved" in period_line(back, "en") and "-" not in period_line(back, "en")
    assert "系统时钟被调整过" in period_line(account(Period("first", NOW, None, None, reason="clock")), "zh")


# --- alerts speak the report's language ---------------------------------------------------------------


def test_a_zh_alert_says_errors_and_notes_in_chinese_as_the_report_does() -> None:
    down = account(None, name="down", ok=False, error="cannot reach 127.0.0.1:1: connection refused")
    relay = account(usage(1803), name="relay", note="quota exhausted", low=True)
    report = Report(NOW, "zh", (down, relay), {})
    found = [alerts.Change("down", "failed", True), alerts.Change("relay", "low", True)]
    lines = alerts.lines(report, found)
    assert lines == ["❌ down：查询失败：无法连接 127.0.0.1:1：连接被拒绝", "⚠️ relay：额度已用尽"]
    assert re.findall(r"[A-Za-z]{3,}", "\n".join(lines).replace("down", "").replace("relay", "")) == []
    assert "无法连接 127.0.0.1:1：连接被拒绝" in render(report) and "⚠️ 额度已用尽" in render(report)
    english = Report(NOW, "en", (down, relay), {})
    assert alerts.lines(english, found) == ["❌ down: query failed: cannot reach 127.0.0.1:1: connection refused",
                                            "⚠️ relay: quota exhausted"]


def test_a_low_account_with_a_note_still_says_it_is_below_its_threshold_and_a_dry_one_says_so() -> None:
    from monitor.report import build
    from monitor.result import AccountResult
    from monitor.settings import Account
    from monitor.snapshot import Snapshot

    def result(name: str, snap: Snapshot) -> AccountResult:
        account = Account(name, "openai-billing", "sk-test", base_url="https://relay.example.com",
                          low_balance=Decimal("10"))
        return AccountResult(account, NOW, "3f2a9c1b", snap, None)

    noted = result("noted", Snapshot("USD", Decimal("7.654321"), note="balance last refreshed 3 days ago"))
    dry = result("dry", Snapshot("USD", Decimal("0")))
    text = render(build([noted, dry], {}, NOW, timezone.utc, "zh", 90))
    assert "余额低于 $10.0000" in text and "说明：" in text  # the note does not hide the threshold
    assert "⚠️ 余额已用尽" in text.split("dry")[1].split("noted")[0]
