"""Configs a person (or a paste) gets wrong: a clear message with file and line, exit 78, nothing done."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import Setup, cli_run
from tests.support.faults import card_text, config, leaked, make, run

ACCOUNTS = "accounts:\n  - name: main\n    api_key: ${MAIN_API_KEY}\n"


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return edit


def bomb(text: str) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n" + text


# name -> (edit of a valid config, what the message says, the line it names or None)
CASES: dict[str, tuple[Callable[[str], str], str, int | None]] = {
    "syntax": (replace("mention_on_alert: [all]", "mention_on_alert: [all"), "YAML syntax error", None),
    "tab": (replace("  - name: main", "\t- name: main"), "tabs", None),
    "duplicate-key": (lambda t: t + "timezone: UTC\n", "duplicate key 'timezone'", None),
    "wrong-type": (replace("timeout_seconds: 1", "timeout_seconds: fast"), "http.timeout_seconds: must be a number",
                   None),
    "list-for-mapping": (replace("http:\n", "http: [1, 2]\nx_http:\n"), "http: must be a mapping", None),
    "unknown-key": (replace("retries: 1", "retires: 1"), "did you mean 'retries'", None),
    "empty-accounts": (lambda t: t[: t.index("accounts:")] + "accounts: []\n", "at least one account", None),
    "blank-account": (lambda t: t[: t.index("accounts:")] + "accounts:\n  -\n", "accounts[0]: is empty", None),
    "no-accounts": (lambda t: t[: t.index("accounts:")], "accounts: is required", None),
    "long-name": (replace("name: main", "name: " + "n" * 200), "200 characters long", None),
    "no-scheme": (replace("base_url: http://", "base_url: "), "must start with http:// or https://", None),
    "python-tag": (lambda t: "x: !!python/name:os.system ''\n" + t, "constructor for the tag", None),
    "nul-character": (lambda t: t + "# \x00\n", "is not allowed in YAML", None),
    "feishu-scalar": (replace("feishu:\n", "feishu: 1\nold_feishu:\n"), "feishu: must be a mapping", None),
    "deep-nesting": (lambda t: t + "extra: " + "[" * 5000 + "]" * 5000 + "\n", "", None),
    "alias-bomb": (bomb, "", None),
}


@pytest.fixture
def base(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> Setup:
    return make(tmp_path / "etc", relay.url, bot, accounts=ACCOUNTS)


def assert_nothing_done(setup: Setup, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    assert sorted(p.name for p in setup.folder.iterdir()) == [".env", "config.yaml"]  # no history, no lock file
    assert relay.requests == [] and bot.requests == []


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_config_is_exit_78_with_file_and_line_and_nothing_done(
        base: Setup, relay: RelayEmulator, bot: FeishuBotEmulator, case: str) -> None:
    edit, words, _ = CASES[case]
    base.config.write_text(edit(base.config.read_text(encoding="utf-8")), encoding="utf-8")
    result = run(base)
    assert result.returncode == 78, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert re.search(rf"config: {re.escape(str(base.config))}:\d+: ", result.stderr), result.stderr
    assert words in result.stderr
    assert "nothing fetched, nothing written, nothing posted" in result.stderr
    assert_nothing_done(base, relay, bot)


def test_each_problem_names_its_own_line(base: Setup, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    text = base.config.read_text()
    text = text.replace("timeout_seconds: 1", "timeout_seconds: fast")
    text = text.replace("  retries: 1\n", "  retries: 1\n  retries: 2\n")
    base.config.write_text(text)
    lines = text.splitlines()
    result = run(base)
    assert result.returncode == 78
    where = str(base.config)
    assert f"{where}:{lines.index('  timeout_seconds: fast') + 1}: http.timeout_seconds" in result.stderr
    assert f"{where}:{lines.index('  retries: 2') + 1}: http.retries: duplicate key" in result.stderr


def test_a_huge_config_is_refused_without_reading_it_all(base: Setup, relay: RelayEmulator,
                                                         bot: FeishuBotEmulator) -> None:
    with base.config.open("a") as handle:
        handle.write("# padding\n" * 200_000)
    result = run(base)
    assert result.returncode == 78
    assert f"config: {base.config}: the file is" in result.stderr and "at most" in result.stderr
    assert_nothing_done(base, relay, bot)


def test_a_config_that_is_not_utf8_names_the_line(base: Setup, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    raw = base.config.read_text().replace("name: main", "name: caf\xe9").encode("latin-1")
    base.config.write_bytes(raw)
    line = raw[: raw.index(b"caf")].count(b"\n") + 1
    result = run(base)
    assert result.returncode == 78
    assert f"config: {base.config}:{line}: the file is not UTF-8" in result.stderr
    assert_nothing_done(base, relay, bot)


def test_a_webhook_without_scheme_is_an_error_that_does_not_echo_the_token(
        base: Setup, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    env = base.folder / ".env"
    env.write_text(env.read_text().replace(bot.webhook_url, bot.token)
                   .replace("MAIN_API_KEY=", "CURRENCY=${MAIN_API_KEY}\nMAIN_API_KEY="))
    text = base.config.read_text().replace("    api_key: ${MAIN_API_KEY}", "    api_key: ${MAIN_API_KEY}\n"
                                           "    currency: ${MAIN_API_KEY}\n    low_balance: ${MAIN_API_KEY}")
    base.config.write_text(text)
    result = run(base)
    assert result.returncode == 78
    assert "feishu.webhook_url: must start with http:// or https://" in result.stderr
    assert "accounts[0].currency" in result.stderr and "accounts[0].low_balance" in result.stderr
    assert leaked([result.stdout, result.stderr]) == []
    assert "${FEISHU_WEBHOOK_URL}" in result.stderr  # it says which value is wrong, without showing it
    assert_nothing_done(base, relay, bot)


def test_emoji_names_are_fine(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    accounts = ("accounts:\n  - name: \"🚀 主账户 ✨\"\n    api_key: ${MAIN_API_KEY}\n"
                "  - name: 备用👍\n    api_key: ${SPARE_API_KEY}\n")
    setup = make(tmp_path / "etc", relay.url, bot, accounts=accounts)
    result = run(setup)
    assert result.returncode == 0, result.stderr
    assert "🚀 主账户 ✨" in card_text(bot.received[0]) and "备用👍" in card_text(bot.received[0])
    assert [r["account"] for r in setup.records()] == ["🚀 主账户 ✨", "备用👍"]


def test_plain_http_to_another_host_is_a_warning_with_its_line(tmp_path: Path) -> None:
    text = config("http://relay.example.com", bot=False, accounts=ACCOUNTS)
    setup = make(tmp_path / "etc", "http://relay.example.com", None, accounts=ACCOUNTS)
    line = text.splitlines().index("  base_url: http://relay.example.com") + 1
    result = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert f"{setup.config}:{line}: defaults.base_url: plain http:// to relay.example.com" in result.stderr
    assert "https://" in result.stderr
    loopback = make(tmp_path / "loop", "http://127.0.0.1:9", None, accounts=ACCOUNTS)
    quiet = cli_run(["check-config", "-c", str(loopback.config)], tmp_path / "home")
    assert quiet.returncode == 0 and "plain http://" not in quiet.stderr


def test_a_dotenv_that_is_not_utf8_is_a_config_error_with_its_line(base: Setup, relay: RelayEmulator,
                                                                    bot: FeishuBotEmulator) -> None:
    env = base.folder / ".env"
    env.write_bytes(env.read_bytes() + b"NOTE=caf\xe9\n")
    line = env.read_bytes().count(b"\n")
    result = run(base)
    assert result.returncode == 78, result.stderr
    assert f"config: {env}:{line}: the file is not UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_done(base, relay, bot)


def test_a_log_file_that_cannot_be_opened_is_a_warning_and_the_run_goes_on(
        base: Setup, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    missing = base.folder / "no-such-folder" / "monitor.log"
    result = run(base, "--log-file", str(missing))
    assert result.returncode == 0, result.stderr
    assert f"cannot write the log file {missing}" in result.stderr
    assert len(bot.received) == 1 and base.records() != []
