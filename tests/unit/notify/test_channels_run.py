"""End to end: the installed command, run as cron runs it, posting to every kind of channel on loopback."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor.emulators import FeishuBotEmulator, RelayEmulator, Token, json_answer
from tests.conftest import BOT_SECRET, MAIN_KEY, cli_run, config_text, standard_env, write_setup
from tests.support.channel_servers import (
    DINGTALK_SECRET,
    SMTP_PASSWORD,
    TELEGRAM_CHAT,
    TELEGRAM_TOKEN,
    WEBHOOK_SECRET,
    DingTalkRobot,
    SlackHook,
    SmtpServer,
    TelegramApi,
    WebhookReceiver,
    WeComRobot,
    make_certificate,
    slack_error,
    telegram_error,
)

HOOK_TOKEN = "h00k-B34r3r-t0k3n-77aa"
COUNT = 150  # accounts in the oversized report: more than 20 KB of DingTalk markdown


@dataclass
class Servers:
    dingtalk: DingTalkRobot
    wecom: WeComRobot
    slack: SlackHook
    telegram: TelegramApi
    webhook: WebhookReceiver
    email: SmtpServer
    feishu: FeishuBotEmulator

    def env(self) -> dict[str, str]:
        return {
            "DINGTALK_WEBHOOK_URL": self.dingtalk.webhook_url, "DINGTALK_SECRET": DINGTALK_SECRET,
            "WECOM_WEBHOOK_URL": self.wecom.webhook_url, "SLACK_WEBHOOK_URL": self.slack.webhook_url,
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "REPORT_WEBHOOK_URL": self.webhook.hook_url,
            "REPORT_WEBHOOK_SECRET": WEBHOOK_SECRET, "HOOK_TOKEN": HOOK_TOKEN, "SMTP_PASSWORD": SMTP_PASSWORD,
            "FEISHU_WEBHOOK_URL": self.feishu.webhook_url, "FEISHU_SECRET": BOT_SECRET,
        }

    def secrets(self) -> list[str]:
        return [DINGTALK_SECRET, self.dingtalk.token, self.wecom.key, self.slack.path, TELEGRAM_TOKEN,
                WEBHOOK_SECRET, HOOK_TOKEN, SMTP_PASSWORD, self.feishu.token, BOT_SECRET, MAIN_KEY]


SECTIONS = {
    "feishu": "feishu:\n  webhook_url: ${FEISHU_WEBHOOK_URL}\n  secret: ${FEISHU_SECRET}\n  mention_on_alert: [all]\n",
    "dingtalk": "dingtalk:\n  webhook_url: ${DINGTALK_WEBHOOK_URL}\n  secret: ${DINGTALK_SECRET}\n"
                "  keyword: 余额\n  mention_on_alert: [all, \"13800138000\"]\n",
    "wecom": "wecom:\n  webhook_url: ${WECOM_WEBHOOK_URL}\n  mention_on_alert: [zhangsan]\n",
    "slack": "slack:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  mention_on_alert: [channel]\n",
    "telegram": "telegram:\n  bot_token: ${TELEGRAM_BOT_TOKEN}\n  chat_id: \"-1001234567890\"\n  api_url: {telegram}\n",
    "email": "email:\n  host: 127.0.0.1\n  port: {smtp}\n  security: starttls\n  username: monitor\n"
             "  password: ${SMTP_PASSWORD}\n  from: monitor@example.com\n  to: [ops@example.com, cto@example.com]\n",
    "webhook": "webhook:\n  url: ${REPORT_WEBHOOK_URL}\n  secret: ${REPORT_WEBHOOK_SECRET}\n"
               "  headers:\n    X-Team: ops\n    Authorization: Bearer ${HOOK_TOKEN}\n",
}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def servers(certificate: tuple[str, str]) -> Iterator[Servers]:
    with contextlib.ExitStack() as stack:
        yield Servers(
            stack.enter_context(DingTalkRobot(secret=DINGTALK_SECRET, keywords=("余额",))),
            stack.enter_context(WeComRobot()),
            stack.enter_context(SlackHook()),
            stack.enter_context(TelegramApi()),
            stack.enter_context(WebhookReceiver(secret=WEBHOOK_SECRET)),
            stack.enter_context(SmtpServer("starttls", certificate, "monitor", SMTP_PASSWORD)),
            stack.enter_context(FeishuBotEmulator(secret=BOT_SECRET)),
        )


def channels_yaml(servers: Servers, names: tuple[str, ...]) -> str:
    return "".join(SECTIONS[n].replace("{telegram}", servers.telegram.url)
                   .replace("{smtp}", str(servers.email.port)) for n in names)


def run(servers: Servers, relay: RelayEmulator, tmp_path: Path, names: tuple[str, ...], args: list[str],
        certificate: tuple[str, str], accounts: str | None = None,
        env: dict[str, str] | None = None) -> tuple[Any, str]:
    setup = write_setup(tmp_path / "etc", config_text(relay.url, None, channels_yaml(servers, names), accounts),
                        {**standard_env(None), **servers.env(), **(env or {})})
    result = cli_run([*args, "-c", str(setup.config)], tmp_path / "home", env={"SSL_CERT_FILE": certificate[0]})
    return result, result.stdout + result.stderr


ALL = ("feishu", "dingtalk", "wecom", "slack", "telegram", "email", "webhook")


def test_one_run_delivers_to_every_kind_of_channel_without_mentions_when_all_is_well(
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    result, output = run(servers, relay, tmp_path, ALL, ["--json"], certificate)
    assert result.returncode == 0, output
    doc = json.loads(result.stdout)
    assert doc["delivery"]["delivered"] is True and doc["delivery"]["error"] is None
    assert doc["delivery"]["channels"] == [{"channel": n, "delivered": True, "parts": 1, "error": None} for n in ALL]

    [ding] = servers.dingtalk.received  # signed and with the keyword, or the robot would have refused it
    assert ding["msgtype"] == "markdown" and "剩余：$12.3400" in ding["markdown"]["text"] and "at" not in ding
    [wecom] = servers.wecom.received
    assert "**✅ main**" in wecom["markdown"]["content"] and "<@" not in wecom["markdown"]["content"]
    [slack] = servers.slack.received
    assert slack["blocks"][0]["type"] == "header" and "<!channel>" not in json.dumps(slack)
    [telegram] = servers.telegram.received
    assert telegram["chat_id"] == TELEGRAM_CHAT and "✅ main" in telegram["visible"]
    [mail] = servers.email.received
    assert mail.recipients == ["ops@example.com", "cto@example.com"] and b"text/html" in mail.data
    [hook] = servers.webhook.received  # the signature was checked by the receiver
    assert hook["accounts"][0]["balance"] == "12.3400" and hook["delivery"] is None
    assert hook["exit_code"] == 0 and servers.webhook.requests[0].headers["authorization"] == f"Bearer {HOOK_TOKEN}"
    [feishu] = servers.feishu.received
    assert "<at" not in json.dumps(feishu)
    for secret in servers.secrets():
        assert secret not in output


def test_mentions_go_out_only_when_an_account_is_low(
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    relay.tokens[MAIN_KEY[3:]].used = Decimal("18.123456")  # $1.876544 left, under low_balance 5
    result, output = run(servers, relay, tmp_path, ("feishu", "dingtalk", "wecom", "slack"), [], certificate)
    assert result.returncode == 1, output
    [ding] = servers.dingtalk.received
    assert ding["at"] == {"atMobiles": ["13800138000"], "isAtAll": True} and "@13800138000" in ding["markdown"]["text"]
    assert "<@zhangsan>" in servers.wecom.received[0]["markdown"]["content"]
    assert servers.slack.received[0]["text"].startswith("<!channel>")
    assert "<at id=all></at>" in json.dumps(servers.feishu.received[0])


def test_an_oversized_report_is_split_within_each_channels_limit(
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    lines = ["accounts:"]
    for i in range(COUNT):
        key = f"sk-k{i:03d}" + "x" * 44
        relay.tokens[key[3:].split("-")[0]] = Token(total=Decimal("20"), used=Decimal("1.234567"), name=f"t{i}")
        lines += [f"  - name: 一个名字相当长的中转站账户编号{i:03d}", f"    api_key: {key}"]
    accounts = "\n".join(lines) + "\n"
    names = ("dingtalk", "wecom", "slack", "telegram")
    result, output = run(servers, relay, tmp_path, names, ["--json"], certificate, accounts=accounts)
    assert result.returncode == 0, output
    parts = {c["channel"]: c["parts"] for c in json.loads(result.stdout)["delivery"]["channels"]}
    assert all(parts[n] >= 2 for n in names), parts
    assert servers.dingtalk.largest <= 20_000 and servers.wecom.largest <= 4096
    assert all(len(m["blocks"]) <= 50 for m in servers.slack.received)
    assert all(len(m["visible"]) <= 4096 for m in servers.telegram.received)
    # Every account arrives exactly once on each channel, never cut between two parts.
    for texts in ([m["markdown"]["text"] for m in servers.dingtalk.received],
                  [m["markdown"]["content"] for m in servers.wecom.received],
                  [json.dumps(m, ensure_ascii=False) for m in servers.slack.received],
                  [m["visible"] for m in servers.telegram.received]):
        joined = "".join(texts)
        assert all(joined.count(f"账户编号{i:03d}") == 1 for i in range(COUNT))


def test_three_channels_with_the_middle_one_failing(
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    wrong_key = servers.wecom.webhook_url.replace(servers.wecom.key, "0badc0de-0000-4111-8222-933344445555")
    result, output = run(servers, relay, tmp_path, ("dingtalk", "wecom", "slack"), ["--json"], certificate,
                         env={"WECOM_WEBHOOK_URL": wrong_key})
    assert result.returncode == 4, output
    doc = json.loads(result.stdout)
    channels = doc["delivery"]["channels"]
    assert [(c["channel"], c["delivered"], c["parts"]) for c in channels] == [
        ("dingtalk", True, 1), ("wecom", False, 0), ("slack", True, 1)]
    assert "93000" in channels[1]["error"] and "check the key" in channels[1]["error"]
    assert doc["delivery"]["delivered"] is False and doc["delivery"]["error"].startswith("wecom: errcode 93000")
    assert doc["history"]["saved"] is True and doc["exit_code"] == 4
    assert len(servers.dingtalk.received) == 1 and len(servers.slack.received) == 1
    assert "93000" in result.stderr and "0badc0de-0000-4111-8222-933344445555" not in output


def test_an_undelivered_report_on_one_channel_is_printed_for_crons_mail(
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    servers.slack.scripted.append(slack_error(410, "channel_is_archived"))
    result, output = run(servers, relay, tmp_path, ("slack", "webhook"), [], certificate)
    assert result.returncode == 4
    assert "✅ main" in result.stdout and "channel_is_archived" in result.stderr and "unarchive" in result.stderr


def test_check_config_lists_every_channel_masked(
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    result, output = run(servers, relay, tmp_path, ALL, ["check-config"], certificate)
    assert result.returncode == 0, output
    for name in ALL:
        assert f"\n{name}: " in result.stdout
    assert "starttls to 127.0.0.1" in result.stdout and "signed" in result.stdout
    for secret in servers.secrets():
        assert secret not in output


# --- test-notify: one channel at a time, and each channel's documented errors ----------------------


def test_test_notify_sends_the_sample_through_every_channel(
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    result, output = run(servers, relay, tmp_path, ALL, ["test-notify"], certificate)
    assert result.returncode == 0, output
    assert output.count("the sample report was delivered") == 7
    # Where to look for it: a group for the chat bots, an inbox for e-mail.
    assert "email: the sample report was delivered; check the inbox" in output
    assert "feishu: the sample report was delivered; check the group" in output
    assert "测试消息" in servers.telegram.received[0]["visible"]
    assert "at" not in servers.dingtalk.received[0]  # a test wakes nobody
    assert relay.requests == []


def test_test_notify_channel_tests_only_that_one_and_names_an_unknown_one(
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    result, output = run(servers, relay, tmp_path, ALL, ["test-notify", "--channel", "telegram"], certificate)
    assert result.returncode == 0, output
    assert len(servers.telegram.received) == 1 and servers.dingtalk.requests == [] and servers.email.received == []
    unknown, output = run(servers, relay, tmp_path, ("slack",), ["test-notify", "--channel", "dingtalk"], certificate)
    assert unknown.returncode == 78 and "no channel 'dingtalk'" in output and "configured: slack" in output


ERRORS: list[tuple[str, str, Any, list[str]]] = [
    # (channel, what goes wrong, how, what the operator reads)
    ("dingtalk", "secret", {"DINGTALK_SECRET": "SECnot0the0right0secret"}, ["310000", "sign not match", "加签"]),
    ("dingtalk", "keyword", "keywords", ["310000", "keywords not in content", "dingtalk.keyword"]),
    ("dingtalk", "token", {"DINGTALK_WEBHOOK_URL": "token"}, ["300001", "DINGTALK_WEBHOOK_URL"]),
    ("dingtalk", "too fast", json_answer(200, {"errcode": 130101, "errmsg": "send too fast"}), ["130101", "20"]),
    ("wecom", "key", {"WECOM_WEBHOOK_URL": "key"}, ["93000", "check the key"]),
    ("slack", "403", slack_error(403, "action_prohibited"), ["HTTP 403 (action_prohibited)", "admin"]),
    ("slack", "404", slack_error(404, "channel_not_found"), ["channel_not_found", "new webhook"]),
    ("slack", "410", slack_error(410, "channel_is_archived"), ["unarchive"]),
    ("telegram", "token", {"TELEGRAM_BOT_TOKEN": "7012345678:AAnot-the-right-token"}, ["401", "@BotFather"]),
    ("telegram", "kicked", telegram_error(403, "Forbidden: bot was kicked from the supergroup chat"),
     ["kicked", "add it back"]),
    ("webhook", "secret", {"REPORT_WEBHOOK_SECRET": "not-the-receivers-secret"}, ["HTTP 401", "webhook.secret"]),
    ("email", "password", {"SMTP_PASSWORD": "not-the-password-9"}, ["535", "email.password"]),
]


@pytest.mark.parametrize("channel, what, how, expected", ERRORS, ids=[f"{c}-{w}" for c, w, _, _ in ERRORS])
def test_each_documented_error_is_explained(
    channel: str, what: str, how: Any, expected: list[str],
    servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    env: dict[str, str] = {}
    server = getattr(servers, channel)
    if isinstance(how, dict):
        for name, value in how.items():
            if value == "token":
                value = servers.dingtalk.webhook_url.replace(servers.dingtalk.token, "f" * 64)
            elif value == "key":
                value = servers.wecom.webhook_url.replace(servers.wecom.key, "11111111-2222-3333-4444-555555555555")
            env[name] = value
    elif how == "keywords":
        server.keywords = ("余额告警",)
    else:
        server.scripted.append(how)
    result, output = run(servers, relay, tmp_path, (channel,), ["test-notify"], certificate, env=env)
    assert result.returncode == 4, output
    assert f"test-notify: {channel}: not delivered" in result.stdout
    for text in expected:
        assert text in result.stdout, result.stdout
    for secret in [*servers.secrets(), *env.values()]:
        assert secret not in output


@pytest.mark.parametrize("channel, answer", [
    ("slack", slack_error(429, "rate_limited", {"Retry-After": "1"})),
    ("slack", slack_error(500, "rollup_error")),
    ("telegram", telegram_error(429, "Too Many Requests: retry after 1", retry_after=1)),
    ("webhook", (503, {"Retry-After": "1"}, b"upstream down")),
    ("webhook", (429, {"Retry-After": "1"}, b"")),
])
def test_rate_limits_and_server_errors_are_retried_and_then_delivered(
    channel: str, answer: Any, servers: Servers, relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    server = getattr(servers, channel)
    server.scripted.append(answer)
    result, output = run(servers, relay, tmp_path, (channel,), ["test-notify", "-v"], certificate)
    assert result.returncode == 0, output
    assert len(server.requests) == 2 and len(server.received) == 1 and "retrying in" in result.stderr


def test_email_a_refused_recipient_fails_the_run(
    relay: RelayEmulator, tmp_path: Path, certificate: tuple[str, str], servers: Servers
) -> None:
    with SmtpServer("none", refuse=("cto@example.com",)) as smtp:
        section = (f"email:\n  host: 127.0.0.1\n  port: {smtp.port}\n  security: none\n"
                   "  from: monitor@example.com\n  to: [ops@example.com, cto@example.com]\n")
        setup = write_setup(tmp_path / "etc", config_text(relay.url, None, section), standard_env(None))
        result = cli_run(["--json", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 4, result.stderr
    [entry] = json.loads(result.stdout)["delivery"]["channels"]
    assert entry["channel"] == "email" and entry["delivered"] is False
    assert "cto@example.com" in entry["error"] and "550" in entry["error"]
    assert [m.recipients for m in smtp.received] == [["ops@example.com"]]
