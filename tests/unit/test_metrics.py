"""Metrics: the config section, the optional extra, and the metric set as a pure function of the report."""

from __future__ import annotations

import json
import subprocess
import textwrap
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from monitor.config import load
from monitor.emulators import RelayEmulator
from monitor.history import History
from monitor.metrics import alert_conditions, families
from monitor.report import AccountReport, Report
from monitor.usage import Period
from tests.conftest import EXECUTABLE, config_text, cron_run, standard_env, write_setup
from tests.unit.test_config import problems, write

BASE = "defaults:\n  base_url: https://relay.example.com\naccounts:\n  - name: a\n    api_key: k\n"
# The venv's own pip and the checkout it was installed from (-e: the README's test command), never a bare
# `pip install`, which Debian refuses outside a venv.
CHECKOUT = Path(__file__).resolve().parents[2]
EXTRA_HINT = f"install it with: {EXECUTABLE.parent / 'pip'} install -e '{CHECKOUT}[prometheus]'"

# A sitecustomize that makes prometheus_client impossible to import, as on an install without the extra.
HIDE_EXTRA = textwrap.dedent(
    """\
    import sys

    class HidePrometheusClient:
        def find_spec(self, name, path=None, target=None):
            if name == "prometheus_client" or name.startswith("prometheus_client."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, HidePrometheusClient())
    """
)


# --- the config section ----------------------------------------------------------------------------------


def metrics_warnings(warnings: tuple[str, ...]) -> list[str]:
    return [w for w in warnings if ": metrics" in w]  # BASE's literal key also earns a permission warning


def test_metrics_settings_resolve_the_textfile_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "prom").mkdir()
    path = write(tmp_path, BASE + "metrics:\n  textfile: prom/api_balance_monitor.prom\n"
                                  "  pushgateway_url: ${PUSHGATEWAY_URL:-}\n")
    config = load(path, environ={})
    assert config.metrics is not None
    assert config.metrics.textfile == tmp_path.resolve() / "prom" / "api_balance_monitor.prom"
    assert config.metrics.pushgateway_url is None and config.metrics.job == "api_balance_monitor"
    assert metrics_warnings(config.warnings) == []


def test_an_empty_pushgateway_variable_alone_means_no_metrics(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "metrics:\n  pushgateway_url: ${PUSHGATEWAY_URL:-}\n  job: balances\n")
    assert load(path, environ={}).metrics is None
    config = load(path, environ={"PUSHGATEWAY_URL": "http://pushgateway.monitoring:9091/"})
    assert config.metrics is not None and config.metrics.pushgateway_url == "http://pushgateway.monitoring:9091"
    assert config.metrics.job == "balances" and config.metrics.textfile is None
    assert metrics_warnings(config.warnings) == []  # plain http without a password carries no secret


def test_metrics_mistakes_name_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "metrics:\n  textfile: /var/lib/node-exporter/balances.txt\n"
                                  "  pushgateway_url: pushgateway:9091\n  jobb: x\n")
    found = problems(path)
    assert any(p.startswith(f"{path}:7: metrics.textfile: must end in .prom") for p in found), found
    assert any(p.startswith(f"{path}:8: metrics.pushgateway_url: must start with http:// or https://") for p in found)
    assert any(p.startswith(f"{path}:9: metrics.jobb: unknown key") and "did you mean 'job'" in p for p in found)


def test_a_metrics_section_without_a_destination_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "metrics:\n  job: balances\n")
    [problem] = problems(path)
    assert problem == f"{path}:6: metrics: needs textfile or pushgateway_url (or remove the metrics section)"


def test_a_missing_textfile_folder_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "metrics:\n  textfile: /nonexistent/node-exporter/x.prom\n")
    [warning] = metrics_warnings(load(path, environ={}).warnings)
    assert warning.startswith(f"{path}:7: metrics.textfile: the folder /nonexistent/node-exporter does not exist")


def test_a_pushgateway_password_is_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "metrics:\n  pushgateway_url: ${PUSHGATEWAY_URL}\n")
    url = "https://monitor:s3cr3t-pushgateway-pw@pushgateway.example.com"
    config = load(path, environ={"PUSHGATEWAY_URL": url})
    assert "s3cr3t-pushgateway-pw" in config.secrets() and url in config.secrets()


# --- the optional extra ----------------------------------------------------------------------------------


def hidden_extra_env(tmp_path: Path) -> dict[str, str]:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(HIDE_EXTRA, encoding="utf-8")
    return {"PYTHONPATH": str(shim)}


