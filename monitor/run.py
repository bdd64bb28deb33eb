"""One pass: query, record, compute, report, deliver, and the exit code that sums it up."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor import alerts, exitcodes
from monitor.amounts import exact
from monitor.collect import AccountResult, collect
from monitor.config import Config
from monitor.history import History, Keep, Loaded, LockUnavailable
from monitor.http import HttpClient
from monitor.metrics import FAILURE_BITS, MetricsResult, write_metrics
from monitor.notify.message import Message, from_report
from monitor.records import utc_text
from monitor.redact import Redactor
from monitor.report import Report, build
from monitor.report.document import Delivery, document
from monitor.report.text import render
from monitor.usage import series_of

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
    """What a caller (the demo, a test) may swap: the HTTP client and the channels' clock and sleep."""

    http_factory: Callable[[float], HttpClient] | None = None
    notify_clock: Callable[[], float] | None = None
    notify_sleep: Callable[[float], None] | None = None
    command: str = "report"  # or "check" (set by run_once)


def run_once(config: Config, redactor: Redactor, now: datetime, dry_run: bool = False,
             hooks: Hooks = Hooks(), command: str = "report") -> Outcome:
    """Run one pass: ``report`` (the ``run`` command) posts the report, ``check`` only the alerts that
    started or ended. Raises ``HistoryLocked`` when another run holds the lock (nothing done then)."""
    started = time.time()
    hooks = dataclasses.replace(hooks, command=command)
    history = History(config.history.folder)
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


def _pass(config: Config, redactor: Redactor, now: datetime, history: History, started: float, dry_run: bool,
          hooks: Hooks, unwritable: str | None = None) -> Outcome:
    results = collect(config.accounts, config.http, redactor, now, http_factory=hooks.http_factory)
    loaded = _load(history, now, config, dry_run or unwritable is not None)
    report = build(results, series_of(loaded.records), now, config.timezone, config.language,
                   config.history.retention_days, history_warning=loaded.warning, run=hooks.command)
    problem: str | None
    if unwritable:
        saved, problem = False, unwritable
    else:
        saved, problem = _save(history, loaded, results, config, now, dry_run, hooks.command)
    # The webhook channel posts the --json document; what is known before delivery goes in it.
    early = exitcodes.combine(low=report.low, failed=report.failed > 0, undelivered=False,
                              unsaved=not dry_run and not saved)
    warning = "; ".join(w for w in (loaded.warning, problem) if w) or None
    order = [a.name for a in config.accounts]
    posted = document(report, early, None, saved, warning, order=order)
    found = alerts.changes(report, loaded.state.alerts, now, config.alerts.repeat_hours)
    if hooks.command == "check":
        message = _alert_message(report, found, config.alerts.repeat_hours)
        cards, delivery = _deliver(config, message, redactor, dry_run, hooks) if message else ([], Delivery())
    else:
        message = from_report(report, problem, posted)
        cards, delivery = _deliver(config, message, redactor, dry_run, hooks)
    if message is not None and (delivery.delivered or not config.channels):
        # What the group has now been told: the next check compares against it. Undelivered: unchanged,
        # so the next check tries again.
        loaded.state.alerts = alerts.next_state(report, loaded.state.alerts, now, found)
    code = exitcodes.combine(
        low=report.low,
        failed=report.failed > 0,
        undelivered=delivery.attempted and not delivery.delivered,
        unsaved=not dry_run and not saved,
    )
    ended = time.time()  # read once: the last success the metrics show is the one the next run carries over
    metrics = write_metrics(config, report, code, started, redactor, dry_run=dry_run,
                            clock=lambda: ended, last_success=loaded.state.last_success)
    if saved:
        if not code & FAILURE_BITS:
            loaded.state.last_success = ended
        _save_state(history, loaded)
    doc = document(report, code, delivery, saved, warning, order=order, metrics=metrics)
    if hooks.command == "check":  # what cron mails when it was not posted: the alert, or nothing
        text = "" if message is None else "\n".join([message.title, *message.sections[0].lines]) + "\n"
    else:
        text = render(report, problem)
    return Outcome(code, report, text, doc, delivery, cards, metrics)


