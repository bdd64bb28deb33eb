"""Each setting declared once (monitor.schema): the tables are derived from the declarations, secrecy is
declared per key, and the account keys management_key and spike_window_minutes follow SPEC's inheritance."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from monitor import config, notify
from monitor.config import load
from monitor.providers.openrouter import OpenRouterKeys
from monitor.redact import Redactor
from monitor.schema import declared
from tests.unit.test_config import problems, write

KEY, MGMT = "sk-or-v1-" + "a" * 40, "sk-or-v1-" + "m" * 40
ENV = {"KEY": KEY, "MGMT": MGMT}


def sections() -> dict[str, tuple[str, ...]]:
    """The keys of each section, as their classes declare them."""
    return {name: tuple(declared(cls)) for name, cls in {**config.SETTINGS_OF, **config.channels()}.items()}


def account_keys() -> tuple[str, ...]:
    """An account's keys: its own and each provider's (their KEYS)."""
    return tuple(dict.fromkeys([*declared(config.Account), *(key for kind in config.own_keys().values()
                                                              for key in declared(kind))]))


def test_the_tables_of_keys_are_derived_from_the_declarations() -> None:
    assert set(config.channels()) == set(notify.CHANNELS)  # one settings class for each channel module
    assert sections()["email"] == ("host", "from", "to", "port", "security", "username", "password")
    assert [k for k, s in declared(config.channels()["email"]).items() if s.required] == ["host", "from", "to"]
    assert [k for k, s in declared(config.Account).items() if s.required] == ["name", "api_key"]
    assert {"management_key", "spike_window_minutes", "access_token", "url"} <= set(account_keys())


def test_a_management_key_is_an_openrouter_accounts_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts:\n  - {name: or, provider: openrouter, api_key: '${KEY}', "
                           "management_key: '${MGMT}'}\n")
    loaded = load(path, environ=ENV)
    assert loaded.accounts[0].keys(OpenRouterKeys).management_key == MGMT
    assert MGMT not in Redactor(loaded.secrets())(f"refused {MGMT}")


def test_a_management_key_written_in_the_file_makes_it_a_secret_file(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts:\n  - {name: or, provider: openrouter, api_key: '${KEY}', "
                           f"management_key: {MGMT}}}\n")
    os.chmod(path, 0o644)
    assert [w for w in load(path, environ=ENV).warnings if "chmod 600" in w]


def test_a_management_key_applies_to_openrouter_only(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults:\n  base_url: https://relay.example.com\naccounts:\n"
                           "  - {name: ds, provider: deepseek, api_key: k, management_key: '${MGMT}'}\n")
    [problem] = problems(path, ENV)
    assert problem.endswith(":4: accounts[0].management_key: applies only to the provider openrouter, not deepseek")
    assert MGMT not in problem


def test_a_management_key_in_defaults_is_not_inherited_across_providers(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults:\n  provider: openrouter\n  management_key: '${MGMT}'\naccounts:\n"
                           "  - {name: or, api_key: k}\n  - {name: ds, provider: deepseek, api_key: k}\n")
    accounts = {a.name: a for a in load(path, environ=ENV).accounts}
    assert [accounts[name].keys(OpenRouterKeys).management_key for name in ("or", "ds")] == [MGMT, None]


def test_spike_window_minutes_defaults_to_30_and_is_inherited_by_every_provider(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults:\n  base_url: https://relay.example.com\n  spike_window_minutes: 45\naccounts:\n"
                           "  - {name: relay, api_key: k}\n  - {name: ds, provider: deepseek, api_key: k}\n"
                           "  - {name: own, api_key: k, spike_window_minutes: 7.5}\n")
    windows = [a.spike_window_minutes for a in load(path, environ={}).accounts]
    assert windows == [45, 45, 7.5]
    path = write(tmp_path, "accounts:\n  - {name: ds, provider: deepseek, api_key: k}\n")
    assert load(path, environ={}).accounts[0].spike_window_minutes == 30
    assert load(path, environ={}).accounts[0].spike_factor == Decimal("3")


def test_spike_window_minutes_is_a_number_of_at_least_one(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts:\n  - {name: a, provider: deepseek, api_key: k, spike_window_minutes: 0}\n"
                           "  - {name: b, provider: deepseek, api_key: k, spike_window_minutes: soon}\n")
    assert [p.split(": ", 1)[1] for p in problems(path)] == [
        "accounts[0].spike_window_minutes: must be at least 1",
        "accounts[1].spike_window_minutes: must be a number, not a string"]


def test_a_plain_key_taken_from_the_environment_stays_readable_and_others_are_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "history:\n  folder: ${HISTORY_FOLDER}\nemail:\n  host: smtp.example.com\n"
                           "  username: ${SMTP_USER}\n  password: ${SMTP_PASSWORD}\n  from: m@example.com\n"
                           "  to: [ops@example.com]\n" "accounts:\n  - {name: a, provider: deepseek, api_key: k}\n")
    env = {"HISTORY_FOLDER": "ledger-of-runs", "SMTP_USER": "mailer-account", "SMTP_PASSWORD": "p4ssw0rd-of-smtp"}
    secrets = load(path, environ=env).secrets()
    assert "ledger-of-runs" not in secrets  # history.folder is declared plain
    assert {"mailer-account", "p4ssw0rd-of-smtp"} <= set(secrets)  # a username from the environment is a secret
