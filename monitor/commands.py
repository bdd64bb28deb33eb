"""The commands beside ``run``: check-config, test-notify and history."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import difflib
import logging
import sys
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import IO, TYPE_CHECKING

from monitor.exitcodes import Exit
from monitor.providers.openai_billing import BillingKeys
from monitor.redact import Redactor, mask, mask_url
from monitor.schema import Settings
from monitor.settings import Account, Config

if TYPE_CHECKING:
    from monitor.report import Report
    from monitor.report.daily import Column
    from monitor.usage import Series

_log = logging.getLogger(__name__)


def check_config(config: Config, stdout: IO[str]) -> int:
    out = _Redacting(stdout, Redactor(config.secrets()))  # what is masked below on purpose, and a safety net
    out.write(f"config: {config.path} is valid\n")
    _check_history(config, out)
    for entry in config.channels:
        out.write(f"{entry.label}: {describe(entry.settings)}\n")
    if not config.channels:
        out.write("channels: none configured; run prints the report on stdout\n")
    if config.heartbeat_url:
        out.write(f"heartbeat: {mask_url(config.heartbeat_url)}\n")
    if config.metrics:
        from monitor.metrics import shown_url

        if config.metrics.textfile:
            out.write(f"metrics: textfile {config.metrics.textfile}\n")
        if config.metrics.pushgateway_url:
            out.write(f"metrics: push to {shown_url(config.metrics.pushgateway_url)} as job {config.metrics.job}\n")
    out.write(f"accounts ({len(config.accounts)}):\n")
    from monitor.report.daily import ljust, width

    # The host only: a URL's user part (https://user:password@host) is a secret too.
    rows = [(a.name, a.provider, a.host.rpartition("@")[2], _credential(a)) for a in config.accounts]
    widths = [max(width(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        cells = [ljust(cell, widths[i]) for i, cell in enumerate(row[:3])]
        out.write(f"  {'  '.join(cells)}  {row[3]}\n")
    billing = [a.name for a in config.accounts  # those that said hard_limit: remaining have compared already
               if a.provider == "openai-billing" and a.keys(BillingKeys).hard_limit == "total"]
    if billing:
        # A relay's hard_limit_usd is the key's total on most sites but what is left on some one-api ones;
        # the answers cannot tell, the relay's own page can (reference/providers.md §1.2).
        out.write(f"openai-billing ({', '.join(billing)}): compare the balance once with the relay's 钱包/wallet page; "
                  "if the page's balance is the report's total, set hard_limit: remaining\n")
    retired = [a.name for a in config.accounts if a.provider == "siliconflow"]
    if retired:
        # SiliconFlow retired /v1/user/info (HTTP 410 since 2026-08; reference/operators.md §3).
        out.write(f"siliconflow ({', '.join(retired)}): warning: SiliconFlow no longer reports balances to API keys "
                  "(/v1/user/info answers HTTP 410 since 2026-08), so these accounts fail unless their base_url still "
                  "answers it; watch the balance in the SiliconFlow console and remove them\n")
    return Exit.OK  # the config's warnings were already logged on stderr


def _credential(account: Account) -> str:
    """How an account signs in, masked: its provider module's ``credential(account)``, else its key."""
    import importlib

    from monitor.providers import PROVIDERS

    module = importlib.import_module(PROVIDERS[account.provider].module)
    own: str = module.credential(account) if hasattr(module, "credential") else f"key {mask(account.api_key)}"
    return own


class _Redacting:
    """A text stream that masks every registered secret in what is written to it."""

    def __init__(self, stream: IO[str], redactor: Redactor) -> None:
        self.stream = stream
        self.redactor = redactor

    def write(self, text: str) -> int:
        return self.stream.write(self.redactor(text))


def describe(settings: Settings) -> str:
    """One line saying where a channel posts, every secret masked (its module's ``describe``)."""
    from monitor import notify

    return notify.describe(settings)


