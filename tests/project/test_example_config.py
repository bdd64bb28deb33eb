"""The shipped config.yaml shows every option it claims to, and loads with the shipped .env.example."""

from __future__ import annotations

import re
from pathlib import Path

from dotenv import dotenv_values

from monitor import config as schema
from monitor.config import load

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
        line = raw[2:] if raw.startswith("# ") else raw
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
    top, sections, accounts = keys_shown(text)
    assert set(schema.TOP_LEVEL) <= top, set(schema.TOP_LEVEL) - top
    for name, keys in schema.SECTIONS.items():
        assert set(keys) <= sections.get(name, set()), (name, set(keys) - sections.get(name, set()))
    assert set(schema.ACCOUNT_KEYS) <= accounts, set(schema.ACCOUNT_KEYS) - accounts


def test_the_example_config_loads_with_the_example_env(tmp_path: Path) -> None:
    env = {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}
    config = load(ROOT / "config.yaml", environ=env)
    providers = {a.provider for a in config.accounts}
    assert {"openai-billing", "new-api", "deepseek", "json"} <= providers
    novita = config.accounts[-1]
    assert novita.divisor == 10000 and novita.currency == "USD" and novita.headers
