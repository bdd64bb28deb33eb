"""What the channels' settings classes share: their common keys' declarations, the chat robots' URL
check, and the pieces of check-config's line. Each channel's own class is in its module."""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

from monitor import checks
from monitor import schema as s
from monitor.checks import nonempty, rule
from monitor.redact import mask_url
from monitor.schema import Reader, Settings, Where, setting

PLAIN = setting(checks.string, secret=False)
HOOK = setting(checks.url, secret="url")  # a webhook URL: its path and query are secret
SECRET = setting(checks.string, secret=True)


def mentions(allowed: str, pattern: str, words: tuple[str, ...] = ("all",)) -> dict[str, s.Setting]:
    """``mention_on_alert``: a list of ``words`` and of names shaped like ``pattern``."""

    def wrong(items: tuple[str, ...]) -> list[str]:
        return [item for item in items if item not in words and not re.fullmatch(pattern, item)]

    return setting(rule(checks.string_list, lambda items: not wrong(items), lambda items: f"{wrong(items)[0]!r} is not "
                                                                                      f"{allowed}"), secret=False)


def shaped(pattern: str, reason: str, check: checks.Check = nonempty) -> checks.Check:
    return rule(check, lambda text: re.fullmatch(pattern, text), reason)


class Robot(Settings):
    """A chat robot whose webhook URL carries its token as a query parameter, named ``query_key``."""

    query_key: ClassVar[str]

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        made = super().checked(r, path, values, raw)
        if made and f"{cls.query_key}=" not in urlsplit(made.webhook_url).query:
            r.problem((*path, "webhook_url"), f"has no {cls.query_key}=… in it: copy the robot's whole webhook URL")
            return None
        return made


def described(where: str, extras: list[str]) -> str:
    """check-config's line for a channel: where it posts (every secret masked), then what else it does."""
    return where + (f" ({', '.join(extras)})" if extras else "")


def robot(webhook_url: str, mentioned: tuple[str, ...] | list[str], secret: str = "", keyword: str = "") -> str:
    """check-config's line for a chat robot: its masked webhook; signed, its keyword, whom it mentions."""
    extras = (["signed"] if secret else []) + ([f"keyword {keyword!r}"] if keyword else [])
    return described(mask_url(webhook_url), extras + (["mentions " + ", ".join(mentioned)] if mentioned else []))