def sample_report(config: Config) -> Report:
    """The test report: one ok, one low, one failed account, clearly marked as a test."""
    from monitor.report import build
    from monitor.result import AccountResult
    from monitor.snapshot import Snapshot

    now = datetime.now(timezone.utc)
    samples = [
        (Account("示例账户 OK" if config.language == "zh" else "Sample OK", "openai-billing", "-"),
         Snapshot("USD", Decimal("42.5000"), Decimal("57.5000"), Decimal("100"))),
        (Account("示例账户 余额低" if config.language == "zh" else "Sample low", "deepseek", "-",
                 low_balance=Decimal("5")),
         Snapshot("CNY", Decimal("1.2300"))),
        (Account("示例账户 失败" if config.language == "zh" else "Sample failed", "moonshot", "-"), None),
    ]
    results = [
        AccountResult(account, now, "00000000", snap, None if snap else "HTTP 401: Invalid Authentication")
        for account, snap in samples
    ]
    return dataclasses.replace(
        build(results, {}, now, config.timezone, config.language, config.history.retention_days), test=True
    )


def _check_history(config: Config, out: _Redacting) -> None:
    """Where the history is, what the first run will import, and the lines that cannot be read."""
    from monitor.history import History

    folder = config.history.folder
    out.write(f"history: {folder} (reports kept {config.history.retention_days} days, checks "
              f"{min(config.history.check_retention_days, config.history.retention_days)})\n")
    if not folder.parent.is_dir():
        out.write(f"history: warning: the folder {folder.parent} does not exist; every run would exit 8 "
                  "(history not saved) until it is created\n")
        return
    history = History(folder)
    try:
        empty = not history.has_records()
        if empty and config.history.file.is_file():
            out.write(f"history: {config.history.file} (a history of an earlier release) will be imported "
                      f"into {folder} by the next run, then renamed {config.history.file.name}.imported-<time>\n")
        loaded = history.read(datetime.now(timezone.utc), everything=True)
    except OSError as exc:
        out.write(f"history: warning: {folder} cannot be read: {exc.strerror or exc}\n")
        return
    if loaded.refused:
        out.write(f"history: warning: {loaded.warning}\n")
    for where in loaded.unreadable:
        out.write(f"history: warning: {folder / where} cannot be read; it is skipped and kept as it is\n")


