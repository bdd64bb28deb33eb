"""Every secret-capable setting seeded with a recognisable value, every error path we can reach driven,
and every byte the installed command writes (stdout, stderr, the log file, the history) and every message
a channel received searched for any piece of any seed.

A channel added later is one line in ``CHANNELS``: its section, and the variables it reads with the
secrets seeded in them. Every channel points at one ``ChannelServer``, which accepts with an answer that
passes each channel's success test, or refuses with an answer that echoes everything it was sent (the
URL's token, the headers, the body), in each channel's error fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from monitor.emulators import LoopbackServer, RelayEmulator, Request, Token, json_answer
from tests.conftest import Setup, cli_run, write_setup
from tests.support.channel_servers import SmtpServer
from tests.support.helpers_ops import closed_port

SEEDS: dict[str, str] = {}


def seed(name: str) -> str:
    """A secret no text could hold by chance: the name (so a leak says whose), then 24 hex digits."""
    value = name + hashlib.sha256(name.encode()).hexdigest()[:24]
    SEEDS[name] = value
    return value


WINDOW = 9  # longer than any mask shows of a secret (5 first and 2 last characters)

MAIN_KEY = "sk-" + seed("mainkey")
KEYED_KEY = "sk-" + seed("keyedkey")
KEY_IN_QUERY = seed("querykey")
JSON_KEY = "sk-" + seed("jsonkey")
JSON_TOKEN = seed("jsonurltoken")
SESSION = seed("sessiontoken")
HEARTBEAT_UUID = seed("heartbeatuuid")
HEARTBEAT_KEY = seed("heartbeatkey")


@dataclass(frozen=True)
class Channel:
    """A chat channel as the config sets it up: ``{url}`` is the ChannelServer's address."""

    section: str
    yaml: str
    env: dict[str, str]


CHANNELS = [
    Channel("feishu", "feishu:\n  webhook_url: ${FEISHU_WEBHOOK_URL}\n  secret: ${FEISHU_SECRET}\n"
            "  mention_on_alert: [all]\n",
            {"FEISHU_WEBHOOK_URL": "{url}/open-apis/bot/v2/hook/" + seed("feishutoken"),
             "FEISHU_SECRET": seed("feishusecret")}),
    Channel("dingtalk", "dingtalk:\n  webhook_url: ${DINGTALK_WEBHOOK_URL}\n  secret: ${DINGTALK_SECRET}\n",
            {"DINGTALK_WEBHOOK_URL": "{url}/robot/send?access_token=" + seed("dingtalktoken"),
             "DINGTALK_SECRET": "SEC" + seed("dingtalksecret")}),
    Channel("wecom", "wecom:\n  webhook_url: ${WECOM_WEBHOOK_URL}\n",
            {"WECOM_WEBHOOK_URL": "{url}/cgi-bin/webhook/send?key=" + seed("wecomkey")}),
    Channel("slack", "slack:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n",
            {"SLACK_WEBHOOK_URL": "{url}/services/" + seed("slackteam") + "/" + seed("slackhook")}),
    Channel("telegram", "telegram:\n  bot_token: ${TELEGRAM_BOT_TOKEN}\n  chat_id: '-100123'\n  api_url: {url}\n",
            {"TELEGRAM_BOT_TOKEN": "123456:" + seed("telegramtoken")}),
    Channel("webhook", "webhook:\n  url: ${REPORT_WEBHOOK_URL}\n  secret: ${REPORT_WEBHOOK_SECRET}\n"
            "  headers:\n    X-Api-Token: ${REPORT_TOKEN}\n    X-Trace: trace-${REPORT_TRACE}\n",
            {"REPORT_WEBHOOK_URL": "{url}/hooks/" + seed("webhookpath") + "?sig=" + seed("webhookquery"),
             "REPORT_WEBHOOK_SECRET": seed("webhooksecret"), "REPORT_TOKEN": seed("webhookheader"),
             "REPORT_TRACE": seed("webhooktrace")}),
    # Not HTTP: the SMTP server is World's; {smtp} is its port.
    Channel("email", "email:\n  host: 127.0.0.1\n  port: {smtp}\n  security: none\n  username: ${SMTP_USER}\n"
            "  password: ${SMTP_PASSWORD}\n  from: monitor@example.com\n  to: [ops@example.com]\n",
            {"SMTP_USER": "monitor", "SMTP_PASSWORD": seed("smtppassword")}),
]

