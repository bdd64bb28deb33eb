"""Delivery to the loopback bot, which checks signatures and answers with Feishu's codes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from monitor.emulators import FeishuBotEmulator, feishu_error
from monitor.http import USER_AGENT
from monitor.notify.base import Result
from monitor.notify.feishu import BODY_LIMIT, Channel, FeishuSettings, sign
from monitor.notify.message import Message, Section
from monitor.redact import Redactor

CARD = {"header": {"title": {"tag": "plain_text", "content": "💵API 余额监控时报"}, "template": "green"},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "ok"}}]}
SECRET = "s3cr3t-signing"


def settings(bot: FeishuBotEmulator, secret: str = SECRET, keyword: str = "") -> FeishuSettings:
    return FeishuSettings(webhook_url=bot.webhook_url, secret=secret, keyword=keyword)


def no_sleep(seconds: float) -> None:
    pass


def send(settings: FeishuSettings, cards: list[dict[str, Any]], redactor: Redactor,
         clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = no_sleep) -> Result:
    return Channel(settings, "feishu", redactor, clock, sleep).send(cards)


def test_a_signed_card_is_delivered_and_signed_as_feishu_checks() -> None:
    with FeishuBotEmulator(secret=SECRET) as bot:
        delivery = send(settings(bot), [CARD], Redactor())
    assert delivery.delivered and delivery.parts == 1 and delivery.error is None
    [message] = bot.received
    assert message["msg_type"] == "interactive" and message["card"] == CARD
    assert message["sign"] == sign(message["timestamp"], SECRET)
    assert bot.requests[0].headers["content-type"].startswith("application/json")


def test_a_wrong_secret_is_19021_with_the_fix() -> None:
    with FeishuBotEmulator(secret=SECRET) as bot:
        delivery = send(settings(bot, secret="wrong"), [CARD], Redactor(), sleep=no_sleep)
    assert not delivery.delivered and delivery.error is not None
    assert "19021" in delivery.error and "FEISHU_SECRET" in delivery.error
    assert len(bot.requests) == 1  # a signature rejection is not retried


def test_a_missing_keyword_is_19024() -> None:
    with FeishuBotEmulator(keywords=("余额告警",)) as bot:
        delivery = send(settings(bot, secret=""), [CARD], Redactor(), sleep=no_sleep)
    assert delivery.error is not None and "19024" in delivery.error and "feishu.keyword" in delivery.error


def test_a_wrong_token_is_19001_and_the_token_is_not_in_the_error() -> None:
    with FeishuBotEmulator() as bot:
        wrong = bot.webhook_url.replace(bot.token, "0000aaaa-1111-2222-3333-444455556666")
        s = FeishuSettings(webhook_url=wrong)
        delivery = send(s, [CARD], Redactor([wrong, "0000aaaa-1111-2222-3333-444455556666"]), sleep=no_sleep)
    assert delivery.error is not None and "19001" in delivery.error
    assert "0000aaaa-1111-2222-3333-444455556666" not in delivery.error


def test_rate_limiting_is_retried_with_a_fresh_signature() -> None:
    limited = feishu_error(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1500]")
    start = time.time()
    ticks = iter([start, start + 2, start + 5])
    with FeishuBotEmulator(secret=SECRET, scripted=[limited, limited]) as bot:
        delivery = send(settings(bot), [CARD], Redactor(), sleep=no_sleep, clock=lambda: next(ticks))
    assert delivery.delivered and len(bot.requests) == 3
    bodies = [json.loads(r.body) for r in bot.requests]
    assert len({b["timestamp"] for b in bodies}) == 3
    assert all(b["sign"] == sign(b["timestamp"], SECRET) for b in bodies)


def test_http_200_with_a_nonzero_code_is_not_a_delivery() -> None:
    with FeishuBotEmulator(scripted=[feishu_error(19002, "params error, msg_type need")]) as bot:
        delivery = send(settings(bot, secret=""), [CARD], Redactor(), sleep=no_sleep)
    assert not delivery.delivered and delivery.error is not None and "19002" in delivery.error


class Sleeps:
    def __init__(self) -> None:
        self.taken: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


def test_a_9499_too_many_request_is_retried_by_the_shared_loop_with_its_backoff_and_user_agent() -> None:
    sleeps = Sleeps()
    with FeishuBotEmulator(secret=SECRET, scripted=[feishu_error(9499, "too many request", status=400)]) as bot:
        delivery = send(settings(bot), [CARD], Redactor(), sleep=sleeps)
    assert delivery.delivered and delivery.parts == 1 and len(bot.requests) == 2
    [pause] = sleeps.taken
    assert 1.0 <= pause <= 1.25  # the shared backoff: 1 s and up to a quarter more
    assert [r.headers["user-agent"] for r in bot.requests] == [USER_AGENT, USER_AGENT]


def test_a_signature_refused_is_not_retried_and_is_logged_as_the_exit_codes_page_shows(
        caplog: pytest.LogCaptureFixture) -> None:
    sleeps = Sleeps()
    with FeishuBotEmulator(secret=SECRET) as bot, caplog.at_level(logging.INFO):
        delivery = send(settings(bot, secret="n0t-the-s3cret"), [CARD], Redactor(["n0t-the-s3cret"]), sleep=sleeps)
    assert not delivery.delivered and delivery.parts == 0 and "19021" in (delivery.error or "")
    assert len(bot.requests) == 1 and sleeps.taken == []
    [failed] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failed.getMessage().startswith("Feishu delivery failed: code 19021 (")  # docs/exit-codes.md
    assert "n0t-the-s3cret" not in caplog.text + (delivery.error or "")


def test_a_card_over_the_size_limit_is_refused_by_feishu_with_9499_and_not_retried() -> None:
    huge = {**CARD, "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "余额" * BODY_LIMIT}}]}
    with FeishuBotEmulator(secret=SECRET) as bot:
        delivery = send(settings(bot), [huge], Redactor())
    assert len(bot.requests) == 1 and len(bot.requests[0].body) > BODY_LIMIT
    assert not delivery.delivered and "code 9499" in (delivery.error or "") and "20 KB" in (delivery.error or "")


def test_an_alert_too_large_for_one_card_goes_in_numbered_parts_under_the_limit_a_quarter_second_apart() -> None:
    lines = tuple(f"账户 {i:03d}: 余额 {i}.00 USD, " + "说明" * 200 for i in range(60))
    message = Message("余额告警", "low", (Section("⚠️ 余额低", lines),), footer=("明细见 --json",), mention=True)
    sleeps = Sleeps()
    with FeishuBotEmulator(secret=SECRET, per_second=1000) as bot:
        channel = Channel(FeishuSettings(bot.webhook_url, SECRET, "余额", ("all",)), "feishu", Redactor(),
                          sleep=sleeps)
        delivery = channel.deliver(message)
    count = len(bot.received)
    assert delivery.delivered and delivery.parts == count and count > 1
    assert all(len(r.body) <= BODY_LIMIT for r in bot.requests)
    titles = [m["card"]["header"]["title"]["content"] for m in bot.received]
    assert titles == [message.part_title(n, count) for n in range(1, count + 1)]
    assert sleeps.taken == [0.25] * (count - 1)
    delivered = "".join(json.dumps(m, ensure_ascii=False) for m in bot.received)
    assert all(line in delivered for line in lines) and "明细见 --json" in delivered
    assert delivered.count("<at id=all></at>") == 1  # the first part wakes people, the others do not
