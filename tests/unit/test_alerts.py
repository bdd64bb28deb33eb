"""Alerts (low balance, low days left), burn rate and forecast, as a user sees them: the exit code,
the --json document and the card the Feishu group receives."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from monitor.emulators import FeishuBotEmulator, RelayEmulator, Token
from monitor.usage import SPARK, Series, burn_rate
from tests.conftest import MAIN_KEY, SPARE_KEY, Setup, cli_run, config_text, standard_env, write_setup
from tests.support.helpers_ops import CJK_ACCOUNT, OFFSET, STEP, record, synthetic_history, write_history
from tests.support.history_support import past

SPARE_FIRST = textwrap.dedent(
    """\
    accounts:
      - name: spare
        api_key: ${SPARE_API_KEY}
      - name: main
        api_key: ${MAIN_API_KEY}
    """
)


def card_text(message: dict[str, Any]) -> str:
    """Everything a reader sees in a card's body, block by block."""
    blocks = []
    for element in message["card"]["elements"]:
        if element["tag"] == "div":
            blocks.append(element["text"]["content"])
        elif element["tag"] == "note":
            blocks.append(" ".join(e["content"] for e in element["elements"]))
    return "\n\n".join(blocks)


def account_blocks(message: dict[str, Any]) -> list[str]:
    """The account blocks in card order (those that start with the ✅/❌ status line)."""
    divs = [e["text"]["content"] for e in message["card"]["elements"] if e["tag"] == "div"]
    return [d for d in divs if d.startswith(("**✅", "**❌"))]


def run_json(setup: Setup, home: Path) -> tuple[int, dict[str, Any]]:
    result = cli_run(["run", "-c", str(setup.config), "--json"], home)
    assert result.stdout, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert doc["exit_code"] == result.returncode
    return result.returncode, doc


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in doc["accounts"]}


