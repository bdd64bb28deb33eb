"""One pass: query, record, compute, report, deliver, and the exit code that sums it up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor import exitcodes
from monitor.collect import AccountResult, collect
from monitor.config import Config
from monitor.history import HistoryFile, Keep, Loaded, LockUnavailable, record_of
from monitor.http import HttpClient
from monitor.metrics import MetricsResult, write_metrics
from monitor.redact import Redactor
from monitor.report import Report, build
from monitor.report.document import Delivery, document
from monitor.report.text import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    report: Report
    text: str
    document: dict[str, Any]
    delivery: Delivery
    cards: list[dict[str, Any]]
    metrics: MetricsResult = MetricsResult()


@dataclass(frozen=True)
class Hooks:
    """What a caller (the demo, a test) may swap: the HTTP client and Feishu's clock and sleep."""

    http_factory: Callable[[float], HttpClient] | None = None
    feishu_clock: Callable[[], float] | None = None
    feishu_sleep: Callable[[float], None] | None = None


def run_once(config: Config, redactor: Redactor, now: datetime, dry_run: bool = False,
             hooks: Hooks = Hooks()) -> Outcome:
    """Run one pass. Raises ``HistoryLocked`` when another run holds the lock (nothing done then)."""
    started = time.time()
    history = HistoryFile(config.history.file)
    if dry_run:
        return _pass(config, redactor, now, history, started, dry_run=True, hooks=hooks)
    try:
        with history.locked(config.history.lock_wait_seconds):
            return _pass(config, redactor, now, history, started, dry_run=False, hooks=hooks)
    except LockUnavailable as exc:  # raised on entering the lock only, before anything was done
        unwritable = str(exc)
    # The history's folder is missing or read-only: still query and report, and say it was not saved.
    log.error("history not saved: %s", unwritable)
    return _pass(config, redactor, now, history, started, dry_run=False, hooks=hooks, unwritable=unwritable)


def _pass(config: Config, redactor: Redactor, now: datetime, history: HistoryFile, started: float, dry_run: bool,
          hooks: Hooks, unwritable: str | None = None) -> Outcome:
    results = collect(config.accounts, config.http, redactor, now, http_factory=hooks.http_factory)
    loaded = _load(history, now, config, dry_run or unwritable is not None)
    past = loaded.records
    report = build(results, past, now, config.timezone, config.language,
                   config.history.retention_days, history_warning=loaded.warning)
    problem: str | None
    if unwritable:
        saved, problem = False, unwritable
    else:
        saved, problem = _save(history, loaded, results, config, now, dry_run)
    cards, delivery = _deliver(config, report, redactor, problem, dry_run, hooks)
    code = exitcodes.combine(
        low=report.low,
        failed=report.failed > 0,
        undelivered=delivery.attempted and not delivery.delivered,
        unsaved=not dry_run and not saved,
    )
    metrics = write_metrics(config, report, code, started, redactor, dry_run=dry_run)
    warning = "; ".join(w for w in (loaded.warning, problem) if w) or None
    doc = document(report, code, delivery, saved, warning, order=[a.name for a in config.accounts], metrics=metrics)
    return Outcome(code, report, render(report, problem), doc, delivery, cards, metrics)


def _load(history: HistoryFile, now: datetime, config: Config, dry_run: bool) -> Loaded:
    keep = Keep(config.history.retention_days, config.history.check_retention_days)
    try:
        return history.load(now, keep, accounts=[a.name for a in config.accounts], dry_run=dry_run)
    except OSError as exc:
        # Unreadable (permissions, I/O error): report it, keep going, and do not overwrite it.
        warning = f"history file {history.path} cannot be read: {exc.strerror or exc}"
        log.error("%s", warning)
        return Loaded(warning=warning, refused=True)


def _save(history: HistoryFile, loaded: Loaded, results: list[AccountResult], config: Config, now: datetime,
          dry_run: bool) -> tuple[bool, str | None]:
    if dry_run:
        log.info("history: (dry run; not writing %s)", history.path)
        return False, None
    if loaded.refused:
        return False, loaded.warning
    try:
        history.save(loaded, [record_of(r) for r in results], now)
    except OSError as exc:
        problem = f"cannot write {history.path}: {exc.strerror or exc}"
        log.error("history not saved: %s", problem)
        return False, problem
    log.info("history saved to %s", history.path)
    return True, None


def _deliver(config: Config, report: Report, redactor: Redactor, history_problem: str | None, dry_run: bool,
             hooks: Hooks) -> tuple[list[dict[str, Any]], Delivery]:
    if config.feishu is None:
        return [], Delivery()
    from monitor.notify import feishu
    from monitor.report.card import cards as render_cards

    cards = render_cards(report, feishu.fits, mentions=config.feishu.mention_on_alert,
                         keyword=config.feishu.keyword, history_problem=history_problem)
    if dry_run:
        log.info("feishu: (dry run; not posting %d part(s))", len(cards))
        return cards, Delivery()
    kwargs: dict[str, Any] = {}
    if hooks.feishu_clock:
        kwargs["clock"] = hooks.feishu_clock
    if hooks.feishu_sleep:
        kwargs["sleep"] = hooks.feishu_sleep
    return cards, feishu.send(config.feishu, cards, redactor, **kwargs)
