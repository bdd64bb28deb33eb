"""language: en — the whole report in English: the text on stdout, the Feishu card, and test-notify."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import Setup, cli_run, config_text, standard_env, write_setup
from tests.support.helpers_ops import synthetic_history, write_history
from tests.unit.test_alerts import card_text

CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uf900-\ufaff\uff00-\uffef]")


def english_setup(folder: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> Setup:
    text = "language: en\n" + config_text(relay.url, bot.url).replace("low_balance: 5", "low_balance: 15")
    setup = write_setup(folder, text, standard_env(bot))
    write_history(setup.history, synthetic_history().records)  # ten days: period usage, burn rate, trend
    return setup


def test_the_text_report_is_all_english(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = english_setup(tmp_path / "etc", relay, bot)
    result = cli_run(["--dry-run", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 1, result.stderr  # main is below 15
    text = result.stdout
    assert CJK.findall(text) == [], text
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0].startswith("💵API Balance Report ")
    assert "✅ main ⚠️" in lines and "✅ spare" in lines
    assert "Remaining: $12.3400" in lines
    assert "Used: $7.6600" in lines
    assert "Usage in the past 12 h 10 min: $0.5000" in lines
    assert "Total: $20.0000" in lines
    assert any(re.fullmatch(r"Burn rate: ≈ \$0\.92/day, about 13 days left", line) for line in lines), text
    assert any(line.startswith("Last 7 days: ") for line in lines)
    assert "⚠️ Balance below $15.0000" in lines
    assert "Total remaining: $52.3400" in lines
    assert "Queried: 2/2 accounts" in lines
    assert not any(line.startswith("Note: ") for line in lines)  # no reset in this history: nothing approximate


def test_the_card_is_all_english(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = english_setup(tmp_path / "etc", relay, bot)
    result = cli_run(["-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 1, result.stderr
    [message] = bot.received
    card: dict[str, Any] = message["card"]
    everything = json.dumps(card, ensure_ascii=False)
    assert CJK.findall(everything) == [], everything
    assert card["header"]["title"]["content"].startswith("💵API Balance Report ")
    body = card_text(message)
    for phrase in ("Remaining: $12.3400", "Usage in the past 12 h 10 min: $0.5000", "Burn rate: ≈ $0.92/day",
                   "Last 7 days: ", "⚠️ Balance below $15.0000", "Total remaining: $52.3400",
                   "Queried: 2/2 accounts"):
        assert phrase in body, phrase
    assert "Note: period usage" not in body


def test_test_notify_in_english(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = english_setup(tmp_path / "etc", relay, bot)
    result = cli_run(["test-notify", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0, result.stdout
    [message] = bot.received
    everything = json.dumps(message["card"], ensure_ascii=False)
    assert CJK.findall(everything) == [], everything
    assert "(test message, please ignore)" in message["card"]["header"]["title"]["content"]
    assert "Query failed: HTTP 401" in card_text(message)
