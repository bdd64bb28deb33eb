"""Retry-After against a loopback server, with the client's clock and sleep injected: no real waiting."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from monitor.config import HttpSettings
from monitor.emulators import RelayEmulator, Request
from monitor.http import HttpClient
from monitor.redact import Redactor
from monitor.snapshot import ProviderError

PATH = "/v1/dashboard/billing/subscription"


class FakeTime:
    """A monotonic clock that only ``sleep`` moves; the sleeps are kept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@contextmanager
def client(retries: int = 2, run_timeout: float = 120.0) -> Iterator[tuple[HttpClient, FakeTime]]:
    fake = FakeTime()
    settings = HttpSettings(retries=retries, run_timeout_seconds=run_timeout)
    http = HttpClient(settings, Redactor(), deadline=fake.now + run_timeout, clock=fake.clock, sleep=fake.sleep)
    try:
        yield http, fake
    finally:
        http.close()


def answering(*retry_afters: str) -> RelayEmulator:
    """429 with each Retry-After in turn (the last one for ever after)."""
    def limited(request: Request) -> tuple[int, dict[str, str], bytes]:
        hits = len([r for r in server.requests if r.path == PATH])
        return 429, {"Retry-After": retry_afters[min(hits, len(retry_afters)) - 1]}, b""

    server = RelayEmulator(faults={PATH: limited})
    return server


def test_a_wait_longer_than_the_run_has_left_fails_the_account_at_once() -> None:
    with answering("600") as server, client() as (http, fake):
        with pytest.raises(ProviderError) as caught:
            http.get(server.url + PATH)
        assert str(caught.value) == "HTTP 429: the server asks to wait 600 s, longer than the run has left"
        assert fake.sleeps == [] and len(server.requests) == 1
        # The host asked for quiet: another account of it fails at once too, without asking again.
        with pytest.raises(ProviderError, match="asks to wait 600 s more, longer than the run has left"):
            http.get(server.url + PATH)
        assert fake.sleeps == [] and len(server.requests) == 1


def test_an_http_date_past_the_run_fails_at_once_too() -> None:
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with answering(later) as server, client() as (http, fake):
        with pytest.raises(ProviderError, match=r"HTTP 429: the server asks to wait 3[56]\d\d s"):
            http.get(server.url + PATH)
        assert fake.sleeps == []


def test_retry_after_zero_still_pauses_and_counts_against_retries() -> None:
    with answering("0") as server, client(retries=2) as (http, fake):
        response = http.get(server.url + PATH)
    assert response.status == 429
    assert len(server.requests) == 3  # the first try and two retries, not a burst
    assert len(fake.sleeps) == 2 and fake.sleeps[0] >= 0.5 and fake.sleeps[1] >= 1.0


def test_the_asked_wait_is_kept_in_full_and_is_a_retry() -> None:
    with answering("30") as server, client(retries=1) as (http, fake):
        response = http.get(server.url + PATH)
    assert response.status == 429 and len(server.requests) == 2
    assert len(fake.sleeps) == 1 and 30 <= fake.sleeps[0] <= 30 * 1.25


def test_a_wait_that_fits_is_waited_and_the_answer_after_it_used() -> None:
    def once(request: Request) -> tuple[int, dict[str, str], bytes]:
        server.faults.pop(PATH)  # the next attempt gets the real answer
        return 429, {"Retry-After": "90"}, b""

    with RelayEmulator() as server, client() as (http, fake):
        server.faults[PATH] = once
        response = http.get(server.url + PATH)
    assert response.status == 401  # the relay's own answer (an unknown key), after the wait
    assert len(fake.sleeps) == 1 and 90 <= fake.sleeps[0] < 120
