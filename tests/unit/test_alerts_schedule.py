"""Alerts along the real cron timeline (checks at :17 and :47, the report at 09:05 and 21:05, Shanghai):
a leak is reported once and never lost at the report, a key that runs dry is announced, one broken
channel never makes the others repeat, two configs share a history, a failing account warns once."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from monitor.config import load
from monitor.emulators import RelayEmulator, Token
from monitor.metrics import families
from monitor.redact import Redactor
from monitor.run import Outcome, run_once
from tests.support.channel_servers import SlackHook, WebhookReceiver

KEY = "sk-" + "Sch3dK3y" * 6
OTHER = "sk-" + "0th3rK3y" * 6
SHANGHAI = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 23, tzinfo=SHANGHAI)


def at(hour: int, minute: int, second: float = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute, seconds=second)


@pytest.fixture
def relay() -> Iterator[RelayEmulator]:
    tokens = {KEY[3:]: Token(total=Decimal("200"), used=Decimal("10.123456")),
              OTHER[3:]: Token(total=Decimal("200"), used=Decimal("3.5"))}
    with RelayEmulator(tokens=tokens) as server:
        yield server


class Monitor:
    def __init__(self, folder: Path, relay: RelayEmulator, channels: str = "", accounts: str = "",
                 name: str = "config.yaml") -> None:
        folder.mkdir(exist_ok=True)
        self.path = folder / name
        self.path.write_text(
            "timezone: Asia/Shanghai\n" + channels
            + f"defaults:\n  provider: openai-billing\n  base_url: {relay.url}\n  low_balance: 5\n"
            "  spike_min_amount: 1\n"
            + (accounts or f"accounts:\n  - name: main\n    api_key: {KEY}\n"), encoding="utf-8")
        os.chmod(self.path, 0o600)

    def run(self, when: datetime, command: str = "check") -> Outcome:
        config = load(self.path, environ={})
        return run_once(config, Redactor(config.secrets()), when.astimezone(timezone.utc), command=command)


def spend(relay: RelayEmulator, amount: str, key: str = KEY) -> None:
    relay.tokens[key[3:]].used += Decimal(amount)


def test_a_leak_stays_in_the_report_and_is_announced_once(tmp_path: Path, relay: RelayEmulator) -> None:
    monitor = Monitor(tmp_path, relay)
    monitor.run(at(21, 5, 0.4) - timedelta(days=1), "report")
    moment = at(21, 17, 0.7) - timedelta(days=1)
    while moment < at(7, 30):  # a quiet night: $0.06 every half hour
        spend(relay, "0.061234")
        assert monitor.run(moment).text == ""
        moment += timedelta(minutes=30)
    posted = []
    for hour, minute in ((7, 47), (8, 17), (8, 47)):  # a leak: $1.20 every half hour, 20× the usual
        spend(relay, "1.2")
        posted.append(monitor.run(at(hour, minute, 0.2)).text)
    assert "🔥 main" in posted[0] and posted[1:] == ["", ""]
    spend(relay, "0.72")  # 18 minutes of the same leak
    report = monitor.run(at(9, 5, 0.3), "report")
    assert report.exit_code & 1 and report.report.accounts[0].spike is not None
    assert report.report.accounts[0].spike.usage == Decimal("1.92")  # the last 48 minutes: since the 08:17 check
    assert "用量异常" in report.text
    spend(relay, "1.2")
    assert monitor.run(at(9, 17, 0.5)).text == ""  # still active: not announced again


def test_a_key_that_runs_dry_is_announced_though_it_was_already_low(tmp_path: Path, relay: RelayEmulator) -> None:
    monitor = Monitor(tmp_path, relay)
    relay.tokens[KEY[3:]].used = Decimal("197.000001")  # $2.999999 left: already low
    assert "余额不足" in monitor.run(at(9, 17)).text
    spend(relay, "2")  # $1 left: still low, nothing new
    assert monitor.run(at(9, 47)).text == ""
    relay.tokens[KEY[3:]].used = Decimal("200")  # the relay now answers 401 "quota used up"
    dry = monitor.run(at(10, 17))
    assert "main：额度已用尽" in dry.text
    assert dry.report.accounts[0].exhausted and "exhausted" in dry.report.accounts[0].conditions
    assert dry.exit_code & 1
    relay.tokens[KEY[3:]].total = Decimal("250")  # topped up
    back = monitor.run(at(10, 47))
    assert "已恢复" in back.text


def test_one_broken_channel_gets_the_changes_again_and_the_others_do_not(tmp_path: Path,
                                                                         relay: RelayEmulator) -> None:
    with SlackHook() as slack, WebhookReceiver() as hook:
        channels = f"slack:\n  webhook_url: {slack.webhook_url}\nwebhook:\n  url: {hook.hook_url}\n"
        monitor = Monitor(tmp_path, relay, channels=channels)
        monitor.run(at(9, 5), "report")
        slack.received.clear()
        hook.received.clear()
        relay.tokens[KEY[3:]].total = Decimal("13.5")  # low
        hook.scripted = [(400, {"Content-Type": "text/plain"}, b"bad request")] * 3
        first = monitor.run(at(9, 17))
        assert first.exit_code & 4 and len(slack.received) == 1 and hook.received == []
        second = monitor.run(at(9, 47, 0.9))
        assert second.exit_code & 4 and len(slack.received) == 1  # Slack is not told again
        hook.scripted = []
        third = monitor.run(at(10, 17))
        assert third.exit_code & 4 == 0 and len(slack.received) == 1 and len(hook.received) == 1
        assert monitor.run(at(10, 47)).text == "" and len(hook.received) == 1


def test_two_configs_on_one_history_each_post_their_own_changes_once(tmp_path: Path, relay: RelayEmulator) -> None:
    relays = Monitor(tmp_path, relay, accounts=f"accounts:\n  - name: relay\n    api_key: {KEY}\n")
    direct = Monitor(tmp_path, relay, accounts=f"accounts:\n  - name: direct\n    api_key: {OTHER}\n",
                     name="config-direct.yaml")
    relay.tokens[KEY[3:]].total = Decimal("13.5")
    relay.tokens[OTHER[3:]].total = Decimal("4")
    assert "relay" in relays.run(at(9, 17)).text
    assert "direct" in direct.run(at(9, 17, 30)).text
    for minute in (47, 77, 107):
        assert relays.run(at(9, minute)).text == ""
        assert direct.run(at(9, minute, 30)).text == ""


def test_a_failing_account_warns_when_it_starts_and_when_it_ends(tmp_path: Path, relay: RelayEmulator) -> None:
    monitor = Monitor(tmp_path, relay, accounts=f"accounts:\n  - name: main\n    api_key: {KEY}\n"
                                                "  - name: gone\n    api_key: sk-unknown0000000000000000000000000000\n")
    handler_stream = io.StringIO()
    handler = logging.StreamHandler(handler_stream)
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    try:
        warned = []
        for minute in (17, 47, 77, 107):
            monitor.run(at(9, minute))
            warned.append(handler_stream.getvalue())
            handler_stream.seek(0)
            handler_stream.truncate()
    finally:
        logging.getLogger().removeHandler(handler)
    assert "gone" in warned[0] and warned[1:] == ["", "", ""]


def test_period_usage_means_the_usage_since_the_previous_snapshot_whatever_the_command(
        tmp_path: Path, relay: RelayEmulator) -> None:
    monitor = Monitor(tmp_path, relay)
    monitor.run(at(21, 5) - timedelta(days=1), "report")
    spend(relay, "0.313579")
    monitor.run(at(8, 47))
    spend(relay, "0.123457")
    report = monitor.run(at(9, 5), "report").report
    assert report.accounts[0].period is not None and report.accounts[0].period.usage == Decimal("0.437036")
    samples = {f.name: f.samples for f in families(report, 0, 0.0, 0.0, None)}
    assert samples["api_balance_monitor_period_usage"] == [(("main", "openai-billing", "USD"), 0.123457)]


def test_an_accounts_state_is_dropped_only_once_no_run_has_had_it_for_retention_days(
        tmp_path: Path, relay: RelayEmulator) -> None:
    relay.tokens[KEY[3:]].total = Decimal("13.5")
    Monitor(tmp_path, relay).run(at(9, 17))  # main: low, posted
    other = Monitor(tmp_path, relay, accounts=f"accounts:\n  - name: other\n    api_key: {OTHER}\n", name="b.yaml")
    state = tmp_path / "api_usage_history" / "state.json"
    other.run(at(9, 47) + timedelta(days=89))
    assert "main" in state.read_text(encoding="utf-8")
    other.run(at(9, 47) + timedelta(days=90, hours=1))
    assert "main" not in state.read_text(encoding="utf-8")