def _load(history: History, now: datetime, config: Config, dry_run: bool) -> Loaded:
    names = [a.name for a in config.accounts]
    try:
        if dry_run and not history.has_records() and config.history.file.is_file():
            return history.preview(config.history.file, now, names)
        if not dry_run:
            refused = history.migrate(config.history.file, now)
            if refused is not None:
                return refused
        return history.read(now, names)
    except OSError as exc:
        # Unreadable (permissions, I/O error): report it, keep going, and do not overwrite it.
        warning = f"history folder {history.folder} cannot be read: {exc.strerror or exc}"
        log.error("%s", warning)
        return Loaded(warning=warning, refused=True)


def _alert_message(report: Report, found: list[alerts.Change], repeat_hours: float) -> Message | None:
    if not found:
        return None
    mention = any(c.started and not c.repeat for c in found)  # a recovery or a reminder wakes nobody
    return Message.alert(alerts.title(report, found), alerts.state_of(found), alerts.lines(report, found),
                         mention=mention, language=report.language)


def _save_state(history: History, loaded: Loaded) -> None:
    try:
        history.write_state(loaded.state)
    except OSError as exc:
        log.warning("history: state not saved (the next check may post again): %s", exc.strerror or exc)


def record_of(result: AccountResult, run: str = "report") -> dict[str, Any]:
    """The history record of one query (the SPEC's fields, plus ``note`` when there is one): amounts
    exactly as sent. ``run`` is ``report`` or ``check``."""
    snap = result.snapshot
    note = {"note": snap.note} if snap and snap.note else {}
    return {
        "time": utc_text(result.time),
        "account": result.account.name,
        "run": run,
        "key_fingerprint": result.fingerprint,
        "provider": result.account.provider,
        "ok": result.ok,
        "currency": snap.currency if snap else (result.account.currency or None),
        "balance": exact(snap.balance) if snap else None,
        "used": exact(snap.used) if snap else None,
        "total": exact(snap.total) if snap else None,
        "unlimited": bool(snap and snap.unlimited),
        "error": result.error,
        **note,
    }


def _save(history: History, loaded: Loaded, results: list[AccountResult], config: Config, now: datetime,
          dry_run: bool, command: str) -> tuple[bool, str | None]:
    if dry_run:
        log.info("history: (dry run; not writing %s)", history.folder)
        return False, None
    if loaded.refused:
        return False, loaded.warning
    keep = Keep(config.history.retention_days, config.history.check_retention_days)
    try:
        history.append(loaded, [record_of(r, run=command) for r in results], command, now)
    except OSError as exc:
        problem = f"cannot write {history.folder}: {exc.strerror or exc}"
        log.error("history not saved: %s", problem)
        return False, problem
    try:
        history.prune(loaded, now, keep)
    except OSError as exc:  # the records are saved; the old files stay until a run can remove them
        log.warning("history: old files not pruned: %s", exc.strerror or exc)
    log.info("history saved to %s", history.folder)
    return True, None


def _deliver(config: Config, message: Message, redactor: Redactor, dry_run: bool,
             hooks: Hooks) -> tuple[list[dict[str, Any]], Delivery]:
    """Post the report to every channel. The Feishu cards are returned for the demo to show."""
    if not config.channels:
        return [], Delivery()
    from monitor import notify

    channels = [notify.channel(entry, redactor, **_timing(hooks)) for entry in config.channels]
    rendered = [c.render(message) for c in channels]
    cards = next((parts for c, parts in zip(channels, rendered) if c.kind == "feishu"), [])
    if dry_run:
        for c, parts in zip(channels, rendered):
            log.info("%s: (dry run; not posting %d part(s))", c.label, len(parts))
        return cards, Delivery()
    return cards, Delivery.of(notify.deliver_all(config.channels, message, redactor, **_timing(hooks)))


def _timing(hooks: Hooks) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if hooks.notify_clock:
        found["clock"] = hooks.notify_clock
    if hooks.notify_sleep:
        found["sleep"] = hooks.notify_sleep
    return found
