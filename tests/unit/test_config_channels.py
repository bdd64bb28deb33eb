"""The channel sections of config.yaml: each a mapping or a list, every error with file, line and key."""

from __future__ import annotations

from pathlib import Path

from monitor.config import load
from monitor.notify.dingtalk import DingTalkSettings
from monitor.notify.email import EmailSettings
from monitor.notify.feishu import FeishuSettings
from monitor.notify.telegram import TelegramSettings
from monitor.notify.webhook import WebhookSettings
from monitor.notify.wecom import WeComSettings
from monitor.redact import Redactor
from tests.unit.test_config import problems, write

ACCOUNTS = "accounts:\n  - name: a\n    api_key: sk-aaaa1111bbbb2222\n    base_url: https://relay.example.com\n"
DING = "https://oapi.dingtalk.com/robot/send?access_token=4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7a0b-4c2d-8e9f-0a1b2c3d4e5f"


def test_every_channel_loads_and_a_section_may_be_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, f"""\
dingtalk:
  - webhook_url: ${{DING_OPS}}
    secret: ${{DING_SECRET}}
    mention_on_alert: [all, "+86-13800138000"]
  - webhook_url: {DING}
wecom:
  webhook_url: ${{WECOM_URL}}
  mention_on_alert: all
slack:
  webhook_url: https://hooks.slack.com/services/T0/B0/Xyz123456
  mention_on_alert: [here, U0123ABCD]
telegram:
  bot_token: ${{TG_TOKEN}}
  chat_id: -1001234567890
email:
  host: smtp.example.com
  security: starttls
  username: monitor
  password: ${{SMTP_PASSWORD}}
  from: Monitor <monitor@example.com>
  to: ops@example.com
webhook:
  url: https://ops.example.com/hooks/balance
  secret: ${{HOOK_SECRET:-}}
  headers:
    X-Team: ops
    Authorization: Bearer ${{HOOK_TOKEN}}
    X-Api-Key: written-in-the-file-123
{ACCOUNTS}""")
    env = {"DING_OPS": DING, "DING_SECRET": "SECabc123def456", "WECOM_URL": WECOM,
           "TG_TOKEN": "7012345678:AAH9sLk2jQe4tR6yU8iO0pZxCvBnMqWeRtY", "SMTP_PASSWORD": "pa55-w0rd-xyz",
           "HOOK_TOKEN": "t0k3n-from-env"}
    config = load(path, environ=env)
    assert [c.label for c in config.channels] == ["dingtalk[0]", "dingtalk[1]", "wecom", "slack", "telegram",
                                                  "email", "webhook"]
    ding = config.channels[0].settings
    assert isinstance(ding, DingTalkSettings) and ding.mention_on_alert == ("all", "+86-13800138000")
    wecom = config.channels[2].settings
    assert isinstance(wecom, WeComSettings) and wecom.mention_on_alert == ("all",)
    telegram = config.channels[4].settings
    assert isinstance(telegram, TelegramSettings) and telegram.chat_id == "-1001234567890"
    assert telegram.api_url == "https://api.telegram.org"
    mail = config.channels[5].settings
    assert isinstance(mail, EmailSettings) and (mail.port, mail.to) == (587, ("ops@example.com",))
    hook = config.channels[6].settings
    assert isinstance(hook, WebhookSettings) and hook.headers == {
        "X-Team": "ops", "Authorization": "Bearer t0k3n-from-env", "X-Api-Key": "written-in-the-file-123"}
    assert not any(isinstance(c.settings, FeishuSettings) for c in config.channels)
    # Every secret is known to the redactor: nothing of them survives in a line it scrubs.
    redactor = Redactor(config.secrets())
    shown = redactor(" ".join([*env.values(), DING, "Bearer t0k3n-from-env", "written-in-the-file-123"]))
    for secret in [*env.values(), DING, "written-in-the-file-123",
                   "4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a",
                   "693a91f6-7a0b-4c2d-8e9f-0a1b2c3d4e5f"]:
        assert secret not in shown
    assert "ops" not in config.secrets()  # a literal header is no secret: it would mangle every log line