ACCOUNTS = """\
defaults:
  provider: openai-billing
  base_url: ${RELAY_URL}
  low_balance: 5
accounts:
  - name: main
    api_key: ${MAIN_API_KEY}
  - name: keyed
    base_url: ${KEYED_BASE_URL}
    api_key: ${KEYED_API_KEY}
  - name: jsonacct
    provider: json
    url: ${JSON_URL}
    api_key: ${JSON_API_KEY}
    currency: USD
    balance: data.balance
    headers:
      Authorization: Bearer {api_key}
      X-Session: ${SESSION_TOKEN}
"""

# Answers that pass every channel's success test at once (SPEC, Channels): HTTP 200 with Feishu's code 0,
# DingTalk's and WeCom's errcode 0, Telegram's ok.
ACCEPTED = {"code": 0, "msg": "success", "StatusCode": 0, "errcode": 0, "errmsg": "ok", "ok": True,
            "result": {"message_id": 1}}


class ChannelServer(LoopbackServer):
    """Every channel's endpoint; ``refuse`` makes it a careless one that echoes what it was sent."""

    refuse = False

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        if not self.refuse:
            return json_answer(200, ACCEPTED)
        echo = f"refused {request.method} {request.path} {request.headers} {request.body[:200]!r}"
        return json_answer(400, {"code": 19001, "msg": echo, "errcode": 310000, "errmsg": echo, "ok": False,
                                 "error_code": 400, "description": echo, "error": echo})


class JsonBalanceServer(LoopbackServer):
    """A balance endpoint that needs the key, the session header and the URL's token; ``echo`` makes it
    refuse, repeating all three in its error message."""

    echo = False

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        auth, session = request.headers.get("authorization", ""), request.headers.get("x-session", "")
        if not self.echo and auth == f"Bearer {JSON_KEY}" and session == SESSION and JSON_TOKEN in request.path:
            return json_answer(200, {"data": {"balance": "12.3456789"}})
        message = f"denied {request.path}: authorization {auth!r}, session {session!r}"
        return json_answer(401, {"error": {"message": message, "type": "auth"}})


class HeartbeatServer(LoopbackServer):
    echo = False

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        return json_answer(500, f"no such check {request.path}") if self.echo else json_answer(200, "OK")


def echo_url(request: Request) -> tuple[int, dict[str, str], bytes]:
    """A relay that names the URL it did not know, query and all (the key in ``?key=`` included)."""
    return json_answer(404, {"error": {"message": f"Invalid URL (GET {request.path})", "type": "invalid_request"}})


def echo_key(request: Request) -> tuple[int, dict[str, str], bytes]:
    key = request.headers.get("authorization", "")[7:]
    return json_answer(500, {"error": {"message": f"upstream refused key {key} ({key[3:]})"}})


@dataclass
class World:
    """The loopback servers and the variables that point the config at them."""

    relay: RelayEmulator
    channels: ChannelServer
    balance: JsonBalanceServer
    heartbeat: HeartbeatServer
    smtp: SmtpServer

    def env(self) -> dict[str, str]:
        env = {
            "RELAY_URL": self.relay.url,
            "MAIN_API_KEY": MAIN_KEY,
            "KEYED_BASE_URL": f"{self.relay.url}/?key={KEY_IN_QUERY}",
            "KEYED_API_KEY": KEYED_KEY,
            "JSON_URL": f"{self.balance.url}/balance?token={JSON_TOKEN}",
            "JSON_API_KEY": JSON_KEY,
            "SESSION_TOKEN": SESSION,
            "HEARTBEAT_URL": f"{self.heartbeat.url}/ping/{HEARTBEAT_UUID}/{{code}}?key={HEARTBEAT_KEY}",
        }
        for channel in CHANNELS:
            env.update({name: self.fill(value) for name, value in channel.env.items()})
        return env

    def fill(self, text: str) -> str:
        return text.replace("{url}", self.channels.url).replace("{smtp}", str(self.smtp.port))


