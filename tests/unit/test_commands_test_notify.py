"""`api-balance-monitor test-notify`: a sample report through the configured bot, run as cron runs it."""

from __future__ import annotations

from pathlib import Path

from monitor.emulators import FeishuBotEmulator
from tests.conftest import Setup, cli_run, config_text, standard_env, write_setup
from tests.unit.test_alerts import account_blocks


def test_test_notify_delivers_a_sample_marked_as_a_test(setup: Setup, bot: FeishuBotEmulator, tmp_path: Path) -> None:
    result = cli_run(["test-notify", "-c", str(setup.config)], tmp_path / "home")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "delivered" in result.stdout
    assert result.stderr == ""
    [message] = bot.received  # signed with the bot's secret, or the emulator would have refused it
    card = message["card"]
    assert "测试消息" in card["header"]["title"]["content"]
    assert card["header"]["template"] == "red"  # the sample holds a failed account
    statuses = [b.split("**")[1] for b in account_blocks(message)]
    assert len(statuses) == 3
    assert statuses[0].startswith("❌")  # one failed
    assert statuses[1].startswith("✅") and statuses[1].endswith("⚠️")  # one low
    assert statuses[2].startswith("✅") and not statuses[2].endswith("⚠️")  # one ok
    assert "<at" not in str(message)  # a test does not wake anybody up
    # Nothing of the real accounts: no history written, no relay queried.
    assert not setup.log.exists() and not setup.history.exists()


def test_test_notify_explains_a_missing_keyword(tmp_path: Path) -> None:
    # The bot has 自定义关键词 "balance-bot"; the config does not set feishu.keyword.
    with FeishuBotEmulator(keywords=("balance-bot",)) as keyword_bot:
        setup = write_setup(tmp_path / "etc", config_text("http://127.0.0.1:9", keyword_bot.url),
                            {**standard_env(keyword_bot), "FEISHU_SECRET": ""})
        result = cli_run(["test-notify", "-c", str(setup.config)], tmp_path / "home")

        assert result.returncode == 4
        assert keyword_bot.received == []
        assert "not delivered" in result.stdout
        assert "19024" in result.stdout and "Key Words Not Found" in result.stdout
        assert "set feishu.keyword" in result.stdout  # the fix, not just the code
        assert keyword_bot.token not in result.stdout + result.stderr

        # The fix works: with the keyword set, the same bot takes the sample.
        fixed = config_text("http://127.0.0.1:9", keyword_bot.url).replace(
            "mention_on_alert", "keyword: balance-bot\n  mention_on_alert")
        setup.config.write_text(fixed, encoding="utf-8")
        again = cli_run(["test-notify", "-c", str(setup.config)], tmp_path / "home")
        assert again.returncode == 0, again.stdout
        [message] = keyword_bot.received
        assert "balance-bot" in str(message["card"])


def test_test_notify_without_a_feishu_section_is_a_config_error(tmp_path: Path) -> None:
    setup = write_setup(tmp_path / "etc", config_text("http://127.0.0.1:9"), standard_env(None))
    result = cli_run(["test-notify", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 78
    assert "no feishu section" in result.stdout


def test_a_mistyped_channel_name_is_answered_with_the_configured_one(setup: Setup, bot: FeishuBotEmulator,
                                                                    tmp_path: Path) -> None:
    result = cli_run(["test-notify", "-c", str(setup.config), "--channel", "Feishu"], tmp_path / "home")
    assert result.returncode == 78
    assert "no channel 'Feishu' in the config (configured: feishu); did you mean 'feishu'?" in result.stdout
    assert bot.received == []
