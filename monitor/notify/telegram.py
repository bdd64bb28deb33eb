"""Telegram Bot API: HTML ``sendMessage``, escaped, split at 4096 characters, 429 ``retry_after`` honoured."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from monitor import checks
from monitor.http import Response
from monitor.notify import base, fields
from monitor.notify.message import Message, Part, split
from monitor.redact import cut, mask
from monitor.schema import Settings, setting

_BOT_TOKEN = fields.shaped(r"\d+:[A-Za-z0-9_-]+", "must be the token @BotFather gave, shaped 123456789:AA… "
                           "(digits, a colon, letters)")
# A chat id written unquoted is read as a number.
_CHAT_ID = fields.shaped(r"-?\d+|@\w{4,}", "must be a chat's number (e.g. \"-1001234567890\", quoted) or a "
                         "channel's @name", lambda value: checks.nonempty(str(value) if type(value) is int else value))


@dataclass(frozen=True)
class TelegramSettings(Settings):
    bot_token: str = field(metadata=setting(_BOT_TOKEN, secret=True))
    chat_id: str = field(metadata=setting(_CHAT_ID, secret=False))
    api_url: str = field(default="https://api.telegram.org", metadata=setting(checks.url, secret="endpoint"))
    kind: ClassVar[str] = "telegram"

    def secrets(self) -> list[str]:
        return [*super().secrets(), f"bot{self.bot_token}"]  # as it stands in the API's path


SETTINGS = TelegramSettings
WHERE_TO_LOOK = "check the chat"  # test-notify's hint: where a person sees the sample report


def describe(settings: TelegramSettings) -> str:
    return f"{settings.api_url}/bot{mask(settings.bot_token)}, chat {settings.chat_id}"

TEXT_LIMIT = 4096  # characters after entities are parsed; Telegram counts them in UTF-16 code units

FIXES: dict[int, str] = {
    400: "check telegram.chat_id (a group's id starts with -100; the bot must be a member of the chat)",
    401: "the bot token is invalid: copy it again from @BotFather into TELEGRAM_BOT_TOKEN",
    403: "the bot cannot post to this chat (kicked, blocked, or not an admin of the channel): add it back",
    404: "the API answered 404: check telegram.api_url and the bot token",
}
_TAG = re.compile(r"<[^>]+>")


def visible_length(text: str) -> int:
    """The length Telegram checks: the text without its HTML tags, entities decoded, in UTF-16 units."""
    return len(html.unescape(_TAG.sub("", text)).encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """A message's text as Telegram's HTML shows it, inert: no tag, and no ``@username`` mention.

    Telegram turns ``@username`` in any text into a mention that notifies that user; a word joiner
    after the ``@`` (invisible) keeps it plain text.
    """
    return html.escape(text, quote=False).replace("@", "@\u2060")


def text_of(part: Part) -> str:
    e = escape
    blocks = [f"<b>{e(part.title)}</b>"]
    for section in part.sections:
        head = [f"<b>{e(section.heading)}</b>"] if section.heading else []
        blocks.append("\n".join([*head, *(e(line) for line in section.lines)]))
    if part.footer:
        blocks.append("<i>" + "\n".join(e(line) for line in part.footer) + "</i>")
    return "\n\n".join(blocks)


def fits(text: str) -> bool:
    return visible_length(text) <= TEXT_LIMIT


class Channel(base.Channel[TelegramSettings]):
    kind = "telegram"
    gap = 1.0  # about one message a second per chat

    def render(self, message: Message) -> list[Any]:
        parts: list[Any] = split(message, text_of, fits)
        return parts

    def attempt(self, part: Any) -> base.Verdict:
        s = self.settings
        body = {"chat_id": s.chat_id, "text": part, "parse_mode": "HTML", "disable_web_page_preview": True}
        # The token is in the path: the URL is never logged, and the redactor knows the token.
        return self.exchange(f"{s.api_url}/bot{s.bot_token}/sendMessage", base.encode(body), interpret)


def interpret(answer: Response) -> base.Verdict:
    body = answer.json()
    if not isinstance(body, dict):
        retry = answer.status >= 500 or answer.status == 429
        return base.Verdict(f"HTTP {answer.status}: an answer that is not Telegram's JSON", retry=retry)
    if body.get("ok") is True and 200 <= answer.status < 300:
        return base.DELIVERED
    code = body.get("error_code", answer.status)
    description = cut(str(body.get("description") or ""), 200)
    error = f"error {code} ({description})"
    if code == 429:
        parameters = body.get("parameters")
        wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
        seconds = float(wait) if isinstance(wait, (int, float)) and not isinstance(wait, bool) else 1.0
        return base.Verdict(f"{error}: Telegram is rate limiting the bot", retry=True, wait=seconds)
    fix = FIXES.get(code, "") if isinstance(code, int) else ""
    retry = isinstance(code, int) and code >= 500
    return base.Verdict(error + (f": {fix}" if fix else ""), retry=retry)
