"""DingTalk custom robot (自定义机器人): signed markdown, the keyword, mentions, ``errcode`` 0, 20 a minute."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote_plus

from monitor.http import Response
from monitor.notify import base, fields
from monitor.notify.inert import markdown_inert
from monitor.notify.message import Message, Part, split
from monitor.report.words import WORDS
from monitor.schema import Reader, Where


@dataclass(frozen=True)
class DingTalkSettings(fields.Robot):
    webhook_url: str = field(metadata=fields.HOOK)  # https://oapi.dingtalk.com/robot/send?access_token=...
    secret: str = field(default="", metadata=fields.SECRET)  # 加签 (SEC...)
    keyword: str = field(default="", metadata=fields.PLAIN)
    mention_on_alert: tuple[str, ...] = field(default=(), metadata=fields.mentions("all or a mobile number",
                                                                                    r"\+?[0-9][0-9-]{4,19}"))
    kind: ClassVar[str] = "dingtalk"
    query_key: ClassVar[str] = "access_token"

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        made = super().checked(r, path, values, raw)
        if made and made.secret and not made.secret.startswith("SEC"):
            r.warn((*path, "secret"), "DingTalk's 加签 secrets start with SEC; is this the right value?")
        return made


SETTINGS = DingTalkSettings
WHERE_TO_LOOK = "check the group"  # test-notify's hint: where a person sees the sample report


def describe(settings: DingTalkSettings) -> str:
    # Mobile numbers are personal data: shown as the last four digits only.
    shown = [m if m == "all" else f"…{m[-4:]}" for m in settings.mention_on_alert]
    return fields.robot(settings.webhook_url, shown, settings.secret, settings.keyword)

BODY_LIMIT = 20_000  # bytes of the encoded body: DingTalk documents no markdown limit; this is a safe bound

FIXES: dict[int, str] = {
    300001: "the access_token is invalid: the robot was removed or its webhook regenerated; "
    "copy the current webhook URL into DINGTALK_WEBHOOK_URL",
    130101: "the robot sends more than 20 messages a minute and is blocked for 10 minutes; "
    "make sure nothing else posts through the same robot at the same time",
    40035: "DingTalk found a parameter missing (is the whole webhook URL, with access_token=, configured?)",
}


def sign(timestamp_ms: int | str, secret: str) -> str:
    """DingTalk's 加签: base64 of HMAC-SHA256 keyed by the secret over ``"{timestamp}\\n{secret}"``.

    Unlike Feishu the key is the secret and the string is the message; the result still needs
    URL-encoding before it goes into the query.
    """
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(url: str, secret: str, now: float) -> str:
    if not secret:
        return url
    timestamp = str(int(now * 1000))  # milliseconds, unlike Feishu's seconds
    return f"{url}&timestamp={timestamp}&sign={quote_plus(sign(timestamp, secret))}"


def fits(payload: dict[str, Any]) -> bool:
    return len(base.encode(payload)) <= BODY_LIMIT


def escape(text: str) -> str:
    """A message's text as DingTalk's markdown shows it, inert: no emphasis, link, tag or ``@`` of its own.

    (A mention in DingTalk needs the ``at`` field as well; escaping ``@`` keeps the text honest anyway.)
    """
    return markdown_inert(text)


def markdown(part: Part, mobiles: list[str], keyword: str) -> dict[str, Any]:
    paragraphs = [f"### {escape(part.title)}"]
    if mobiles:
        paragraphs.append(" ".join(f"@{m}" for m in mobiles))  # DingTalk wants them in the text too
    for section in part.sections:
        head = [f"**{escape(section.heading)}**"] if section.heading else []
        paragraphs.append("\n\n".join([*head, *(escape(line) for line in section.lines)]))
    if part.footer:
        paragraphs.append("\n\n".join(escape(line) for line in part.footer))
    text = "\n\n".join(paragraphs)
    if keyword and keyword not in text:
        text += "\n\n" + WORDS[part.message.language]["keyword"].format(keyword=keyword)  # else 310000
    return {"msgtype": "markdown", "markdown": {"title": part.title, "text": text}}


class Channel(base.Channel[DingTalkSettings]):
    kind = "dingtalk"
    per_minute = 20  # per robot; over it the robot is blocked for 10 minutes

    def render(self, message: Message) -> list[Any]:
        return split(message, self._payload, fits)

    def _payload(self, part: Part) -> dict[str, Any]:
        wanted = self.settings.mention_on_alert if part.mention else ()
        mobiles = [m for m in wanted if m != "all"]
        payload = markdown(part, mobiles, self.settings.keyword)
        if wanted:
            payload["at"] = {"atMobiles": mobiles, "isAtAll": "all" in wanted}
        return payload

    def attempt(self, part: Any) -> base.Verdict:
        # A fresh timestamp and signature every attempt: DingTalk refuses one older than an hour.
        return self.exchange(signed_url(self.settings.webhook_url, self.settings.secret, self.clock()),
                             base.encode(part), interpret)


def interpret(answer: Response) -> base.Verdict:
    found = base.errcode(answer, FIXES)
    if isinstance(found, base.Verdict):
        return found
    if found.code == 310000:  # which of the robot's security settings refused it: the message says
        found = base.Refusal(found.code, found.message, _security_fix(found.message))
    return base.Verdict(found.text())


def _security_fix(message: str) -> str:
    """310000 covers all three security settings; the ``errmsg`` says which one refused."""
    lower = message.lower()
    if "sign" in lower or "timestamp" in lower:
        return ("the signature was refused: set dingtalk.secret (DINGTALK_SECRET) to the robot's 加签 secret "
                "(it starts with SEC), and check this machine's clock (DingTalk allows 1 hour of difference)")
    if "keyword" in lower:
        return "the message lacks the robot's keyword: set dingtalk.keyword to one of the robot's 自定义关键词"
    if "ip" in lower:
        return "this machine's IP address is not in the robot's IP 地址（段）list: add it, or use 加签 instead"
    return "the robot's security settings (加签, keyword or IP list) refused the message"
