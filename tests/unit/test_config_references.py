"""``${VAR}`` written wrong is named at its line, never sent to a provider as if it were the key."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from monitor import cli
from monitor.config import ConfigError, load

BASE = "defaults:\n  base_url: https://relay.example.com\naccounts:\n  - name: a\n"


def config(tmp_path: Path, key: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(BASE + f"    api_key: {key}\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize("key", ["${PROV_KEY", "${ PROV_KEY }", "sk-${PROV-KEY}", "\"${}\""])
def test_a_broken_reference_is_an_error_at_its_line(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(config(tmp_path, key), environ={"PROV_KEY": "sk-realkey0123456789"})
    [problem] = caught.value.problems
    assert f"{tmp_path / 'config.yaml'}:5: accounts[0].api_key: has a ${{ that is no variable reference" in problem
    assert "sk-realkey" not in problem


def test_an_escaped_dollar_brace_is_literal_and_fine(tmp_path: Path) -> None:
    account = load(config(tmp_path, "\"sk-a\\\\${b}\""), environ={}).accounts[0]
    assert account.api_key == "sk-a${b}"


def test_a_shell_style_variable_is_warned_about_by_check_config(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["check-config", "-c", str(config(tmp_path, "$PROV_KEY"))], out, err)
    assert code == 0
    assert "accounts[0].api_key: a shell-style $NAME is taken literally: this file reads variables written " \
        "${PROV_KEY}" in err.getvalue()


def test_an_empty_variable_is_named_as_set_but_empty(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(config(tmp_path, "${PROV_KEY}"), environ={"PROV_KEY": ""})
    assert "environment variable PROV_KEY is empty (put it in" in caught.value.problems[0]


def test_a_channel_section_left_empty_is_an_error_not_silence(tmp_path: Path) -> None:
    path = config(tmp_path, "sk-k")
    path.write_text("wecom:\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert caught.value.problems == [f"{path}:1: wecom: is empty: give its webhook_url, or remove it"]


def test_a_json_key_in_defaults_of_another_provider_is_warned_about(tmp_path: Path) -> None:
    path = config(tmp_path, "sk-k")
    path.write_text(path.read_text(encoding="utf-8").replace("defaults:\n", "defaults:\n  divisor: 100\n"),
                    encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["check-config", "-c", str(path)], out, err) == 0
    assert f"{path}:2: defaults.divisor: does nothing: defaults give it only to openai-billing accounts " \
        "(defaults.provider), which do not take it" in err.getvalue()
