"""End to end: the installed console script, run as cron runs it, against the loopback relay and bot."""

from __future__ import annotations

import json
import shlex
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from monitor.notify.feishu import sign
from tests.conftest import (
    BOT_SECRET,
    EXECUTABLE,
    MAIN_KEY,
    SPARE_KEY,
    WEBHOOK_TOKEN,
    Setup,
    config_text,
    cron_run,
    standard_env,
    write_setup,
)

ROOT = Path(__file__).resolve().parents[2]
RECORD_FIELDS = {"time", "account", "key_fingerprint", "provider", "ok", "currency", "balance", "used", "total",
                 "unlimited", "error"}


def crontab_command(config: Path, log_file: Path) -> list[str]:
    """The command of crontab.example, with its paths replaced by this test's."""
    lines = (ROOT / "crontab.example").read_text().splitlines()
    [line] = [x for x in lines if x.strip() and not x.startswith("#") and "=" not in x.split()[0] and " run " in x]
    fields = line.split(None, 5)
    assert fields[:5] == ["5", "9,21", "*", "*", "*"]
    argv = shlex.split(fields[5])
    assert Path(argv[0]).is_absolute() and argv[0].endswith("/bin/api-balance-monitor")
    replaced = {argv[argv.index("-c") + 1]: str(config), argv[argv.index("--log-file") + 1]: str(log_file)}
    return [replaced.get(a, a) for a in argv[1:]]


def card_text(message: dict) -> str:
    return json.dumps(message["card"], ensure_ascii=False)


