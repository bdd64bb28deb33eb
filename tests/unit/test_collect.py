"""Concurrency of the query phase, checked with counts on loopback relays (timings live in bench/)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from decimal import Decimal

from monitor.collect import collect
from monitor.config import Account, HttpSettings
from monitor.emulators import RelayEmulator, Token
from monitor.redact import Redactor

NOW = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)


def key(n: int) -> str:
    return f"sk-conc{n:04d}" + "x" * 40


@contextmanager
def relays(*sizes: int, **options: object) -> Iterator[tuple[list[RelayEmulator], list[Account]]]:
    """One relay per size, each holding that many keys; the accounts listed relay by relay, as configs do."""
    with ExitStack() as stack:
        servers, accounts, n = [], [], 0
        for size in sizes:
            keys = [key(n + i) for i in range(size)]
            n += size
            tokens = {k[3:]: Token(total=Decimal(20), used=Decimal(1)) for k in keys}
            server = stack.enter_context(RelayEmulator(tokens=tokens, **options))  # type: ignore[arg-type]
            servers.append(server)
            accounts += [Account(name=f"a{k[7:11]}", provider="openai-billing", api_key=k, base_url=server.url)
                         for k in keys]
        yield servers, accounts


def query(accounts: list[Account], **http: object) -> list[str | None]:
    settings = HttpSettings(**{"run_timeout_seconds": 60.0, **http})  # type: ignore[arg-type]
    return [r.error for r in collect(accounts, settings, Redactor(), NOW)]


def test_per_host_limit_is_never_exceeded_even_with_many_workers() -> None:
    with relays(12, 12, delay=0.05) as (servers, accounts):
        errors = query(accounts, max_workers=16, per_host=3)
    assert errors == [None] * 24
    assert [s.max_in_flight for s in servers] == [3, 3]


def test_an_accounts_requests_reuse_the_hosts_connections() -> None:
    with relays(12, delay=0.02) as (servers, accounts):
        errors = query(accounts, max_workers=8, per_host=2)
    assert errors == [None] * 12
    assert len(servers[0].requests) == 24
    assert servers[0].connections <= 2  # keep-alive: never more connections than the per-host limit


def test_max_workers_bounds_the_requests_in_flight() -> None:
    with relays(9, delay=0.05) as (servers, accounts):
        errors = query(accounts, max_workers=3, per_host=10)
    assert errors == [None] * 9
    assert servers[0].max_in_flight == 3


def test_an_accounts_independent_requests_are_in_flight_together() -> None:
    with relays(1, delay=0.2) as (servers, accounts):
        errors = query(accounts, max_workers=8, per_host=4)
    assert errors == [None]
    first, second = sorted(r.time for r in servers[0].requests)
    assert servers[0].max_in_flight == 2 and second - first < 0.1  # not one after the other


def test_a_busy_host_does_not_hold_up_the_accounts_of_another() -> None:
    # Listed host by host: with four workers on a host that takes two at a time, the second host's
    # accounts must still be queried while the first host's queue drains.
    with relays(8, 2, delay=0.05) as (servers, accounts):
        errors = query(accounts, max_workers=4, per_host=2)
    assert errors == [None] * 10
    first, second = servers
    assert max(r.time for r in second.requests) < max(r.time for r in first.requests)
    assert second.max_in_flight == 2


def test_retry_after_is_honoured_until_every_account_is_answered() -> None:
    # 12 requests against 4 per second. Each wait counts as a retry: three batches need a few of them.
    allowed, window = 4, 1.0
    with relays(6, rate_limit=(allowed, window), retry_after=1) as (servers, accounts):
        errors = query(accounts, max_workers=4, per_host=4, retries=4)
    relay = servers[0]
    assert errors == [None] * 6
    answered = len(relay.requests) - relay.limited
    assert answered == 12
    assert relay.limited >= 1
    # The client pauses the host on the first 429, so only requests already in flight can meet one too.
    batches = math.ceil(answered / allowed)
    assert relay.limited <= 4 * batches


def test_a_429_without_retry_after_fails_the_account_once_retries_are_spent() -> None:
    with relays(3, rate_limit=(2, 30.0)) as (servers, accounts):
        errors = query(accounts, max_workers=1, per_host=1, retries=0)
    assert errors[0] is None
    assert all(e is not None and "429" in e for e in errors[1:])
    assert servers[0].limited == 4  # the two requests of each later account (they go together): no hammering
