"""Query every account concurrently; one account's failure, hang or bug never stops the others."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime

from monitor.http import HttpClient
from monitor.providers import PROVIDERS, fetcher
from monitor.redact import Redactor, fingerprint
from monitor.result import AccountResult as AccountResult
from monitor.settings import Account, HttpSettings
from monitor.snapshot import Item, ProviderError, Snapshot

log = logging.getLogger(__name__)
Found = Snapshot | list[Item]  # what a provider's fetch returns: one snapshot, or a site's items


def collect(
    accounts: Sequence[Account],
    settings: HttpSettings,
    redactor: Redactor,
    now: datetime,
    http_factory: Callable[[float], HttpClient] | None = None,
) -> list[AccountResult]:
    """One result per account, in config order, within ``settings.run_timeout_seconds``; a site entry
    gives one per item it found (itself first), or one failed result under its own name."""
    deadline = time.monotonic() + settings.run_timeout_seconds
    http = http_factory(deadline) if http_factory else HttpClient(settings, redactor, deadline=deadline)
    futures: list[Future[Found]] = [Future() for _ in accounts]
    jobs = _Jobs(list(zip(accounts, futures)), settings.per_host, deadline)

    # All workers start before any works: a thread's start waits for the GIL, which busy workers hold,
    # so a pool that starts working while it is still being started ramps up slowly.
    go = threading.Event()

    def worker() -> None:
        go.wait()
        while True:
            job = jobs.take()
            if job is None:
                return
            account, future = job
            try:
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fetcher(account.provider)(account, http))
                except BaseException as exc:  # each worker returns a result, whatever happens
                    future.set_exception(exc)
            finally:
                jobs.done(account)

    # Daemon threads: a request stuck past the run's bound must not keep the process alive.
    for _ in range(min(settings.max_workers, len(accounts))):
        threading.Thread(target=worker, daemon=True, name="balance-query").start()
    go.set()

    results: list[AccountResult] = []
    for account, future in zip(accounts, futures):
        snapshot, error = None, None
        try:
            found = future.result(timeout=max(deadline - time.monotonic(), 0))
            if isinstance(found, list):
                results += expand(account, found, now, redactor)
                continue
            snapshot = found
        except FutureTimeout:
            future.cancel()
            error = f"timed out: no answer within the run's limit of {settings.run_timeout_seconds:g} s"
        except ProviderError as exc:
            error = redactor(str(exc))
        except Exception as exc:
            log.error("%s: unexpected error while querying (a bug, please report it)", account.name, exc_info=exc)
            error = redactor(f"unexpected error: {type(exc).__name__}: {exc}")
        site = account.name if PROVIDERS[account.provider].site else None
        results.append(
            AccountResult(account=account, time=now, fingerprint=fingerprint(account.api_key or account.name),
                          snapshot=snapshot, error=error, site=site, kind="site" if site else None)
        )
    http.close()
    return results


def expand(entry: Account, items: Sequence[Item], now: datetime, redactor: Redactor) -> list[AccountResult]:
    """A site entry's items as accounts of their own: ``<entry>/<item>``, each judged by its kind's threshold
    (an item's own, such as new-api-admin's ``user_low_balance`` for users, else the entry's ``low_balance``);
    the site itself keeps the entry's name."""
    found = []
    for item in items:
        name = entry.name if item.kind == "site" else f"{entry.name}/{item.name}"
        threshold = item.low_balance if item.low_balance is not None else entry.low_balance
        account = dataclasses.replace(entry, name=name, low_balance=threshold)
        error = redactor(item.error) if item.error else None  # an upstream's error may echo its key
        found.append(AccountResult(account, now, fingerprint(item.ident), item.snapshot, error,
                                   site=entry.name, kind=item.kind))
    return found


class _Jobs:
    """The accounts still to query, never more than ``per_host`` at once to one host, the host with the
    most accounts waiting first (config order among equals).

    An account's requests (one to three, mostly in flight together) all go to its host, so ``per_host``
    accounts keep the HTTP client's per-host limit busy; more would leave the workers waiting on one busy
    relay while the other relays' accounts queue behind them, as accounts listed host by host (as configs
    list them) otherwise would. Longest queue first drains the hosts together, so the run does not end
    on one host's accounts, ``per_host`` at a time.
    """

    def __init__(self, jobs: list[tuple[Account, Future[Found]]], per_host: int, deadline: float) -> None:
        self._waiting: dict[str, deque[tuple[int, tuple[Account, Future[Found]]]]] = {}
        for index, job in enumerate(jobs):
            self._waiting.setdefault(job[0].host, deque()).append((index, job))
        self._busy = dict.fromkeys(self._waiting, 0)
        self._per_host = max(per_host, 1)
        self._deadline = deadline
        self._changed = threading.Condition()

    def take(self) -> tuple[Account, Future[Found]] | None:
        """The next account of a host with room; None when none is left (or time is up)."""
        with self._changed:
            while True:
                ready = [queue for host, queue in self._waiting.items() if queue and self._busy[host] < self._per_host]
                if ready:
                    _, job = max(ready, key=lambda queue: (len(queue), -queue[0][0])).popleft()
                    self._busy[job[0].host] += 1
                    return job
                left = self._deadline - time.monotonic()
                if not any(self._waiting.values()) or left <= 0:
                    return None
                self._changed.wait(left)

    def done(self, account: Account) -> None:
        with self._changed:
            self._busy[account.host] -= 1
            self._changed.notify_all()