def config_text(world: World, top: str = "") -> str:
    channels = "".join(world.fill(c.yaml) for c in CHANNELS)
    return ("timezone: Asia/Shanghai\nhistory:\n  folder: api_usage_history\n  lock_wait_seconds: 1\n"
            "http:\n  timeout_seconds: 2\n  retries: 0\n  run_timeout_seconds: 20\n"
            f"heartbeat_url: ${{HEARTBEAT_URL}}\n{top}{channels}{ACCOUNTS}")


def written(text: str, env: dict[str, str]) -> str:
    """The config with every secret written into it, as a careless operator would."""
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: env[m.group(1)], text)


def pieces(name: str, secret: str) -> set[str]:
    """Every run of WINDOW characters of the seed but those inside its name ("heartbeat" is a word)."""
    return {secret[i:i + WINDOW] for i in range(len(secret) - WINDOW + 1) if i + WINDOW > len(name)}


def leaks(texts: list[str]) -> list[str]:
    """Each seed of which any piece longer than a mask shows is in any of ``texts``, with where."""
    everything = "\n".join(texts)
    found = []
    for name, secret in SEEDS.items():
        for piece in sorted(p for p in pieces(name, secret) if p in everything):
            at = everything.index(piece)
            found.append(f"{name}: {everything[max(0, at - 80):at + 40]!r}")
            break
    return found


