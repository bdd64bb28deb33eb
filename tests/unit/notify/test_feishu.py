"""Delivery to the loopback bot, which checks signatures and answers with Feishu's codes."""

from __future__ import annotations

import json
import time

from monitor.config import FeishuSettings
from monitor.emulators import FeishuBotEmulator, feishu_error
from monitor.notify.feishu import send, sign
from monitor.redact import Redactor

CARD = {"header": {"title": {"tag": "plain_text", "content": "💵API 余额监控时报"}, "template": "green"},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "ok"}}]}
SECRET = "s3cr3t-signing"


def settings(bot: FeishuBotEmulator, secret: str = SECRET, keyword: str = "") -> FeishuSettings:
    return FeishuSettings(webhook_url=bot.webhook_url, secret=secret, keyword=keyword)


def no_sleep(seconds: float) -> None:
    pass


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
