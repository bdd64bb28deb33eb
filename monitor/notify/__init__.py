"""Where reports go. Each channel is a module that knows its service and nothing about providers.

Adding a channel is one module and one line in the table below. The module holds its settings class
(each key declared on its field, cross-field rules in its ``checked``) named by ``SETTINGS``, the
``describe(settings)`` line of check-config, test-notify's ``WHERE_TO_LOOK``, and a ``Channel`` class (see
``base.Channel``) that renders within the service's limits; the loader finds the settings through this table.
"""

from __future__ import annotations

import importlib
import time

# cli's --help lists the channels from the table below: at import, this module loads nothing else.
# mypy reads this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType

    from monitor.notify.base import Channel, Result
    from monitor.notify.message import Message
    from monitor.redact import Redactor
    from monitor.schema import Settings
    from monitor.settings import ChannelEntry

CHANNELS: dict[str, str] = {
    "feishu": "monitor.notify.feishu",
    "dingtalk": "monitor.notify.dingtalk",
    "wecom": "monitor.notify.wecom",
    "slack": "monitor.notify.slack",
    "telegram": "monitor.notify.telegram",
    "email": "monitor.notify.email",
    "webhook": "monitor.notify.webhook",
}


def module(kind: str) -> ModuleType:
    return importlib.import_module(CHANNELS[kind])


def settings_class(kind: str) -> type[Settings]:
    """The settings class of a channel (its config section's keys, their checks and its ``checked``)."""
    found: type[Settings] = module(kind).SETTINGS
    return found


def describe(settings: Settings) -> str:
    """check-config's line for a channel: where it posts, every secret masked."""
    line: str = module(settings.kind).describe(settings)
    return line


def where_to_look(kind: str) -> str:
    """test-notify's hint after a delivery: where a person sees the sample report (``WHERE_TO_LOOK``)."""
    found: str = module(kind).WHERE_TO_LOOK
    return found


def channel(entry: ChannelEntry, redactor: Redactor, clock: Callable[[], float] = time.time,
            sleep: Callable[[float], None] = time.sleep) -> Channel[object]:
    made: Channel[object] = module(entry.settings.kind).Channel(entry.settings, entry.label, redactor, clock, sleep)
    return made


def deliver_all(entries: Sequence[ChannelEntry], message: Message, redactor: Redactor,
                clock: Callable[[], float] = time.time,
                sleep: Callable[[float], None] = time.sleep) -> list[Result]:
    """Send ``message`` to every channel at once; one result per channel, in config order.

    Channels run side by side so that one channel's pause (a rate limit, a slow mail server) does
    not hold up the others; a channel that fails or breaks never stops the rest.
    """
    from concurrent.futures import ThreadPoolExecutor

    from monitor.notify.base import Result

    def one(entry: ChannelEntry) -> Result:
        try:
            return channel(entry, redactor, clock, sleep).deliver(message)
        except Exception as exc:  # deliver() catches remote failures; this is a bug, kept to this channel
            return Result(entry.label, False, 0, redactor(f"internal error: {type(exc).__name__}: {exc}"))

    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=len(entries), thread_name_prefix="notify") as pool:
        return list(pool.map(one, entries))
