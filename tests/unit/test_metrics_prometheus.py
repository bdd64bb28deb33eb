"""Prometheus metrics end to end: the installed command writes and pushes, and the real programs read
it — Debian's node_exporter and Pushgateway on loopback, and promtool."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.emulators import RelayEmulator, Token
from monitor.redact import fingerprint
from tests.conftest import MAIN_KEY, SPARE_KEY, cli_run, write_setup
from tests.support.helpers_ops import closed_port, write_history
from tests.support.prometheus_servers import PROMTOOL, node_exporter, program, pushgateway, samples, scrape, value

ROOT = Path(__file__).resolve().parents[2]
UNLIMITED_KEY = "sk-" + "Un1im1t3d" * 5 + "xyz"
ODD_NAME = '主账户 "prod" \\ eu'  # a quote, a backslash and CJK: the exposition must escape them
P = "api_balance_monitor_"
KEYS = {"MAIN_API_KEY": MAIN_KEY, "SPARE_API_KEY": SPARE_KEY, "UNLIMITED_API_KEY": UNLIMITED_KEY}
ALL_ACCOUNTS = f"""\
accounts:
  - name: '{ODD_NAME.replace("'", "''")}'
    api_key: ${{MAIN_API_KEY}}
  - name: spare
    api_key: ${{SPARE_API_KEY}}
  - name: unlimited
    api_key: ${{UNLIMITED_API_KEY}}
