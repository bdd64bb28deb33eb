"""The programs and Debian packages some tests need beyond Python: found, or the test skips naming the package.

A fresh clone with nothing but Python passes the README's test command: a test that needs cron, logrotate,
systemd-analyze, node_exporter, the Pushgateway, promtool, openssl, faketime, kubectl, root or Debian's
python3-* packages skips, and the skip says what to ``apt-get install``. With ``ABM_SYSTEM_TESTS=required``
in the environment (``.ci/run`` sets it, after installing every package) a missing one fails the test
instead, so CI never passes by skipping.

Every look-up goes through :func:`need_tool`, which searches ``ABM_SYSTEM_TOOLS_PATH`` in place of the usual
folders when that is set: tests/project/test_system_tools.py points it at an empty folder to stand in for a bare
machine. Nothing else sets it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import NoReturn

import pytest

MODE = "ABM_SYSTEM_TESTS"
REQUIRED = "required"
SEARCH = "ABM_SYSTEM_TOOLS_PATH"
# Daemons and admin tools live in sbin, which a non-root user's PATH often leaves out.
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def required() -> bool:
    """True when a missing tool must fail its test (``ABM_SYSTEM_TESTS=required``, as .ci/run sets it)."""
    return os.environ.get(MODE, "") == REQUIRED


def missing(what: str, fix: str) -> NoReturn:
    """Skip the test (or fail it, when the tools are required), saying what is missing and how to get it."""
    reason = f"{what}: {fix}"
    if required():
        pytest.fail(f"{reason} ({MODE}={REQUIRED}: a missing tool fails)", pytrace=False)
    pytest.skip(f"{reason} (skipped; {MODE}={REQUIRED} makes it fail)")


def search_path(where: str | None = None) -> str:
    """The folders a tool is looked for in: ``where`` (else PATH and the sbin folders), unless the test
    environment points every look-up elsewhere with ``ABM_SYSTEM_TOOLS_PATH``."""
    override = os.environ.get(SEARCH)
    if override is not None:
        return override
    if where is not None:
        return where
    folders = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join([*folders, *(f for f in SBIN if f not in folders)])


def need_tool(name: str, package: str, where: str | None = None) -> str:
    """The absolute path of the program ``name``, which Debian's ``package`` installs; else skip (or fail).

    ``where`` restricts the search (``/usr/bin`` for the system's own Python, say)."""
    found = shutil.which(name, path=search_path(where))
    if found is None:
        missing(f"{name} is not installed", f"apt-get install {package}")
    return found


def need_python_modules(python: str, packages: dict[str, str]) -> None:
    """``python`` (a system interpreter) imports every module of ``packages`` (module: Debian package);
    else skip (or fail) naming the packages of the missing ones."""
    script = ("import importlib.util, sys\n"
              "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")
    result = subprocess.run([python, "-c", script, *packages], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    absent = result.stdout.split()
    if absent:
        missing(f"{python} cannot import {', '.join(absent)}",
                "apt-get install " + " ".join(packages[m] for m in absent))


def need_root(why: str) -> None:
    """Skip (or fail) unless this process is root: ``why`` says what the test does that needs it."""
    if os.geteuid() != 0:
        missing(f"needs root ({why})", "run the tests as root, as .ci/run does")