def test_notify(config: Config, redactor: Redactor, out: IO[str], channel: str | None = None) -> int:
    """Send the sample report through every channel, or those ``channel`` names (``dingtalk`` or ``dingtalk[1]``)."""
    from monitor import notify
    from monitor.notify.message import from_report
    from monitor.report.document import document

    entries = [e for e in config.channels if channel is None or channel in (e.label, e.settings.kind)]
    if not entries:
        if channel is None:
            first, *others = notify.CHANNELS
            out.write(f"test-notify: no {first} section (nor {', '.join(others[:-1])} or {others[-1]}) "
                      "in the config; nothing to test\n")
        else:
            names = [e.label for e in config.channels]
            close = difflib.get_close_matches(channel.lower(), [*names, *notify.CHANNELS], n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.write(f"test-notify: no channel {channel!r} in the config (configured: {', '.join(names) or 'none'})"
                      f"{hint}\n")
        return Exit.CONFIG
    report = sample_report(config)
    message = from_report(report, document=document(report, 0, None, False, None))
    results = notify.deliver_all(entries, message, redactor)  # one per entry, in the same order
    for entry, r in zip(entries, results):
        if r.delivered:
            look = notify.where_to_look(entry.settings.kind)
            out.write(f"test-notify: {r.channel}: the sample report was delivered; {look}\n")
        else:
            out.write(f"test-notify: {r.channel}: not delivered: {r.error}\n")
    return Exit.OK if all(r.delivered for r in results) else Exit.NOT_DELIVERED


def history(config: Config, out: IO[str], account: str | None, days: int, csv_out: bool, err: IO[str]) -> int:
    """Usage per account per local day, newest first, for the last ``days`` days.

    Usage errors go to ``err`` (stderr): ``--csv > file`` must never write an error into the CSV.
    """
    from monitor.history import History
    from monitor.report.daily import csv_rows, table
    from monitor.usage import series_of

    if days < 1:
        err.write("history: --days must be at least 1\n")
        return Exit.USAGE
    # A warning (an unreadable line, a newer release's history) is logged on stderr: stdout stays a clean
    # table or CSV.
    try:
        loaded = History(config.history.folder).read(datetime.now(timezone.utc), everything=True)
    except OSError as exc:
        err.write(f"history: cannot read {config.history.folder}: {exc.strerror or exc}\n")
        return Exit.NO_INPUT
    if loaded.refused:  # a newer release's history: said on stderr already; "no records yet" would mislead
        return Exit.NO_INPUT
    records = loaded.records
    series = series_of(records)
    # Config order first, then accounts that are only in the history (removed from the config since).
    names = [a.name for a in config.accounts] + sorted(set(series) - {a.name for a in config.accounts})
    if account is not None:
        if account not in names:
            err.write(f"history: no account named {account!r} (known: {', '.join(names)})\n")
            return Exit.USAGE
        names = [account]
    today = datetime.now(config.timezone).date()
    wanted = [today - timedelta(days=n) for n in range(days)]
    columns = [column for name in names for column in _columns(name, series.get(name), config.timezone)]
    if csv_out:
        csv.writer(out, lineterminator="\n").writerows(csv_rows(wanted, columns))
        return Exit.OK
    if not records:
        out.write(f"history: no records in {config.history.folder} yet; each run adds one per account\n")
        return Exit.OK
    zone = getattr(config.timezone, "key", str(config.timezone))
    out.write(f"Usage per day, last {days} days ({zone}), newest first\n\n")
    out.write(table(wanted, columns))
    return Exit.OK


def _columns(name: str, series: Series | None, zone: tzinfo) -> list[Column]:
    """An account's usage per day, one column per currency it reported in (a relay that switched its
    display from USD to CNY has two): a day is never shown, or added up, in another day's currency."""
    from monitor.report.daily import Column
    from monitor.usage import Series, daily_usage

    series = series or Series()
    currencies = list(dict.fromkeys(p.currency for p in series.points))
    if len(currencies) <= 1:
        return [Column(name, currencies[0] if currencies else None, daily_usage(series, zone))]
    return [Column(f"{name} ({currency or '?'})", currency,
                   daily_usage(Series(p for p in series.points if p.currency == currency), zone), account=name)
            for currency in currencies]


def _moment(text: str | None, zone: tzinfo) -> datetime | None:
    """``--since``/``--until``: an ISO 8601 time, or a date (its local midnight); no offset: local time."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def history_export(config: Config, out: IO[str], since: str | None, until: str | None, account: str | None) -> int:
    """Every record, in seq order, as JSON Lines on ``out``."""
    from monitor import transfer
    from monitor.history import History

    try:
        start, end = _moment(since, config.timezone), _moment(until, config.timezone)
    except ValueError as exc:
        _log.error(f"history export: --since/--until: {exc}; give an ISO 8601 time such as "
                   "2026-11-28T09:00:00+08:00, or a date such as 2026-11-28")
        return Exit.USAGE
    try:
        for line in transfer.export(History(config.history.folder), start, end, account):
            out.write(line.decode("utf-8"))
    except OSError as exc:
        _log.error(f"history export: cannot read {config.history.folder}: {exc.strerror or exc}")
        return Exit.NO_INPUT
    return Exit.OK


def history_import(config: Config, source: str | None, out: IO[str]) -> int:
    """A v1 history or JSON Lines loaded into an empty history, under the run lock; refused (65) when it
    already holds records."""
    from monitor.history import History, HistoryLocked, LockUnavailable, State
    from monitor.transfer import Stream, Unknown, load

    if not source:
        _log.error("history import: name the FILE to import (- for standard input)")
        return Exit.USAGE
    history = History(config.history.folder)
    try:
        with history.locked(config.history.lock_wait_seconds):
            if history.has_records():
                _log.error(f"history import: {config.history.folder} already holds records; import only into an "
                          "empty history (move its .jsonl files away first). Nothing changed.")
                return Exit.DATA
            with (contextlib.nullcontext(sys.stdin.buffer) if source == "-" else open(source, "rb")) as handle:
                stream = Stream(handle)
                count, seq = load(history, stream.records())
            history.write_state(State(next_seq=seq + 1, alerts={"*": stream.head.get("alerts") or {}}))
    except Unknown as exc:
        _log.error(f"history import: {source} has {exc}, which this release does not know. Nothing changed.")
        return Exit.DATA
    except HistoryLocked as exc:
        _log.error(f"history import: {exc}")
        return Exit.LOCKED
    except (OSError, LockUnavailable) as exc:
        _log.error(f"history import: cannot read {source} or write {config.history.folder}: "
                  f"{getattr(exc, 'strerror', None) or exc}")
        return Exit.NO_INPUT
    skipped = f"; {stream.skipped} unreadable, skipped" if stream.skipped else ""
    out.write(f"history import: {count} records imported into {config.history.folder} ({seq} runs{skipped})\n")
    return Exit.OK
