"""Parsing every provider shares: JSON bodies, HTTP and in-body errors, HTML pages, decimal amounts."""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from monitor.http import HttpClient, Response
from monitor.snapshot import Item, ProviderError, Snapshot

_MAX_MESSAGE = 160
# A relay's 401 for a valid key with nothing left says so (one-api/new-api "该令牌额度已用尽", "该令牌已过期");
# every other 401 or 403 is a real failure. A message that also says the key is invalid, disabled or
# unknown stays a failure whatever else it says ("无效的令牌或已过期" is not a balance of 0).
_NOT_VALID = re.compile(r"无效|不可用|禁用|封禁|不存在|权限|invalid|disabled|banned|not found|no such|unknown|"
                        r"permission|denied|forbidden|fails|failed", re.I)
_EXHAUSTED = re.compile(r"额度已用尽|已用尽|用尽|quota (?:is |has been )?(?:exhausted|used up)|exhausted", re.I)
_EXPIRED = re.compile(r"已过期|过期|expired", re.I)
# A plain decimal, as JSON or a provider writes one: no thousands separators, no decimal comma, no
# underscores, no other digits than 0-9, no hex, no NaN or Infinity. Such a string is refused, never guessed.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?", re.ASCII)
MAX_AMOUNT = Decimal("1e15")  # more than any wallet: a bigger number is a unit or parsing mistake
MAX_DECIMALS = 30  # finer than any currency or quota unit; also keeps every sum and product exact below
# Arithmetic on amounts (|x| < 1e15, at most 30 decimals: 45 digits) is exact in 100 digits.
_EXACT = decimal.Context(prec=100, Emin=-999999, Emax=999999, traps=[decimal.InvalidOperation,
                                                                       decimal.DivisionByZero, decimal.Overflow])


class QuotaExhausted(ProviderError):
    """A relay refused a valid key because it has nothing left or has expired: a balance of 0, not a failure.

    ``note`` is the short reason for the report; the message is the HTTP error itself, so a provider that
    does not treat such answers specially still reports the plain error.
    """

    def __init__(self, note: str, message: str) -> None:
        super().__init__(message)
        self.note = note


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def get_json(http: HttpClient, url: str, headers: Mapping[str, str]) -> Any:
    """GET ``url`` and return its JSON body; raise ``ProviderError`` for anything that is not a usable answer."""
    return parse(http.get(url, headers))


def parse(response: Response) -> Any:
    """The JSON of a 2xx answer; a clear ``ProviderError`` for HTTP errors, HTML pages and errors inside a 200."""
    body = json_body(response)
    if not 200 <= response.status < 300:
        message = error_message(body) if body is not None else _describe_error_body(response)
        error = f"HTTP {response.status}: {message or _status_text(response.status)}"
        note = refusal_note(response.status, message)
        if note:
            raise QuotaExhausted(note, error)
        raise ProviderError(error)
    if body is None:
        raise ProviderError(f"response is not JSON ({_describe_non_json(response)})")
    if isinstance(body, dict) and (body.get("error") or body.get("success") is False or body.get("status") is False):
        # Relays report internal errors as HTTP 200 with an "error" object; older new-api, Moonshot and
        # SiliconFlow say ``"success": false`` or ``"status": false`` in a 200.
        raise ProviderError(f"error in answer: {error_message(body) or 'unspecified'}")
    return body


def refusal_note(status: int, message: str | None) -> str | None:
    """"quota exhausted" or "key expired" when a refusal means a valid key with nothing left, else None.

    Only a 401 counts: a 403 is a permission, IP or ban problem (and OpenAI's "insufficient permissions").
    """
    if status != 401 or not message or _NOT_VALID.search(message):
        return None
    if _EXHAUSTED.search(message):
        return "quota exhausted"
    if _EXPIRED.search(message):
        return "key expired"
    return None


def expect(body: Any, field: str, wanted: object) -> None:
    """Raise the answer's own error when its status field (``code``) is present and not ``wanted``.

    The comparison is strict about type: ``true`` is not ``1`` and ``0`` is not ``false``.
    """
    if isinstance(body, dict) and field in body:
        value = body[field]
        if type(value) is not type(wanted) or value != wanted:
            reason = error_message(body) or f"{field} is {shorten(json.dumps(value, default=str), 30)}"
            raise ProviderError(f"error in answer: {reason}")


def json_body(response: Response) -> Any:
    """The parsed JSON of an answer (floats as ``Decimal``), or None when the body is not JSON."""
    return _json_or_none(response.body)


