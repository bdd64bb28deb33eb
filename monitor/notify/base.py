"""The one interface every channel implements, and the sending loop they share.

A channel renders a ``Message`` into parts (pure), then posts each part with its own success test
and retries. ``send`` never raises on a remote failure: it returns a ``Result`` whose error says
why, with the fix where the service's error code tells it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import requests

from monitor.http import USER_AGENT, Response, connection_reason
from monitor.notify.message import Message
from monitor.redact import Redactor, cut

log = logging.getLogger(__name__)

TIMEOUT = 10.0
ATTEMPTS = 4  # per part, for rate limiting and server errors
MAX_WAIT = 60.0  # seconds: a service asking for a longer pause is down for this run

S = TypeVar("S")


@dataclass(frozen=True)
class Result:
    """One channel's outcome: what ``--json`` shows under ``delivery.channels``."""

    channel: str
    delivered: bool
    parts: int
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "delivered": self.delivered, "parts": self.parts, "error": self.error}


@dataclass(frozen=True)
class Verdict:
    """The reading of one answer: ``error`` None means delivered."""

    error: str | None
    retry: bool = False
    wait: float | None = None  # the pause the service asked for (Retry-After), else backoff


DELIVERED = Verdict(None)


class Throttle:
    """At most ``count`` messages in any ``seconds``: waits (with the injected sleep) rather than be blocked."""

    def __init__(self, count: int, seconds: float, clock: Callable[[], float], sleep: Callable[[float], None]):
        self.count, self.seconds, self.clock, self.sleep = count, seconds, clock, sleep
        self.sent: deque[float] = deque()

    def wait(self) -> None:
        now = self.clock()
        while self.sent and self.sent[0] <= now - self.seconds:
            self.sent.popleft()
        if len(self.sent) >= self.count:
            pause = self.sent[0] + self.seconds - now
            log.info("waiting %.1f s to stay within %d messages in %.0f s", pause, self.count, self.seconds)
            self.sleep(pause)
        self.sent.append(max(now, self.clock()))


class Channel(ABC, Generic[S]):
    """A configured destination. Subclasses give ``render`` and ``attempt``; the rest is shared."""

    kind: ClassVar[str]  # the config section's name
    title: ClassVar[str] = ""  # the service's name in messages ("Feishu"), when not the config section's
    gap: ClassVar[float] = 0.0  # seconds between parts
    per_minute: ClassVar[int | None] = None  # the service's documented limit per bot

    def __init__(self, settings: S, label: str, redactor: Redactor, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.label = label
        self.redactor = redactor
        self.clock = clock
        self.sleep = sleep
        self.session: requests.Session | None = None
        self.throttle = Throttle(self.per_minute, 60.0, clock, sleep) if self.per_minute else None

    @property
    def shown(self) -> str:
        """This channel in log lines: its label, or the service's name (with the label when there are several)."""
        if not self.title:
            return self.label
        return self.title if self.label == self.kind else f"{self.title} ({self.label})"

    @abstractmethod
    def render(self, message: Message) -> list[Any]:
        """The message in this channel's form, as parts that each fit its limits. Pure."""

    @abstractmethod
    def attempt(self, part: Any) -> Verdict:
        """Post one part once and read the answer."""

    def send(self, parts: list[Any]) -> Result:
        """Post every part in order; stop at the first that is refused."""
        sent = 0
        self.session = requests.Session()
        try:
            for index, part in enumerate(parts):
                if index and self.gap:
                    self.sleep(self.gap)
                error = self._with_retries(part)
                if error:
                    label = f"part {index + 1}/{len(parts)}: " if len(parts) > 1 else ""
                    text = self.redactor(f"{label}{error}")
                    log.error("%s delivery failed: %s", self.shown, text)
                    return Result(self.label, False, sent, text)
                sent += 1
        except Exception as exc:  # a bug in one channel must not stop the others
            log.exception("%s: delivery failed", self.label)
            return Result(self.label, False, sent, self.redactor(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            self.session.close()
        log.info("report delivered to %s in %d part(s)", self.shown, sent)
        return Result(self.label, True, sent, None)

    def deliver(self, message: Message) -> Result:
        try:
            parts = self.render(message)
        except Exception as exc:
            log.exception("%s: cannot render the message", self.label)
            return Result(self.label, False, 0, f"internal error: {type(exc).__name__}: {exc}")
        return self.send(parts)

    def _with_retries(self, part: Any) -> str | None:
        verdict = Verdict("not sent")
        for attempt in range(1, ATTEMPTS + 1):
            if self.throttle:
                self.throttle.wait()
            verdict = self.attempt(part)
            if verdict.error is None:
                return None
            if not verdict.retry or attempt == ATTEMPTS:
                break
            delay = verdict.wait if verdict.wait is not None else min(2 ** (attempt - 1), 8) * (
                1 + random.uniform(0, 0.25))
            if delay > MAX_WAIT:
                return f"{verdict.error} (asked to wait {delay:.0f} s; giving up for this run)"
            log.info("%s: %s; retrying in %.1f s", self.shown, self.redactor(verdict.error), delay)
            self.sleep(delay)
        return verdict.error

    def post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> Response | str:
        """POST ``body``; the answer, or why the service could not be reached."""
        assert self.session is not None, "post() is called from send()"
        try:
            r = self.session.post(url, data=body, timeout=(TIMEOUT, TIMEOUT), headers={
                "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **(headers or {})})
        except requests.RequestException as exc:
            return f"cannot reach {self.title or self.kind}: {connection_reason(self.redactor(str(exc)))}"
        return Response(r.status_code, r.headers.get("Content-Type", ""), r.content, r.headers)

    def exchange(self, url: str, body: bytes, interpret: Callable[[Response], Verdict],
                 headers: Mapping[str, str] | None = None) -> Verdict:
        """POST ``body`` and read the answer with the channel's ``interpret``; a service that could not be
        reached is tried again (its reason is the verdict)."""
        answer = self.post(url, body, headers)
        return Verdict(answer, retry=True) if isinstance(answer, str) else interpret(answer)


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def retry_after(headers: Mapping[str, str], default: float = 1.0) -> float:
    """Seconds from a Retry-After header (seconds form; the date form is rare on webhooks)."""
    try:
        return max(float(headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return default


@dataclass(frozen=True)
class Refusal:
    """A bot's ``errcode`` other than 0 (DingTalk, WeCom): the code, its message and the fix we know."""

    code: Any
    message: str
    fix: str

    def text(self) -> str:
        return f"errcode {self.code} ({self.message})" + (f": {self.fix}" if self.fix else "")


def errcode(answer: Response, fixes: Mapping[int, str]) -> Verdict | Refusal:
    """What an ``errcode`` bot's answer says: delivered, an HTTP failure (5xx and 429 retried), or the
    refusal inside an HTTP 200, for the channel to finish (some codes are retried, some explained)."""
    body = answer.json()
    if not 200 <= answer.status < 300 or not isinstance(body, dict):
        retry = answer.status >= 500 or answer.status == 429
        return Verdict(f"HTTP {answer.status}: {answer.text(120) or 'no answer'}", retry=retry)
    code = body.get("errcode")
    if code == 0 and not isinstance(code, bool):
        return DELIVERED
    message = cut(str(body.get("errmsg") or ""), 200)
    return Refusal(code, message, fixes.get(code, "") if isinstance(code, int) else "")
