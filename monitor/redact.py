"""Keep keys and webhook tokens out of every line we print, log or save."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

_MIN_SECRET = 4  # shorter values are too common to scrub without mangling ordinary text


def mask(secret: str) -> str:
    """A recognisable but useless form of a secret: ``sk-ab…yz``."""
    if len(secret) <= 10:
        return "…"
    return f"{secret[:5]}…{secret[-2:]}"


def fingerprint(secret: str) -> str:
    """A short, stable hash that tells keys apart without revealing them."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def webhook_parts(url: str) -> list[str]:
    """The secret parts of a webhook URL: the whole URL and its last path segment (the token)."""
    parts = [url]
    path = urlsplit(url).path.rstrip("/")
    token = path.rsplit("/", 1)[-1] if path else ""
    if token:
        parts.append(token)
    return parts


def mask_url(url: str) -> str:
    """A webhook URL with its token masked, for messages that must say which bot."""
    split = urlsplit(url)
    path = split.path.rstrip("/")
    head, _, token = path.rpartition("/")
    return f"{split.scheme}://{split.netloc}{head}/{mask(token)}" if token else f"{split.scheme}://{split.netloc}"


class Redactor:
    """Replaces every registered secret by its mask. Thread-safe; shared by logs and reports."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        with self._lock:
            for s in secrets:
                if s and len(s) >= _MIN_SECRET and s not in self._secrets:
                    self._secrets[s] = mask(s)
            # Longest first, so a URL is replaced before the token inside it.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(lambda m: self._secrets[m.group(0)], text)


class RedactingFilter(logging.Filter):
    """Scrubs the final message (arguments and exception text included) of every record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redactor(message)
        record.args = None
        return True