def _json_or_none(raw: bytes) -> Any:
    text = raw.strip()
    if not text or text[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(text.decode("utf-8"), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def error_message(body: Any) -> str | None:
    """The human message of an error body, in the shapes relays and providers use."""
    if not isinstance(body, dict):
        return None
    for candidate in (body.get("error"), body.get("message"), body.get("msg"), body.get("detail")):
        if isinstance(candidate, dict):
            candidate = candidate.get("message") or candidate.get("msg") or candidate.get("type")
        if isinstance(candidate, str) and candidate.strip():
            return shorten(candidate.strip())
    return None


def _describe_error_body(response: Response) -> str:
    if not response.body.strip():
        return ""  # one-api's 429 has no body: the status says it all
    # Some providers answer errors in plain text (SiliconFlow: "Api key is invalid"): that text is the message.
    if response.content_type.split(";")[0].strip().lower() == "text/plain":
        text = " ".join(response.body.decode("utf-8", "replace").split())
        if text and "<" not in text:
            return shorten(text, 80)
    return _describe_non_json(response)


def _describe_non_json(response: Response) -> str:
    kind = response.content_type.split(";")[0].strip() or "no content type"
    text = response.body.decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    snippet = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    snippet = " ".join(snippet.split())
    if not snippet:
        return f"{kind}, empty body"
    return f"{kind}, {shorten(snippet, 40)!r}"


def shorten(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_text(status: int) -> str:
    return {
        400: "bad request",
        401: "unauthorized (is the key right?)",
        403: "forbidden",
        404: "not found (is the base_url right?)",
        429: "rate limited (empty answer)",
        500: "server error",
        502: "bad gateway",
        503: "service unavailable",
        504: "gateway timeout",
    }.get(status, "error")


def dig(body: Any, path: str) -> Any:
    """The value at a dotted path (``data.balance``, ``items.0.amount``); ``ProviderError`` if it is absent."""
    value = body
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise ProviderError(f"answer has no field {path!r}")
    return value


def amount(value: Any, field: str) -> Decimal:
    """A money amount, exactly as given: a JSON number or a plain decimal string ("12.5", "-0.000001", "1e-7").

    Anything else is a ``ProviderError`` naming the field: "1,50" could be 1.5 or 150, so it is never guessed.
    """
    if isinstance(value, bool) or value is None:
        raise ProviderError(f"field {field!r} is not a number ({json.dumps(value)})")
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that is this float, not its binary expansion
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 64 or not _PLAIN_DECIMAL.fullmatch(text):
            raise ProviderError(f"field {field!r} is not a plain decimal number ({shorten(value, 30)!r})")
        number = Decimal(text)
    else:
        raise ProviderError(f"field {field!r} is not a number ({shorten(str(value), 30)!r})")
    if not number.is_finite() or number.copy_abs() >= MAX_AMOUNT:  # copy_abs: abs() overflows on 1e999999999
        raise ProviderError(f"field {field!r} is not a plausible amount ({shorten(str(value), 30)})")
    if _decimals(number) > MAX_DECIMALS:
        raise ProviderError(f"field {field!r} has more than {MAX_DECIMALS} decimals ({shorten(str(value), 30)})")
    if number.as_tuple().exponent > 0:  # type: ignore[operator]
        number = number.quantize(Decimal(1), context=_EXACT)  # 1.5E+3 -> 1500: the same value, written plainly
    return number


def _decimals(number: Decimal) -> int:
    """How many decimals ``number`` needs (trailing zeros do not count): 0 for 1500 and for 2.000."""
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    significant = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + significant)) if any(digits) else 0


def divide(value: Decimal, divisor: Decimal) -> Decimal:
    """``value / divisor`` exactly when the quotient has an end (cents, quota ÷ 500000); otherwise to the
    28 significant digits of Decimal's default context, as close as a decimal gets."""
    context = _EXACT.copy()
    quotient = context.divide(value, divisor)
    if context.flags[decimal.Inexact]:
        return decimal.Context(prec=28).divide(value, divisor)
    return quotient


def exact(operation: str, left: Decimal, right: Decimal) -> Decimal:
    """``left + right``, ``left - right`` or ``left * right`` without the 28-digit rounding of the default context."""
    return {"+": _EXACT.add, "-": _EXACT.subtract, "*": _EXACT.multiply}[operation](left, right)


def optional_amount(body: Any, path: str) -> Decimal | None:
    """An amount at a dotted path, or None where the provider leaves it out or null."""
    try:
        value = dig(body, path)
    except ProviderError:
        return None
    return None if value is None else amount(value, path)


def exhausted(exc: QuotaExhausted, currency: str) -> Snapshot:
    """The snapshot of a valid key that can spend no more: balance 0, the rest unknown."""
    return Snapshot(currency=currency, balance=Decimal(0), note=exc.note, exhausted=True)


def caught(call: Callable[[], list[Item]], explain: Callable[[str], str] = str,
           ) -> Callable[[], tuple[list[Item], str | None]]:
    """``call`` made to give its items and no error, or no items and the error's text (``explain``-ed): one
    list of a site that cannot be read does not stop the others."""
    def run() -> tuple[list[Item], str | None]:
        try:
            return call(), None
        except ProviderError as exc:
            return [], explain(str(exc))

    return run


def site_items(name: str, currency: str, lists: Sequence[tuple[str, list[Item], str | None]]) -> list[Item]:
    """A site's own item (failing with each list it could not read), then the items of the lists read;
    ``ProviderError`` when none could be read: the entry is one failed account, its reason said once when
    every list gave the same (a wrong admin credential)."""
    items: list[Item] = []
    problems: list[str] = []
    for what, found, error in lists:
        items += found
        if error is not None:
            problems.append(error if len(lists) == 1 else f"{what}: {error}")
    if problems and len(problems) == len(lists):
        reasons = {error for _, _, error in lists}
        raise ProviderError(str(reasons.pop()) if len(reasons) == 1 else "; ".join(problems))
    return [Item("site", "", name, None if problems else Snapshot(currency, None), "; ".join(problems) or None),
            *items]
