"""Feishu (Lark) custom-bot webhook: sign, send in parts, and believe only ``code`` 0."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from monitor import checks
from monitor.notify import base, fields
from monitor.notify.message import Message, Part, split
from monitor.redact import Redactor, cut
from monitor.report.document import Delivery
from monitor.schema import Settings, setting


@dataclass(frozen=True)
class FeishuSettings(Settings):
    webhook_url: str = field(metadata=fields.HOOK)
    secret: str = field(default="", metadata=fields.SECRET)
    keyword: str = field(default="", metadata=fields.PLAIN)
    mention_on_alert: tuple[str, ...] = field(default=(), metadata=setting(checks.string_list, secret=False))
    kind: ClassVar[str] = "feishu"


SETTINGS = FeishuSettings
WHERE_TO_LOOK = "check the group"  # test-notify's hint: where a person sees the sample report


def describe(settings: FeishuSettings) -> str:
    return fields.robot(settings.webhook_url, settings.mention_on_alert, settings.secret, settings.keyword)


log = logging.getLogger(__name__)

BODY_LIMIT = 20_000  # bytes of the encoded body; Feishu documents "20 KB", we stay under either reading
PART_GAP = 0.25  # seconds between parts: the bot allows 5 messages a second
ATTEMPTS = 4  # per part, for rate limiting and server errors
TIMEOUT = 10.0

FIXES: dict[int, str] = {
    9499: "bad request: Feishu found the message malformed or too large "
    "(parts are kept under 20 KB, so please report this as a bug)",
    11232: "Feishu is rate limiting this bot; schedule the job off the hour and half hour (e.g. 5 9,21 * * *)",
    11235: "this group lets only admins @all: remove 'all' from feishu.mention_on_alert or make the bot an admin",
    11246: "Feishu rejected the card's content (please report this as a bug)",
    11248: "Feishu filtered the message as sensitive",
    19001: "the webhook token is invalid: the bot was removed or its URL regenerated; "
    "copy the current webhook URL into FEISHU_WEBHOOK_URL",
    19002: "the message has no msg_type (please report this as a bug)",
    19007: "the bot is disabled: enable it in the group's settings",
    19021: "the signature was refused: set feishu.secret (FEISHU_SECRET) to the bot's 签名校验 secret, "
    "and check this machine's clock (Feishu allows 1 hour of difference)",
    19022: "this machine's IP address is not in the bot's IP whitelist (IP 白名单): "
    "add this machine's public IP address there, or turn the whitelist off",
    19024: "the message lacks the bot's keyword: set feishu.keyword to one of the bot's 自定义关键词",
    19036: "the message is too large for Feishu (parts are kept under 20 KB, so please report this as a bug)",
    99991201: "wrong webhook path: use the full URL https://open.feishu.cn/open-apis/bot/v2/hook/<token>",
    99991300: "Feishu could not parse the message as JSON (please report this as a bug)",
}
RETRIED = {11232}


def sign(timestamp: int | str, secret: str) -> str:
    """Feishu's custom-bot signature: HMAC-SHA256 keyed by ``"{timestamp}\\n{secret}"`` over an empty message."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def payload(card: dict[str, Any], secret: str, now: float) -> dict[str, Any]:
    body: dict[str, Any] = {"msg_type": "interactive", "card": card}
    if secret:  # only when signing is on: Feishu's behaviour with a stray sign is undocumented
        timestamp = str(int(now))
        body = {"timestamp": timestamp, "sign": sign(timestamp, secret), **body}
    return body


def fits(card: dict[str, Any]) -> bool:
    """Whether a card, signed, stays under the body limit (measured in encoded bytes)."""
    return len(encode(payload(card, "x", 1_700_000_000.0))) <= BODY_LIMIT


def send(
    settings: FeishuSettings,
    cards: Sequence[dict[str, Any]],
    redactor: Redactor,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
) -> Delivery:
    """Post every part in order; stop at the first that is refused. Never raises on a remote failure."""
    http = session or requests.Session()
    sent = 0
    try:
        for index, card in enumerate(cards):
            if index:
                sleep(PART_GAP)
            error = _send_one(settings, card, http, redactor, clock, sleep)
            if error:
                label = f"part {index + 1}/{len(cards)}: " if len(cards) > 1 else ""
                message = redactor(f"{label}{error}")
                log.error("Feishu delivery failed: %s", message)
                return Delivery(attempted=True, delivered=False, parts=sent, error=message)
            sent += 1
    finally:
        if session is None:
            http.close()
    log.info("report delivered to Feishu in %d part(s)", sent)
    return Delivery(attempted=True, delivered=True, parts=sent, error=None)


