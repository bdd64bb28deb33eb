"""The optional ``prometheus`` extra: whether it is installed, and the command that adds it to this install."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit


def client_installed() -> bool:
    """Whether the ``prometheus`` extra is there (this imports it: only call when metrics are configured)."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


def install_command() -> str:
    """The command that adds the extra to this very install: the pip beside this Python (a venv's, such as
    /opt/api-balance-monitor/venv/bin/pip: Debian refuses to install with the system's) and what it was
    installed from (the checkout's folder, with -e if it was editable; else the package's name)."""
    from importlib.metadata import distributions

    python = Path(sys.executable or "python3")
    pip = f"{python.parent / 'pip'} install" if (python.parent / "pip").is_file() else f"{python} -m pip install"
    for found in distributions(name="api-balance-monitor"):  # an egg-info in the working folder has no origin
        try:
            origin = json.loads(found.read_text("direct_url.json") or "null")  # PEP 610
        except ValueError:
            continue
        if isinstance(origin, dict) and str(origin.get("url", "")).startswith("file://"):
            editable = isinstance(origin.get("dir_info"), dict) and origin["dir_info"].get("editable") is True
            return f"{pip} {'-e ' if editable else ''}'{unquote(urlsplit(origin['url']).path)}[prometheus]'"
    return f"{pip} 'api-balance-monitor[prometheus]'"


def extra_missing() -> str:
    """The configuration error of a config that asks for metrics without the extra."""
    return f"needs the 'prometheus' extra (prometheus-client is not installed); install it with: {install_command()}"
