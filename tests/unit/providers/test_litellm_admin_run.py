"""A LiteLLM proxy watched with its master key end to end, as cron runs the installed command: the report, the
history, the alerts, the metrics; and neither the master key nor a key's whole token in any output."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from monitor.emulators import FeishuBotEmulator
from tests.conftest import cli_run, log_records, write_setup
from tests.support.litellm_emulator import Key, LiteLLMAdminEmulator, Team

MASTER = "sk-LiteLLMmaster" + "m" * 24
KEYS = [Key(f"sk-virtualKey{n:03d}" + "V" * 24, alias=None if n % 10 == 0 else f"app{n}", spend=Decimal(n),
            max_budget=None if n % 7 == 0 else Decimal(120)) for n in range(130)]
KEYS.append(Key("sk-blockedKey" + "B" * 24, alias="blocked-bot", spend=Decimal(1), max_budget=Decimal(50),
                blocked=True))
TEAMS = [Team("team-a", "research", Decimal(40), Decimal(100)), Team("team-b", None, Decimal(99), Decimal(100))]

CONFIG = """\
timezone: Asia/Shanghai
history:
  folder: api_usage_history
metrics:
  textfile: balances.prom
feishu:
  webhook_url: ${{FEISHU_WEBHOOK_URL}}
accounts:
  - name: LiteLLM
    provider: litellm-admin
    base_url: {url}
    api_key: ${{LITELLM_MASTER_KEY}}
    low_balance: 5
"""


def test_a_litellm_proxy_end_to_end_with_no_secret_in_any_output(tmp_path: Path) -> None:
    with LiteLLMAdminEmulator(MASTER, keys=KEYS, teams=TEAMS) as proxy, FeishuBotEmulator() as bot:
        setup = write_setup(tmp_path / "etc", CONFIG.format(url=proxy.url),
                            {"LITELLM_MASTER_KEY": MASTER, "FEISHU_WEBHOOK_URL": bot.webhook_url})
        home = tmp_path / "home"
        log_file = tmp_path / "monitor.log"
        config = ["-c", str(setup.config)]
        outputs = []
        for args in (["run", "-vv", "--log-file", str(log_file)], ["run", "--dry-run", "--json", "-vv"],
                     ["check", "-vv"], ["check", "--json", "-vv"], ["history"], ["history", "--csv"],
                     ["check-config"]):
            outputs.append((args, cli_run([*args, *config], home)))

    first = outputs[0][1]
    assert first.returncode == 1, first.stderr  # low and spent budgets; nothing failed
    card = json.dumps(bot.received[0], ensure_ascii=False)
    assert "LiteLLM/blocked-bot" in card and "LiteLLM/team:team-b" in card
    assert "LiteLLM/app1\\" not in card and "LiteLLM/app1 " not in card  # $119 left: not listed

    records = log_records(setup.log)
    names = {r["account"] for r in records}
    assert {"LiteLLM", "LiteLLM/app1", "LiteLLM/team:research", f"LiteLLM/{KEYS[0].token[:8]}"} <= names
    assert len([r for r in records if r["run"] == "report"]) == 1 + 131 + 2

    document = json.loads(outputs[1][1].stdout)
    kinds = {a["name"]: a.get("kind") for a in document["accounts"]}
    assert kinds["LiteLLM"] == "site" and kinds["LiteLLM/app3"] == "key" and kinds["LiteLLM/team:research"] == "team"

    metrics = (setup.folder / "balances.prom").read_text(encoding="utf-8")
    assert 'account="LiteLLM/app129"' in metrics and 'account="LiteLLM/team:research"' in metrics

    texts = [f"{r.stdout}\n{r.stderr}" for _, r in outputs]
    texts.append(log_file.read_text(encoding="utf-8"))
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in setup.log.iterdir() if p.is_file()]
    texts.append(metrics)
    texts.append(json.dumps(bot.received, ensure_ascii=False))
    everything = "\n".join(texts)
    assert "DEBUG" in everything  # -vv was on
    for secret in [MASTER, *(k.secret for k in KEYS)]:
        assert secret not in everything and secret[:16] not in everything, secret
    for key in KEYS:
        assert key.token not in everything and key.token[:16] not in everything, key.token[:8]