def test_the_crontab_line_posts_a_signed_card_saves_history_and_exits_0(
    setup: Setup, relay: RelayEmulator, bot: FeishuBotEmulator, tmp_path: Path
) -> None:
    log_file = tmp_path / "monitor.log"
    result = cron_run(crontab_command(setup.config, log_file), home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # quiet on success: cron mails nothing

    [message] = bot.received
    assert message["msg_type"] == "interactive"
    assert message["sign"] == sign(message["timestamp"], BOT_SECRET)
    assert message["card"]["header"]["template"] == "green"
    text = card_text(message)
    assert "💵API 余额监控时报" in text and "✅ main" in text and "剩余：$12.3400" in text
    assert "首次记录" in text and "合计剩余：$52.3400" in text

    records = setup.records()
    assert [r["account"] for r in records] == ["main", "spare"]
    main = records[0]
    assert set(main) >= RECORD_FIELDS
    assert (main["ok"], main["currency"], main["balance"], main["used"], main["total"], main["unlimited"],
            main["error"]) == (True, "USD", "12.34", "7.66", "20.0", False, None)
    assert datetime.fromisoformat(main["time"]).utcoffset() == timedelta(0)
    assert len(main["key_fingerprint"]) == 8 and main["key_fingerprint"] not in MAIN_KEY
    assert [(r["seq"], r["run"]) for r in records] == [(1, "report"), (1, "report")]
    assert stat.S_IMODE(setup.log.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in setup.log.iterdir()} == {0o600}
    assert "report delivered" in log_file.read_text(encoding="utf-8")


def test_the_second_run_shows_the_usage_since_the_first(
    setup: Setup, relay: RelayEmulator, bot: FeishuBotEmulator, tmp_path: Path
) -> None:
    assert cron_run(["-c", str(setup.config)], home=tmp_path).returncode == 0
    # Twelve hours pass: move the first records back in time (by hand, line by line), and spend on the relay.
    for log in setup.log.glob("*.jsonl"):
        records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        for record in records:
            record["time"] = (datetime.fromisoformat(record["time"]) - timedelta(hours=12)).isoformat()
        log.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    relay.tokens[MAIN_KEY[3:]].used += Decimal("1.2345")

    result = cron_run(["run", "-c", str(setup.config), "--json"], home=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    main = next(a for a in doc["accounts"] if a["name"] == "main")
    assert main["period"]["kind"] == "usage" and main["period"]["usage"] == "1.2345"
    assert 43200 <= main["period"]["elapsed_seconds"] < 43260
    assert "在过去的 12 小时用量为：$1.2345" in card_text(bot.received[-1])
    assert len(setup.records()) == 4


def test_dry_run_prints_the_report_and_writes_and_posts_nothing(
    setup: Setup, relay: RelayEmulator, bot: FeishuBotEmulator, tmp_path: Path
) -> None:
    result = cron_run(["--dry-run", "-c", str(setup.config)], home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "💵API 余额监控时报" in result.stdout and "剩余：$12.3400" in result.stdout
    assert bot.requests == []
    assert sorted(p.name for p in setup.folder.iterdir()) == [".env", "config.yaml"]


def test_json_document_has_the_contracts_fields(
    setup: Setup, relay: RelayEmulator, bot: FeishuBotEmulator, tmp_path: Path
) -> None:
    result = cron_run(["--json", "-c", str(setup.config)], home=tmp_path)
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == result.returncode == 0
    assert datetime.fromisoformat(doc["generated_at"]).utcoffset() == timedelta(hours=8)
    main = doc["accounts"][0]
    assert {k: main[k] for k in ("name", "provider", "ok", "error", "currency", "balance", "used", "total",
                                 "unlimited", "low_balance", "low_days", "burn_rate_per_day", "days_left")} == {
        "name": "main", "provider": "openai-billing", "ok": True, "error": None, "currency": "USD",
        "balance": "12.3400", "used": "7.6600", "total": "20.0000", "unlimited": False, "low_balance": False,
        "low_days": False, "burn_rate_per_day": None, "days_left": None}
    assert main["period"]["kind"] == "first" and main["note"] is None
    assert doc["totals"] == {"USD": "52.3400"}
    assert doc["delivery"] == {"attempted": True, "delivered": True, "parts": 1, "error": None,
                               "channels": [{"channel": "feishu", "delivered": True, "parts": 1, "error": None}]}
    assert doc["history"] == {"saved": True, "warning": None}


def test_exit_code_bits_for_a_low_a_failed_account_and_an_undelivered_report(
    relay: RelayEmulator, tmp_path: Path
) -> None:
    relay.tokens[MAIN_KEY[3:]].used = Decimal("18")  # $2 left, under low_balance 5
    with FeishuBotEmulator(token=WEBHOOK_TOKEN, secret="not-the-configured-secret") as bot:
        env = standard_env(bot) | {"SPARE_API_KEY": "sk-" + "0" * 48, "FEISHU_SECRET": BOT_SECRET}
        s = write_setup(tmp_path / "etc", config_text(relay.url, bot.url), env)
        result = cron_run(["--json", "-c", str(s.config)], home=tmp_path)
    assert result.returncode == 1 | 2 | 4
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 7 and doc["delivery"]["delivered"] is False
    assert "19021" in doc["delivery"]["error"]
    assert "19021" in result.stderr and "FEISHU_SECRET" in result.stderr
    assert doc["history"]["saved"] is True
    spare = next(r for r in s.records() if r["account"] == "spare")
    assert spare["ok"] is False and spare["error"].startswith("HTTP 401")
    assert [a["name"] for a in doc["accounts"]] == ["main", "spare"]


def test_an_undelivered_report_is_printed_so_crons_mail_carries_the_balances(
    relay: RelayEmulator, tmp_path: Path
) -> None:
    with FeishuBotEmulator(token=WEBHOOK_TOKEN, keywords=("余额告警",)) as bot:
        s = write_setup(tmp_path / "etc", config_text(relay.url, bot.url), standard_env(bot))
        result = cron_run(["-c", str(s.config)], home=tmp_path)
    assert result.returncode == 4
    assert "19024" in result.stderr and "✅ main" in result.stdout and "剩余：$12.3400" in result.stdout


def test_without_feishu_the_report_goes_to_stdout(relay: RelayEmulator, tmp_path: Path) -> None:
    s = write_setup(tmp_path / "etc", config_text(relay.url), standard_env(None))
    result = cron_run(["-c", str(s.config)], home=tmp_path)
    assert result.returncode == 0 and "✅ main" in result.stdout and len(s.records()) == 2


def test_a_config_error_exits_78_names_file_and_line_and_does_nothing(
    relay: RelayEmulator, bot: FeishuBotEmulator, tmp_path: Path
) -> None:
    s = write_setup(tmp_path / "etc", config_text(relay.url, bot.url).replace("low_balance", "low_balanse"),
                    standard_env(bot))
    result = cron_run(["-c", str(s.config)], home=tmp_path)
    assert result.returncode == 78
    assert f"{s.config}:7: defaults.low_balanse: unknown key" in result.stderr
    assert "did you mean 'low_balance'" in result.stderr
    assert relay.requests == [] and bot.requests == []
    assert sorted(p.name for p in s.folder.iterdir()) == [".env", "config.yaml"]


def test_config_path_from_the_environment_variable(setup: Setup, bot: FeishuBotEmulator, tmp_path: Path) -> None:
    result = cron_run(["check-config"], home=tmp_path, env={"API_BALANCE_MONITOR_CONFIG": str(setup.config)})
    assert result.returncode == 0
    assert "main" in result.stdout and "127.0.0.1" in result.stdout and "sk-M4…ef" in result.stdout
    assert MAIN_KEY not in result.stdout and WEBHOOK_TOKEN not in result.stdout


def test_no_secret_appears_in_anything_the_runs_produced(
    setup: Setup, relay: RelayEmulator, bot: FeishuBotEmulator, tmp_path: Path
) -> None:
    log_file = tmp_path / "all.log"
    outputs = []
    relay.tokens.pop(SPARE_KEY[3:])  # one account fails: its error path must not leak either
    for args in (["-vv", "--log-file", str(log_file)], ["--json", "-vv"], ["--dry-run", "-vv"], ["check-config"],
                 ["test-notify"]):
        r = cron_run([*args, "-c", str(setup.config)], home=tmp_path)
        outputs += [r.stdout, r.stderr]
    produced = "\n".join([*outputs, log_file.read_text(encoding="utf-8"),
                          *(p.read_text(encoding="utf-8") for p in setup.log.iterdir())])
    assert '"seq": ' in produced  # the history's records were read too
    produced += json.dumps(bot.received, ensure_ascii=False)
    for secret in (MAIN_KEY, SPARE_KEY, WEBHOOK_TOKEN, BOT_SECRET, bot.webhook_url):
        assert secret not in produced
    assert "DEBUG" in produced  # the debug logs were really produced and checked


def test_python_m_monitor_and_version_and_usage_errors(tmp_path: Path) -> None:
    version = cron_run(["--version"], home=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("api-balance-monitor ")
    module = subprocess.run([sys.executable, "-m", "monitor", "--version"], capture_output=True, text=True)
    assert module.stdout == version.stdout
    bad = cron_run(["--no-such-flag"], home=tmp_path)
    assert bad.returncode == 64 and "usage:" in bad.stderr
    assert cron_run(["history", "--days", "many"], home=tmp_path).returncode == 64
    assert EXECUTABLE.is_file()
