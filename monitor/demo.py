"""``api-balance-monitor demo``: the real pipeline against an emulated relay and bot on 127.0.0.1."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO

from monitor.config import load
from monitor.emulators import FeishuBotEmulator, RelayEmulator, Token
from monitor.redact import Redactor
from monitor.run import run_once

DEMO_SECRET = "demo-signing-secret"
DEMO_KEYWORD = "余额"

CONFIG = """\
# Written by `api-balance-monitor demo`: the same format as your own config.yaml.
timezone: Asia/Shanghai
history:
  file: api_usage_history.json
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
"""


def demo(out: IO[str]) -> int:
    """Two passes twelve simulated hours apart; prints both reports and what the bot received."""
    tokens = {
        "demo0main0key0000000000000000000000000000000001": Token(total=Decimal("20"), used=Decimal("7.66"),
                                                                 name="main"),
        "demo0spare0key000000000000000000000000000000002": Token(total=Decimal("10"), used=Decimal("3.10"),
                                                                 name="spare"),
        "demo0unlimited00000000000000000000000000000003": Token(unlimited=True, used=Decimal("1.50"),
                                                               name="unlimited"),
    }
    with RelayEmulator(tokens=tokens) as relay, FeishuBotEmulator(secret=DEMO_SECRET,
                                                                  keywords=(DEMO_KEYWORD,)) as bot, \
            tempfile.TemporaryDirectory(prefix="abm-demo-") as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(CONFIG.format(webhook=bot.webhook_url, secret=DEMO_SECRET, keyword=DEMO_KEYWORD,
                                      relay=relay.url), encoding="utf-8")
        os.chmod(path, 0o600)
        config = load(path, environ={})
        redactor = Redactor(config.secrets())
        now = datetime.now(timezone.utc).replace(microsecond=0)
        out.write(f"Emulated relay at {relay.url}, emulated Feishu bot at {bot.url} (signed, keyword "
                  f"{DEMO_KEYWORD!r}); history in a temporary folder.\n\n")

        first = run_once(config, redactor, now - timedelta(hours=12))
        out.write(f"== Pass 1 (simulated time {(now - timedelta(hours=12)).astimezone(config.timezone):%H:%M}), "
                  f"exit code {first.exit_code} ==\n{first.text}\n")

        # Twelve hours of spending on the relay, then the second cron run.
        tokens["demo0main0key0000000000000000000000000000000001"].used += Decimal("1.2345")
        tokens["demo0spare0key000000000000000000000000000000002"].used += Decimal("2.5")
        tokens["demo0unlimited00000000000000000000000000000003"].used += Decimal("0.75")
        second = run_once(config, redactor, now)
        out.write(f"== Pass 2 (simulated time {now.astimezone(config.timezone):%H:%M}), "
                  f"exit code {second.exit_code} ==\n{second.text}\n")

        out.write(f"== What the bot received ({len(bot.received)} messages; the last one) ==\n")
        if bot.received:
            out.write(json.dumps(bot.received[-1], ensure_ascii=False, indent=2) + "\n")
        records = json.loads((Path(folder) / "api_usage_history.json").read_text(encoding="utf-8"))["records"]
        out.write(f"\nHistory file: {len(records)} records (one per account per run); the last one:\n"
                  f"{json.dumps(records[-1], ensure_ascii=False)}\n")
        delivered = first.delivery.delivered and second.delivery.delivered and len(bot.received) == 2
        out.write("\nDemo " + ("succeeded: both reports were delivered.\n" if delivered else "FAILED.\n"))
        return 0 if delivered else 1