class Runner:
    """Runs the installed command as cron does and keeps every output it wrote."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.log_file = tmp_path / "monitor.log"
        self.outputs: list[str] = []

    def __call__(self, setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
        logged = ("-vv", "--log-file", str(self.log_file)) if args[0] != "history" else ()
        result = cli_run([*args, "-c", str(setup.config), *logged], self.home)
        assert "Traceback" not in result.stderr, result.stderr
        self.outputs += [result.stdout, result.stderr]
        return result

    def everything(self, setup: Setup, channels: ChannelServer) -> list[str]:
        files = [self.log_file.read_text(encoding="utf-8")]
        # The history folder: its records, its state (alerts, last success), its lock.
        history = sorted(p for p in setup.log.iterdir() if p.is_file())
        assert any(p.suffix == ".jsonl" for p in history), history
        files += [p.read_text(encoding="utf-8", errors="replace") for p in history]
        posted = [r.body.decode("utf-8", "replace") for r in channels.requests]
        return [*self.outputs, *files, *posted]

    def mails(self, smtp: SmtpServer) -> list[str]:
        return [m.data.decode("utf-8", "replace") for m in smtp.received]


def test_no_piece_of_any_secret_anywhere_whatever_fails(tmp_path: Path) -> None:
    tokens = {MAIN_KEY[3:]: Token(total=Decimal("20.123456789"), used=Decimal("7.660001"), name="main"),
              KEYED_KEY[3:]: Token(total=Decimal("50"), used=Decimal("10"), name="keyed")}
    with RelayEmulator(tokens=tokens, faults={"/": echo_url}) as relay, ChannelServer() as channels, \
            JsonBalanceServer() as balance, HeartbeatServer() as heartbeat, \
            SmtpServer("none", username="monitor", password=SEEDS["smtppassword"]) as smtp:
        world = World(relay, channels, balance, heartbeat, smtp)
        env = world.env()
        setup = write_setup(tmp_path / "etc", config_text(world), env)
        command = Runner(tmp_path)

        # Everything answers: the secrets travel only where they belong.
        first = command(setup, "run")
        assert first.returncode == 2, first.stderr  # "keyed" fails: its relay does not know ?key=
        document = json.loads(command(setup, "run", "--json").stdout)
        by_name = {a["name"]: a for a in document["accounts"]}
        assert by_name["jsonacct"]["ok"], by_name["jsonacct"]  # the header's ${SESSION_TOKEN} was filled in
        assert by_name["main"]["ok"] and not by_name["keyed"]["ok"]
        assert "Invalid URL" in by_name["keyed"]["error"]  # the echo of ?key= was reported, masked
        command(setup, "run", "--dry-run")
        assert command(setup, "check-config").returncode == 0
        assert command(setup, "test-notify").returncode == 0
        command(setup, "history")
        command(setup, "history", "--csv")
        http_channels = len([c for c in CHANNELS if c.section != "email"])
        assert len(channels.requests) == 3 * http_channels and len(smtp.received) == 3
        assert len(heartbeat.requests) == 2

        # Everyone refuses, and repeats back what it was sent.
        channels.refuse = balance.echo = heartbeat.echo = True
        smtp.refuse = ("ops@example.com",)
        relay.faults["/v1/dashboard/billing/subscription"] = echo_key
        assert command(setup, "run").returncode == 2 | 4
        command(setup, "run", "--json")
        assert command(setup, "test-notify").returncode == 4
        relay.faults.pop("/v1/dashboard/billing/subscription")

        # Nobody answers: connection errors embed the URLs.
        dead = f"http://127.0.0.1:{closed_port()}"
        gone = {name: value.replace(channels.url, dead).replace(balance.url, dead).replace(heartbeat.url, dead)
                for name, value in env.items()}
        (setup.folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in gone.items()), encoding="utf-8")
        assert command(setup, "run").returncode == 2 | 4

        # The secrets written into the config itself: a working config, then broken ones.
        literal = write_setup(tmp_path / "literal", written(config_text(world), env))
        os.chmod(literal.config, 0o644)
        checked = command(literal, "check-config")
        assert f"chmod 600 {literal.config}" in checked.stderr
        assert command(literal, "run").returncode == 2 | 4
        channels.refuse, smtp.refuse = False, ()
        broken = written(config_text(world, top=f"bad_key_{SESSION}: 1\n"), env)
        broken = broken.replace("timezone: Asia/Shanghai", f"timezone: {MAIN_KEY}")
        broken = broken.replace(f"webhook_url: {env['FEISHU_WEBHOOK_URL']}",
                                f"webhook_url: {env['FEISHU_WEBHOOK_URL'].replace('http://', '')}")
        broken = broken.replace(f"heartbeat_url: {env['HEARTBEAT_URL']}",
                                f"heartbeat_url: htp{env['HEARTBEAT_URL'][4:]}")
        broken = broken.replace(f"base_url: {env['KEYED_BASE_URL']}",
                                f"base_url: {env['KEYED_BASE_URL'].replace('http://', 'ftp://')}")
        broken = broken.replace("provider: json", f"provider: {JSON_KEY}")
        broken = broken.replace(f"X-Session: {SESSION}", f"X-Session: [{SESSION}]")
        broken = broken.replace(f"url: {env['JSON_URL']}", f"url: {env['JSON_URL'].replace('http://', '')}")
        broken = broken.replace(f"  secret: {env['FEISHU_SECRET']}\n",
                                f"  secret: {env['FEISHU_SECRET']}\n  secret: {env['FEISHU_SECRET']}x\n")
        broken = broken.replace("  low_balance: 5\n", "  low_balance: 5\n  api_key: ${NOT_SET_ANYWHERE}\n")
        bad = write_setup(tmp_path / "broken", broken)
        for args in (["run"], ["check-config"]):
            failed = command(bad, *args)
            assert failed.returncode == 78
            for where in ("timezone", "feishu.webhook_url", "heartbeat_url", "accounts[1].base_url",
                          "accounts[2].provider", "accounts[2].url", "feishu.secret", "NOT_SET_ANYWHERE",
                          "unknown key"):
                assert where in failed.stderr, (where, failed.stderr)
        unclosed = written(config_text(world), env).replace(f"api_key: {MAIN_KEY}", f'api_key: "{MAIN_KEY}')
        bad.config.write_text(unclosed)
        assert command(bad, "run").returncode == 78  # a YAML syntax error on the key's own line

        texts = command.everything(setup, channels) + command.everything(literal, channels) + command.mails(smtp)

    assert leaks(texts) == []
    assert len(SEEDS) >= 8 + len(CHANNELS)
    assert "sk-ma…" in "\n".join(texts)  # masked, not dropped: the operator still sees which key
