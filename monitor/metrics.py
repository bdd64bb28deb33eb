"""Prometheus metrics of one run: a node_exporter textfile, a Pushgateway push, or both.

``prometheus_client`` is the optional extra ``prometheus``: it is imported here, inside the functions
that need it, and only when ``metrics`` is configured, so the base install never loads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from http.client import HTTPException
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from monitor.atomic import replacing
from monitor.exitcodes import Exit
from monitor.prometheus_extra import client_installed as client_installed
from monitor.report.document import MetricsResult

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from monitor.redact import Redactor
    from monitor.report import AccountReport, Report
    from monitor.settings import Config

log = logging.getLogger(__name__)


PREFIX = "api_balance_monitor"
# A run "succeeded" when it queried every account and delivered every message (SPEC, Metrics): a low
# balance is the job doing its work, and an unsaved history has its own exit bit and alert.
FAILURE_BITS = Exit.ACCOUNT_FAILED | Exit.NOT_DELIVERED
SECONDS_PER_DAY = 86400
TEXTFILE_MODE = 0o644  # node_exporter runs as another user; the unit's UMask=0077 must not hide the file


@dataclass(frozen=True)
class Family:
    """One gauge and its samples; a label set without a value is simply not there (absent, never 0)."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)


def alert_conditions(account: AccountReport) -> dict[str, bool]:
    """The alert conditions of one account, each active or not (the ``condition`` label's values)."""
    active = account.conditions
    return {condition: condition in active for condition in ("low", "exhausted", "failed", "spike")}


def families(report: Report, exit_code: int, ended: float, duration: float,
             last_success: float | None) -> list[Family]:
    """The SPEC's metric set for one run; pure (the caller reads the clock and the state)."""
    money = ("account", "provider", "currency")

    def gauge(suffix: str, text: str, labels: tuple[str, ...] = money) -> Family:
        return Family(f"{PREFIX}_{suffix}", text, labels)

    balance = gauge("balance", "Remaining balance (absent for unlimited keys and failed queries).")
    used = gauge("used", "Amount used, as the provider reports it.")
    limit = gauge("limit", "Total (the key's limit), as the provider reports it.")
    period = gauge("period_usage", "Usage since the previous snapshot (of run or check).")
    burn = gauge("burn_rate_per_day", "Spend per day over the last 7 days.")
    left = gauge("time_left_seconds", "Time until the balance runs out at the burn rate.")
    up = gauge("up", "1 if this run's balance query worked, else 0.", ("account", "provider"))
    alert = gauge("alert", "1 while the alert condition is active, else 0.", ("account", "condition"))
    for a in report.accounts:
        ids = (a.name, a.provider, a.currency or "")
        up.samples.append(((a.name, a.provider), 1.0 if a.ok else 0.0))
        for condition, active in alert_conditions(a).items():
            alert.samples.append(((a.name, condition), 1.0 if active else 0.0))
        if not a.ok:
            continue
        _add(balance, ids, None if a.unlimited else a.balance)
        _add(used, ids, a.used)
        _add(limit, ids, a.total)
        _add(period, ids, a.step_usage)
        _add(burn, ids, a.burn_rate)
        _add(left, ids, None if a.days_left is None else a.days_left * SECONDS_PER_DAY)
    run = [
        Family(f"{PREFIX}_last_run_timestamp_seconds", "When this run ended (Unix time).", (), [((), ended)]),
        Family(f"{PREFIX}_last_success_timestamp_seconds",
               "When a run last queried every account and delivered every message (Unix time).", (),
               [((), last_success)] if last_success is not None else []),
        Family(f"{PREFIX}_exit_code", "This run's exit code.", (), [((), float(exit_code))]),
        Family(f"{PREFIX}_run_duration_seconds", "This run's wall time.", (), [((), duration)]),
    ]
    return [balance, used, limit, period, burn, left, up, alert, *run]


def _add(family: Family, labels: tuple[str, ...], value: Decimal | None) -> None:
    if value is not None:
        family.samples.append((labels, float(value)))


