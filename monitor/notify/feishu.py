"""Feishu (Lark) custom-bot webhook: sign, send in parts, and believe only ``code`` 0."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, ClassVar

from monitor import checks
from monitor.http import Response
from monitor.notify import base, fields
from monitor.notify.feishu_card import Card, alert_card, cards
from monitor.notify.message import Message, split
from monitor.redact import cut
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


BODY_LIMIT = 20_000  # bytes of the encoded body; Feishu documents "20 KB", we stay under either reading

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


def payload(card: Card, secret: str, now: float) -> dict[str, Any]:
    body: dict[str, Any] = {"msg_type": "interactive", "card": card}
    if secret:  # only when signing is on: Feishu's behaviour with a stray sign is undocumented
        timestamp = str(int(now))
        body = {"timestamp": timestamp, "sign": sign(timestamp, secret), **body}
    return body


def fits(card: Card) -> bool:
    """Whether a card, signed, stays under the body limit (measured in encoded bytes)."""
    return len(base.encode(payload(card, "x", 1_700_000_000.0))) <= BODY_LIMIT


class Channel(base.Channel[FeishuSettings]):
    """Feishu behind the common interface: the report's card as before, or a short card for an alert."""

    kind = "feishu"
    title = "Feishu"
    gap = 0.25  # seconds between parts: the bot allows 5 messages a second

    def render(self, message: Message) -> list[Any]:
        mentions = self.settings.mention_on_alert if message.mention else ()
        if message.report is not None:
            return cards(message.report, fits, mentions=mentions, keyword=self.settings.keyword,
                         history_problem=message.history_problem)
        return split(message, lambda part: alert_card(part, mentions, self.settings.keyword), fits)

    def attempt(self, part: Any) -> base.Verdict:
        # A fresh timestamp and signature every attempt: a retry must not carry a stale one (19021).
        body = base.encode(payload(part, self.settings.secret, self.clock()))
        return self.exchange(self.settings.webhook_url, body, interpret)


def interpret(answer: Response) -> base.Verdict:
    """Delivered only on HTTP 2xx with ``code`` 0; else the reason with its fix, retried when a retry may help."""
    body = answer.json()
    status = answer.status
    busy = status >= 500 or status == 429
    if not isinstance(body, dict):
        return base.Verdict(f"HTTP {status} with an answer that is not Feishu's JSON", retry=busy)
    code = body.get("code")
    if code is None and "StatusCode" in body:
        code = body.get("StatusCode")  # legacy success bodies carry only StatusCode
    message = cut(str(body.get("msg") or body.get("StatusMessage") or ""), 200)
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        # Not Feishu's answer (a proxy's?): false is not 0, and a list is not a code to look up.
        return base.Verdict(f"HTTP {status}: an answer whose code is not a number ({cut(str(code), 40)})",
                            retry=status >= 500)
    if 200 <= status < 300 and code == 0:
        return base.DELIVERED
    if code in (None, 0):
        return base.Verdict(f"HTTP {status}: {message or 'no code in the answer'}", retry=busy)
    too_many = "too many request" in message.lower()
    retry = code in RETRIED or too_many or status >= 500
    fix = FIXES.get(code, "") if isinstance(code, int) else ""
    if too_many:
        fix = FIXES[11232]
    return base.Verdict(f"code {code} ({message})" + (f": {fix}" if fix else ""), retry=retry)
