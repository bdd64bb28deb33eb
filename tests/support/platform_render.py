"""What a reader of each chat would see in a message: its text, and what in it is live.

A deliberately small model of each platform's renderer, enough to tell inert text from text that
formats, links or mentions:

- chat markdown (Feishu's lark_md, DingTalk, WeCom): backslash escapes and HTML character references
  are literal characters, never syntax (CommonMark); ``**b**``, ``*i*``, ``_i_``, ``~~s~~``, ``code``,
  ``[text](url)``, ``<url>``, HTML tags, and each platform's mention syntax are live;
- Slack mrkdwn: only ``&amp;``, ``&lt;``, ``&gt;`` are decoded; ``<@U…>``, ``<!channel>`` and
  ``<url|text>`` are live, and ``*b*``, ``_i_``, ``~s~``, ```c``` format only at word boundaries; a
  section that is not ``verbatim`` also links bare URLs and reads ``@here``, ``@channel``,
  ``@everyone``; a message's ``text`` beside blocks is the notification: only its mentions count;
- Telegram HTML: the tags Telegram knows, and ``@username`` (5 to 32 characters) as a mention.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

# The text of the issue: an account name and a relay's error text that try every trick.
EVIL = "*x* _y_ <b>z</b> [l](http://h) <@U1> <!channel> @all `c`"
INVISIBLE = "\u200b\u2060"  # zero-width space, word joiner

_PRIVATE = 0xF0000  # a literal character is moved here, where no syntax pattern can match it


@dataclass
class Seen:
    text: str = ""  # what the reader sees: references decoded, invisible characters dropped
    bold: list[str] = field(default_factory=list)
    other_styles: list[str] = field(default_factory=list)  # italic, strike, code, unknown tags
    links: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)

    def add(self, other: Seen) -> Seen:
        return Seen("\n".join(t for t in (self.text, other.text) if t), self.bold + other.bold,
                    self.other_styles + other.other_styles, self.links + other.links,
                    self.mentions + other.mentions)


def _literal(c: str) -> str:
    return "".join(chr(_PRIVATE + ord(x)) if ord(x) < 0x10000 else x for x in c)


def _shown(view: str) -> str:
    out = "".join(chr(ord(c) - _PRIVATE) if _PRIVATE <= ord(c) < _PRIVATE + 0x10000 else c for c in view)
    return "".join(c for c in out if c not in INVISIBLE)


_REFERENCE = re.compile(r"&(#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);")
_BACKSLASH = re.compile(r"\\([!-/:-@\[-`{-~])")


def _markdown_view(text: str) -> str:
    view = _BACKSLASH.sub(lambda m: _literal(m[1]), text)
    return _REFERENCE.sub(lambda m: _literal(html.unescape(m[0])), view)


def markdown(text: str, mention: str) -> Seen:
    """Chat markdown; ``mention`` is the platform's mention syntax as a pattern with one group."""
    view = _markdown_view(text)
    seen = Seen(_shown(view))
    seen.mentions += re.findall(mention, view)
    seen.links += re.findall(r"\[[^\]]*\]\(([^)\s]*)\)", view) + re.findall(r"<(https?://[^>\s]+)>", view)
    seen.links += re.findall(r"<a\s[^>]*href=\"?([^\"\s>]+)", view)
    seen.bold += [_shown(b) for b in re.findall(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", view)]
    seen.bold += [_shown(b) for b in re.findall(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)", view)]
    rest = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"\1", view)
    seen.other_styles += re.findall(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)", rest)
    seen.other_styles += re.findall(r"(?<![_\w])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![_\w])", rest)
    seen.other_styles += re.findall(r"~~(.+?)~~", view) + re.findall(r"`([^`]+)`", view)
    seen.other_styles += [f"<{t}>" for t in re.findall(r"</?([a-zA-Z][\w-]*)(?:\s[^>]*)?>", view)
                          if t.lower() not in ("at", "font", "a")]
    return seen


def feishu(text: str) -> Seen:
    return markdown(text, r"<at\s+(?:id|user_id)=\"?([^\s\">]+)\"?\s*>")


def dingtalk(text: str) -> Seen:
    # DingTalk shows "@<mobile>" in the text (live when the "at" field names it) and "@all".
    return markdown(text, r"(?<![\w@])@(\w+)")


def wecom(text: str) -> Seen:
    return markdown(text, r"<@([^>\s]+)>")


_SLACK_REFERENCES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_OPENS = r"(?<![^\s(\[{\"'])"  # start of text, or after a space or an opening bracket or quote
_CLOSES = r"(?![^\s.,!?:;)\]}\"'])"  # end of text, or before a space or punctuation


def slack(text: str, verbatim: bool) -> Seen:
    view = re.sub(r"&(amp|lt|gt);", lambda m: _literal(_SLACK_REFERENCES[m[0]]), text)
    seen = Seen(_shown(view))
    seen.mentions += re.findall(r"<@(\w+)(?:\|[^>]*)?>", view) + re.findall(r"<!(\w+)(?:\|[^>]*)?>", view)
    seen.links += re.findall(r"<((?:https?|mailto):[^>|]+)(?:\|[^>]*)?>", view)
    if not verbatim:
        seen.links += re.findall(r"(?<![<|])\bhttps?://[^\s>|]+", view)
        seen.mentions += re.findall(r"(?<![\w<!@])@(here|channel|everyone)\b", view)
    for mark, into in (("*", seen.bold), ("_", seen.other_styles), ("~", seen.other_styles),
                       ("`", seen.other_styles)):
        m = re.escape(mark)
        into += [_shown(s) for s in re.findall(rf"{_OPENS}{m}(?=[^\s{m}])(.+?)(?<=[^\s{m}]){m}{_CLOSES}", view)]
    return seen


def slack_notification(text: str) -> Seen:
    """The ``text`` beside blocks: what a phone or desktop notification shows; its mentions wake people."""
    found = slack(text, verbatim=False)
    return Seen(found.text, mentions=found.mentions)


def slack_message(payload: dict[str, object]) -> Seen:
    seen = slack_notification(str(payload["text"]))
    for block in payload["blocks"]:  # type: ignore[attr-defined]
        if block["type"] == "section":
            t = block["text"]
            seen = seen.add(slack(t["text"], bool(t.get("verbatim"))) if t["type"] == "mrkdwn" else Seen(t["text"]))
        elif block["type"] == "header":
            seen = seen.add(Seen(block["text"]["text"]))
    return seen


_TELEGRAM_TAG = re.compile(r"<(/?)(b|strong|i|em|u|ins|s|strike|del|code|pre|a|tg-spoiler)(\s[^>]*)?>")


def telegram(text: str) -> Seen:
    seen = Seen()
    seen.links += re.findall(r"<a\s+href=\"([^\"]*)\"", text)
    stack: list[tuple[str, int]] = []
    plain = ""
    pos = 0
    for m in _TELEGRAM_TAG.finditer(text):
        plain += html.unescape(text[pos:m.start()])
        pos = m.end()
        if not m[1]:
            stack.append((m[2], len(plain)))
        elif stack:
            tag, start = stack.pop()
            (seen.bold if tag in ("b", "strong") else seen.other_styles).append(plain[start:])
    plain += html.unescape(text[pos:])
    seen.mentions += re.findall(r"(?<![\w@])@([A-Za-z]\w{4,31})", plain)
    seen.text = "".join(c for c in plain if c not in INVISIBLE)
    seen.bold = ["".join(c for c in b if c not in INVISIBLE) for b in seen.bold]
    return seen
