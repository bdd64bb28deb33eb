"""Config loading: real files, real parsing; every error names the file, the line and the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.config import ConfigError, load
from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import Setup, cli_run, config_text, standard_env, write_setup
from tests.support.faults import make

ROOT = Path(__file__).resolve().parents[2]


def write(folder: Path, text: str, dotenv: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    if dotenv is not None:
        (folder / ".env").write_text(dotenv, encoding="utf-8")
        os.chmod(folder / ".env", 0o600)
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, environ=env or {})
    return caught.value.problems


BASE = "defaults:\n  base_url: https://relay.example.com\n"


def test_the_shipped_example_config_loads(tmp_path: Path) -> None:
    config = load(ROOT / "config.yaml", environ={
        "FEISHU_WEBHOOK_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/abc-123",
        "ACCOUNT1_API_KEY": "sk-one", "ACCOUNT2_API_KEY": "sk-two", "RELAY2_API_KEY": "sk-three",
        "DEEPSEEK_API_KEY": "sk-four", "NOVITA_API_KEY": "sk_five"})
    assert [a.name for a in config.accounts] == ["账户名称1", "账户名称2", "另一个中转站", "DeepSeek", "Novita"]
    assert config.accounts[1].low_balance == 10 and config.accounts[0].low_balance == 5
    assert [(c.label, c.settings.secret) for c in config.channels] == [("feishu", "")]
    assert config.heartbeat_url is None


def test_a_typo_names_file_line_key_and_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "accounts:\n  - name: a\n    api_key: k\n    low_balanse: 3\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:6: accounts[0].low_balanse: unknown key")
    assert "did you mean 'low_balance'" in problem


def test_an_unknown_provider_suggests_the_known_one(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "accounts:\n  - name: a\n    api_key: k\n    provider: openai-biling\n")
    [problem] = problems(path)
    assert ":6: accounts[0].provider:" in problem and "did you mean 'openai-billing'" in problem


def test_a_missing_variable_is_named_and_never_an_empty_string(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "accounts:\n  - name: a\n    api_key: ${NOPE_KEY}\n")
    [problem] = problems(path)
    assert ":5: accounts[0].api_key:" in problem and "NOPE_KEY" in problem


def test_a_wrong_type_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  timeout_seconds: soon\n" + BASE + "accounts:\n  - name: a\n    api_key: k\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:2: http.timeout_seconds: must be a number")


def test_duplicate_account_names_and_duplicate_keys_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "accounts:\n  - name: a\n    api_key: k\n    api_key: k2\n"
                 "  - name: a\n    api_key: k\n")
    found = problems(path)
    assert any(":6: accounts[0].api_key: duplicate key" in p for p in found)
    assert any(":7: accounts[1].name: duplicate account name 'a'" in p for p in found)


def test_every_error_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "languag: en\n" + BASE + "accounts:\n  - name: a\n  - api_key: k\n")
    found = problems(path)
    assert len(found) == 3  # the typo, a missing api_key, a missing name


def test_env_file_beside_the_config_is_read_and_the_real_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "etc", BASE + "accounts:\n  - name: a\n    api_key: ${KEY_A}\n  - name: b\n"
                 "    api_key: ${KEY_B}\n", dotenv="KEY_A=from-dotenv-a\nKEY_B=from-dotenv-b\n")
    config = load(path, environ={"KEY_B": "from-environment"})
    assert [a.api_key for a in config.accounts] == ["from-dotenv-a", "from-environment"]


def test_relative_history_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    path = write(tmp_path / "etc", "history:\n  file: data/h.json\n" + BASE + "accounts:\n  - name: a\n"
                 "    api_key: k\n")
    assert load(path, environ={}).history.file == (tmp_path / "etc" / "data" / "h.json").resolve()


def test_base_url_is_inherited_only_by_accounts_of_the_default_provider(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "accounts:\n  - name: relay\n    api_key: k\n")
    assert load(path, environ={}).accounts[0].base_url == "https://relay.example.com"


def test_a_base_url_without_scheme_is_an_error_and_plain_http_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults:\n  base_url: relay.example.com\naccounts:\n  - name: a\n    api_key: k\n")
    [problem] = problems(path)
    assert ":2: defaults.base_url: must start with http:// or https://" in problem
    path = write(tmp_path, "defaults:\n  base_url: http://relay.example.com\naccounts:\n  - name: a\n"
                 "    api_key: k\n")
    config = load(path, environ={})
    assert any("plain http://" in w for w in config.warnings)


def test_accounts_is_required_and_not_empty(tmp_path: Path) -> None:
    assert "accounts: is required" in problems(write(tmp_path, "language: zh\n"))[0]
    assert "at least one account" in problems(write(tmp_path, "accounts: []\n"))[0]


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts:\n  - name: a\n   api_key: [\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:") and "YAML syntax error" in problem


def test_a_readable_env_file_is_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "accounts:\n  - name: a\n    api_key: ${K}\n", dotenv="K=v\n")
    os.chmod(tmp_path / ".env", 0o644)
    config = load(path, environ={})
    assert any("chmod 600" in w for w in config.warnings)


def test_keys_beside_a_merge_key_override_the_merged_ones(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "accounts:\n"
                 "  - &relay\n    name: a\n    api_key: k1\n    low_balance: 3\n"
                 "  - <<: *relay\n    name: b\n    api_key: k2\n")
    config = load(path, environ={})
    assert [(a.name, a.api_key, a.low_balance) for a in config.accounts] == [("a", "k1", 3), ("b", "k2", 3)]


def test_in_a_list_of_merges_the_earlier_mapping_wins_and_a_real_duplicate_is_still_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "accounts:\n"
                 "  - &one {name: a, api_key: k1, low_balance: 3}\n"
                 "  - &two {name: b, api_key: k2, low_balance: 7}\n"
                 "  - <<: [*two, *one]\n    name: c\n"
                 "  - <<: *one\n    name: d\n    name: e\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:10: accounts[3].name: duplicate key 'name' (first on line 9)")
    path.write_text(path.read_text().replace("    name: e\n", ""))
    config = load(path, environ={})
    assert [(a.name, a.api_key, a.low_balance) for a in config.accounts][2:] == [("c", "k2", 7), ("d", "k1", 3)]


def test_check_config_warns_of_a_missing_history_folder(tmp_path: Path, odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None, history={"folder": "nodir/sub/history"})
    result = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "does not exist" in result.stdout and "nodir/sub" in result.stdout


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
