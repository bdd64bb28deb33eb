"""Untrusted text is inert on every channel: an account name and a relay's error text that try every
formatting, link and mention trick reach each loopback server and, as that platform would render
them, show as written: no link, no mention, no bold of their own. Our own bold headings and the
mentions the config asks for stay live."""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage

import pytest

from monitor import notify
from monitor.collect import AccountResult
from monitor.config import Account, ChannelEntry
from monitor.emulators import FeishuBotEmulator
from monitor.notify.base import Result
from monitor.notify.dingtalk import DingTalkSettings
from monitor.notify.email import EmailSettings
from monitor.notify.feishu import FeishuSettings
from monitor.notify.inert import markdown_inert
from monitor.notify.message import Message, from_report
from monitor.notify.slack import SlackSettings
from monitor.notify.telegram import TelegramSettings
from monitor.notify.telegram import escape as telegram_escape
from monitor.notify.wecom import WeComSettings
from monitor.redact import Redactor
from monitor.report import build
from monitor.schema import Settings
from monitor.snapshot import Snapshot
from tests.support import platform_render as render
from tests.support.channel_servers import (
    TELEGRAM_CHAT,
    TELEGRAM_TOKEN,
    Clock,
    DingTalkRobot,
    SlackHook,
    SmtpServer,
    TelegramApi,
    WeComRobot,
)
from tests.support.platform_render import EVIL, Seen

ZONE = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 28, 1, 5, 0, tzinfo=timezone.utc)
HANDLE = "ops @Durov_Support"  # an account name with a Telegram @username in it
FEISHU_USER = "ou_7d8a6e6df7621556ce0d21922b676706"


def evil_report_message() -> Message:
    """A failed account whose name and error text are the untrusted text, and a healthy one."""
    results = [
        AccountResult(Account(EVIL, "new-api", "-"), NOW, "9c1f0e7a", None, EVIL),
        AccountResult(Account(HANDLE, "openai-billing", "-", low_balance=Decimal("5")), NOW, "3f2a9c1b",
                      Snapshot("USD", Decimal("12.3456"), Decimal("7.6544"), Decimal("20")), None),
    ]
    message = from_report(build(results, {}, NOW, ZONE, "zh", 90))
    assert message.mention  # a failed account: the configured people are woken
    return message


def evil_alert() -> Message:
    return Message.alert(f"⚠️ 余额告警：{EVIL}", "low", [f"{EVIL}：剩余 $1.2346，低于 $5.0000", EVIL], mention=True)


MESSAGES = {"report": evil_report_message, "alert": evil_alert}


def send(settings: Settings, message: Message) -> Result:
    clock = Clock()
    entry = ChannelEntry(settings.kind, settings)
    return notify.channel(entry, Redactor(settings.secrets()), clock, clock.sleep).deliver(message)


def ours(message: Message) -> set[str]:
    """The texts we bold: the title and the account headings, whatever they contain."""
    return {message.title, *(s.heading for s in message.sections if s.heading)}


def assert_inert(seen: Seen, message: Message, mentions: list[str]) -> None:
    assert EVIL in seen.text  # shown exactly as the relay wrote it
    assert seen.links == []
    assert seen.other_styles == []
    assert sorted(seen.mentions) == sorted(mentions)
    assert set(seen.bold) <= ours(message), set(seen.bold) - ours(message)
    headings = [s.heading for s in message.sections if s.heading]
    assert all(h in seen.bold for h in headings)  # our own bold stays


@pytest.mark.parametrize("kind", MESSAGES)
def test_feishu_card_shows_untrusted_text_inert_and_mentions_only_the_configured(kind: str) -> None:
    message = MESSAGES[kind]()
    with FeishuBotEmulator() as bot:
        settings = FeishuSettings(bot.webhook_url, mention_on_alert=(FEISHU_USER, "all"))
        assert send(settings, message).delivered
    [body] = bot.received
    card = body["card"]
    seen = Seen(card["header"]["title"]["content"])  # plain_text
    for element in card["elements"]:
        if element["tag"] == "div":
            seen = seen.add(render.feishu(element["text"]["content"]))
        elif element["tag"] == "note":
            seen = seen.add(Seen(" ".join(e["content"] for e in element["elements"])))
    assert_inert(seen, message, [FEISHU_USER, "all"])


@pytest.mark.parametrize("kind", MESSAGES)
def test_dingtalk_markdown_shows_untrusted_text_inert(kind: str) -> None:
    message = MESSAGES[kind]()
    with DingTalkRobot() as robot:
        settings = DingTalkSettings(robot.webhook_url, mention_on_alert=("13800138000", "all"))
        assert send(settings, message).delivered
    [body] = robot.received
    assert body["at"] == {"atMobiles": ["13800138000"], "isAtAll": True}  # what the config asks for
    assert_inert(render.dingtalk(body["markdown"]["text"]), message, ["13800138000"])


