"""The checks a setting is declared with (``schema.setting(check, …)``): each takes the value read from
the YAML and returns it converted, or raises ValueError with the reason, which never shows a secret."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from monitor import redact

Check = Callable[[Any], Any]


def rule(check: Check, test: Callable[[Any], Any], reason: str | Callable[[Any], str]) -> Check:
    """``check``, then ``test`` on what it returns: when false, ValueError with ``reason`` (or ``reason(it)``)."""

    def checked(value: Any) -> Any:
        if not test(result := check(value)):
            raise ValueError(reason(result) if callable(reason) else reason)
        return result

    return checked


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {type_name(value)}")
    return value


def nonempty(value: Any) -> str:
    if not (text := string(value).strip()):
        raise ValueError("must not be empty")
    return text


def number(minimum: float | None = None, integer: bool = False) -> Check:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise ValueError(f"must be {'a whole number' if integer else 'a number'}, not {type_name(value)}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return check


def url(value: Any) -> str:
    split = urlsplit(text := nonempty(value))
    if split.scheme not in ("http", "https") or not split.netloc:
        # Never the value itself: a webhook URL is a secret, typo or not.
        raise ValueError(f"must start with http:// or https:// and name a host, not {redact.describe_bad_url(text)}")
    return text.rstrip("/")


def optional_url(value: Any) -> str:
    """A URL, or "" for none (``${HEARTBEAT_URL:-}`` left empty)."""
    return url(value) if string(value).strip() else ""


def string_list(value: Any) -> tuple[str, ...]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of strings")
    return tuple(value)


def one_of(*words: str) -> Check:
    return rule(string, lambda text: text in words, lambda text: f"must be {', '.join(words[:-1])} or {words[-1]}, "
                                                                 f"not {text!r}")


def printable(text: str) -> bool:
    return all(ord(c) >= 32 for c in text)


NOT_PRINTABLE = "must not contain line breaks or control characters"
one_line = rule(nonempty, printable, NOT_PRINTABLE)


def type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a mapping",
            type(None): "empty"}.get(type(value), type(value).__name__)


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def money(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be a number, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a finite number, zero or more")
    return amount


def timezone(value: Any) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = nonempty(value)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {text!r} (use a name such as Asia/Shanghai or UTC)") from None