def test_low_balance_from_defaults_alerts_turns_card_orange_and_mentions_all(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    text = config_text(relay.url, bot.url, accounts=SPARE_FIRST).replace("low_balance: 5", "low_balance: 15")
    setup = write_setup(tmp_path / "etc", text, standard_env(bot))
    code, doc = run_json(setup, tmp_path / "home")

    assert code == 1  # the low bit, nothing else
    accounts = by_name(doc)
    assert accounts["main"]["balance"] == "12.3400" and accounts["main"]["low_balance"] is True
    assert accounts["spare"]["balance"] == "40.0000" and accounts["spare"]["low_balance"] is False

    [message] = bot.received
    assert message["card"]["header"]["template"] == "orange"
    first = message["card"]["elements"][0]
    assert first["text"]["content"] == "<at id=all></at>"
    blocks = account_blocks(message)
    assert blocks[0].startswith("**✅ main ⚠️**")  # the alerting account first, though the config lists it second
    assert "余额低于 $15.0000" in blocks[0]
    assert blocks[1].startswith("**✅ spare**")


def test_an_account_overrides_the_default_threshold(tmp_path: Path, relay: RelayEmulator,
                                                    bot: FeishuBotEmulator) -> None:
    accounts = SPARE_FIRST.replace("api_key: ${MAIN_API_KEY}", "api_key: ${MAIN_API_KEY}\n    low_balance: 1")
    text = config_text(relay.url, bot.url, accounts=accounts).replace("low_balance: 5", "low_balance: 15")
    setup = write_setup(tmp_path / "etc", text, standard_env(bot))
    code, doc = run_json(setup, tmp_path / "home")

    assert code == 0
    assert not any(a["low_balance"] or a["low_days"] for a in doc["accounts"])
    [message] = bot.received
    assert message["card"]["header"]["template"] == "green"
    assert "<at" not in json.dumps(message, ensure_ascii=False)  # nobody is disturbed when all is well
    assert [b.split("**")[1] for b in account_blocks(message)] == ["✅ spare", "✅ main"]  # config order


def test_a_failed_account_turns_the_card_red_comes_first_and_mentions_the_listed_people(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    accounts = SPARE_FIRST + "  - name: broken\n    api_key: sk-" + "n0tAkn0wnK3y" * 4 + "\n"
    text = config_text(relay.url, bot.url, accounts=accounts).replace(
        "mention_on_alert: [all]", "mention_on_alert: [ou_7d8a6e6df7621556ce0d21922b676706ccs, ou_b2]")
    setup = write_setup(tmp_path / "etc", text, standard_env(bot))
    code, doc = run_json(setup, tmp_path / "home")

    assert code == 2  # an account could not be queried; the others are fine
    assert by_name(doc)["broken"]["ok"] is False
    assert "HTTP 401" in by_name(doc)["broken"]["error"]
    [message] = bot.received
    assert message["card"]["header"]["template"] == "red"
    assert message["card"]["elements"][0]["text"]["content"] == (
        "<at id=ou_7d8a6e6df7621556ce0d21922b676706ccs></at> <at id=ou_b2></at>")
    blocks = account_blocks(message)
    assert blocks[0].startswith("**❌ broken**")
    assert "查询失败" in blocks[0]


def test_red_wins_over_orange_and_both_bits_are_set(tmp_path: Path, relay: RelayEmulator,
                                                   bot: FeishuBotEmulator) -> None:
    accounts = SPARE_FIRST + "  - name: broken\n    api_key: sk-" + "n0tAkn0wnK3y" * 4 + "\n"
    text = config_text(relay.url, bot.url, accounts=accounts).replace("low_balance: 5", "low_balance: 15")
    setup = write_setup(tmp_path / "etc", text, standard_env(bot))
    code, _ = run_json(setup, tmp_path / "home")
    assert code == 3
    assert bot.received[0]["card"]["header"]["template"] == "red"
    assert [b.split("**")[1] for b in account_blocks(bot.received[0])] == ["❌ broken", "✅ main ⚠️", "✅ spare"]


def test_an_unlimited_key_never_alerts_on_balance(tmp_path: Path, bot: FeishuBotEmulator) -> None:
    tokens = {MAIN_KEY[3:]: Token(unlimited=True, used=Decimal("123.45"), name="main")}
    accounts = "accounts:\n  - name: main\n    api_key: ${MAIN_API_KEY}\n"
    with RelayEmulator(tokens=tokens) as relay:
        text = config_text(relay.url, bot.url, accounts=accounts).replace("low_balance: 5", "low_balance: 1000000")
        setup = write_setup(tmp_path / "etc", text, standard_env(bot))
        code, doc = run_json(setup, tmp_path / "home")
    assert code == 0
    main = by_name(doc)["main"]
    assert main["unlimited"] is True
    assert main["balance"] is None and main["low_balance"] is False and main["days_left"] is None
    assert doc["totals"] == {}  # left out of the totals
    assert bot.received[0]["card"]["header"]["template"] == "green"
    assert "不限额度" in card_text(bot.received[0])


def test_burn_rate_and_days_left_over_ten_days_of_history_exclude_the_reset(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    text = config_text(relay.url, bot.url).replace("low_balance: 5", "low_balance: 5\n  low_days: 20")
    setup = write_setup(tmp_path / "etc", text, standard_env(bot))
    synthetic = synthetic_history()
    write_history(setup.history, synthetic.records)

    code, doc = run_json(setup, tmp_path / "home")
    run_time = datetime.fromisoformat(doc["generated_at"])
    main, spare = by_name(doc)["main"], by_name(doc)["spare"]

    # The last 7×24 h hold the snapshots k = 13 … 1 and this run's: 13 steps of $0.50, one of them the
    # reset (excluded), over 156 h 10 min (plus the seconds the test took).
    span_hours = Decimal(str((run_time - synthetic.time_of(13)).total_seconds())) / 3600
    assert abs(span_hours - Decimal("156.1667")) < Decimal("0.01")
    expected = Decimal("6.0") / span_hours * 24
    assert abs(Decimal(main["burn_rate_per_day"]) - expected) < Decimal("0.0005")
    assert abs(Decimal(main["days_left"]) - Decimal("12.34") / expected) < Decimal("0.01")
    assert main["period"]["kind"] == "usage" and main["period"]["usage"] == "0.5000"
    # spare: 13 steps of $0.25 over the same span, $40 left: about 80 days.
    assert abs(Decimal(spare["burn_rate_per_day"]) - Decimal("3.25") / span_hours * 24) < Decimal("0.0005")

    # low_days: 20 (from defaults) fires for main (about 13 days left), not for spare.
    assert main["low_days"] is True and main["low_balance"] is False
    assert spare["low_days"] is False
    assert code == 1

    [message] = bot.received
    assert message["card"]["header"]["template"] == "orange"
    main_block = account_blocks(message)[0]
    assert main_block.startswith("**✅ main ⚠️**")
    assert "消耗速度：≈ $0.92/天，预计可用 13 天" in main_block
    assert "按当前速度约 13 天后用完" in main_block
    # The 7-day sparkline: one character a day, oldest first, a space where a day has no data.
    [trend] = [line for line in main_block.splitlines() if line.startswith("近 7 天：")]
    bars = trend.removeprefix("近 7 天：")
    assert len(bars) == 7 and set(bars) <= set(SPARK) | {" "} and SPARK[-1] in bars


def test_no_burn_rate_until_the_history_spans_a_day(tmp_path: Path, relay: RelayEmulator,
                                                    bot: FeishuBotEmulator) -> None:
    from monitor.redact import fingerprint

    setup = write_setup(tmp_path / "etc", config_text(relay.url, bot.url), standard_env(bot))
    now = datetime.now(timezone.utc)
    records = [record(now - timedelta(hours=h), "main", fingerprint(MAIN_KEY), "openai-billing", "USD",
                      Decimal(20) - used, used, Decimal(20))
               for h, used in ((23, Decimal("5.66")), (11, Decimal("6.66")))]
    records.append(record(now - timedelta(hours=23), "spare", fingerprint(SPARE_KEY), "openai-billing", "USD",
                          Decimal(41), Decimal(9), Decimal(50)))
    write_history(setup.history, records)

    code, doc = run_json(setup, tmp_path / "home")
    assert code == 0
    for account in doc["accounts"]:
        assert account["burn_rate_per_day"] is None and account["days_left"] is None
        assert account["low_days"] is False
    assert "消耗速度" not in card_text(bot.received[0])


def test_burn_rate_excludes_a_top_up_on_a_balance_only_account() -> None:
    # The same hand-written records, as the run reads them; 深度求索 reports only a balance.
    synthetic = synthetic_history()
    points = past(synthetic.records)

    # Last 7×24 h: snapshots k = 13 … 1, twelve steps over 144 h; one is the ¥100 top-up (excluded),
    # the other eleven spend ¥2 each.
    assert burn_rate(points[CJK_ACCOUNT], synthetic.now) == Decimal(22) * 24 / 144  # rounded once
    # main: the same span, eleven steps of $0.50 and the reset (excluded).
    assert burn_rate(points["main"], synthetic.now) == Decimal("5.5") * 24 / 144
    # Under a day of data: no rate at all.
    recent = Series(p for p in points["main"].points if p.time > synthetic.now - STEP * 2 - OFFSET * 2)
    assert len(recent) == 2 and burn_rate(recent, synthetic.now) is None


def test_mention_on_alert_may_be_the_single_word_all(tmp_path: Path, relay: RelayEmulator,
                                                     bot: FeishuBotEmulator) -> None:
    text = (config_text(relay.url, bot.url).replace("mention_on_alert: [all]", "mention_on_alert: all")
            .replace("low_balance: 5", "low_balance: 15"))
    setup = write_setup(tmp_path / "etc", text, standard_env(bot))
    code, _ = run_json(setup, tmp_path / "home")
    assert code == 1
    assert bot.received[0]["card"]["elements"][0]["text"]["content"] == "<at id=all></at>"
