"""Bounded, polite HTTP for the providers: timeouts, retries, a per-host limit and a run deadline."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from monitor import __version__
from monitor.redact import Redactor, cut
from monitor.settings import HttpSettings
from monitor.snapshot import ProviderError

log = logging.getLogger(__name__)

# What a receiver sees (reference/channels.md: a webhook's User-Agent is exactly this).
USER_AGENT = f"api-balance-monitor/{__version__}"
# Providers get it in a browser's form: some WAFs in front of relays refuse what does not look like one.
PROVIDER_AGENT = f"Mozilla/5.0 (compatible; {USER_AGENT})"
MAX_BODY = 2 * 1024 * 1024  # a balance answer is a few hundred bytes; more is a wrong URL


@dataclass(frozen=True)
class Response:
    """An HTTP answer, to a provider's GET or a channel's POST."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (ValueError, UnicodeDecodeError):
            return None

    def text(self, limit: int = 200) -> str:
        return cut(self.body.decode("utf-8", "replace").strip(), limit)


class HttpClient:
    """One shared session; at most ``max_workers`` requests in flight, and ``per_host`` to any host."""

    def __init__(
        self,
        settings: HttpSettings,
        redactor: Redactor,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.redactor = redactor
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = PROVIDER_AGENT
        pool = max(settings.per_host, 1)
        adapter = HTTPAdapter(pool_connections=64, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._in_flight = threading.BoundedSemaphore(max(settings.max_workers, 1))
        self._not_before: dict[str, float] = {}  # a host that asked us to wait (Retry-After)
        self._cache: dict[str, object] = {}

    def close(self) -> None:
        self.session.close()

    def cached(self, key: str, compute: Callable[[], object]) -> object:
        """A per-run cache (e.g. a relay's /api/status), computed once even under concurrency."""
        while True:
            with self._lock:
                entry = self._cache.get(key)
                if entry is None:
                    pending = threading.Event()
                    self._cache[key] = pending
                    break
            if not isinstance(entry, threading.Event):
                return entry
            entry.wait()  # another thread is computing it; then look again
        try:
            value = compute()
        except BaseException:
            with self._lock:
                del self._cache[key]
            pending.set()
            raise
        with self._lock:
            self._cache[key] = value
        pending.set()
        return value

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            if host not in self._slots:
                self._slots[host] = threading.BoundedSemaphore(self.settings.per_host)
            return self._slots[host]

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def together(self, first: Callable[[], Any], *others: Callable[[], Any]) -> list[Any]:
        """Run an account's independent requests at once (each call makes one or more); their results in
        order. Fails as they would one after another: with the exception of the first call that failed.

        The first call runs in this thread, each other one in a thread of its own; the limits on requests
        in flight (``max_workers``, ``per_host``) hold for them all.
        """
        futures: list[Future[Any]] = [Future() for _ in (first, *others)]
        for call, future in zip(others, futures[1:]):
            threading.Thread(target=_settle, args=(future, call), daemon=True, name="balance-query+").start()
        _settle(futures[0], first)
        wait(futures)  # all of them, even after a failure: an account's requests end with the account
        return [future.result() for future in futures]

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """GET with retries on connection errors, 5xx and 429; raise ``ProviderError`` when it cannot answer.

        A ``Retry-After`` is waited for as asked, never less than the backoff, and counts as a retry; when
        it asks for longer than the run has left, the account fails at once with that reason, and the
        host's other accounts do not ask it again in this run.
        """
        host = urlsplit(url).netloc
        attempt = 0
        while True:
            self._wait_for_host(host)
            try:
                response = self._once(url, host, headers or {})
            except ProviderError as exc:
                attempt += 1
                if attempt > self.settings.retries or not self._pause(_backoff(attempt)):
                    raise
                log.info("%s: %s; retrying", host, exc)
                continue
            if response.status != 429 and response.status < 500:
                return response
            asked = _retry_after(response.headers.get("Retry-After"))
            if asked is not None:
                with self._lock:  # every account of this host waits, not only this one
                    self._not_before[host] = max(self._not_before.get(host, 0.0), self.clock() + asked)
                if not self._fits(asked):
                    raise ProviderError(f"HTTP {response.status}: the server asks to wait {_seconds(asked)}, "
                                        "longer than the run has left")
            attempt += 1
            if attempt > self.settings.retries or not self._pause(max(asked or 0.0, _backoff(attempt))):
                return response
            log.info("%s: HTTP %d; retrying", host, response.status)

    def _fits(self, seconds: float) -> bool:
        left = self.remaining()
        return math.isfinite(seconds) and (left is None or seconds < left - 0.5)

    def _pause(self, delay: float) -> bool:
        """Sleep before the next attempt; False when the run's deadline leaves no room for it."""
        jittered = delay + random.uniform(0, delay / 4)  # accounts on one relay do not retry in step
        delay = jittered if self._fits(jittered) else delay  # a wait that fits is not lost to the jitter
        if not self._fits(delay):
            return False
        self.sleep(delay)
        return True

    def _wait_for_host(self, host: str) -> None:
        with self._lock:
            until = self._not_before.get(host, 0.0)
        delay = until - self.clock()
        if delay > 0:
            if not self._fits(delay):
                raise ProviderError(f"{host} asks to wait {_seconds(delay)} more, longer than the run has left")
            self.sleep(delay)

    def _once(self, url: str, host: str, headers: Mapping[str, str]) -> Response:
        timeout = self.settings.timeout_seconds
        left = self.remaining()
        if left is not None:
            if left <= 0:
                raise ProviderError("timed out: the run's time limit was reached")
            timeout = min(timeout, left)
        started = self.clock()
        with self._slot(host), self._in_flight:  # the host's slot first: a slot of all is never held idle
            try:
                with self.session.get(url, headers=dict(headers), timeout=(timeout, timeout), stream=True) as r:
                    body = _read_capped(r)
                    response = Response(
                        status=r.status_code,
                        content_type=r.headers.get("Content-Type", ""),
                        body=body,
                        headers=dict(r.headers),
                    )
            except requests.Timeout as exc:
                what = "connecting" if isinstance(exc, requests.ConnectTimeout) else "waiting for an answer"
                raise ProviderError(f"timed out after {timeout:g} s {what} ({host})") from None
            except requests.RequestException as exc:
                raise ProviderError(f"cannot reach {host}: {connection_reason(self.redactor(str(exc)))}") from None
        log.debug("GET %s%s -> HTTP %d in %.0f ms", host, _path(url), response.status, (self.clock() - started) * 1000)
        return response


def _settle(future: Future[Any], call: Callable[[], Any]) -> None:
    try:
        future.set_result(call())
    except BaseException as exc:  # handed to the caller, who raises it
        future.set_exception(exc)


def _backoff(attempt: int) -> float:
    return min(0.5 * 2.0 ** (attempt - 1), 8.0)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 1e9 else "indefinitely"


def _read_capped(r: requests.Response) -> bytes:
    chunks = []
    size = 0
    for chunk in r.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            raise ProviderError(f"answer larger than {MAX_BODY // 1024 // 1024} MB; is the URL right?")
        chunks.append(chunk)
    return b"".join(chunks)


def _path(url: str) -> str:
    # Paths only, never the query: some relays take the key as a query parameter.
    return urlsplit(url).path


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


_REASONS = [
    (re.compile(r"Connection refused", re.I), "connection refused"),
    (re.compile(r"Name or service not known|nodename nor servname|NameResolution|getaddrinfo failed", re.I),
     "host name not found"),
    (re.compile(r"Connection reset|ConnectionResetError", re.I), "connection reset"),
    (re.compile(r"RemoteDisconnected|closed connection without response", re.I), "connection closed without an answer"),
    (re.compile(r"CERTIFICATE_VERIFY_FAILED|SSLError|certificate", re.I), "TLS certificate problem"),
    (re.compile(r"Network is unreachable", re.I), "network unreachable"),
    (re.compile(r"IncompleteRead|ChunkedEncodingError|ProtocolError", re.I), "answer cut off"),
]


def connection_reason(text: str) -> str:
    """A short human reason from a requests/urllib3 message (which embeds the URL, hence never shown whole)."""
    for pattern, reason in _REASONS:
        if pattern.search(text):
            return reason
    return "connection failed"
