"""A relay admin's site end to end, as cron runs the installed command: the report, the history, the alerts,
the metrics; and no admin token, user token or upstream key in any output, at any verbosity."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from monitor.admin_emulator import UNSUPPORTED, Channel, RelayAdminEmulator, User
from monitor.emulators import FeishuBotEmulator
from tests.conftest import cli_run, log_records, write_setup

ADMIN_TOKEN = "Adm1nAccessT0ken" + "q" * 16
USER_TOKENS = [f"UsrT0k{n:02d}" + "z" * 24 for n in range(30)]
UPSTREAM_KEYS = [f"sk-upstream{n:02d}" + "K" * 36 for n in range(6)]
SECRETS = [ADMIN_TOKEN, *USER_TOKENS, *UPSTREAM_KEYS]


def relay_site() -> RelayAdminEmulator:
    channels = [
        Channel(1, "openai-main", balance=Decimal(0), key=UPSTREAM_KEYS[0], refresh=Decimal("230.5")),
        Channel(2, "openai-low", key=UPSTREAM_KEYS[1], refresh=Decimal("3.2")),
        Channel(3, "deepseek", type=43, key=UPSTREAM_KEYS[2], refresh=Decimal("88")),
        Channel(4, "azure", type=3, key=UPSTREAM_KEYS[3], refresh=UNSUPPORTED),
        Channel(5, "broken", key=UPSTREAM_KEYS[4], refresh=f"Incorrect API key provided: {UPSTREAM_KEYS[4]}"),
        Channel(6, "retired", status=3, balance=Decimal(0), updated=1_700_000_000, key=UPSTREAM_KEYS[5]),
    ]
    users = [User(n + 1, f"user{n}", quota=(n * 200_000), used_quota=100_000, access_token=token)
             for n, token in enumerate(USER_TOKENS)]
    return RelayAdminEmulator(ADMIN_TOKEN, "new-api-2025", channels=channels, users=users, keys_in_rows=True)


CONFIG = """\
timezone: Asia/Shanghai
history:
  folder: api_usage_history
metrics:
  textfile: balances.prom
feishu:
  webhook_url: ${{FEISHU_WEBHOOK_URL}}
  mention_on_alert: [all]
accounts:
  - name: 中转站A
    provider: new-api-admin
    base_url: {url}
    access_token: ${{RELAY_ADMIN_TOKEN}}
    user_id: 1
    watch: [channels, users]
    refresh: true
    low_balance: 50
    user_low_balance: 1
"""


def test_a_relay_site_end_to_end_with_no_secret_in_any_output(tmp_path: Path) -> None:
    with relay_site() as relay, FeishuBotEmulator() as bot:
        setup = write_setup(tmp_path / "etc", CONFIG.format(url=relay.url),
                            {"RELAY_ADMIN_TOKEN": ADMIN_TOKEN, "FEISHU_WEBHOOK_URL": bot.webhook_url})
        home = tmp_path / "home"
        log_file = tmp_path / "monitor.log"
        config = ["-c", str(setup.config)]
        outputs = []
        for args in (["run", "-vv", "--log-file", str(log_file)], ["run", "--dry-run", "--json", "-vv"],
                     ["check", "-vv"], ["check", "--json", "-vv"], ["history"], ["history", "--csv"],
                     ["history", "export"], ["check-config"]):
            result = cli_run([*args, *config], home)
            outputs.append((args, result))
        paths = relay.paths()

    first = outputs[0][1]
    assert first.returncode == 3, first.stderr  # a low channel (1) and a channel whose refresh failed (2)
    # Harm: the bulk refresh (disables every channel at 0) and the token route (kills the admin's token).
    assert relay.bulk_refreshes == 0 and "/api/channel/update_balance" not in paths
    assert "/api/user/token" not in paths
    assert "/api/channel/update_balance/6" not in paths  # a disabled channel is not refreshed

    # The report: the site's summary, then only what needs a look; one Feishu card.
    card = json.dumps(bot.received[0], ensure_ascii=False)
    assert "渠道 6 个：正常 2，余额低 1，失败 1，已停用 1，余额不可查 1" in card
    assert "中转站A/openai-low" in card and "中转站A/broken" in card and "中转站A/openai-main" not in card
    # user0 has nothing left, user3 $1.20 (a user's @ is inert in a card: no mention)
    assert "中转站A/&#64;user0" in card and "user3" not in card

    # The history: every item a record of its own, the site itself too.
    records = log_records(setup.log)
    names = {r["account"] for r in records}
    assert {"中转站A", "中转站A/openai-main", "中转站A/retired", "中转站A/@user29"} <= names
    assert len([r for r in records if r["run"] == "report"]) == 1 + 6 + 30
    deepseek = next(r for r in records if r["account"] == "中转站A/deepseek")
    assert (deepseek["currency"], deepseek["balance"]) == ("CNY", "88.0")

    # --json: every item with its site and kind.
    document = json.loads(outputs[1][1].stdout)
    kinds = {a["name"]: a.get("kind") for a in document["accounts"]}
    assert kinds["中转站A"] == "site" and kinds["中转站A/azure"] == "channel" and kinds["中转站A/@user1"] == "user"

    # The metrics: one series per item.
    metrics = (setup.folder / "balances.prom").read_text(encoding="utf-8")
    assert 'account="中转站A/@user29"' in metrics and 'account="中转站A/openai-low"' in metrics

    # Never leaked: stdout, stderr, the log file, the history folder, the metrics, the messages posted.
    texts = [f"{r.stdout}\n{r.stderr}" for _, r in outputs]
    texts.append(log_file.read_text(encoding="utf-8"))
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in setup.log.iterdir() if p.is_file()]
    texts.append(metrics)
    texts.append(json.dumps(bot.received, ensure_ascii=False))
    everything = "\n".join(texts)
    assert "DEBUG" in everything  # -vv was on
    for secret in SECRETS:
        assert secret not in everything, secret
        assert secret[:16] not in everything, secret  # not even a long enough piece of one
