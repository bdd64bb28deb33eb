"""Keep keys, webhook tokens and passwords out of every line we print, log or save."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlsplit

_MIN_SECRET = 4  # shorter values are too common to scrub without mangling ordinary text
_MIN_CUT = 6  # a secret cut short by a shortened message ("sk-M41nK3…") is masked from this length
CUT = "…"  # what shortened messages end with
PLACEHOLDERS = ("{code}", "{status}")  # filled in by the heartbeat: not part of the secret
# A path segment that is an ordinary word (``open-apis``, ``hook``, ``cgi-bin``) tells nothing and is
# left readable in logs; anything else in the path of a secret URL (a token, a UUID) is scrubbed.
_PLAIN_WORD = re.compile(r"[a-z]+(?:[-_.][a-z]+)*")


def mask(secret: str) -> str:
    """A recognisable but useless form of a secret: ``sk-ab…yz``; a URL keeps only its scheme and host."""
    if is_url(secret):
        return mask_url(secret)
    if len(secret) <= 10:
        return CUT
    return f"{secret[:5]}{CUT}{secret[-2:]}"


def fingerprint(secret: str) -> str:
    """A short, stable hash that tells keys apart without revealing them."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def is_url(text: str) -> bool:
    split = urlsplit(text.strip())
    return split.scheme in ("http", "https") and bool(split.netloc)


def mask_url(url: str) -> str:
    """A secret URL as people may see it: scheme and host only (``https://open.feishu.cn/…``).

    The path and the query are hidden whole: a Healthchecks UUID, a Slack ``T…/B…/…`` path, a bot
    token or a ``?key=`` are all secret, and a sure rule beats guessing which segment is the token.
    Text that is not an http(s) URL shows nothing at all.
    """
    split = urlsplit(url.strip())
    if not is_url(url):
        return CUT
    host = split.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    try:
        port = split.port
    except ValueError:
        port = None
    shown = f"{split.scheme}://{host}" + (f":{port}" if port is not None else "")
    hidden = split.path.strip("/") or split.query or split.fragment
    return f"{shown}/{CUT}" if hidden else shown


def url_secrets(url: str, path_is_secret: bool = True) -> list[str]:
    """The parts of a secret URL to scrub wherever they turn up: the URL itself, each path segment
    that may be a token, each value of its query, and a password in it.

    ``path_is_secret=False`` for a relay's ``base_url``, whose path is an ordinary ``/v1`` but whose
    query may carry the key (``?key=…``).
    """
    split = urlsplit(url.strip())
    # Whole when it is a URL, or a bare token; a URL that lacks its scheme by mistake is scrubbed by its parts.
    whole = path_is_secret and (is_url(url) or "/" not in url.strip())
    found = [url.strip()] if whole else []
    if split.password:
        found.append(split.password)
    if split.username and split.password is None:
        found.append(split.username)  # https://TOKEN@host/: the token is in the user part
    if path_is_secret:
        for segment in split.path.split("/"):
            for placeholder in PLACEHOLDERS:
                segment = segment.replace(placeholder, "")
            if segment and not _PLAIN_WORD.fullmatch(segment):
                found.append(segment)
    # The values, not "key=value": "access_token=" is no secret, and a message may say it (…=… in it).
    found += [value for _, value in parse_qsl(split.query, keep_blank_values=True) if value]
    if split.fragment and path_is_secret:
        found.append(split.fragment)
    return [s for s in found if len(s) >= _MIN_SECRET]


def key_variants(key: str) -> list[str]:
    """A key and the forms a relay may echo it in: without its ``sk-`` prefix (one-api strips it)."""
    found = [key]
    if key.startswith("sk-") and len(key) > 16:
        found.append(key[3:])
    return found


SECRET_HEADER = re.compile(r"auth|token|key|secret|cookie|session|passw|sign", re.I)  # a credential header's name
_AUTH_SCHEMES = re.compile(r"\b(?:bearer|basic|token|digest)\b|\{api_key\}", re.I)


def secret_parts(kind: str | None, text: str) -> list[str]:
    """The secrets inside ``text``, a value of that kind (as a setting declares it, see ``schema.setting``):
    ``secret`` (whole), ``key`` (an API key, and the forms a relay echoes it in), ``url`` (a webhook's path and
    query), ``endpoint`` (an account's or a Pushgateway's URL: its query, and the URL with its password),
    ``header`` (a credential header's value, and its tokens)."""
    if kind == "url":
        return url_secrets(text)
    if kind == "endpoint":
        return [*url_secrets(text, path_is_secret=False), *([text] if urlsplit(text.strip()).password else [])]
    if kind in ("secret", "key"):
        return (key_variants(text) if kind == "key" else [text]) if text.strip() else []
    if kind == "header":
        # "Bearer sk-…" and "session=…; csrf=…": whole, and the tokens (a server may echo them alone).
        words = text.split()
        return [text, *(words[1:] if len(words) > 1 else []), *re.findall(r"=([^;,\s]+)", text)]
    return []


