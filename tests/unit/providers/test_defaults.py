"""``defaults``: an account of another provider than ``defaults.provider`` keeps its own endpoint and money keys."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError, load
from monitor.emulators import RelayEmulator, Token
from monitor.providers.generic_json import JsonKeys
from monitor.providers.openai_billing import BillingKeys
from tests.conftest import MAIN_KEY, cli_run, write_setup
from tests.support.provider_servers import DEEPSEEK, KEY, OPENROUTER, ProviderServer, ok

# Every endpoint and money key set in defaults, for relay accounts (the default provider).
DEFAULTS = textwrap.dedent(
    """\
    defaults:
      provider: openai-billing
      base_url: https://relay.example.com
      currency: CNY
      hard_limit: remaining
      url: https://relay.example.com/api/balance
      headers: {X-Token: "{api_key}"}
      balance: data.balance
      used: data.used
      total: data.total
      divisor: 500000
      low_balance: 7
    """
)


def accounts_of(tmp_path: Path, accounts: str, defaults: str = DEFAULTS) -> dict[str, Any]:
    path = tmp_path / "config.yaml"
    path.write_text(defaults + "accounts:\n" + textwrap.indent(textwrap.dedent(accounts), "  "), encoding="utf-8")
    return {a.name: a for a in load(path, environ={}).accounts}


def test_accounts_of_the_default_provider_inherit_every_key_of_theirs(tmp_path: Path) -> None:
    relay = accounts_of(tmp_path, "- {name: relay, api_key: k}\n")["relay"]
    # management_key belongs to openrouter accounts only (tests/unit/providers/test_openrouter.py), the site keys
    # to new-api-admin entries (tests/unit/providers/test_new_api_admin.py); json's keys are the json provider's.
    assert (relay.base_url, relay.currency, relay.own) == ("https://relay.example.com", "CNY",
                                                           BillingKeys(hard_limit="remaining"))
    json = accounts_of(tmp_path, "- {name: j, api_key: k}\n", DEFAULTS.replace("openai-billing", "json")
                        .replace("  hard_limit: remaining\n", ""))["j"]
    assert (json.currency, json.keys(JsonKeys)) == ("CNY", JsonKeys(
        url="https://relay.example.com/api/balance", headers={"X-Token": "{api_key}"}, balance="data.balance",
        used="data.used", total="data.total", divisor=Decimal(500000)))


@pytest.mark.parametrize("provider", ["deepseek", "moonshot", "siliconflow", "openrouter", "new-api"])
def test_accounts_of_another_provider_inherit_none_of_the_endpoint_and_money_keys(
        tmp_path: Path, provider: str) -> None:
    extra = ", base_url: 'https://newapi.example.com'" if provider == "new-api" else ""
    other = accounts_of(tmp_path, f"- {{name: other, provider: {provider}, api_key: k{extra}}}\n")["other"]
    assert other.currency is None and other.own in (None, type(other.own)())  # its own keys' defaults, if any
    assert other.host != "relay.example.com"  # a DeepSeek key never goes to the relay's host
    assert other.low_balance == 7  # thresholds are not about one provider: they are inherited


def test_a_json_account_under_relay_defaults_must_give_its_own_url_currency_and_paths(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(DEFAULTS + "accounts:\n  - {name: j, provider: json, api_key: k}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert [p.split(": ", 2)[-1] for p in caught.value.problems] == [
        "provider json needs url", "provider json needs currency (the answer does not say)",
        "provider json needs balance (the dotted path of the balance in the answer)"]


def test_hard_limit_is_total_or_remaining_and_only_for_relay_providers(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(
        """\
        defaults:
          base_url: https://relay.example.com
        accounts:
          - {name: a, api_key: k, hard_limit: total}
          - {name: b, api_key: k, hard_limit: remaining}
          - {name: c, api_key: k, provider: new-api, base_url: "https://n.example.com", hard_limit: remaining}
        """), encoding="utf-8")
    assert [a.keys(BillingKeys).hard_limit for a in load(path, environ={}).accounts] == ["total", "remaining",
                                                                                         "remaining"]
    path.write_text(textwrap.dedent(
        """\
        defaults:
          base_url: https://relay.example.com
        accounts:
          - {name: a, api_key: k, hard_limit: left}
          - {name: b, api_key: k, provider: deepseek, hard_limit: remaining}
        """), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert caught.value.problems == [
        f"{path}:4: accounts[0].hard_limit: must be total (the default) or remaining, not 'left'",
        f"{path}:5: accounts[1].hard_limit: applies only to the providers openai-billing and new-api, not deepseek"]


def test_an_openrouter_account_under_cny_relays_stays_usd_and_out_of_the_cny_total(tmp_path: Path) -> None:
    usd_only = ok({"is_available": True, "balance_infos": [
        {"currency": "USD", "total_balance": "3.000001", "granted_balance": "0", "topped_up_balance": "3.000001"}]})
    tokens = {MAIN_KEY[3:]: Token(total=Decimal(20), used=Decimal("7.66"))}
    with RelayEmulator(tokens=tokens) as relay, ProviderServer(OPENROUTER) as openrouter, \
            ProviderServer(DEEPSEEK) as deepseek:
        deepseek.answer(usd_only)
        config = textwrap.dedent(
            f"""\
            history: {{file: h.json}}
            defaults:
              provider: openai-billing
              base_url: {relay.url}
              currency: CNY
            accounts:
              - {{name: relay, api_key: "${{MAIN}}"}}
              - {{name: router, provider: openrouter, base_url: "{openrouter.url}", api_key: "${{KEY}}"}}
              - {{name: ds, provider: deepseek, base_url: "{deepseek.url}", api_key: "${{KEY}}"}}
            """)
        setup = write_setup(tmp_path / "etc", config, {"MAIN": MAIN_KEY, "KEY": KEY})
        result = cli_run(["run", "-c", str(setup.config), "--json", "--dry-run"], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    shown = {a["name"]: (a["ok"], a["currency"], a["balance"]) for a in document["accounts"]}
    assert shown == {"relay": (True, "CNY", "12.3400"), "router": (True, "USD", "74.5000"),
                     "ds": (True, "USD", "3.0000")}
    assert document["totals"] == {"CNY": "12.3400", "USD": "77.5000"}
    assert sorted(r.path for r in relay.requests) == ["/v1/dashboard/billing/subscription",
                                                    "/v1/dashboard/billing/usage"]
