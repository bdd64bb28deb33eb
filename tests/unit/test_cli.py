"""The command line as cron and shells use it: options on either side of the subcommand. (A reader that
closes stdout early, ``| head -1``, is in tests/e2e/test_closed_pipe.py: it needs a real process.)"""

from __future__ import annotations

import json
from pathlib import Path

from monitor.emulators import RelayEmulator
from tests.conftest import Setup, cli_run, config_text, standard_env, write_setup


def test_options_may_stand_before_the_subcommand(setup: Setup, tmp_path: Path) -> None:
    before = cli_run(["-c", str(setup.config), "check-config"], home=tmp_path)
    after = cli_run(["check-config", "-c", str(setup.config)], home=tmp_path)
    assert before.returncode == 0, before.stderr
    assert before.stdout == after.stdout and "main" in before.stdout
    mixed = cli_run(["-q", "--config", str(setup.config), "history", "--days", "3", "--csv"], home=tmp_path)
    assert mixed.returncode == 0, mixed.stderr
    assert mixed.stdout.startswith("date,")
    check = cli_run(["--dry-run", "-c", str(setup.config), "check", "--json"], home=tmp_path)
    assert check.returncode == 0, check.stderr
    assert {a["name"] for a in json.loads(check.stdout)["accounts"]} == {"main", "spare"}


def test_an_option_value_named_like_a_subcommand_is_a_value(relay: RelayEmulator, tmp_path: Path) -> None:
    # -c's value is a file that happens to be called "check-config"; the subcommand is history.
    home = tmp_path / "home"
    write_setup(home, config_text(relay.url), standard_env(None)).config.rename(home / "check-config")
    result = cli_run(["-c", "check-config", "history", "--csv"], home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("date,")


def test_an_option_of_another_subcommand_is_still_a_usage_error(setup: Setup, tmp_path: Path) -> None:
    result = cli_run(["--dry-run", "-c", str(setup.config), "history"], home=tmp_path)
    assert result.returncode == 64 and "unrecognized arguments: --dry-run" in result.stderr