def test_feishu_may_be_a_list_too(tmp_path: Path) -> None:
    path = write(tmp_path, "feishu:\n  - webhook_url: https://open.feishu.cn/open-apis/bot/v2/hook/aaaa-1\n"
                           "  - webhook_url: https://open.feishu.cn/open-apis/bot/v2/hook/bbbb-2\n" + ACCOUNTS)
    config = load(path, environ={})
    assert [c.label for c in config.channels] == ["feishu[0]", "feishu[1]"]
    first = config.channels[0].settings
    assert isinstance(first, FeishuSettings) and first.webhook_url.endswith("aaaa-1")


def test_channel_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, f"""\
dingtalk:
  - webhook_url: https://oapi.dingtalk.com/robot/send
  - webhook_url: {DING}
    mention_on_alert: [everybody]
wecom:
  webhok_url: {WECOM}
slack:
  webhook_url: hooks.slack.com/services/T0/B0/X
telegram:
  bot_token: not-a-token
  chat_id: general
email:
  host: smtp.example.com
  security: none
  username: monitor
  password: secret-pass
  from: monitor
  to: []
webhook: {{}}
{ACCOUNTS}""")
    found = problems(path)
    expected = [
        ":2: dingtalk[0].webhook_url: has no access_token",
        ":4: dingtalk[1].mention_on_alert: 'everybody' is not all or a mobile number",
        ":6: wecom.webhok_url: unknown key 'webhok_url' (did you mean 'webhook_url'?)",
        ":5: wecom: needs webhook_url",
        ":8: slack.webhook_url: must start with http:// or https://",
        ":10: telegram.bot_token: must be the token @BotFather gave",
        ":11: telegram.chat_id: must be a chat's number",
        ":17: email.from: must be an e-mail address",
        ":18: email.to: must list at least one address",
        ":19: webhook: needs url",
    ]
    for text in expected:
        assert any(text in p for p in found), (text, "\n".join(found))
    assert all(p.startswith(str(path)) for p in found)
    assert "secret-pass" not in "\n".join(found)


def test_a_password_over_plain_smtp_is_refused_off_loopback_only(tmp_path: Path) -> None:
    section = "email:\n  host: {host}\n  security: none\n  username: m\n  password: ${{SMTP_PASSWORD}}\n" \
              "  from: m@example.com\n  to: [ops@example.com]\n"
    path = write(tmp_path, section.format(host="mail.example.com") + ACCOUNTS)
    [problem] = problems(path, {"SMTP_PASSWORD": "hunter2-hunter2"})
    assert f"{path}:3: email.security: is none, which would send the password unencrypted" in problem
    assert "hunter2" not in problem
    path = write(tmp_path, section.format(host="127.0.0.1") + ACCOUNTS)
    mail = load(path, environ={"SMTP_PASSWORD": "hunter2-hunter2"}).channels[0].settings
    assert isinstance(mail, EmailSettings) and mail.port == 25


def test_a_missing_channel_variable_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  bot_token: ${TELEGRAM_BOT_TOKEN}\n  chat_id: '-100123'\n" + ACCOUNTS)
    [problem] = problems(path)
    assert f"{path}:2: telegram.bot_token: environment variable TELEGRAM_BOT_TOKEN is not set" in problem


def test_a_literal_channel_secret_in_a_group_readable_config_is_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, f"wecom:\n  webhook_url: {WECOM}\n" + ACCOUNTS)
    path.chmod(0o644)
    config = load(path, environ={})
    assert any("chmod 600" in w for w in config.warnings)


def test_the_example_configs_channel_sections_load_when_uncommented(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    lines = (root / "config.yaml").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# More channels"))
    end = next(i for i, line in enumerate(lines) if line.startswith("heartbeat_url"))
    uncommented = [line[2:] if line.startswith("# ") and not line.startswith("# More") and
                   not line.startswith("# may") else line for line in lines[start:end]]
    text = "\n".join(lines[:start] + uncommented + lines[end:]) + "\n"
    env = {name: value for name, value in (line[2:].split("=", 1) for line in
           (root / ".env.example").read_text(encoding="utf-8").splitlines() if line.startswith("# ") and "=" in line)}
    env |= {"FEISHU_WEBHOOK_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/abc-123",
            "ACCOUNT1_API_KEY": "sk-one", "ACCOUNT2_API_KEY": "sk-two", "RELAY2_API_KEY": "sk-three",
            "DEEPSEEK_API_KEY": "sk-four", "NOVITA_API_KEY": "sk_five"}
    config = load(write(tmp_path, text), environ=env)
    assert [c.label for c in config.channels] == ["feishu", "dingtalk", "wecom", "slack", "telegram", "email",
                                                  "webhook"]
