"""WeCom group robot (企业微信群机器人): markdown within 4096 bytes, mentions, ``errcode`` 0, 45009 retried."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from monitor.http import Response
from monitor.notify import base, fields
from monitor.notify.inert import markdown_inert
from monitor.notify.message import Message, Part, split


@dataclass(frozen=True)
class WeComSettings(fields.Robot):
    webhook_url: str = field(metadata=fields.HOOK)  # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...
    mention_on_alert: tuple[str, ...] = field(default=(), metadata=fields.mentions("all or a WeCom user id",
                                                                                    r"[A-Za-z0-9_.@-]+"))
    kind: ClassVar[str] = "wecom"
    query_key: ClassVar[str] = "key"


SETTINGS = WeComSettings
WHERE_TO_LOOK = "check the group"  # test-notify's hint: where a person sees the sample report


def describe(settings: WeComSettings) -> str:
    return fields.robot(settings.webhook_url, settings.mention_on_alert)

CONTENT_LIMIT = 4096  # bytes of UTF-8 in markdown.content
RATE_PAUSE = 20.0  # seconds before retrying 45009: the robot's budget is 20 messages a minute

FIXES: dict[int, str] = {
    93000: "the webhook key is invalid: the robot was removed or its key regenerated; "
    "check the key and copy the current webhook URL into WECOM_WEBHOOK_URL",
    45009: "the robot is over WeCom's 20 messages a minute; make sure nothing else posts through it at the same time",
    40008: "WeCom refused the message type (please report this as a bug)",
    44004: "WeCom found the message empty (please report this as a bug)",
}


def content_fits(payload: dict[str, Any]) -> bool:
    if payload["msgtype"] != "markdown":
        return True
    return len(payload["markdown"]["content"].encode("utf-8")) <= CONTENT_LIMIT


def escape(text: str) -> str:
    """A message's text as WeCom's markdown shows it, inert: no bold, link, code, ``<font>`` or ``<@user>``."""
    return markdown_inert(text)


def _line(text: str) -> str:
    # A warning stands out in WeCom's own colour ("warning" is orange-red).
    shown = escape(text)
    return f'<font color="warning">{shown}</font>' if text.startswith(("⚠️", "❌")) else shown


def markdown(part: Part, users: list[str]) -> dict[str, Any]:
    blocks = [f"**{escape(part.title)}**"]
    if users:
        blocks.append(" ".join(f"<@{u}>" for u in users))
    for section in part.sections:
        head = [f"**{_line(section.heading)}**"] if section.heading else []
        blocks.append("\n".join([*head, *(_line(line) for line in section.lines)]))
    if part.footer:
        blocks.append("\n".join(f'<font color="comment">{escape(line)}</font>' for line in part.footer))
    return {"msgtype": "markdown", "markdown": {"content": "\n\n".join(blocks)}}


class Channel(base.Channel[WeComSettings]):
    kind = "wecom"
    per_minute = 20

    def render(self, message: Message) -> list[Any]:
        parts = split(message, self._payload, content_fits)
        if message.mention and "all" in self.settings.mention_on_alert:
            # markdown cannot @all; a short text message after the report can.
            # A text message shows references as written: a word joiner after "<" is enough to keep an
            # alert title's account name from reading as "<@user>".
            title = message.title.replace("<", "<\u2060")
            parts.append({"msgtype": "text", "text": {"content": title, "mentioned_list": ["@all"]}})
        return parts

    def _payload(self, part: Part) -> dict[str, Any]:
        users = [u for u in self.settings.mention_on_alert if u != "all"] if part.mention else []
        return markdown(part, users)

    def attempt(self, part: Any) -> base.Verdict:
        return self.exchange(self.settings.webhook_url, base.encode(part), interpret)


def interpret(answer: Response) -> base.Verdict:
    found = base.errcode(answer, FIXES)
    if isinstance(found, base.Verdict):
        return found
    if found.code == 45009:  # over 20 a minute: wait, then try again
        return base.Verdict(found.text(), retry=True, wait=RATE_PAUSE)
    return base.Verdict(found.text())