def is_written_secret(kind: str | None, written: str) -> bool:
    """Whether the text written in the file (defaults of ``${VAR:-…}`` included) holds a secret."""
    if kind in ("secret", "key"):
        return bool(written.strip())
    if kind == "header":
        return len(_AUTH_SCHEMES.sub("", written).strip()) >= 4  # more than "Bearer {api_key}"
    if kind in ("url", "endpoint"):
        parts = secret_parts(kind, written)
        return any(p != written.strip() for p in parts)  # a token, a query or a password: not just the host
    return False


def describe_bad_url(text: str) -> str:
    """What a malformed URL may show of itself: its scheme and host, or the host it starts with."""
    split = urlsplit(text)
    if split.scheme and split.netloc:
        return f"{split.scheme}://{split.hostname or ''}/{CUT}"
    first, slash, _ = text.partition("/")
    if "." in first and ":" not in first and scrub(first) == first:  # open.feishu.cn/open-apis/…
        return repr(f"{first}/{CUT}" if slash else first)
    return repr(mask_url(text))  # '…' when nothing of it can be shown


class Redactor:
    """Replaces every registered secret by its mask. Thread-safe; shared by logs and reports."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        with self._lock:
            for s in secrets:
                if not s or len(s) < _MIN_SECRET:
                    continue
                # As written, and as it reads inside a URL or a form (an echoed query string).
                for form in {s, s.strip(), quote(s, safe=""), quote(s, safe="/:")}:
                    if len(form) >= _MIN_SECRET and form not in self._secrets:
                        self._secrets[form] = mask(s)
            # Longest first, so a URL is replaced before the token inside it.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        text = pattern.sub(lambda m: self._secrets[m.group(0)], text)
        return self._cut_short(text) if CUT in text else text

    def _cut_short(self, text: str) -> str:
        """Masks the start of a secret that a shortened message cut off (``…upstream refused sk-M41nK3…``)."""
        secrets = list(self._secrets.items())
        out: list[str] = []
        start = 0
        for index, char in enumerate(text):
            if char != CUT:
                continue
            head = text[start:index]
            for secret, masked in secrets:
                head = _mask_cut(head, secret, masked)
            out.append(head + CUT)
            start = index + 1
        out.append(text[start:])
        return "".join(out)


def _mask_cut(head: str, secret: str, masked: str) -> str:
    """``head`` with a beginning of ``secret`` at its very end replaced by the mask."""
    visible = masked.split(CUT)[0]  # what the mask shows of the start: "sk-ab", "https://host/"
    # A URL's mask shows its scheme and host: a cut inside them reveals nothing more.
    least = max(_MIN_CUT, len(visible) + 1) if is_url(secret) else _MIN_CUT
    if len(secret) <= least:
        return head
    probe = secret[:least]
    pos = head.find(probe, max(0, len(head) - len(secret) + 1))
    while pos != -1:
        if secret.startswith(head[pos:]):
            return head[:pos] + visible
        pos = head.find(probe, pos + 1)
    return head


class RedactingFilter(logging.Filter):
    """Scrubs the final message (arguments and exception text included) of every record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redactor(message)
        record.args = None
        return True


_URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>`]+", re.I)
# A word that reads like a key or token: an ``sk-`` key, or 16+ letters and digits mixed.
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")  # ACCOUNT1_API_KEY: a variable's name, not a value
# A word inside a file's path (/tmp/pytest-of-root/test_x0/.env) is part of the path, not a value.
_TOKEN_IN_TEXT = re.compile(r"(?<![\w/.-])(?:sk-[\w-]{8,}|(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{16,})(?![\w/-])")


def scrub(text: str) -> str:
    """``text`` with anything that looks like a secret masked: a URL keeps only its scheme and host,
    a key-like word becomes ``sk-ab…yz``.

    For messages about values we cannot know the meaning of (a config error about a value written in
    the wrong place, say a webhook URL under ``timezone``): guessing here is the safety net, not the rule.
    """
    text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _TOKEN_IN_TEXT.sub(lambda m: m.group(0) if _ENV_NAME.fullmatch(m.group(0)) else mask(m.group(0)), text)


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, the cut marked with ``…``: a secret cut in two by a bare
    slice would leave its first half unrecognised, while the Redactor masks one that ends in ``…``."""
    return text if len(text) <= limit else text[: limit - 1] + CUT