def _send_one(
    settings: FeishuSettings,
    card: dict[str, Any],
    http: requests.Session,
    redactor: Redactor,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> str | None:
    """None on delivery, else the reason (with the fix)."""
    error = "not sent"
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            delay = min(2 ** (attempt - 2), 8) * (1 + random.uniform(0, 0.25))
            log.info("Feishu: %s; retrying in %.1f s", error, delay)
            sleep(delay)
        body = encode(payload(card, settings.secret, clock()))  # a fresh timestamp and signature every attempt
        try:
            r = http.post(
                settings.webhook_url,
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=(TIMEOUT, TIMEOUT),
            )
        except requests.RequestException as exc:
            from monitor.http import connection_reason

            error = f"cannot reach Feishu: {connection_reason(redactor(str(exc)))}"
            continue
        verdict, retry = interpret(r.status_code, r.content)
        if verdict is None:
            return None
        error = verdict
        if not retry:
            return error
    return error


def interpret(status: int, content: bytes) -> tuple[str | None, bool]:
    """(None, _) when delivered; else (the reason with its fix, whether a retry may help)."""
    try:
        answer = json.loads(content.decode("utf-8")) if content else None
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict):
        retry = status >= 500 or status == 429
        return f"HTTP {status} with an answer that is not Feishu's JSON", retry
    code = answer.get("code")
    if code is None and "StatusCode" in answer:
        code = answer.get("StatusCode")  # legacy success bodies carry only StatusCode
    message = cut(str(answer.get("msg") or answer.get("StatusMessage") or ""), 200)
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        # Not Feishu's answer (a proxy's?): false is not 0, and a list is not a code to look up.
        return f"HTTP {status}: an answer whose code is not a number ({cut(str(code), 40)})", status >= 500
    if 200 <= status < 300 and code == 0:
        return None, False
    if code in (None, 0):
        return f"HTTP {status}: {message or 'no code in the answer'}", status >= 500 or status == 429
    too_many = "too many request" in message.lower()
    retry = code in RETRIED or too_many or status >= 500
    fix = FIXES.get(code, "") if isinstance(code, int) else ""
    if too_many:
        fix = FIXES[11232]
    text = f"code {code} ({message})" + (f": {fix}" if fix else "")
    return text, retry


class Channel(base.Channel[FeishuSettings]):
    """Feishu behind the common interface: the report's card as before, or a short card for an alert."""

    kind = "feishu"

    def render(self, message: Message) -> list[Any]:
        from monitor.report.card import cards

        mentions = self.settings.mention_on_alert if message.mention else ()
        if message.report is not None:
            return cards(message.report, fits, mentions=mentions, keyword=self.settings.keyword,
                         history_problem=message.history_problem)
        return split(message, lambda part: alert_card(part, mentions, self.settings.keyword), fits)

    def attempt(self, part: Any) -> base.Verdict:  # pragma: no cover - send() below does the posting
        raise NotImplementedError

    def send(self, parts: list[Any]) -> base.Result:
        delivery = send(self.settings, parts, self.redactor, clock=self.clock, sleep=self.sleep)
        return base.Result(self.label, delivery.delivered, delivery.parts, delivery.error)


def alert_card(part: Part, mentions: Sequence[str], keyword: str) -> dict[str, Any]:
    from monitor.report.card import COLOURS, _div, escape, mention_text

    elements: list[dict[str, Any]] = []
    if part.mention and mentions:
        elements.append(_div(mention_text(mentions)))
    for section in part.sections:
        lines = [f"**{escape(section.heading)}**"] if section.heading else []
        elements.append(_div("\n".join([*lines, *(escape(line) for line in section.lines)])))
    if part.footer:
        elements.append(_div("\n".join(escape(line) for line in part.footer)))
    if keyword and keyword not in part.title:
        elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": keyword}]})
    return {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": part.title}, "template": COLOURS[part.message.state]},
        "elements": elements,
    }
