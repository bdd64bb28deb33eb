"""Small operator-facing fixes found by following the docs word for word: history's bounds and
streams, a quiet run with an unwritable log file, a config reached through a symbolic link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.emulators import FeishuBotEmulator
from tests.conftest import Setup, cli_run, config_text, standard_env, write_setup
from tests.helpers_ops import synthetic_history, write_history


@pytest.fixture
def with_history(tmp_path: Path) -> Setup:
    setup = write_setup(tmp_path / "etc", config_text("http://127.0.0.1:9"), standard_env(None))
    backup = tmp_path / "backup.json"  # an earlier release's file, restored into the folder
    write_history(backup, synthetic_history().records)
    restored = cli_run(["history", "import", "-c", str(setup.config), str(backup)], tmp_path / "home")
    assert restored.returncode == 0, restored.stderr
    return setup


@pytest.mark.parametrize("days", ["1000000", "0", "-3", "ten"])
def test_history_refuses_days_out_of_range_as_a_usage_error_on_stderr(with_history: Setup, tmp_path: Path,
                                                                      days: str) -> None:
    result = cli_run(["history", "-c", str(with_history.config), "--csv", "--days", days], tmp_path / "home")
    assert result.returncode == 64, result.stderr
    assert result.stdout == ""  # `--csv > file` never writes an error into the CSV
    assert "--days" in result.stderr and "Traceback" not in result.stderr


def test_history_unknown_account_goes_to_stderr(with_history: Setup, tmp_path: Path) -> None:
    result = cli_run(["history", "-c", str(with_history.config), "--csv", "--account", "nope"], tmp_path / "home")
    assert result.returncode == 64
    assert result.stdout == ""
    assert "no account named 'nope'" in result.stderr


def test_history_with_many_days_keeps_every_line_to_a_terminals_reach(with_history: Setup, tmp_path: Path) -> None:
    result = cli_run(["history", "-c", str(with_history.config), "--days", "3660"], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 3660  # one row a day, as asked
    assert max(len(line) for line in lines) < 200
    assert "trend, last 60 days (oldest left):" in lines


def test_quiet_run_still_says_the_log_file_cannot_be_written(setup: Setup, bot: FeishuBotEmulator,
                                                             tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "x.log"
    result = cli_run(["-q", "-c", str(setup.config), "--log-file", str(missing)], tmp_path / "home")
    assert result.returncode == 0
    assert f"ERROR cannot write the log file {missing}" in result.stderr
    assert len(bot.received) == 1  # the run itself went on


def test_a_config_reached_through_a_symlink_reads_the_env_beside_the_link(tmp_path: Path, setup: Setup,
                                                                          bot: FeishuBotEmulator) -> None:
    # The operator's folder holds .env and a link to a config kept elsewhere (a checkout, say).
    elsewhere = tmp_path / "checkout"
    elsewhere.mkdir()
    os.replace(setup.config, elsewhere / "config.yaml")
    setup.config.symlink_to(elsewhere / "config.yaml")
    result = cli_run(["-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert setup.records() != []  # relative paths too are beside the link
    assert not (elsewhere / "api_usage_history").exists()


def test_a_missing_variable_names_the_env_file_it_belongs_in(tmp_path: Path) -> None:
    setup = write_setup(tmp_path / "etc", config_text("http://127.0.0.1:9"), {"MAIN_API_KEY": "sk-" + "x" * 40})
    result = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 78
    assert f"SPARE_API_KEY is not set (put it in {setup.folder / '.env'}" in result.stderr


ACCOUNT = "  - name: main\n    api_key: ${MAIN_API_KEY}\n"


@pytest.mark.parametrize(("accounts", "line"), [
    ("accounts:\n  - !!python/object:os.system\n    name: main\n    api_key: ${MAIN_API_KEY}\n", 2),
    ("accounts: !!python/object/apply:os.system\n" + ACCOUNT, 1),
    ("accounts:\n" + ACCOUNT + "  - !!set\n    ? x\n", 4),
    ("accounts:\n" + ACCOUNT + "  - !custom {name: spare, api_key: x}\n", 4),
], ids=["object-on-a-mapping", "apply-on-a-sequence", "set", "local-tag"])
def test_an_unknown_tag_on_a_mapping_or_a_sequence_is_a_config_error(tmp_path: Path, accounts: str,
                                                                      line: int) -> None:
    text = config_text("http://127.0.0.1:9", accounts=accounts)
    setup = write_setup(tmp_path / "etc", text, standard_env(None))
    result = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 78, result.stdout + result.stderr
    at = text[: text.index("accounts:")].count("\n") + line  # `line` counts from the accounts: line
    assert f"{setup.config}:{at}: YAML syntax error: could not determine a constructor for the tag" \
        in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
