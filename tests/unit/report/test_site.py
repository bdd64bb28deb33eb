"""A relay site's part of the report: its summary, only the items that need a look, and a Feishu card that
fits one part even when every one of 200 channels and 2,000 users is low."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal

from monitor.collect import expand
from monitor.config import Account
from monitor.notify import feishu
from monitor.notify.feishu_card import cards
from monitor.notify.message import from_report
from monitor.providers.new_api_admin import NewApiAdminKeys
from monitor.redact import Redactor
from monitor.report import Report, build
from monitor.report.document import document
from monitor.report.site import SHOWN, render
from monitor.snapshot import Item, Snapshot

NOW = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)
USER_LOW = Decimal("1")
ENTRY = Account("中转站A", "new-api-admin", "", base_url="https://relay.example.com", low_balance=Decimal("50"),
                own=NewApiAdminKeys(access_token="t0ken-admin", user_low_balance=USER_LOW, watch=("channels", "users")))


def site_report(items: list[Item], language: str = "zh", others: tuple[Account, ...] = ()) -> Report:
    results = expand(ENTRY, [Item("site", "", "中转站A", Snapshot("USD", None)), *items], NOW, Redactor())
    return build(results, {}, NOW, timezone.utc, language, 90)


def channel(n: int, balance: str | None, **more: object) -> Item:
    snap = Snapshot(str(more.pop("currency", "USD")), None if balance is None else Decimal(balance), **more)  # type: ignore[arg-type]
    return Item("channel", f"ch{n}", f"channel:{n}", snap)


def user(n: int, balance: str) -> Item:
    # new-api-admin gives its users the entry's user_low_balance as their threshold
    return Item("user", f"@u{n}", f"user:{n}", Snapshot("USD", Decimal(balance), Decimal(0), Decimal(balance)),
                low_balance=USER_LOW)


def test_a_site_shows_its_summary_then_only_the_items_that_need_a_look() -> None:
    items = [channel(1, "120"), channel(2, "3"), channel(3, "88", currency="CNY"),
             channel(4, None, note="balance not available"), channel(5, "0", disabled=True, note="channel disabled"),
             Item("channel", "broken", "channel:6", None, "balance refresh failed: Incorrect API key provided"),
             user(1, "0.5"), user(2, "30"), user(3, "0")]
    report = site_report(items)
    text = render(report)
    assert "✅ 中转站A ⚠️" in text
    assert "渠道 6 个：正常 2，余额低 1，失败 1，已停用 1，余额不可查 1" in text
    assert "渠道余额合计（未停用的）：¥88.0000 · $123.0000" in text
    assert "用户 3 个：低于阈值 2 个，剩余额度合计 $30.5000" in text
    shown = [line for line in text.splitlines() if line.startswith(("✅ 中转站A/", "❌ 中转站A/"))]
    assert shown == ["❌ 中转站A/broken", "✅ 中转站A/ch2 ⚠️", "✅ 中转站A/@u3 ⚠️", "✅ 中转站A/@u1 ⚠️"]
    assert "刷新余额失败：Incorrect API key provided" in text
    # The users' quota is the relay's, not money of ours: the totals hold the channels only.
    assert report.totals == {"USD": Decimal("123"), "CNY": Decimal("88")}


def test_the_json_document_lists_every_item_with_its_site_and_kind() -> None:
    report = site_report([channel(1, "120"), channel(5, "0", disabled=True), user(1, "0.5")], "en")
    accounts = document(report, 1, None, False, None)["accounts"]
    assert [(a["name"], a["kind"], a["disabled"]) for a in accounts] == [
        ("中转站A/@u1", "user", False), ("中转站A", "site", False), ("中转站A/ch1", "channel", False),
        ("中转站A/ch5", "channel", True)]
    assert all(a["site"] == "中转站A" for a in accounts)


def test_a_site_whose_every_item_is_low_still_fits_one_feishu_card_and_counts_the_rest() -> None:
    long = "很长的上游渠道名称" * 7  # 63 characters; the provider cuts names to 60
    items = [Item("channel", f"{long[:59]}{n}", f"channel:{n}", Snapshot("USD", Decimal("0.123456"))) for n in
             range(200)]
    items += [Item("user", f"@{long[:58]}{n}", f"user:{n}",
                   Snapshot("CNY", Decimal("0.5"), Decimal("12.3456"), Decimal("12.8456")), low_balance=USER_LOW)
              for n in range(2000)]
    for language in ("zh", "en"):
        report = site_report(items, language)
        built = cards(report, feishu.fits, mentions=["all"], keyword="余额")
        assert len(built) == 1
        text = render(report)
        assert text.count("中转站A/") == SHOWN["channel"] + SHOWN["user"]
    assert "……另有 188 个渠道需要关注" in render(site_report(items, "zh"))
    assert "… and 1992 more users that need a look" in render(site_report(items, "en"))


def test_every_other_channel_renders_the_site_within_its_limits() -> None:
    from monitor.config import ChannelEntry
    from monitor.notify import channel as make
    from monitor.notify.dingtalk import DingTalkSettings
    from monitor.notify.slack import SlackSettings
    from monitor.notify.telegram import TelegramSettings
    from monitor.notify.wecom import WeComSettings

    items = [Item("channel", f"c{n}", f"channel:{n}", Snapshot("USD", Decimal("1"))) for n in range(200)]
    message = from_report(site_report(items))
    for settings in (DingTalkSettings("https://oapi.dingtalk.com/robot/send?access_token=abc"),
                     WeComSettings("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"),
                     SlackSettings("https://hooks.slack.com/services/T0/B0/x"),
                     TelegramSettings("123456:ABCdef", "-100123")):
        parts = make(ChannelEntry(settings.kind, settings), Redactor()).render(message)
        assert len(parts) == 1, settings.kind


def test_a_check_lists_at_most_twenty_changes_of_a_site_and_counts_the_rest() -> None:
    from monitor import alerts

    report = site_report([user(n, "0") for n in range(150)] + [channel(1, "2")])
    found = alerts.changes(report, {}, NOW, 0)
    lines = alerts.lines(report, found)
    assert len(lines) == alerts.SITE_LINES + 1
    assert lines[-1] == "……中转站A：另有 131 项变化（完整列表见 --json 和 history 命令）"
    state = alerts.next_state(report, {}, NOW, found)
    assert len(state) == 151  # every item's alert is kept, listed or counted


def test_long_names_errors_and_spikes_still_fit_one_card() -> None:
    from monitor.report import AccountReport

    long = "很长的上游渠道名称" * 7
    error = "balance refresh failed: " + "上游返回了一个很长的错误说明" * 12
    items = [Item("channel", f"{long[:59]}{n}", f"channel:{n}", None, error) for n in range(200)]
    items += [user(n, "0.5") for n in range(2000)]
    report = site_report(items)
    # Every user also spiking, with a week of history: the longest lines an item can have.
    from monitor.usage import Spike

    fat = [dataclasses.replace(a, spike=Spike(Decimal("12.3456"), 5400, Decimal("197.5"), Decimal("1.2")),
                               burn_rate=Decimal("3.21"), days_left=Decimal("0.2"),
                               trend=(Decimal(1), Decimal(2), Decimal(3), Decimal(4), Decimal(5), Decimal(6),
                                      Decimal(7)))
           if isinstance(a, AccountReport) and a.kind == "user" else a for a in report.accounts]
    report = dataclasses.replace(report, accounts=tuple(fat))
    for language in ("zh", "en"):
        built = cards(dataclasses.replace(report, language=language), feishu.fits, mentions=["all"], keyword="余额")
        assert len(built) == 1
