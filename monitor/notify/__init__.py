"""Where reports go. Each channel is a module that knows its service and nothing about providers.

Adding a channel is one module with a ``Channel`` class (see ``base.Channel``), a line in the
table below, its settings and keys in ``config.py``, and a loopback server in the tests.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.notify.base import Channel, Result
    from monitor.notify.message import Message
    from monitor.redact import Redactor
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


def channel(entry: ChannelEntry, redactor: Redactor, clock: Callable[[], float] = time.time,
            sleep: Callable[[float], None] = time.sleep) -> Channel[object]:
    module = importlib.import_module(CHANNELS[entry.settings.kind])
    made: Channel[object] = module.Channel(entry.settings, entry.label, redactor, clock, sleep)
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
