"""Untrusted text made inert: it shows as written and never formats, links or mentions.

Text from outside the config's own wording (account names, notes, providers' and relays' error texts)
reaches every channel. Every string in a ``Message`` is plain text, never markup: each channel passes
every one of them through its own ``escape`` (built from the helpers here) and adds its own markup (a
bold heading, a colour, the configured mentions) around the result. So our formatting stays, and a
relay answering ``<at id=all></at>`` or ``[log in](https://evil.example)`` wakes nobody and links
nowhere.
"""

from __future__ import annotations

import re

_MARKDOWN = {ord(c): f"&#{ord(c)};" for c in "*_~`[]#@\\"} | {
    ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\n"): " ", ord("\r"): " "}
# At the start of a line: "- x", "+ x", "1. x", "2) x" open a list; "---" and "===" underline a heading.
_LIST_MARK = re.compile(r"^([ \t]*)(\d{1,9}(?=[.)](?:[ \t]|$))|)([-+=.)])")


def markdown_inert(text: str) -> str:
    """Plain text for a chat's markdown (Feishu's lark_md, DingTalk, WeCom).

    Every character that could open emphasis, code, a link or an image, a heading, a tag or a mention
    (``<at …>``, ``<@…>``, ``@all``) becomes an HTML character reference, which markdown renderers show
    as the character and never read as syntax (CommonMark: "entity and numeric character references
    cannot be used in place of symbols indicating structure"). Line breaks become spaces, so the text
    cannot start a heading, a list or a quote of its own; a list mark at its start (where a channel puts
    a line) is escaped too. A client that showed a reference undecoded would look odd, but the text
    would still do nothing.
    """
    return _LIST_MARK.sub(lambda m: f"{m[1]}{m[2]}&#{ord(m[3])};", text.translate(_MARKDOWN), count=1)
