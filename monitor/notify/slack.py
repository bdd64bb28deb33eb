"""Slack incoming webhook: Block Kit with a ``text`` fallback, within 50 blocks and 3000 characters a section."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from monitor.http import Response
from monitor.notify import base, fields
from monitor.notify.message import Message, Part, split
from monitor.schema import Settings


@dataclass(frozen=True)
class SlackSettings(Settings):
    webhook_url: str = field(metadata=fields.HOOK)
    mention_on_alert: tuple[str, ...] = field(default=(), metadata=fields.mentions(
        "channel, here, everyone or a member id (U…)", r"[UW][A-Z0-9]{2,}", ("channel", "here", "everyone")))
    kind: ClassVar[str] = "slack"


SETTINGS = SlackSettings
WHERE_TO_LOOK = "check the channel"  # test-notify's hint: where a person sees the sample report


def describe(settings: SlackSettings) -> str:
    return fields.robot(settings.webhook_url, settings.mention_on_alert)

MAX_BLOCKS = 50
SECTION_LIMIT = 3000  # characters of a section's text
HEADER_LIMIT = 150  # characters of a header block's plain text
LINE_LIMIT = 2000

FIXES: dict[str, str] = {
    "invalid_payload": "Slack could not read the message (please report this as a bug)",
    "no_text": "Slack found no text in the message (please report this as a bug)",
    "action_prohibited": "a Slack admin restricts posting to this channel; ask them, or pick another channel",
    "channel_not_found": "the webhook's channel is gone; create a new webhook and put it in SLACK_WEBHOOK_URL",
    "no_service": "the webhook was removed or revoked; create a new one and put it in SLACK_WEBHOOK_URL",
    "no_team": "the workspace of the webhook is gone; create a new webhook",
    "channel_is_archived": "the channel is archived: unarchive it, or create a webhook for another channel",
    "rollup_error": "Slack had an internal error",
}


ZWSP = "\u200b"  # zero-width space
_INERT = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\n"): " ", ord("\r"): " ",
          ord("@"): "@\u2060"} | {ord(c): f"{ZWSP}{c}{ZWSP}" for c in "*_~`"}


def escape(text: str) -> str:
    """A message's text as mrkdwn shows it, inert: no bold, italics, strike, code, link or mention.

    ``&``, ``<`` and ``>`` are the escapes Slack documents: with them no ``<@U1>``, ``<!channel>`` or
    ``<url|text>`` survives. mrkdwn has no escape for ``*``, ``_``, ``~`` and `````: Slack formats them only
    where they stand at a word boundary (``2*3*4`` stays as written), so each gets a zero-width space on
    both sides. Whether Slack reads that space as a letter (then the mark is inside a word) or as a
    space (then the mark has space on both sides, which can neither open nor close), the mark formats
    nothing. (Slack does not document this; it is the common workaround, and the reading above is
    why it holds.) Sections holding this text are ``verbatim``, so bare URLs, ``#channel`` and ``@here``
    are not turned into links or mentions either; a word joiner after ``@`` keeps ``@here`` plain in
    the notification text too, which has no ``verbatim``.
    """
    return text.translate(_INERT)


def mention_text(mentions: tuple[str, ...]) -> str:
    return " ".join(f"<!{m}>" if m in ("channel", "here", "everyone") else f"<@{m}>" for m in mentions)


def _section(text: str, verbatim: bool = True) -> dict[str, Any]:
    """A mrkdwn section; ``verbatim`` (the default) keeps Slack from linking URLs and names inside it."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": verbatim}}


def _short(text: str, limit: int = LINE_LIMIT) -> str:
    # Only a freak line is this long; split() cuts between lines, so one line must fit a section.
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` escaped, shortened (before escaping, so no escape is cut in two) to ``limit`` characters."""
    shown = escape(text)
    while len(shown) > limit:
        # A character escapes to at most 3: dropping a third of the excess never drops too much.
        text = text[: len(text) - max((len(shown) - limit) // 3, 1)]
        shown = escape(text) + "…"
    return shown


def blocks(part: Part, mentions: tuple[str, ...]) -> dict[str, Any]:
    title = _short(part.title, HEADER_LIMIT)
    found: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}]
    shout = mention_text(mentions) if part.mention and mentions else ""
    if shout:
        found.append(_section(shout, verbatim=False))  # the configured mentions: the only live ones
    for section in part.sections:
        head = [f"*{_shown(section.heading, 200)}*"] if section.heading else []
        found.append(_section("\n".join([*head, *(_shown(line) for line in section.lines)])))
    if part.footer:
        found.append({"type": "divider"})
        found.append(_section("\n".join(_shown(line) for line in part.footer)))
    # The fallback is what notifications and old clients show; mentions there wake people too.
    return {"text": f"{shout} {escape(part.title)}".strip(), "blocks": found}


def fits(payload: dict[str, Any]) -> bool:
    return len(payload["blocks"]) <= MAX_BLOCKS and all(
        len(b["text"]["text"]) <= SECTION_LIMIT for b in payload["blocks"] if b["type"] == "section")


class Channel(base.Channel[SlackSettings]):
    kind = "slack"
    gap = 1.0  # about one message a second per webhook

    def render(self, message: Message) -> list[Any]:
        return split(message, lambda part: blocks(part, self.settings.mention_on_alert), fits)

    def attempt(self, part: Any) -> base.Verdict:
        return self.exchange(self.settings.webhook_url, base.encode(part), interpret)


def interpret(answer: Response) -> base.Verdict:
    if answer.status == 200:
        return base.DELIVERED
    reason = answer.text(100)
    fix = FIXES.get(reason, "")
    if answer.status == 429:
        fix = "Slack is rate limiting this webhook (about 1 message a second)"
        return base.Verdict(f"HTTP 429 ({reason}): {fix}", retry=True, wait=base.retry_after(answer.headers))
    if not fix:
        fix = {403: "Slack forbids this post", 404: "the webhook URL is unknown to Slack: check SLACK_WEBHOOK_URL",
               410: "the webhook's channel is gone or archived"}.get(answer.status, "")
    return base.Verdict(f"HTTP {answer.status} ({reason or 'no reason given'})" + (f": {fix}" if fix else ""),
                        retry=answer.status >= 500)
