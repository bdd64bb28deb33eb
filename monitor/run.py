"""One pass: query, record, compute, report, deliver, and the exit code that sums it up."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor import alerts, exitcodes, transfer
from monitor.amounts import exact
from monitor.collect import AccountResult, collect
from monitor.history import History, Keep, Loaded, LockUnavailable
from monitor.http import HttpClient
from monitor.metrics import FAILURE_BITS, write_metrics
from monitor.notify.base import Result
from monitor.notify.message import Message, from_report
from monitor.records import parse_time, utc_text
from monitor.redact import Redactor
from monitor.report import Report, build
from monitor.report.document import Delivery, MetricsResult, document
from monitor.report.site import render
from monitor.settings import ChannelEntry, Config

log = logging.getLogger(__name__)
STDOUT = "stdout"  # the state of what a config without channels printed (cron mails it)


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
    read_only = dry_run or unwritable is not None
    head_start = _import_aside(history, config, now, read_only)
    results = collect(config.accounts, config.http, redactor, now, http_factory=hooks.http_factory)
    if head_start is not None:
        head_start()
    names = [r.account.name for r in results]  # a site entry's channels and users included
    loaded = _load(history, now, config, read_only, names)
    report = build(results, loaded.series, now, config.timezone, config.language,
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
    order = names
    posted = document(report, early, None, saved, warning, order=order)
    _log_failures(report, loaded, hooks.command)
    # Each channel has its own record of what it was told: one that could not be reached gets the
    # changes again at the next check; those that were reached do not.
    labels = [entry.label for entry in config.channels] or [STDOUT]
    told = {label: alerts.for_channel(loaded.state.alerts, label) for label in labels}
    found = {label: alerts.changes(report, told[label], now, config.alerts.repeat_hours) for label in labels}
    groups: dict[tuple[alerts.Change, ...], list[str]] = {}
    for label in labels:
        groups.setdefault(tuple(found[label]), []).append(label)
    report_message = None if hooks.command == "check" else from_report(report, problem, posted)
    reached: dict[str, Result] = {}
    cards: list[dict[str, Any]] = []
    text = ""
    for changes, members in groups.items():
        message = report_message or _alert_message(report, list(changes), config.alerts.repeat_hours)
        if message is None:
            continue
        entries = [e for e in config.channels if e.label in members]
        shown, delivered = _deliver(entries, message, redactor, dry_run, hooks)
        cards = cards or shown
        reached.update({r.channel: r for r in delivered})
        if hooks.command == "check" and (not text or not all(r.delivered for r in delivered)):
            text = "\n".join([message.title, *message.sections[0].lines]) + "\n"
        for label in members:
            if not dry_run and (label == STDOUT or label in reached and reached[label].delivered):
                new = alerts.next_state(report, told[label], now, found[label])
                loaded.state.alerts[label] = alerts.merged(told[label], new, {a.name for a in report.accounts})
    if all(label in loaded.state.alerts for label in labels):
        loaded.state.alerts.pop("*", None)  # an imported state without channels, now told to each
    delivery = Delivery.of([reached[e.label] for e in config.channels if e.label in reached])
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
        _forget_gone(loaded, report, now, config.history.retention_days)
        _save_state(history, loaded)
    doc = document(report, code, delivery, saved, warning, order=order, metrics=metrics)
    if hooks.command != "check":  # a check prints what it posted (what cron mails when it was not), or nothing
        text = render(report, problem)
    return Outcome(code, report, text, doc, delivery, cards, metrics)


def _import_aside(history: History, config: Config, now: datetime, read_only: bool) -> Callable[[], None] | None:
    """The first run of this release imports the v1 history in a child process, on another core while the
    providers are queried; what it logs is logged here once it is done (the call returned). The run then
    migrates as always and finds the work done; should the child have failed, the run does it itself."""
    legacy = config.history.file
    try:
        if read_only or not legacy.is_file() or history.has_records():
            return None
    except OSError:  # said when the run reads the history
        return None
    reader, writer = os.pipe()
    pid = os.fork()  # before the queries start their threads
    if pid == 0:
        os.close(reader)
        try:
            with open(writer, "w", encoding="utf-8") as said:
                root = logging.getLogger()
                root.handlers = [logging.StreamHandler(said)]
                root.handlers[0].setFormatter(_Said())
                transfer.migrate(history, legacy, now)
        finally:
            os._exit(0)  # nothing of the parent's (buffers, exit handlers) is run twice
    os.close(writer)

    def done() -> None:
        with open(reader, encoding="utf-8") as said:
            for line in said:
                name, level, message = json.loads(line)
                logging.getLogger(name).log(level, "%s", message)
        if os.waitpid(pid, 0)[1] and legacy.is_file():  # killed mid-import (out of memory): what it wrote goes
            for name in history.names():  # (the folder held no record before it, and the lock is still held)
                (history.folder / name).unlink()

    return done


class _Said(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps([record.name, record.levelno, record.getMessage()])


def _load(history: History, now: datetime, config: Config, dry_run: bool, names: list[str]) -> Loaded:
    try:
        if dry_run and not history.has_records() and config.history.file.is_file():
            return transfer.preview(history, config.history.file, now, names)
        if not dry_run:
            refused = transfer.migrate(history, config.history.file, now)
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


def _forget_gone(loaded: Loaded, report: Report, now: datetime, retention_days: int) -> None:
    """This run's accounts marked as seen; the state of an account no run has had for ``retention_days``
    (removed from every config sharing the history) dropped."""
    state = loaded.state
    state.seen.update({a.name: utc_text(now) for a in report.accounts})
    edge = now - timedelta(days=retention_days)
    gone = {name for name, when in state.seen.items() if (parse_time(when) or now) < edge}
    state.seen = {name: when for name, when in state.seen.items() if name not in gone}
    state.failing = [name for name in state.failing if name not in gone]
    for label, told in state.alerts.items():
        if isinstance(told, dict):
            state.alerts[label] = {name: value for name, value in told.items() if name not in gone}


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
    try:
        history.remember(loaded, command, now)
    except OSError as exc:  # a cache only spares the next runs some reading
        log.warning("history: cache %s not written: %s", exc.filename2 or exc.filename or "", exc.strerror or exc)
    log.info("history saved to %s", history.folder)
    return True, None


def _deliver(entries: list[ChannelEntry], message: Message, redactor: Redactor, dry_run: bool,
             hooks: Hooks) -> tuple[list[dict[str, Any]], list[Result]]:
    """Post ``message`` to the channels of ``entries``. The Feishu cards are returned for the demo to show."""
    if not entries:
        return [], []
    from monitor import notify

    channels = [notify.channel(entry, redactor, **_timing(hooks)) for entry in entries]
    rendered = [c.render(message) for c in channels]
    cards = next((parts for c, parts in zip(channels, rendered) if c.kind == "feishu"), [])
    if dry_run:
        for c, parts in zip(channels, rendered):
            log.info("%s: (dry run; not posting %d part(s))", c.label, len(parts))
        return cards, []
    return cards, notify.deliver_all(entries, message, redactor, **_timing(hooks))


def _log_failures(report: Report, loaded: Loaded, command: str) -> None:
    """An account that cannot be queried: a warning when that starts and when it ends, and in between
    (a check every 30 minutes) info only, so that cron does not mail the same line 48 times a day."""
    was = set(loaded.state.failing)
    for a in report.accounts:
        if not a.ok:
            level = logging.INFO if command == "check" and a.name in was else logging.WARNING
            log.log(level, "%s: %s", a.name, a.error)
        elif a.name in was:
            log.warning("%s: the query works again", a.name)
    mine = {a.name for a in report.accounts}
    loaded.state.failing = sorted((was - mine) | {a.name for a in report.accounts if not a.ok})


def _timing(hooks: Hooks) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if hooks.notify_clock:
        found["clock"] = hooks.notify_clock
    if hooks.notify_sleep:
        found["sleep"] = hooks.notify_sleep
    return found
