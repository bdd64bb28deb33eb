"""Providers inside a whole run: the installed command, as cron runs it, against loopback servers."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor.emulators import RelayEmulator, Token
from tests.conftest import MAIN_KEY, Setup, cli_run, config_text, write_setup
from tests.support.provider_servers import (
    DEEPSEEK,
    KEY,
    LITELLM,
    MANAGEMENT_KEY,
    OpenRouterServer,
    ProviderServer,
    litellm_info,
    mixed_setup,
    ok,
    quick_to_stop,
    raw_json,
)


@pytest.fixture
def deepseek() -> Iterator[ProviderServer]:
    with ProviderServer(DEEPSEEK) as server:
        yield server


def run_json(setup: Setup, home: Path) -> dict[str, Any]:
    result = cli_run(["run", "-c", str(setup.config), "--json"], home)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # quiet on success, as cron wants
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_mixed_currencies_stay_apart_in_the_text_report_and_the_json(
        tmp_path: Path, relay: RelayEmulator, deepseek: ProviderServer) -> None:
    setup = mixed_setup(tmp_path / "etc", relay, deepseek)
    text = cli_run(["run", "-c", str(setup.config), "--dry-run"], tmp_path / "home")
    assert text.returncode == 0, text.stderr
    assert "剩余：$12.3400" in text.stdout and "剩余：¥110.0000" in text.stdout
    assert "合计剩余：¥110.0000 · $12.3400" in text.stdout  # one total per currency, never a sum of both

    document = run_json(setup, tmp_path / "home")
    assert document["totals"] == {"USD": "12.3400", "CNY": "110.0000"}
    shown = {a["name"]: (a["provider"], a["currency"], a["balance"], a["used"]) for a in document["accounts"]}
    assert shown == {"main": ("openai-billing", "USD", "12.3400", "7.6600"),
                     "DeepSeek": ("deepseek", "CNY", "110.0000", None)}
    saved = {r["account"]: (r["currency"], r["balance"], r["used"], r["total"]) for r in setup.records()}
    # Kept exactly as the providers sent them: only what people read is rounded.
    assert saved == {"main": ("USD", "12.34", "7.66", "20.0"), "DeepSeek": ("CNY", "110.00", None, None)}
    assert not [p for p in setup.log.iterdir() if KEY in p.read_text(encoding="utf-8")]


def balance(amount: str) -> tuple[int, dict[str, str], bytes]:
    return ok({"is_available": True, "balance_infos": [
        {"currency": "CNY", "total_balance": amount, "granted_balance": "0.00", "topped_up_balance": amount}]})


def test_balance_only_usage_and_a_top_up_between_runs(
        tmp_path: Path, relay: RelayEmulator, deepseek: ProviderServer) -> None:
    setup = mixed_setup(tmp_path / "etc", relay, deepseek)
    home = tmp_path / "home"

    def deepseek_line(amount: str) -> dict[str, Any]:
        # History times have whole seconds: runs in one second would tie and hide which one came last.
        time.sleep(1.05 - time.time() % 1)
        deepseek.answer(balance(amount))
        lines: list[dict[str, Any]] = run_json(setup, home)["accounts"]
        (line,) = [a for a in lines if a["name"] == "DeepSeek"]
        return line

    first = deepseek_line("110.00")
    assert first["period"]["kind"] == "first"
    spent = deepseek_line("97.50")  # no "used" from DeepSeek: usage is the previous balance minus this one
    assert (spent["period"]["kind"], spent["period"]["usage"], spent["used"]) == ("usage", "12.5000", None)
    topped = deepseek_line("197.50")
    assert topped["period"]["kind"] == "topup"
    assert (topped["period"]["topup"], topped["period"]["usage"]) == ("100.0000", None)
    assert [r["balance"] for r in setup.records() if r["account"] == "DeepSeek"] == ["110.00", "97.50", "197.50"]


def test_an_exhausted_new_api_key_is_reported_with_its_numbers_and_exits_low(tmp_path: Path) -> None:
    tokens = {MAIN_KEY[3:]: Token(total=Decimal(5), used=Decimal(5), name="main")}
    with quick_to_stop(RelayEmulator(tokens=tokens, new_api=True)) as relay:
        accounts = f"accounts:\n  - name: main\n    provider: new-api\n    base_url: {relay.url}\n" \
                   "    api_key: ${MAIN_API_KEY}\n"
        env = {"MAIN_API_KEY": MAIN_KEY}
        setup = write_setup(tmp_path / "etc", config_text(relay.url, None, accounts=accounts), env)
        result = cli_run(["run", "-c", str(setup.config), "--json"], tmp_path / "home")
    assert result.returncode == 1, result.stderr  # low: exhausted
    (line,) = json.loads(result.stdout)["accounts"]
    assert (line["ok"], line["balance"], line["used"], line["total"], line["note"], line["low_balance"]) == (
        True, "0.0000", "5.0000", "5.0000", "quota exhausted", True)


def test_check_config_lists_each_providers_host(tmp_path: Path) -> None:
    accounts = textwrap.dedent(
        """\
        accounts:
          - {name: relay, api_key: "${K}"}
          - {name: ds, provider: deepseek, api_key: "${K}"}
          - {name: kimi, provider: moonshot, base_url: "https://api.moonshot.ai", api_key: "${K}"}
          - {name: sf, provider: siliconflow, api_key: "${K}"}
          - {name: or, provider: openrouter, api_key: "${K}"}
          - {name: nv, provider: json, url: "https://api.novita.ai/openapi/v1/billing/balance/detail",
             currency: USD, balance: availableBalance, divisor: 10000, api_key: "${K}"}
        """
    )
    setup = write_setup(tmp_path / "etc", config_text("https://relay.example.com", None, accounts=accounts),
                        {"K": KEY})
    result = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    hosts = {line.split()[0]: line.split()[2] for line in result.stdout.splitlines() if "key sk-" in line}
    assert hosts == {"relay": "relay.example.com", "ds": "api.deepseek.com", "kimi": "api.moonshot.ai",
                     "sf": "api.siliconflow.cn", "or": "openrouter.ai", "nv": "api.novita.ai"}
    assert KEY not in result.stdout


def test_an_openrouter_account_with_a_management_key_is_judged_by_the_lower_balance(tmp_path: Path) -> None:
    # The key's limit leaves 74.5; the account holds 100.5 − 95.25 = 5.25, below the threshold of 10.
    credits = raw_json(200, '{"data":{"total_credits":100.5,"total_usage":95.25}}')
    with quick_to_stop(OpenRouterServer(credits=credits)) as server:
        accounts = f"accounts:\n  - name: OpenRouter\n    provider: openrouter\n    base_url: {server.url}\n" \
                   "    api_key: ${OPENROUTER_API_KEY}\n    management_key: ${OPENROUTER_MANAGEMENT_KEY}\n" \
                   "    low_balance: 10\n"
        env = {"OPENROUTER_API_KEY": KEY, "OPENROUTER_MANAGEMENT_KEY": MANAGEMENT_KEY}
        setup = write_setup(tmp_path / "etc", config_text("https://relay.example.com", None, accounts=accounts), env)
        result = cli_run(["run", "-c", str(setup.config), "--json"], tmp_path / "home")
        verbose = cli_run(["run", "-c", str(setup.config), "--dry-run", "-vv"], tmp_path / "home")
    assert result.returncode == 1, result.stderr  # low
    (line,) = json.loads(result.stdout)["accounts"]
    assert (line["balance"], line["used"], line["total"], line["low_balance"]) == (
        "5.2500", "25.5000", "100.0000", True)
    assert line["note"] == "key limit: 74.5000 of 100.0000 USD left; account credits: 5.2500 of 100.5000 USD left"
    # The text report is in Chinese (the default language):
    assert "密钥额度：剩余 74.5000 / 100.0000 USD；账户余额：剩余 5.2500 / 100.5000 USD" in verbose.stdout
    for text in (result.stdout, result.stderr, verbose.stdout, verbose.stderr, json.dumps(setup.records())):
        assert MANAGEMENT_KEY not in text and MANAGEMENT_KEY[3:] not in text and KEY not in text


def test_a_litellm_budget_reset_between_runs_is_a_reset_not_negative_usage(tmp_path: Path) -> None:
    with quick_to_stop(ProviderServer(LITELLM)) as server:
        accounts = f"accounts:\n  - name: LiteLLM\n    provider: litellm\n    base_url: {server.url}\n" \
                   "    api_key: ${LITELLM_API_KEY}\n"
        setup = write_setup(tmp_path / "etc", config_text("https://relay.example.com", None, accounts=accounts),
                            {"LITELLM_API_KEY": KEY})
        lines = []
        for spend in ("20.5", "24.25", "0.75"):  # the 30-day budget resets between the last two runs
            time.sleep(1.05 - time.time() % 1)  # one run per second: history times have whole seconds
            server.answer(litellm_info(spend, "100.0", budget_duration='"30d"'))
            (line,) = run_json(setup, tmp_path / "home")["accounts"]
            lines.append(line)
    assert [(a["balance"], a["used"], a["total"]) for a in lines] == [
        ("79.5000", "20.5000", "100.0000"), ("75.7500", "24.2500", "100.0000"), ("99.2500", "0.7500", "100.0000")]
    assert [a["period"]["kind"] for a in lines] == ["first", "usage", "reset"]
    assert lines[1]["period"]["usage"] == "3.7500" and lines[2]["period"]["usage"] is None
    assert [r["used"] for r in setup.records()] == ["20.5", "24.25", "0.75"]