@pytest.mark.parametrize("kind", MESSAGES)
def test_wecom_markdown_shows_untrusted_text_inert(kind: str) -> None:
    message = MESSAGES[kind]()
    with WeComRobot() as robot:
        settings = WeComSettings(robot.webhook_url, ("zhangsan", "all"))
        assert send(settings, message).delivered
    card, shout = robot.received
    seen = render.wecom(card["markdown"]["content"])
    seen.bold = [re.sub(r"</?font[^>]*>", "", b) for b in seen.bold]  # our colour inside our bold
    assert_inert(seen, message, ["zhangsan"])
    assert shout["msgtype"] == "text" and shout["text"]["mentioned_list"] == ["@all"]  # the configured @all
    assert "<@" not in shout["text"]["content"]


@pytest.mark.parametrize("kind", MESSAGES)
def test_slack_mrkdwn_shows_untrusted_text_inert(kind: str) -> None:
    message = MESSAGES[kind]()
    with SlackHook() as hook:
        settings = SlackSettings(hook.webhook_url, ("U0CONFIG9", "here"))
        assert send(settings, message).delivered
    [body] = hook.received
    seen = render.slack_message(body)  # the blocks and the notification text
    assert_inert(seen, message, ["U0CONFIG9", "here"] * 2)
    # Were Slack to read the zero-width spaces as spaces, the marks would still format nothing.
    spaced = json.loads(json.dumps(body).replace("\\u200b", " "))
    assert "\u200b" not in json.dumps(spaced, ensure_ascii=False)
    seen = render.slack_message(spaced)
    assert (seen.links, seen.other_styles) == ([], [])
    assert sorted(seen.mentions) == sorted(["U0CONFIG9", "here"] * 2)
    def squeezed(texts: set[str]) -> set[str]:
        return {re.sub(r"\s", "", t) for t in texts}

    assert squeezed(set(seen.bold)) <= squeezed(ours(message))


@pytest.mark.parametrize("kind", MESSAGES)
def test_telegram_html_shows_untrusted_text_inert(kind: str) -> None:
    message = MESSAGES[kind]()
    with TelegramApi() as api:
        assert send(TelegramSettings(TELEGRAM_TOKEN, TELEGRAM_CHAT, api.url), message).delivered
    [body] = api.received
    seen = render.telegram(body["text"])
    seen.other_styles = [s for s in seen.other_styles if s not in message.footer and s != "\n".join(message.footer)]
    assert_inert(seen, message, [])
    if kind == "report":
        assert HANDLE in seen.text  # the @username is shown, and mentions nobody


def test_email_html_shows_untrusted_text_inert() -> None:
    message = evil_report_message()
    with SmtpServer("none") as server:
        assert send(EmailSettings("127.0.0.1", "monitor@example.com", ("ops@example.com",), server.port, "none"),
                    message).delivered
    [mail] = server.received
    parsed = email.message_from_bytes(mail.data, _class=EmailMessage, policy=email.policy.default)
    page = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert set(re.findall(r"<(\w+)", page)) <= {"html", "body", "h2", "h3", "ul", "li", "p", "br"}
    assert EVIL in html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.parametrize("text", [EVIL, "# 标题", "> 引用", "- 列表", "1. 列表", "===", "a\n# b", "<at id=all></at>",
                                  "<font color=\"warning\">红</font>", "**粗**", "~~删~~", "![图](http://h/i.png)",
                                  "C:\\Users\\**", "AT&T &lt;ok&gt;", "2026-11-28 main_key_01"])
def test_markdown_inert_shows_the_text_as_written_and_nothing_live(text: str) -> None:
    for model in (render.feishu, render.dingtalk, render.wecom):
        seen = model(markdown_inert(text))
        assert seen.text == text.replace("\n", " ")
        assert (seen.links, seen.mentions, seen.bold, seen.other_styles) == ([], [], [], [])
        assert "\n" not in markdown_inert(text) and not re.match(r"\s*([-+=>#]|\d+[.)]\s)", markdown_inert(text))


def test_telegram_escape_keeps_an_at_username_from_mentioning() -> None:
    seen = render.telegram(telegram_escape("relay says: contact @Durov_Support <b>now</b>"))
    assert seen.mentions == [] and seen.bold == []
    assert seen.text == "relay says: contact @Durov_Support <b>now</b>"
