"""Query every account concurrently; one account's failure, hang or bug never stops the others."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime

from monitor.config import Account, HttpSettings
from monitor.http import HttpClient
from monitor.providers import fetcher
from monitor.redact import Redactor, fingerprint
from monitor.snapshot import ProviderError, Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountResult:
    account: Account
    time: datetime  # aware, UTC
    fingerprint: str
    snapshot: Snapshot | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.snapshot is not None


def collect(
    accounts: Sequence[Account],
    settings: HttpSettings,
    redactor: Redactor,
    now: datetime,
    http_factory: Callable[[float], HttpClient] | None = None,
) -> list[AccountResult]:
    """One result per account, in config order, within ``settings.run_timeout_seconds``."""
    deadline = time.monotonic() + settings.run_timeout_seconds
    http = http_factory(deadline) if http_factory else HttpClient(settings, redactor, deadline=deadline)
    jobs: queue.Queue[tuple[Account, Future[Snapshot]]] = queue.Queue()
    futures: list[Future[Snapshot]] = []
    for account in accounts:
        future: Future[Snapshot] = Future()
        futures.append(future)
        jobs.put((account, future))

    def worker() -> None:
        while True:
            try:
                account, future = jobs.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fetcher(account.provider)(account, http))
            except BaseException as exc:  # each worker returns a result, whatever happens
                future.set_exception(exc)

    # Daemon threads: a request stuck past the run's bound must not keep the process alive.
    for _ in range(min(settings.max_workers, len(accounts))):
        threading.Thread(target=worker, daemon=True, name="balance-query").start()

    results = []
    for account, future in zip(accounts, futures):
        snapshot, error = None, None
        try:
            snapshot = future.result(timeout=max(deadline - time.monotonic(), 0))
        except FutureTimeout:
            future.cancel()
            error = f"timed out: no answer within the run's limit of {settings.run_timeout_seconds:g} s"
        except ProviderError as exc:
            error = redactor(str(exc))
        except Exception as exc:
            log.error("%s: unexpected error while querying (a bug, please report it)", account.name, exc_info=exc)
            error = redactor(f"unexpected error: {type(exc).__name__}: {exc}")
        if error:
            log.warning("%s: %s", account.name, error)
        results.append(
            AccountResult(account=account, time=now, fingerprint=fingerprint(account.api_key),
                          snapshot=snapshot, error=error)
        )
    http.close()
    return results
