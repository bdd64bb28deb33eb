"""The shipped config.yaml shows every option it claims to, and loads with the shipped .env.example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from monitor import config as schema
from monitor import yamlload
from monitor.config import load

ROOT = Path(__file__).resolve().parent.parent


def keys_used(doc: dict[str, Any]) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """(top-level keys, each section's keys, every key used by an account or by defaults)."""
    sections = {name: set(value) for name, value in doc.items() if isinstance(value, dict) and name != "defaults"}
    accounts = set(doc.get("defaults", {}))
    for account in doc["accounts"]:
        accounts |= set(account)
    return set(doc), sections, accounts


def test_the_example_config_shows_every_option() -> None:
    doc = yamlload.load((ROOT / "config.yaml").read_text(encoding="utf-8")).value
    top, sections, accounts = keys_used(doc)
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
