"""``api-balance-monitor demo``: the real pipeline against an emulated relay and bot on 127.0.0.1."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO

from monitor import transfer
from monitor.admin_emulator import UNSUPPORTED, Channel, RelayAdminEmulator
from monitor.config import load
from monitor.emulators import FeishuBotEmulator, RelayEmulator, Token
from monitor.history import History, State
from monitor.records import utc_text
from monitor.redact import Redactor, fingerprint
from monitor.run import run_once

DEMO_SECRET = "demo-signing-secret"
DEMO_KEYWORD = "余额"

CONFIG = """\
# Written by `api-balance-monitor demo`: the same format as your own config.yaml.
timezone: Asia/Shanghai
history:
  folder: api_usage_history
feishu:
  webhook_url: {webhook}
  secret: {secret}
  keyword: {keyword}
  mention_on_alert: [all]
defaults:
  provider: openai-billing
  base_url: {relay}
  low_balance: 5
accounts:
  - name: 主账户
    api_key: sk-demo0main0key0000000000000000000000000000000001
  - name: 备用账户
    api_key: sk-demo0spare0key000000000000000000000000000000002
  - name: 不限额度
    api_key: sk-demo0unlimited00000000000000000000000000000003
  - name: 自建中转站              # a relay you run, as its admin: every upstream channel an account
    provider: new-api-admin
    base_url: {site}
    access_token: {admin_token}
    user_id: 1
    refresh: true
    low_balance: 10
"""
ADMIN_TOKEN = "demo0admin0access0token0000001"


MAIN, SPARE, UNLIMITED = (
    "demo0main0key0000000000000000000000000000000001",
    "demo0spare0key000000000000000000000000000000002",
    "demo0unlimited00000000000000000000000000000003",
)
HALF = timedelta(minutes=30)
SEED = 24  # half hours of earlier checks: enough periods for a usual rate (a spike needs 4)
STEPS = {MAIN: Decimal("0.052341"), SPARE: Decimal("0.041234"), UNLIMITED: Decimal("0.020518")}


def seed(folder: Path, tokens: dict[str, Token], names: dict[str, str], start: datetime) -> None:
    """Twelve hours of half-hourly history, as cron's report and checks would have left it: the first
    record a report, the rest checks, each key spending a little every half hour up to where the relay is."""
    records = []
    for k in range(SEED, -1, -1):
        moment = start - HALF * k
        for key, token in tokens.items():
            used = token.used - STEPS[key] * k
            records.append({
                "time": utc_text(moment), "account": names[key], "key_fingerprint": fingerprint(f"sk-{key}"),
                "provider": "openai-billing", "ok": True, "currency": "USD",
                "balance": None if token.unlimited else f"{token.total - used:f}", "used": f"{used:f}",
                "total": None if token.unlimited else f"{token.total:f}", "unlimited": token.unlimited,
                "error": None, "run": "report" if k == SEED else "check"})
    folder.mkdir(mode=0o700)
    history = History(folder)
    _, seq = transfer.load(history, records)
    history.write_state(State(next_seq=seq + 1))


def spend(tokens: dict[str, Token]) -> None:
    """An ordinary half hour on the relay."""
    for key, amount in STEPS.items():
        tokens[key].used += amount


def demo(out: IO[str]) -> int:
    """The whole story, in simulated half hours after twelve hours of history: the report, a quiet check,
    a leak that the next check flags, a top-up that the next check announces. Prints what the bot got."""
    tokens = {
        MAIN: Token(total=Decimal("20"), used=Decimal("7.66"), name="main"),
        SPARE: Token(total=Decimal("10"), used=Decimal("5.60"), name="spare"),
        UNLIMITED: Token(unlimited=True, used=Decimal("1.50"), name="unlimited"),
    }
    names = {MAIN: "主账户", SPARE: "备用账户", UNLIMITED: "不限额度"}
    # The site's upstream channels: one running low (DeepSeek's balance is in yuan), one whose type has no
    # balance endpoint, one switched off.
    channels = [Channel(1, "openai-主线", refresh=Decimal("86.40")), Channel(2, "deepseek", type=43,
                                                                             refresh=Decimal("4.80")),
                Channel(3, "azure", type=3, refresh=UNSUPPORTED), Channel(4, "旧渠道", status=2)]
    with RelayEmulator(tokens=tokens) as relay, FeishuBotEmulator(secret=DEMO_SECRET,
                                                                  keywords=(DEMO_KEYWORD,)) as bot, \
            RelayAdminEmulator(ADMIN_TOKEN, channels=channels) as site, \
            tempfile.TemporaryDirectory(prefix="abm-demo-") as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(CONFIG.format(webhook=bot.webhook_url, secret=DEMO_SECRET, keyword=DEMO_KEYWORD,
                                      relay=relay.url, site=site.url, admin_token=ADMIN_TOKEN), encoding="utf-8")
        os.chmod(path, 0o600)
        config = load(path, environ={})
        redactor = Redactor(config.secrets())
        now = datetime.now(timezone.utc).replace(microsecond=0)
        seed(Path(folder) / "api_usage_history", tokens, names, now - 4 * HALF)
        out.write(f"Emulated relay at {relay.url}, a relay site's admin API at {site.url}, emulated Feishu bot at "
                  f"{bot.url} (signed, keyword "
                  f"{DEMO_KEYWORD!r}); a temporary history with 12 hours of half-hourly checks.\n")

        def step(title: str, when: datetime, command: str) -> int:
            spend(tokens)
            before = len(bot.received)
            outcome = run_once(config, redactor, when, command=command)
            local = when.astimezone(config.timezone)
            out.write(f"\n== {local:%H:%M} {title}: `{'run' if command == 'report' else 'check'}`, "
                      f"exit code {outcome.exit_code} ==\n")
            out.write(outcome.text if len(bot.received) > before else "(nothing changed: nothing posted)\n")
            return len(bot.received) - before

        posted = [step("the report", now - 3 * HALF, "report"),
                  step("a check half an hour later", now - 2 * HALF, "check")]
        tokens[MAIN].used += Decimal("6.172839")  # the main key leaks: a week's spending in half an hour
        posted.append(step("the main key leaked", now - HALF, "check"))
        tokens[SPARE].total += Decimal("20")  # someone tops up the spare key
        channels[1].refresh = Decimal("104.80")  # and the DeepSeek account behind the site's channel
        posted.append(step("the spare key and the low channel were topped up", now, "check"))

        out.write(f"\n== What the bot received ({len(bot.received)} messages; the last one) ==\n")
        if bot.received:
            out.write(json.dumps(bot.received[-1]["card"], ensure_ascii=False, indent=1) + "\n")
        told = posted == [1, 0, 1, 1]
        out.write("\nDemo " + ("succeeded: the report, a quiet check, the spike, the recovery.\n" if told
                                else "FAILED.\n"))
        return 0 if told else 1
