"""tests/support/system_tools.py: on a machine without the system tools a test skips naming the Debian package to
install, and fails instead under ABM_SYSTEM_TESTS=required (as in .ci/run). A bare machine is stood in
for by pointing every look-up at an empty folder (ABM_SYSTEM_TOOLS_PATH)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.docblocks import ROOT
from tests.support.system_tools import MODE, SEARCH, need_python_modules, need_root, need_tool

# A test that needs promtool (and nothing else from the system), run in a pytest of its own.
PROMTOOL_TEST = "tests/e2e/test_metrics_deploy.py::test_promtool_parses_every_dashboard_query"


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process looks for tools in an empty folder, as on a machine with nothing but Python."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(SEARCH, str(empty))
    monkeypatch.delenv(MODE, raising=False)
    return empty


def test_a_missing_tool_skips_naming_the_package_to_install(bare: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match=r"promtool is not installed: apt-get install prometheus \("):
        need_tool("promtool", package="prometheus")


def test_a_missing_tool_fails_when_the_system_tests_are_required(bare: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODE, "required")
    with pytest.raises(pytest.fail.Exception, match=r"logrotate is not installed: apt-get install logrotate \("):
        need_tool("logrotate", package="logrotate")


def test_a_tool_that_is_there_is_found_by_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "faketime"
    tool.write_text("#!/bin/sh\n", encoding="utf-8")
    tool.chmod(0o755)
    monkeypatch.setenv(SEARCH, str(tmp_path))
    monkeypatch.setenv(MODE, "required")
    assert need_tool("faketime", package="faketime") == str(tool)


def test_missing_python_modules_name_their_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODE, raising=False)
    need_python_modules(sys.executable, {"json": "libpython3-stdlib"})  # there: no skip
    with pytest.raises(pytest.skip.Exception) as skipped:
        need_python_modules(sys.executable, {"json": "libpython3-stdlib", "no_such_module_abm": "python3-abm",
                                             "nor_this_one_abm": "python3-abm2"})
    assert "cannot import no_such_module_abm, nor_this_one_abm: apt-get install python3-abm python3-abm2" \
        in str(skipped.value)
    monkeypatch.setenv(MODE, "required")
    with pytest.raises(pytest.fail.Exception, match="apt-get install python3-abm"):
        need_python_modules(sys.executable, {"no_such_module_abm": "python3-abm"})


def test_not_root_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv(MODE, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs root \(it adds a user\)"):
        need_root("it adds a user")
    monkeypatch.setenv(MODE, "required")
    with pytest.raises(pytest.fail.Exception, match="needs root"):
        need_root("it adds a user")


def pytest_run(test: str, empty: Path, mode: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABM_", "PYTEST_"))}
    env[SEARCH] = str(empty)
    if mode is not None:
        env[MODE] = mode
    # -n 0: one test wants no worker processes (setup.cfg's addopts would start one a core).
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "-n", "0", test],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_real_test_skips_on_a_bare_machine_and_fails_when_required(bare: Path) -> None:
    skipped = pytest_run(PROMTOOL_TEST, bare, None)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    assert "promtool is not installed: apt-get install prometheus" in skipped.stdout
    failed = pytest_run(PROMTOOL_TEST, bare, "required")
    assert failed.returncode == 1 and "1 failed" in failed.stdout, failed.stdout
    assert "promtool is not installed: apt-get install prometheus (ABM_SYSTEM_TESTS=required" in failed.stdout
