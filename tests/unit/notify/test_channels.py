"""Each channel against its loopback server, in process, with simulated time (no test sleeps).

The servers check what the real services check (signature, keyword, sizes, rate limits) and
answer with their real error codes; see tests/support/channel_servers.py.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import __version__, notify
from monitor.collect import AccountResult
from monitor.config import Account, ChannelEntry, HttpSettings
from monitor.emulators import FeishuBotEmulator, RelayEmulator, json_answer
from monitor.http import USER_AGENT, HttpClient
from monitor.notify import dingtalk, webhook
from monitor.notify.base import Result
from monitor.notify.dingtalk import DingTalkSettings
from monitor.notify.email import EmailSettings
from monitor.notify.feishu import FeishuSettings
from monitor.notify.message import Message, from_report
from monitor.notify.slack import SlackSettings
from monitor.notify.telegram import TelegramSettings
from monitor.notify.webhook import WebhookSettings
from monitor.notify.wecom import WeComSettings
from monitor.redact import Redactor
from monitor.report import Report, build
from monitor.schema import Settings
from monitor.snapshot import Snapshot
from tests.support.channel_servers import (
    DINGTALK_SECRET,
    SMTP_PASSWORD,
    TELEGRAM_CHAT,
    TELEGRAM_TOKEN,
    WEBHOOK_SECRET,
    Clock,
    DingTalkRobot,
    SlackHook,
    SmtpServer,
    TelegramApi,
    WebhookReceiver,
    WeComRobot,
    dingtalk_error,
    slack_error,
    telegram_error,
)

ZONE = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 28, 1, 5, 0, 123456, tzinfo=timezone.utc)


def report(count: int = 3, low: bool = False, failed: bool = False, name: str = "账户") -> Report:
    results = []
    for i in range(count):
        account = Account(f"{name}{i:03d}", "openai-billing", "-", low_balance=Decimal("5"))
        balance = Decimal("1.234567") if (low and i == 0) else Decimal("12.345678") + i
        results.append(AccountResult(account, NOW, "3f2a9c1b", Snapshot("USD", balance, Decimal("7.654321"),
                                                                         Decimal("20.000000")), None))
    if failed:
        results.append(AccountResult(Account("broken <&> key", "deepseek", "-"), NOW, "00000000", None,
                                     "HTTP 401: Authentication Fails (auth header format should be Bearer sk-...)"))
    return build(results, {}, NOW, ZONE, "zh", 90)


def send(settings: Settings, message: Message, clock: Clock | None = None,
         redactor: Redactor | None = None) -> Result:
    clock = clock or Clock()
    entry = ChannelEntry(settings.kind, settings)
    return notify.channel(entry, redactor or Redactor(settings.secrets()), clock, clock.sleep).deliver(message)


# --- DingTalk ---------------------------------------------------------------------------------------


def test_dingtalk_signature_matches_the_reference_vector() -> None:
    expected = base64.b64encode(hmac.new(b"SECtest", b"1700000000000\nSECtest", hashlib.sha256).digest()).decode()
    assert dingtalk.sign(1700000000000, "SECtest") == expected
    url = dingtalk.signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", "SECtest", 1700000000.0)
    assert url.endswith(f"&timestamp=1700000000000&sign={quote_plus(expected)}")


def test_dingtalk_signed_markdown_with_keyword_is_delivered_without_mentions_when_all_is_well() -> None:
    clock = Clock()
    with DingTalkRobot(secret=DINGTALK_SECRET, keywords=("余额",), clock=clock) as robot:
        settings = DingTalkSettings(robot.webhook_url, DINGTALK_SECRET, "余额", ("13800138000", "all"))
        result = send(settings, from_report(report()), clock)
    assert result == Result("dingtalk", True, 1, None)
    [body] = robot.received
    assert body["msgtype"] == "markdown" and body["markdown"]["title"].startswith("💵API 余额监控时报")
    assert "剩余：$12.3457" in body["markdown"]["text"] and "at" not in body
    timestamp = dict(p.split("=") for p in robot.requests[0].path.split("?")[1].split("&"))["timestamp"]
    assert abs(int(timestamp) - clock.now * 1000) < 1000  # milliseconds


def test_dingtalk_mentions_by_mobile_and_all_only_on_an_alert() -> None:
    with DingTalkRobot(secret=DINGTALK_SECRET) as robot:
        settings = DingTalkSettings(robot.webhook_url, DINGTALK_SECRET, "", ("13800138000", "all"))
        assert send(settings, from_report(report(low=True))).delivered
    [body] = robot.received
    assert body["at"] == {"atMobiles": ["13800138000"], "isAtAll": True}
    assert "@13800138000" in body["markdown"]["text"]


def test_dingtalk_each_retry_is_signed_afresh() -> None:
    clock = Clock()
    outage = (502, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>")
    with DingTalkRobot(secret=DINGTALK_SECRET, scripted=[outage, outage], clock=clock) as robot:
        settings = DingTalkSettings(robot.webhook_url, DINGTALK_SECRET)
        result = send(settings, from_report(report()), clock)
    assert result.delivered and len(robot.requests) == 3
    stamps = {r.path.split("timestamp=")[1].split("&")[0] for r in robot.requests}
    assert len(stamps) == 3


@pytest.mark.parametrize("robot_kwargs, settings_kwargs, expected", [
    ({"secret": DINGTALK_SECRET}, {"secret": "SECwrong0000"}, ["310000", "sign not match", "DINGTALK_SECRET"]),
    ({"keywords": ("余额告警",)}, {}, ["310000", "keywords not in content", "set dingtalk.keyword"]),
    ({}, {"token": "0" * 64}, ["300001", "DINGTALK_WEBHOOK_URL"]),
    ({"scripted": [dingtalk_error(130101, "send too fast, exceed 20 times per minute")]}, {},
     ["130101", "blocked for 10 minutes"]),
    ({"scripted": [dingtalk_error(310000, "ip 203.0.113.9 not in whitelist")]}, {}, ["310000", "IP"]),
])
def test_dingtalk_errors_are_not_delivered_and_explained(robot_kwargs: dict[str, Any], settings_kwargs: dict[str, Any],
                                                         expected: list[str]) -> None:
    with DingTalkRobot(**robot_kwargs) as robot:
        url = robot.webhook_url.replace(robot.token, settings_kwargs.get("token", robot.token))
        settings = DingTalkSettings(url, settings_kwargs.get("secret", ""))
        result = send(settings, from_report(report()))
    assert not result.delivered and result.error is not None
    for text in expected:
        assert text in result.error
    assert len(robot.requests) == 1  # none of these is helped by a retry
    assert robot.received == []


def test_dingtalk_splits_by_bytes_within_the_body_limit() -> None:
    big = report(count=300, name="一个名字很长的账户用来把报告撑大")
    with DingTalkRobot() as robot:
        result = send(DingTalkSettings(robot.webhook_url), from_report(big))
    assert result.delivered and result.parts >= 3
    assert robot.largest <= 20_000 and max(len(r.body) for r in robot.requests) > 15_000


def test_dingtalk_keeps_20_messages_a_minute() -> None:
    clock = Clock()
    with DingTalkRobot(secret=DINGTALK_SECRET, clock=clock) as robot:
        entry = ChannelEntry("dingtalk", DingTalkSettings(robot.webhook_url, DINGTALK_SECRET))
        channel = notify.channel(entry, Redactor(), clock, clock.sleep)
        parts = [p for i in range(25) for p in channel.render(Message.alert(f"告警 {i}", "low", ["x"]))]
        result = channel.send(parts)
    assert result.delivered and result.parts == 25
    # The 21st waited for the minute to pass instead of getting the robot blocked (130101).
    assert len(robot.requests) == 25 and sum(clock.sleeps) >= 59


# --- WeCom ------------------------------------------------------------------------------------------


def test_wecom_markdown_is_split_on_account_boundaries_within_4096_bytes() -> None:
    big = report(count=90, name="企业微信测试账户名称")
    with WeComRobot() as robot:
        result = send(WeComSettings(robot.webhook_url), from_report(big))
    assert result.delivered and result.parts >= 3
    contents = [b["markdown"]["content"] for b in robot.received]
    assert all(len(c.encode()) <= 4096 for c in contents) and robot.largest <= 4096
    assert max(len(c.encode()) for c in contents) > 3000  # packed, not one account a message
    names = [line for c in contents for line in c.splitlines() if "企业微信测试账户名称" in line]
    assert len(names) == 90  # every account once, none cut in two
    assert "（第 1/" in contents[0] and "合计剩余" in contents[-1]


def test_wecom_mentions_users_in_markdown_and_all_by_a_text_message_only_on_alerts() -> None:
    with WeComRobot() as robot:
        settings = WeComSettings(robot.webhook_url, ("zhangsan", "all"))
        assert send(settings, from_report(report())).parts == 1
        result = send(settings, from_report(report(failed=True)))
    assert result.delivered and result.parts == 2
    quiet, loud, shout = robot.received
    assert "<@" not in quiet["markdown"]["content"]
    assert "<@zhangsan>" in loud["markdown"]["content"]
    assert shout["msgtype"] == "text" and shout["text"]["mentioned_list"] == ["@all"]


def test_wecom_45009_is_retried_after_a_pause() -> None:
    clock = Clock()
    limited = json_answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    with WeComRobot(scripted=[limited], clock=clock) as robot:
        result = send(WeComSettings(robot.webhook_url), from_report(report()), clock)
    assert result.delivered and len(robot.requests) == 2
    assert 20 in clock.sleeps


def test_wecom_93000_says_check_the_key_and_does_not_show_it() -> None:
    with WeComRobot() as robot:
        wrong = robot.webhook_url.replace(robot.key, "00000000-aaaa-bbbb-cccc-dddddddddddd")
        result = send(WeComSettings(wrong), from_report(report()))
    assert not result.delivered and result.error is not None
    assert "93000" in result.error and "check the key" in result.error
    assert "00000000-aaaa-bbbb-cccc-dddddddddddd" not in result.error and len(robot.requests) == 1


# --- Slack ------------------------------------------------------------------------------------------


def test_slack_block_kit_with_fallback_and_mentions_only_on_alerts() -> None:
    clock = Clock()
    with SlackHook(clock=clock) as hook:
        settings = SlackSettings(hook.webhook_url, ("channel", "U0123ABCD"))
        assert send(settings, from_report(report()), clock).delivered
        assert send(settings, from_report(report(failed=True)), clock).delivered
    quiet, loud = hook.received
    assert quiet["blocks"][0]["type"] == "header" and quiet["text"].startswith("💵API")
    assert "<!channel>" not in json.dumps(quiet)
    assert loud["text"].startswith("<!channel> <@U0123ABCD>")
    assert "broken &lt;&amp;&gt; key" in json.dumps(loud, ensure_ascii=False)  # mrkdwn escaped


def test_slack_splits_within_50_blocks_and_3000_characters_a_section() -> None:
    clock = Clock()
    with SlackHook(clock=clock) as hook:
        result = send(SlackSettings(hook.webhook_url), from_report(report(count=120)), clock)
    assert result.delivered and result.parts == 3
    assert all(len(b["blocks"]) <= 50 for b in hook.received)
    assert 1.0 in clock.sleeps  # one message a second


def test_slack_429_honours_retry_after() -> None:
    clock = Clock()
    with SlackHook(scripted=[slack_error(429, "rate_limited", {"Retry-After": "7"})], clock=clock) as hook:
        result = send(SlackSettings(hook.webhook_url), from_report(report()), clock)
    assert result.delivered and clock.sleeps == [7.0] and len(hook.requests) == 2


@pytest.mark.parametrize("status, reason, fix", [
    (403, "action_prohibited", "admin"),
    (404, "channel_not_found", "create a new webhook"),
    (410, "channel_is_archived", "unarchive"),
    (400, "invalid_payload", "bug"),
])
def test_slack_http_errors_are_explained(status: int, reason: str, fix: str) -> None:
    with SlackHook(scripted=[slack_error(status, reason)]) as hook:
        result = send(SlackSettings(hook.webhook_url), from_report(report()))
    assert result.error is not None and f"HTTP {status} ({reason})" in result.error and fix in result.error
    assert len(hook.requests) == 1


def test_slack_500_is_retried() -> None:
    clock = Clock()
    with SlackHook(scripted=[slack_error(500, "rollup_error")], clock=clock) as hook:
        assert send(SlackSettings(hook.webhook_url), from_report(report()), clock).delivered
    assert len(hook.requests) == 2


# --- Telegram ---------------------------------------------------------------------------------------


def telegram(api: TelegramApi, chat: str = TELEGRAM_CHAT, token: str = TELEGRAM_TOKEN) -> TelegramSettings:
    return TelegramSettings(token, chat, api.url)


def test_telegram_html_is_escaped_and_delivered() -> None:
    with TelegramApi() as api:
        result = send(telegram(api), from_report(report(failed=True)))
    assert result.delivered
    [body] = api.received
    assert body["parse_mode"] == "HTML" and "broken <&> key" in body["visible"]


def test_telegram_splits_at_4096_characters() -> None:
    clock = Clock()
    with TelegramApi(clock=clock) as api:
        result = send(telegram(api), from_report(report(count=80, name="Telegram account with a long name ")),
                      clock)
    assert result.delivered and result.parts == 2
    assert all(len(b["visible"]) <= 4096 for b in api.received)
    assert sum(len(b["visible"]) for b in api.received) > 4096


def test_telegram_429_waits_retry_after() -> None:
    clock = Clock()
    limited = telegram_error(429, "Too Many Requests: retry after 5", retry_after=5)
    with TelegramApi(scripted=[limited], clock=clock) as api:
        assert send(telegram(api), from_report(report()), clock).delivered
    assert clock.sleeps == [5.0]


@pytest.mark.parametrize("chat, token, scripted, expected", [
    ("-100999", TELEGRAM_TOKEN, None, ["chat not found", "telegram.chat_id"]),
    (TELEGRAM_CHAT, "7012345678:AAwrongwrongwrongwrong", None, ["401", "Unauthorized", "@BotFather"]),
    (TELEGRAM_CHAT, TELEGRAM_TOKEN, telegram_error(403, "Forbidden: bot was kicked from the supergroup chat"),
     ["403", "kicked", "add it back"]),
])
def test_telegram_permanent_errors_are_explained_and_not_retried(chat: str, token: str, scripted: Any,
                                                                  expected: list[str]) -> None:
    with TelegramApi(scripted=[scripted] if scripted else []) as api:
        redactor = Redactor([token])
        result = send(telegram(api, chat, token), from_report(report()), redactor=redactor)
    assert not result.delivered and result.error is not None and len(api.requests) == 1
    for text in expected:
        assert text in result.error
    assert token not in result.error


# --- webhook ----------------------------------------------------------------------------------------


def test_webhook_posts_the_document_signed_with_extra_headers() -> None:
    document = {"generated_at": "2026-11-28T09:05:00.123456+08:00", "accounts": [{"balance": "12.345678"}]}
    message = from_report(report(), document=document)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as hook:
        settings = WebhookSettings(hook.hook_url, WEBHOOK_SECRET, {"X-Team": "ops", "Authorization": "Bearer t0k3n"})
        assert send(settings, message).delivered
    [request] = hook.requests
    assert json.loads(request.body) == document
    assert request.headers["x-signature-256"] == webhook.signature(WEBHOOK_SECRET, request.body)
    assert request.headers["x-team"] == "ops" and request.headers["authorization"] == "Bearer t0k3n"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"api-balance-monitor/{__version__}"  # reference/channels.md


def test_channels_send_the_reference_user_agent_and_providers_its_browser_form() -> None:
    with WebhookReceiver() as hook, RelayEmulator() as relay:
        assert send(WebhookSettings(hook.hook_url), from_report(report(), document={})).delivered
        http = HttpClient(HttpSettings(), Redactor())
        try:
            http.get(relay.url + "/v1/dashboard/billing/subscription")
        finally:
            http.close()
    assert hook.requests[0].headers["user-agent"] == USER_AGENT
    assert relay.requests[0].headers["user-agent"] == f"Mozilla/5.0 (compatible; {USER_AGENT})"


@pytest.mark.parametrize("answers, delivered, requests", [
    ([(503, {}, b"")], True, 2),
    ([(429, {"Retry-After": "3"}, b"")], True, 2),
    ([(404, {}, b"no such hook")], False, 1),
    ([(400, {}, b"bad")], False, 1),
])
def test_webhook_retries_429_and_5xx_only(answers: list[Any], delivered: bool, requests: int) -> None:
    clock = Clock()
    with WebhookReceiver(scripted=list(answers), clock=clock) as hook:
        result = send(WebhookSettings(hook.hook_url), from_report(report()), clock)
    assert result.delivered is delivered and len(hook.requests) == requests


def test_webhook_wrong_secret_is_a_failure() -> None:
    with WebhookReceiver(secret=WEBHOOK_SECRET) as hook:
        result = send(WebhookSettings(hook.hook_url, "not-the-secret"), from_report(report()))
    assert result.error is not None and "HTTP 401" in result.error and "webhook.secret" in result.error


# --- e-mail -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from tests.support.channel_servers import make_certificate

    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_email_over_tls_carries_text_and_html(security: str, certificate: tuple[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    with SmtpServer(security, certificate, "monitor", SMTP_PASSWORD) as server:
        settings = EmailSettings("127.0.0.1", "monitor@example.com", ("ops@example.com", "cto@example.com"),
                                 server.port, security, "monitor", SMTP_PASSWORD)
        result = send(settings, from_report(report(failed=True)))
    assert result == Result("email", True, 1, None)
    [mail] = server.received
    assert server.logins == ["monitor"] and mail.recipients == ["ops@example.com", "cto@example.com"]
    parsed = email.message_from_bytes(mail.data, _class=EmailMessage, policy=email.policy.default)
    assert "💵API 余额监控时报" in str(parsed["Subject"])
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "剩余：$12.3457" in text and "broken <&> key" in text
    assert "broken &lt;&amp;&gt; key" in page


def test_email_a_refused_recipient_is_a_failure(certificate: tuple[str, str]) -> None:
    with SmtpServer("none", refuse=("gone@example.com",)) as server:
        settings = EmailSettings("127.0.0.1", "monitor@example.com", ("ops@example.com", "gone@example.com"),
                                 server.port, "none")
        result = send(settings, from_report(report()))
    assert not result.delivered and result.error is not None
    assert "gone@example.com" in result.error and "550" in result.error
    assert len(server.received) == 1  # ops got it; not sent twice by a retry


def test_email_a_wrong_password_is_explained(certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    with SmtpServer("starttls", certificate, "monitor", SMTP_PASSWORD) as server:
        settings = EmailSettings("127.0.0.1", "monitor@example.com", ("ops@example.com",), server.port,
                                 "starttls", "monitor", "wrong-password-123")
        result = send(settings, from_report(report()))
    assert result.error is not None and "535" in result.error and "email.password" in result.error
    assert "wrong-password-123" not in result.error


def test_email_with_display_names_reaches_a_server_without_smtputf8() -> None:
    with SmtpServer("none") as server:  # offers no SMTPUTF8, like many company relays
        settings = EmailSettings("127.0.0.1", "API 余额监控 · 生产 <mon+balance@example.com>",
                                 ("运维值班 <ops@example.com>", "cto@example.com"), server.port, "none")
        result = send(settings, from_report(report()))
    assert result == Result("email", True, 1, None)
    [mail] = server.received
    # The envelope: bare addresses, and nothing that needs SMTPUTF8.
    assert mail.sender == "mon+balance@example.com"
    assert mail.recipients == ["ops@example.com", "cto@example.com"]
    assert not any(o.upper() == "SMTPUTF8" for o in mail.options)
    head = mail.data.split(b"\r\n\r\n", 1)[0].decode("ascii")  # the header block is 7-bit ASCII
    [from_line] = [h for h in head.replace("\r\n ", " ").split("\r\n") if h.startswith("From:")]
    assert "=?utf-8?" in from_line and from_line.endswith(" <mon+balance@example.com>")  # RFC 2047
    parsed = email.message_from_bytes(mail.data, _class=EmailMessage, policy=email.policy.default)
    sender = parsed["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("API 余额监控 · 生产", "mon+balance@example.com")
    assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [
        ("运维值班", "ops@example.com"), ("", "cto@example.com")]
    assert parsed["Date"].datetime is not None and parsed["Date"].datetime.tzinfo is not None
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@example.com>")


def test_email_an_untrusted_certificate_is_refused(certificate: tuple[str, str]) -> None:
    with SmtpServer("tls", certificate) as server:
        settings = EmailSettings("127.0.0.1", "monitor@example.com", ("ops@example.com",), server.port, "tls")
        result = send(settings, from_report(report()))
    assert result.error is not None and "TLS" in result.error and server.received == []


# --- every channel: an alert message --------------------------------------------------------------


def test_an_alert_reaches_every_channel_with_mentions(certificate: tuple[str, str]) -> None:
    alert = Message.alert("⚠️ 余额告警：main", "low", ["main 余额 $1.2346，低于 $5.0000"], mention=True)
    clock = Clock()
    with DingTalkRobot(secret=DINGTALK_SECRET, clock=clock) as ding, WeComRobot(clock=clock) as wecom, \
            SlackHook(clock=clock) as slack, TelegramApi(clock=clock) as tg, WebhookReceiver() as hook, \
            SmtpServer("none") as smtp, FeishuBotEmulator(secret="f3i5hu-s3cr3t", keywords=("余额",)) as feishu:
        entries = [
            ChannelEntry("feishu", FeishuSettings(feishu.webhook_url, "f3i5hu-s3cr3t", "余额", ("all",))),
            ChannelEntry("dingtalk", DingTalkSettings(ding.webhook_url, DINGTALK_SECRET, "", ("all",))),
            ChannelEntry("wecom", WeComSettings(wecom.webhook_url, ("lisi",))),
            ChannelEntry("slack", SlackSettings(slack.webhook_url, ("here",))),
            ChannelEntry("telegram", TelegramSettings(TELEGRAM_TOKEN, TELEGRAM_CHAT, tg.url)),
            ChannelEntry("webhook", WebhookSettings(hook.hook_url)),
            ChannelEntry("email", EmailSettings("127.0.0.1", "m@example.com", ("ops@example.com",), smtp.port,
                                                "none")),
        ]
        results = notify.deliver_all(entries, alert, Redactor(), clock, clock.sleep)
    assert [r.delivered for r in results] == [True] * 7, results
    card = feishu.received[0]["card"]
    assert card["header"]["template"] == "orange" and "<at id=all></at>" in json.dumps(card)
    assert ding.received[0]["at"]["isAtAll"] is True
    assert "<@lisi>" in wecom.received[0]["markdown"]["content"]
    assert slack.received[0]["text"].startswith("<!here>")
    assert "低于 $5.0000" in tg.received[0]["visible"]
    assert hook.received[0]["kind"] == "alert" and hook.received[0]["state"] == "low"
    assert b"main" in smtp.received[0].data


def test_a_channel_that_breaks_does_not_stop_the_others() -> None:
    with WebhookReceiver() as hook:
        entries = [ChannelEntry("webhook[0]", WebhookSettings("http://127.0.0.1:9/closed")),
                   ChannelEntry("webhook[1]", WebhookSettings(hook.hook_url))]
        clock = Clock()
        results = notify.deliver_all(entries, from_report(report()), Redactor(), clock, clock.sleep)
    assert [(r.channel, r.delivered) for r in results] == [("webhook[0]", False), ("webhook[1]", True)]
    assert results[0].error is not None and "cannot reach webhook" in results[0].error


def test_check_config_masks_every_channel(tmp_path: Path) -> None:
    from io import StringIO

    from monitor.commands import describe

    settings = [
        DingTalkSettings(f"https://oapi.dingtalk.com/robot/send?access_token={'a' * 64}", DINGTALK_SECRET, "余额",
                         ("13800138000",)),
        WeComSettings("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7x0b-4c2d-8e9f-0a1b2c3d4e5f"),
        TelegramSettings(TELEGRAM_TOKEN, TELEGRAM_CHAT),
        EmailSettings("smtp.example.com", "m@example.com", ("ops@example.com",), 465, "tls", "m", SMTP_PASSWORD),
        WebhookSettings("https://hooks.example.com/in/s3cr3tp4th?token=abcdef123456", WEBHOOK_SECRET),
    ]
    out = StringIO("\n".join(describe(s) for s in settings))
    shown = out.getvalue()
    for secret in ("a" * 64, DINGTALK_SECRET, "693a91f6-7x0b-4c2d-8e9f-0a1b2c3d4e5f", TELEGRAM_TOKEN, SMTP_PASSWORD,
                   "s3cr3tp4th", "abcdef123456", WEBHOOK_SECRET, "13800138000"):
        assert secret not in shown
    assert "oapi.dingtalk.com" in shown and "…8000" in shown and "signed" in shown


# --- splitting, as a property -------------------------------------------------------------------

TEXT = st.characters(blacklist_characters="§", blacklist_categories=("Cs",))  # § marks the sections


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(TEXT, min_size=1, max_size=40), st.lists(st.text(TEXT, max_size=300), max_size=12)),
                min_size=1, max_size=40))
def test_every_part_fits_and_every_section_arrives_once_in_order(raw: list[tuple[str, list[str]]]) -> None:
    from monitor.notify import slack, telegram, wecom
    from monitor.notify.message import Section, split

    sections = tuple(Section(f"§{i}§ {heading}", tuple(lines)) for i, (heading, lines) in enumerate(raw))
    message = Message("💵API 余额监控时报 2026-11-28 09:05", "low", sections, ("合计剩余：$1.2346",), mention=True)
    renderers: list[tuple[Any, Any, Any]] = [
        (lambda p: wecom.markdown(p, ["zhangsan"]), wecom.content_fits, lambda m: m["markdown"]["content"]),
        (telegram.text_of, telegram.fits, lambda t: t),
        (lambda p: slack.blocks(p, ("channel",)), slack.fits, lambda m: json.dumps(m, ensure_ascii=False)),
    ]
    for render, fits, text_of in renderers:
        parts = split(message, render, fits)
        assert all(fits(p) for p in parts)
        joined = "".join(text_of(p) for p in parts)
        positions = [joined.find(f"§{i}§") for i in range(len(sections))]
        assert all(p >= 0 for p in positions) and positions == sorted(positions)