def write_metrics(config: Config, report: Report, exit_code: int, started: float,
                  redactor: Redactor | None = None, *, dry_run: bool = False,
                  clock: Callable[[], float] = time.time, last_success: float | None = None) -> MetricsResult:
    """Write and/or push this run's metrics as configured. Never raises for an I/O failure: it is
    logged as a warning and returned in ``error``. ``started`` is the run's start (Unix time),
    ``last_success`` when a run last succeeded before this one (kept in the history's state)."""
    settings = config.metrics
    if settings is None:
        return MetricsResult()
    if dry_run:
        log.info("metrics: (dry run; not writing or pushing)")
        return MetricsResult()
    ended = clock()
    problems: list[str] = []
    if not exit_code & FAILURE_BITS:
        last_success = ended
    registry = registry_of(families(report, exit_code, ended, max(0.0, ended - started), last_success))
    written = pushed = False
    if settings.textfile is not None:
        try:
            write_textfile(settings.textfile, registry)
            written = True
            log.info("metrics written to %s", settings.textfile)
        except OSError as exc:
            problems.append(f"cannot write {settings.textfile}: {exc.strerror or exc}")
    if settings.pushgateway_url:
        try:
            push(settings.pushgateway_url, settings.job, registry, config.http.timeout_seconds)
            pushed = True
            log.info("metrics pushed to %s", shown_url(settings.pushgateway_url))
        except (OSError, ValueError, HTTPException) as exc:
            problems.append(f"cannot push to {shown_url(settings.pushgateway_url)}: {exc}")
    error = "; ".join(problems) or None
    if error is not None:
        if redactor is not None:
            error = redactor(error)
        log.warning("metrics: %s", error)
    return MetricsResult(written, pushed, error)


def registry_of(found: Sequence[Family]) -> CollectorRegistry:
    """A ``prometheus_client`` registry holding exactly these families (and nothing of the process)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(_Collector(found))
    return registry


def write_textfile(path: Path, registry: CollectorRegistry) -> None:
    """The node_exporter textfile: ``prometheus_client`` renders it (labels escaped), and it is replaced
    the way ``write_to_textfile`` does, plus what that lacks: fsync, and mode 0644 whatever the umask,
    so node_exporter (another user) can read it under the unit's UMask=0077."""
    from prometheus_client import generate_latest

    _replace(path, generate_latest(registry), TEXTFILE_MODE)


class _Collector:
    def __init__(self, found: Sequence[Family]) -> None:
        self.found = found

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for family in self.found:
            gauge = GaugeMetricFamily(family.name, family.help, labels=list(family.labels))
            for labels, value in family.samples:
                gauge.add_metric(list(labels), value)
            yield gauge


def push(url: str, job: str, registry: CollectorRegistry, timeout: float) -> None:
    """PUT the metrics to the Pushgateway under ``job`` (no instance label), replacing its last push.

    A ``user:password@`` in the URL becomes HTTP basic auth (urllib would take it for a host name)."""
    from prometheus_client import push_to_gateway
    from prometheus_client.exposition import basic_auth_handler, default_handler

    split = urlsplit(url)
    handler: Callable[..., Callable[[], None]] = default_handler
    if split.username is not None:
        user, password = unquote(split.username), unquote(split.password or "")
        host = split.hostname or ""
        host = f"[{host}]" if ":" in host else host
        url = urlunsplit(split._replace(netloc=f"{host}:{split.port}" if split.port else host))

        def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]],
                    data: bytes) -> Callable[[], None]:
            return basic_auth_handler(url, method, timeout, headers, data, user, password)

    push_to_gateway(url, job=job, registry=registry, timeout=timeout, handler=handler)


def shown_url(url: str) -> str:
    """The Pushgateway's URL without a password in it, for logs and ``--json``."""
    split = urlsplit(url)
    if split.password is None and split.username is None:
        return url
    host = split.hostname or ""
    return urlunsplit(split._replace(netloc=f"{host}:{split.port}" if split.port else host))


def _replace(path: Path, data: bytes, mode: int) -> None:
    """``path`` replaced atomically by ``data``; the temp name does not end in .prom, so node_exporter
    never reads it."""
    with replacing(path, mode) as handle:
        handle.write(data)