"""


@pytest.fixture
def relay() -> Iterator[RelayEmulator]:
    tokens = {
        MAIN_KEY[3:]: Token(total=Decimal("20.5"), used=Decimal("7.123456"), name="main"),
        SPARE_KEY[3:]: Token(total=Decimal("50"), used=Decimal("49.9999995"), name="spare"),  # low
        UNLIMITED_KEY[3:]: Token(unlimited=True, used=Decimal("3.141592"), name="unlimited"),
    }
    with RelayEmulator(tokens=tokens) as server:
        yield server


def metrics_config(relay: RelayEmulator, metrics: str, accounts: str = ALL_ACCOUNTS) -> str:
    return (f"timezone: Asia/Shanghai\nhistory:\n  folder: api_usage_history\n"
            f"defaults:\n  provider: openai-billing\n  base_url: {relay.url}\n  low_balance: 5\n"
            f"metrics:\n{textwrap.indent(textwrap.dedent(metrics), '  ')}{accounts}")


def hand_written_history(path: Path, now: datetime) -> None:
    """Two earlier snapshots of the main key, written as a person would (+08:00, fractional seconds),
    so the run has a period usage, a burn rate and days left to export."""
    zone = timezone(timedelta(hours=8))
    fp = fingerprint(MAIN_KEY)

    def snap(hours_ago: float, used: str) -> dict[str, Any]:
        moment = (now - timedelta(hours=hours_ago)).astimezone(zone)
        return {"time": moment.isoformat(timespec="microseconds"), "account": ODD_NAME, "key_fingerprint": fp,
                "provider": "openai-billing", "ok": True, "currency": "USD",
                "balance": str(Decimal("20.5") - Decimal(used)), "used": used, "total": "20.5",
                "unlimited": False, "error": None}

    write_history(path, [snap(36.25, "5.000001"), snap(12.1, "6.654321")])


def run(config: Path, home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    result = cli_run(["run", "--json", "-c", str(config), *args], home=home, env=env)
    doc = json.loads(result.stdout) if result.stdout else {}
    return result.returncode, doc, result.stderr


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in doc["accounts"]}


def close(metric: float, shown: str | None, places: int = 4) -> bool:
    """The metric (exact) rounds to what --json shows (rounded for display)."""
    return shown is not None and abs(Decimal(repr(metric)) - Decimal(shown)) <= Decimal(5) / 10 ** (places + 1)


# --- node_exporter's textfile collector ------------------------------------------------------------------


def test_node_exporter_serves_the_textfile_with_the_values_of_the_json_report(
        relay: RelayEmulator, tmp_path: Path) -> None:
    prom = tmp_path / "textfile"
    prom.mkdir()
    setup = write_setup(tmp_path / "etc", metrics_config(relay, f"textfile: {prom}/api_balance_monitor.prom\n"),
                        KEYS)
    hand_written_history(setup.history, datetime.now(timezone.utc))
    code, doc, stderr = run(setup.config, tmp_path / "home")
    assert code == 1 and doc["exit_code"] == 1, stderr  # spare is low
    assert doc["metrics"] == {"written": True, "pushed": False, "error": None}

    with node_exporter(prom) as url:
        text = scrape(url)
    found = samples(text)
    assert value(found, "node_textfile_scrape_error") == 0
    accounts = by_name(doc)

    main = accounts[ODD_NAME]
    ids = {"account": ODD_NAME, "provider": "openai-billing", "currency": "USD"}
    assert value(found, P + "balance", **ids) == 13.376544  # exact, where --json shows 13.3765
    assert close(value(found, P + "balance", **ids), main["balance"])
    assert value(found, P + "used", **ids) == 7.123456 and close(7.123456, main["used"])
    assert value(found, P + "limit", **ids) == 20.5 and main["total"] == "20.5000"
    assert main["period"]["kind"] == "usage"
    assert close(value(found, P + "period_usage", **ids), main["period"]["usage"])
    assert close(value(found, P + "burn_rate_per_day", **ids), main["burn_rate_per_day"])
    assert close(value(found, P + "time_left_seconds", **ids) / 86400, main["days_left"], places=2)
    assert value(found, P + "up", account=ODD_NAME) == 1
    assert value(found, P + "alert", account=ODD_NAME, condition="low") == 0

    spare = accounts["spare"]
    assert spare["low_balance"] is True
    assert value(found, P + "alert", account="spare", condition="low") == 1
    assert close(value(found, P + "balance", account="spare"), spare["balance"])

    # Unlimited: no balance, no limit, no forecast (absent, not 0); what it did use is there.
    unlimited = {n: v for (n, ls), v in found.items() if ("account", "unlimited") in ls}
    assert set(unlimited) == {P + "used", P + "up", P + "alert"}
    assert value(found, P + "used", account="unlimited") == 3.141592

    assert value(found, P + "exit_code") == doc["exit_code"]
    generated = datetime.fromisoformat(doc["generated_at"]).timestamp()
    last_run = value(found, P + "last_run_timestamp_seconds")
    assert generated <= last_run < generated + 30
    assert value(found, P + "last_success_timestamp_seconds") == last_run  # exit 1: a success
    assert 0 < value(found, P + "run_duration_seconds") < 30
    assert MAIN_KEY not in text and SPARE_KEY not in text and fingerprint(MAIN_KEY) not in text


def test_promtool_check_metrics_finds_no_problem_in_the_textfile(relay: RelayEmulator, tmp_path: Path) -> None:
    target = tmp_path / "api_balance_monitor.prom"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, f"textfile: {target}\n"), KEYS)
    hand_written_history(setup.history, datetime.now(timezone.utc))
    relay.tokens.pop(SPARE_KEY[3:])  # a failed query too: every kind of sample is in the file
    code, doc, stderr = run(setup.config, tmp_path / "home")
    assert code == 2, stderr
    result = subprocess.run([program(PROMTOOL), "check", "metrics"], stdin=target.open("rb"), capture_output=True)
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b"", result


def test_a_failed_query_is_up_0_and_alert_failed_with_no_amounts(relay: RelayEmulator, tmp_path: Path) -> None:
    target = tmp_path / "api_balance_monitor.prom"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, f"textfile: {target}\n"), KEYS)
    relay.tokens.pop(SPARE_KEY[3:])
    code, doc, _ = run(setup.config, tmp_path / "home")
    assert code == 2 and by_name(doc)["spare"]["ok"] is False
    found = samples(target.read_text(encoding="utf-8"))
    spare = {(n, dict(ls).get("condition")): v for (n, ls), v in found.items() if ("account", "spare") in ls}
    assert spare == {(P + "up", None): 0, (P + "alert", "failed"): 1, (P + "alert", "low"): 0,
                     (P + "alert", "exhausted"): 0, (P + "alert", "spike"): 0}


def test_the_last_success_is_carried_over_across_failed_runs(relay: RelayEmulator, tmp_path: Path) -> None:
    target = tmp_path / "api_balance_monitor.prom"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, f"textfile: {target}\n"), KEYS)
    home = tmp_path / "home"
    assert run(setup.config, home)[0] == 1
    first = samples(target.read_text(encoding="utf-8"))
    succeeded = value(first, P + "last_success_timestamp_seconds")

    relay.tokens.pop(SPARE_KEY[3:])  # the key is revoked: the next runs fail
    for _ in range(2):
        code, doc, _ = run(setup.config, home)
        assert code == 2 and doc["metrics"]["error"] is None
        found = samples(target.read_text(encoding="utf-8"))
        assert value(found, P + "last_success_timestamp_seconds") == succeeded
        assert value(found, P + "last_run_timestamp_seconds") > succeeded
        assert value(found, P + "exit_code") == 2

    relay.tokens[SPARE_KEY[3:]] = Token(total=Decimal("50"), used=Decimal("1"))
    assert run(setup.config, home)[0] == 0
    found = samples(target.read_text(encoding="utf-8"))
    assert value(found, P + "last_success_timestamp_seconds") == value(found, P + "last_run_timestamp_seconds")
    assert value(found, P + "last_success_timestamp_seconds") > succeeded
    # Carried over in the history's state file, private as the history.
    state = setup.log / "state.json"
    assert json.loads(state.read_text(encoding="utf-8"))["last_success"] == value(
        found, P + "last_success_timestamp_seconds")
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


def test_a_run_that_never_succeeded_has_no_last_success_series(relay: RelayEmulator, tmp_path: Path) -> None:
    target = tmp_path / "api_balance_monitor.prom"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, f"textfile: {target}\n"), KEYS)
    relay.tokens.pop(SPARE_KEY[3:])
    assert run(setup.config, tmp_path / "home")[0] == 2
    names = {n for n, _ in samples(target.read_text(encoding="utf-8"))}
    assert P + "last_run_timestamp_seconds" in names and P + "last_success_timestamp_seconds" not in names


def test_an_account_removed_from_the_config_leaves_no_samples(relay: RelayEmulator, tmp_path: Path) -> None:
    target = tmp_path / "api_balance_monitor.prom"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, f"textfile: {target}\n"), KEYS)
    assert run(setup.config, tmp_path / "home")[0] == 1
    assert 'account="spare"' in target.read_text(encoding="utf-8")
    one = "accounts:\n  - name: unlimited\n    api_key: ${UNLIMITED_API_KEY}\n"
    setup.config.write_text(metrics_config(relay, f"textfile: {target}\n", accounts=one), encoding="utf-8")
    assert run(setup.config, tmp_path / "home")[0] == 0
    text = target.read_text(encoding="utf-8")
    assert 'account="spare"' not in text and "prod" not in text and 'account="unlimited"' in text
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_textfile_is_readable_by_node_exporter_under_a_strict_umask(relay: RelayEmulator, tmp_path: Path) -> None:
    # The systemd unit runs with UMask=0077; node_exporter runs as another user and must still read it.
    target = tmp_path / "api_balance_monitor.prom"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, f"textfile: {target}\n"), KEYS)
    old = os.umask(0o077)
    try:
        assert run(setup.config, tmp_path / "home")[0] == 1
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_dry_run_writes_no_metrics_and_pushes_nothing(relay: RelayEmulator, tmp_path: Path,
                                                      httpserver: HTTPServer) -> None:
    target = tmp_path / "api_balance_monitor.prom"
    metrics = f"textfile: {target}\npushgateway_url: {httpserver.url_for('/').rstrip('/')}\n"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, metrics), KEYS)
    code, doc, _ = run(setup.config, tmp_path / "home", "--dry-run")
    assert code == 1 and doc["metrics"] == {"written": False, "pushed": False, "error": None}
    assert not target.exists() and httpserver.log == []


# --- the Pushgateway -------------------------------------------------------------------------------------


def test_pushgateway_holds_the_second_push_in_place_of_the_first(relay: RelayEmulator, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pushgateway() as url:
        setup = write_setup(tmp_path / "etc", metrics_config(relay, f"pushgateway_url: {url}\njob: balances\n"),
                            KEYS)
        code, first_doc, stderr = run(setup.config, home)
        assert code == 1 and first_doc["metrics"] == {"written": False, "pushed": True, "error": None}, stderr
        first = samples(scrape(url))
        assert value(first, P + "up", account="spare", job="balances") == 1
        assert close(value(first, P + "balance", account="spare"), by_name(first_doc)["spare"]["balance"])
        pushed_at = value(first, "push_time_seconds", job="balances")

        # The spare account is removed and the unlimited key revoked: the second push replaces the group.
        accounts = ALL_ACCOUNTS.replace("  - name: spare\n    api_key: ${SPARE_API_KEY}\n", "")
        setup.config.write_text(metrics_config(relay, f"pushgateway_url: {url}\njob: balances\n", accounts),
                                encoding="utf-8")
        relay.tokens.pop(UNLIMITED_KEY[3:])
        code, doc, _ = run(setup.config, home)
        assert code == 2 and doc["metrics"]["pushed"] is True
        text = scrape(url)
    second = samples(text)
    ours = {(n, ls) for (n, ls) in second if n.startswith(P)}
    assert not any(("account", "spare") in ls for _, ls in ours)
    assert value(second, P + "up", account="unlimited") == 0
    assert not any(n == P + "used" and ("account", "unlimited") in ls for n, ls in ours)
    assert value(second, P + "exit_code") == 2
    assert value(second, "push_time_seconds", job="balances") > pushed_at
    assert value(second, P + "last_success_timestamp_seconds") == value(first, P + "last_success_timestamp_seconds")
    # A service-level batch job: grouped by job alone, no instance of its own.
    assert all(dict(ls).get("job") == "balances" and dict(ls).get("instance", "") == "" for _, ls in ours)
    assert MAIN_KEY not in text and UNLIMITED_KEY not in text


def test_pushgateway_basic_auth_from_the_url_and_the_password_is_never_shown(
        relay: RelayEmulator, tmp_path: Path, httpserver: HTTPServer) -> None:
    password = "pgw-P4ssw0rd-9f2a"
    seen: list[Request] = []

    def answer(request: Request) -> Response:
        seen.append(request)
        return Response("", status=200)

    httpserver.expect_request("/metrics/job/api_balance_monitor", method="PUT").respond_with_handler(answer)
    url = f"http://monitor:{password}@127.0.0.1:{httpserver.port}"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, "pushgateway_url: ${PUSHGATEWAY_URL}\n"),
                        {**KEYS, "PUSHGATEWAY_URL": url})
    code, doc, stderr = run(setup.config, tmp_path / "home")
    assert code == 1 and doc["metrics"]["pushed"] is True, stderr
    [request] = seen
    assert request.authorization is not None
    assert (request.authorization.username, request.authorization.password) == ("monitor", password)
    body = request.get_data(as_text=True)
    assert 'api_balance_monitor_up{account="spare",provider="openai-billing"} 1.0' in body
    assert MAIN_KEY not in body and password not in body

    # The Pushgateway refuses the push: a warning and metrics.error, never the password, never a failed run.
    httpserver.clear()
    httpserver.expect_request("/metrics/job/api_balance_monitor").respond_with_data("no", status=503)
    code, doc, stderr = run(setup.config, tmp_path / "home", "-v")
    assert code == 1, stderr
    error = doc["metrics"]["error"]
    assert doc["metrics"]["pushed"] is False and "503" in error and f"127.0.0.1:{httpserver.port}" in error
    assert "WARNING metrics: cannot push to" in stderr
    result = cli_run(["check-config", "-c", str(setup.config)], home=tmp_path / "home")
    assert result.returncode == 0 and f"127.0.0.1:{httpserver.port}" in result.stdout
    for shown in (json.dumps(doc), stderr, result.stdout, result.stderr):
        assert password not in shown


def test_write_and_push_failures_are_warnings_and_never_fail_the_run(relay: RelayEmulator, tmp_path: Path) -> None:
    target = tmp_path / "gone" / "api_balance_monitor.prom"
    metrics = f"textfile: {target}\npushgateway_url: http://127.0.0.1:{closed_port()}\n"
    setup = write_setup(tmp_path / "etc", metrics_config(relay, metrics), KEYS)
    code, doc, stderr = run(setup.config, tmp_path / "home")
    assert code == doc["exit_code"] == 1, stderr  # the low account's bit only
    assert doc["metrics"]["written"] is False and doc["metrics"]["pushed"] is False
    assert str(target) in doc["metrics"]["error"] and "cannot push to http://127.0.0.1:" in doc["metrics"]["error"]
    assert "does not exist" in stderr and "WARNING metrics: cannot write" in stderr
    assert doc["history"]["saved"] is True


# --- atomic replacement ----------------------------------------------------------------------------------


def test_a_reader_never_sees_half_a_textfile(tmp_path: Path) -> None:
    from monitor.metrics import Family, registry_of, write_textfile

    target = tmp_path / "api_balance_monitor.prom"
    big = Family(P + "balance", "Remaining balance.", ("account", "provider", "currency"),
                 [((f"account-{i:04d}", "openai-billing", "USD"), i + 0.123456) for i in range(3000)])
    last = Family(P + "exit_code", "This run's exit code.", (), [((), 0.0)])
    registry = registry_of([big, last])
    write_textfile(target, registry)
    whole = target.read_bytes()
    assert len(whole) > 200_000  # many pages: a writer in place would be caught half-way
    torn: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = target.read_bytes()
            if data != whole:
                torn.append(len(data))

    reader = threading.Thread(target=read)
    reader.start()
    inodes = set()
    try:
        for _ in range(40):
            write_textfile(target, registry)
            inodes.add(target.stat().st_ino)
    finally:
        stop.set()
        reader.join()
    assert torn == []
    assert len(inodes) > 1  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


# --- the alert rules ------------------------------------------------------------------------------------


def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run([program(PROMTOOL), "check", "rules", str(ROOT / "deploy/prometheus/alerts.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alert_rules_fire_when_they_should(tmp_path: Path) -> None:
    # promtool's rule unit tests: series over time in, alerts out (tests/support/prometheus/alerts_test.yml).
    (tmp_path / "alerts.yml").write_bytes((ROOT / "deploy/prometheus/alerts.yml").read_bytes())
    (tmp_path / "alerts_test.yml").write_bytes((ROOT / "tests/support/prometheus/alerts_test.yml").read_bytes())
    result = subprocess.run([program(PROMTOOL), "test", "rules", "alerts_test.yml"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
