"""The docs do not rot: every shell block a reader is told to run is run by a test (or says why it
cannot be), the README's minimal config works, and what the docs quote from files matches the files."""

from __future__ import annotations

import os
import pwd
import re
from pathlib import Path

import pytest
import yaml

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import EXECUTABLE, MAIN_KEY, Setup, cli_run, write_setup
from tests.support.docblocks import ROOT, SHELLS, Block, block, blocks

# The pages this file holds to the rule. (docs/channels.md and docs/metrics.md come from their own
# branches: add them here once their blocks carry the marks.)
PAGES = ["README.md", *(f"docs/{name}" for name in (
    "command-line.md", "configuration.md", "providers.md", "report.md", "alerts.md", "exit-codes.md",
    "operations.md", "deploy-cron.md", "deploy-systemd.md", "deploy-docker.md", "deploy-kubernetes.md",
    "migration.md", "benchmark.md"))]


def shell_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(ROOT / page) if b.language in SHELLS]


@pytest.mark.parametrize("found", shell_blocks(), ids=lambda b: f"{b.file.name}:{b.line}")
def test_every_shell_block_is_run_by_a_test_or_says_why_not(found: Block) -> None:
    where = f"{found.file.relative_to(ROOT)}:{found.line}"
    assert found.runner or found.why_not, \
        f"{where}: mark it <!-- run by tests/…: NAME --> or <!-- not run by the tests: WHY -->"
    if found.runner:
        runner = ROOT / found.runner
        assert runner.is_file(), where
        text = runner.read_text(encoding="utf-8")
        if runner.suffix == ".py":  # the test looks the block up by page and name
            assert f'"{found.file.relative_to(ROOT)}"' in text or f'"{found.file.name}"' in text, where
            assert f'"{found.name}"' in text, where
        else:  # a script that runs the very words
            assert found.text.strip() in text, where


def test_the_pages_exist_and_link_to_pages_that_exist() -> None:
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(((?:docs/)?[\w-]+\.md)(?:#[\w-]+)?\)", text):
            if target.endswith(("channels.md", "metrics.md")):
                continue  # written on other branches
            base = ROOT if page == "README.md" else ROOT / "docs"
            assert (base / target).is_file(), (page, target)


def test_the_demo_block_runs(tmp_path: Path) -> None:
    words = block("README.md", "demo").strip()
    install, _, command = words.rpartition(" && ")
    # The install part is .ci/run's, word for word but the test extras; the demo itself runs here.
    assert install == "python3 -m venv .venv && .venv/bin/pip install -e ."
    assert command == ".venv/bin/api-balance-monitor demo"
    result = cli_run(["demo"], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "💵" in result.stdout


def readme_minimal_config(folder: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> Setup:
    readme = blocks(ROOT / "README.md")
    [config] = [b.text for b in readme if b.language == "yaml"]
    [dotenv] = [b.text for b in readme if b.language == "" and "FEISHU_WEBHOOK_URL=" in b.text]
    assert "https://relay.example.com" in config and "<token>" in dotenv and "sk-..." in dotenv
    env_text = dotenv.replace("https://open.feishu.cn/open-apis/bot/v2/hook/<token>", bot.webhook_url)
    env = dict(line.split("=", 1) for line in env_text.splitlines())
    env["MAIN_API_KEY"] = MAIN_KEY
    return write_setup(folder, config.replace("https://relay.example.com", relay.url), env)


def test_the_readme_first_steps_run_with_its_minimal_config(tmp_path: Path, relay: RelayEmulator) -> None:
    with FeishuBotEmulator(token="954e40d7-6b1c-4111-9f2a-649b5e0ba5f9") as bot:
        setup = readme_minimal_config(tmp_path / "etc", relay, bot)
        for line in block("README.md", "first-steps").strip().splitlines():
            words = line.split()
            assert words[0] == "api-balance-monitor"
            args = [str(setup.config) if w == "config.yaml" else w for w in words[1:]]
            result = cli_run(args, tmp_path / "home")
            assert result.returncode == 0, (line, result.stderr)
            assert result.stdout
        assert bot.received == [] and not setup.log.exists()  # --dry-run posts and writes nothing
        result = cli_run(["run", "-c", str(setup.config)], tmp_path / "home")
        assert result.returncode == 0 and len(bot.received) == 1 and setup.records() != []


@pytest.mark.parametrize(("low_balance", "key", "said"), [("5", MAIN_KEY, False), ("5", "sk-" + "x" * 48, True),
                                                         ("15", MAIN_KEY, False)])
def test_the_exit_bits_block_says_an_account_failed_only_when_one_did(
        tmp_path: Path, relay: RelayEmulator, low_balance: str, key: str, said: bool) -> None:
    import subprocess

    text = f"defaults:\n  base_url: {relay.url}\n  low_balance: {low_balance}\naccounts:\n  - name: main\n" \
           "    api_key: ${MAIN_API_KEY}\n"
    setup = write_setup(tmp_path / "etc", text, {"MAIN_API_KEY": key})
    words = block("docs/exit-codes.md", "exit-bits")
    documented = "runuser -u api-balance-monitor -- /opt/api-balance-monitor/venv/bin/api-balance-monitor -c "
    assert documented in words  # as the cron install's user, never as root
    # Here as this test's own user: runuser needs root, so without root the command runs directly.
    runner = f"runuser -u {pwd.getpwuid(os.geteuid()).pw_name} -- " if os.geteuid() == 0 else ""
    script = words.replace(documented, f"{runner}{EXECUTABLE} -c ").replace("/etc/api-balance-monitor/config.yaml",
                                                                           str(setup.config))
    result = subprocess.run(["sh", "-c", script], env={"PATH": f"{EXECUTABLE.parent}:/usr/bin:/bin:/usr/sbin:/sbin",
                                                       "HOME": str(tmp_path)}, capture_output=True, text=True)
    assert ("an account failed" in result.stdout) is said, result.stdout + result.stderr


def test_what_the_docs_quote_matches_the_files() -> None:
    cron_doc = (ROOT / "docs" / "deploy-cron.md").read_text(encoding="utf-8")
    crontab_jobs = [line for line in (ROOT / "crontab.example").read_text(encoding="utf-8").splitlines()
                    if re.match(r"^[\d*]", line)]
    assert len(crontab_jobs) == 2
    alerts_doc = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    for job in crontab_jobs:
        assert job in cron_doc and job in alerts_doc
    snippet = (ROOT / "deploy" / "logrotate" / "api-balance-monitor").read_text(encoding="utf-8")
    body = snippet[snippet.index("/var/log"):]
    assert body in cron_doc
    # logrotate takes no comment after a directive: it would skip the whole block.
    assert not re.search(r"^\s+\w[^#\n]*#", body, flags=re.M)
    for page in ("deploy-cron.md", "deploy-systemd.md"):
        yaml_blocks = [b.text for b in blocks(ROOT / "docs" / page) if b.language == "yaml"]
        assert {"history": {"folder": "/var/lib/api-balance-monitor/history"}} in \
            [yaml.safe_load(t) for t in yaml_blocks]