def test_the_shim_really_hides_the_extra(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", **hidden_extra_env(tmp_path)}
    python = str(EXECUTABLE.parent / "python")
    shown = subprocess.run([python, "-c", "import prometheus_client"], env={"PATH": "/usr/bin:/bin"})
    assert shown.returncode == 0  # installed in this venv (the test extra)...
    hidden = subprocess.run([python, "-c", "import prometheus_client"], env=env, capture_output=True, text=True)
    assert hidden.returncode == 1 and "No module named 'prometheus_client'" in hidden.stderr  # ...and hidden


def test_without_the_extra_a_metrics_config_is_exit_78_naming_the_extra(relay: RelayEmulator, tmp_path: Path) -> None:
    env = hidden_extra_env(tmp_path)
    extra = f"metrics:\n  textfile: {tmp_path}/m.prom\n"
    setup = write_setup(tmp_path / "etc", config_text(relay.url, extra=extra), standard_env(None))
    for command in ("run", "check-config"):
        result = cron_run([command, "-c", str(setup.config)], home=tmp_path / "home", env=env)
        assert result.returncode == 78, result.stderr
        assert f"{setup.config}:8: metrics: needs the 'prometheus' extra" in result.stderr
        assert EXTRA_HINT in result.stderr
    assert not setup.log.exists() and not (tmp_path / "m.prom").exists() and relay.requests == []


def test_without_metrics_the_extra_is_never_imported(relay: RelayEmulator, tmp_path: Path) -> None:
    env = hidden_extra_env(tmp_path)
    setup = write_setup(tmp_path / "etc", config_text(relay.url), standard_env(None))
    result = cron_run(["run", "--json", "-c", str(setup.config)], home=tmp_path / "home", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metrics"] == {"written": False, "pushed": False, "error": None}


# --- the metric set, from the report model ---------------------------------------------------------------

NOW = datetime(2026, 11, 28, 9, 5, 0, 123456, tzinfo=timezone(timedelta(hours=8)))


def line(name: str, ok: bool = True, **changes: object) -> AccountReport:
    fields: dict[str, object] = dict(
        name=name, provider="openai-billing", ok=ok, error=None if ok else "HTTP 401: invalid token",
        currency="USD" if ok else None, balance=Decimal("12.345678") if ok else None,
        used=Decimal("7.654322") if ok else None, total=Decimal("20") if ok else None, unlimited=False, note=None,
        period=Period(kind="usage", since=NOW - timedelta(hours=12), elapsed_seconds=43200,
                      usage=Decimal("1.234567")) if ok else None,
        burn_rate=Decimal("2.5") if ok else None, days_left=Decimal("4.938271") if ok else None, trend=(),
        low_balance=False, low_days=False, threshold=Decimal("5"),
        step_usage=Decimal("0.123457") if ok else None)
    fields.update(changes)
    return AccountReport(**fields)  # type: ignore[arg-type]


def as_dict(report: Report, code: int = 0, last: float | None = 1.5e9) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(f.name, labels): v for f in families(report, code, 1.7e9, 0.25, last) for labels, v in f.samples}


def report_of(*lines: AccountReport) -> Report:
    return Report(NOW, "zh", lines, {})


def test_an_account_gives_every_amount_exactly_and_its_forecast_in_seconds() -> None:
    found = as_dict(report_of(line("main")))
    ids = ("main", "openai-billing", "USD")
    p = "api_balance_monitor_"
    assert found[(p + "balance", ids)] == 12.345678 and found[(p + "used", ids)] == 7.654322
    assert found[(p + "limit", ids)] == 20 and found[(p + "period_usage", ids)] == 0.123457
    assert found[(p + "burn_rate_per_day", ids)] == 2.5
    assert found[(p + "time_left_seconds", ids)] == pytest.approx(4.938271 * 86400)
    assert found[(p + "up", ("main", "openai-billing"))] == 1
    assert found[(p + "alert", ("main", "low"))] == 0 and found[(p + "alert", ("main", "failed"))] == 0
    assert found[(p + "last_run_timestamp_seconds", ())] == 1.7e9
    assert found[(p + "last_success_timestamp_seconds", ())] == 1.5e9
    assert found[(p + "run_duration_seconds", ())] == 0.25 and found[(p + "exit_code", ())] == 0


def test_failed_unlimited_and_unknown_values_are_absent_never_zero() -> None:
    report = report_of(
        line("broken", ok=False),
        line("unlimited", balance=None, total=None, unlimited=True, days_left=None, burn_rate=Decimal("0.5")),
        line("new", period=Period(kind="first", since=None, elapsed_seconds=None, usage=None), burn_rate=None,
             days_left=None, used=None, total=None, step_usage=None),
    )
    found = as_dict(report, code=3, last=None)
    by_account: dict[str, set[str]] = {}
    for name, labels in found:
        if labels:
            by_account.setdefault(labels[0], set()).add(name.removeprefix("api_balance_monitor_"))
    assert by_account == {
        "broken": {"up", "alert"},
        "unlimited": {"used", "period_usage", "burn_rate_per_day", "up", "alert"},
        "new": {"balance", "up", "alert"},
    }
    assert found[("api_balance_monitor_up", ("broken", "openai-billing"))] == 0
    assert found[("api_balance_monitor_alert", ("broken", "failed"))] == 1
    assert ("api_balance_monitor_last_success_timestamp_seconds", ()) not in found


def test_alert_conditions_follow_the_report() -> None:
    none = {"low": False, "exhausted": False, "failed": False, "spike": False}
    assert alert_conditions(line("a")) == none
    assert alert_conditions(line("a", low_days=True)) == {**none, "low": True}
    assert alert_conditions(line("a", ok=False)) == {**none, "failed": True}
    assert alert_conditions(line("a", exhausted=True, low_balance=True)) == {**none, "low": True, "exhausted": True}


def test_a_damaged_state_file_means_an_unknown_last_success(tmp_path: Path) -> None:
    history = History(tmp_path / "api_usage_history")
    assert history.read(NOW).state.last_success is None  # no folder yet
    history.folder.mkdir()
    state = history.folder / "state.json"
    for text in ("", "{", '{"version": 2, "last_success": "yesterday"}', "[]", '{"other": 1}',
                 '{"version": 2, "last_success": true}'):
        state.write_text(text, encoding="utf-8")
        assert history.read(NOW).state.last_success is None
    state.write_text('{"version": 2, "next_seq": 3, "last_success": 1764291900.25}\n', encoding="utf-8")
    assert history.read(NOW).state.last_success == 1764291900.25
