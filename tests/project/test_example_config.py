"""The shipped config.yaml shows every option it claims to, and loads with the shipped .env.example."""

from __future__ import annotations

import re
from pathlib import Path

from dotenv import dotenv_values

from monitor import config as schema
from monitor.config import load
from monitor.providers.generic_json import JsonKeys
from tests.unit.test_schema import account_keys, sections

ROOT = Path(__file__).resolve().parents[2]


def keys_shown(text: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """(top-level keys, each section's keys, every key an account or defaults uses), live or shown as a
    commented-out example (``# dingtalk:`` / ``#   webhook_url: …``: optional sections whose variables
    or extras a fresh install does not have)."""
    top: set[str] = set()
    sections: dict[str, set[str]] = {}
    accounts: set[str] = set()
    current = None
    for raw in text.splitlines():
        line = re.sub(r"^( *)# ", r"\1", raw)
        match = re.match(r"^( *)(- )?([a-z_]+):(\s|$)", line)
        if not match:
            continue
        if not match.group(1) and not match.group(2):
            current = match.group(3)
            top.add(current)
        elif current in ("accounts", "defaults"):
            if len(match.group(1)) <= 4:  # not the keys inside an account's headers
                accounts.add(match.group(3))
        elif current is not None and len(match.group(1)) == 2:
            sections.setdefault(current, set()).add(match.group(3))
    return top, sections, accounts


def test_the_example_config_shows_every_option() -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    top, shown, accounts = keys_shown(text)
    assert set(schema.top_level()) <= top, set(schema.top_level()) - top
    for name, keys in sections().items():
        assert set(keys) <= shown.get(name, set()), (name, set(keys) - shown.get(name, set()))
    assert set(account_keys()) <= accounts, set(account_keys()) - accounts


def test_the_example_config_loads_with_the_example_env(tmp_path: Path) -> None:
    env = {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}
    config = load(ROOT / "config.yaml", environ=env)
    providers = {a.provider for a in config.accounts}
    assert {"openai-billing", "new-api", "deepseek", "json"} <= providers
    novita = config.accounts[-1]
    assert novita.keys(JsonKeys).divisor == 10000 and novita.currency == "USD" and novita.keys(JsonKeys).headers


def test_the_commented_accounts_load_once_uncommented(tmp_path: Path) -> None:
    """A user enables an example by deleting its ``# ``: the result must be valid YAML and a valid config."""
    lines = (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("accounts:"))
    enabled = [re.sub(r"^(  )# ", r"\1", line) if n > start else line for n, line in enumerate(lines)]
    assert enabled != lines
    names = set(re.findall(r"\$\{([A-Z0-9_]+)", "\n".join(enabled[start:])))
    env = {name: "sk-" + "x" * 40 for name in names} | {
        k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v}
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(enabled) + "\n", encoding="utf-8")
    config = load(path, environ=env)
    assert {"openrouter", "litellm", "new-api-admin", "litellm-admin"} <= {a.provider for a in config.accounts}
