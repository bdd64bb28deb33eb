"""Loopback doubles of DingTalk, WeCom, Slack, Telegram, a webhook receiver and an SMTP server.

Each behaves as ``shared/reference/channels.md`` records: its success test (HTTP 200 with an error
code inside is a failure), its signature and keyword checks, its size and rate limits, and its
real error codes. ``scripted`` answers are given first, before any check (to play an outage).
``clock`` is the server's time: tests that inject a fake clock into the client pass it here too,
so rate limits are kept in simulated time and the tests never sleep.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.emulators import Answer, LoopbackServer, Request, json_answer
from monitor.notify.dingtalk import sign as dingtalk_sign

DINGTALK_TOKEN = "d1n6a0c3e5b7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9"
DINGTALK_SECRET = "SEC3f1a9c0b7d5e3f1a9c0b7d5e3f1a9c0b7d5e3f1a9c0b7d5e3f1a9c0b7d5e3f"
WECOM_KEY = "693a91f6-7x0b-4c2d-8e9f-0a1b2c3d4e5f"
SLACK_PATH = "/services/T0ABCDEF1/B0GHIJKL2/Xs1a2c3k4T5o6k7e8n9Xyz"
TELEGRAM_TOKEN = "7012345678:AAH9sLk2jQe4tR6yU8iO0pZxCvBnMqWeRtY"
TELEGRAM_CHAT = "-1001234567890"
WEBHOOK_SECRET = "wh-s1gn1ng-S3cr3t-4b8c"
SMTP_PASSWORD = "Smtp-P4ssw0rd-9z8y7x"


class Clock:
    """Simulated time: ``sleep`` moves it forward and remembers how long each pause was."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)


class _Window:
    """``count`` messages in any ``seconds`` of the server's clock."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self.times: deque[float] = deque()

    def full(self, now: float) -> bool:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if len(self.times) >= self.count:
            return True
        self.times.append(now)
        return False


@dataclass
class ChatServer(LoopbackServer):
    scripted: list[Answer] = field(default_factory=list)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        LoopbackServer.__init__(self)
        self.received: list[Any] = []

    def handle(self, request: Request) -> Answer | None:
        with self._lock:
            if self.scripted:
                return self.scripted.pop(0)
            return self.check(request)

    def check(self, request: Request) -> Answer:
        raise NotImplementedError


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


# --- DingTalk --------------------------------------------------------------------------------------

def dingtalk_error(code: int, message: str) -> Answer:
    return json_answer(200, {"errcode": code, "errmsg": message})


@dataclass
class DingTalkRobot(ChatServer):
    """``POST /robot/send?access_token=…[&timestamp=…&sign=…]``: 加签, keywords, 20 a minute, errcode."""

    token: str = DINGTALK_TOKEN
    secret: str = ""
    keywords: tuple[str, ...] = ()
    per_minute: int = 20
    body_limit: int = 20_000  # undocumented by DingTalk; the client's safe bound, enforced here

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window = _Window(self.per_minute, 60.0)
        self.largest = 0

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/robot/send?access_token={self.token}"

    def check(self, request: Request) -> Answer:
        split = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        if split.path != "/robot/send" or request.method != "POST":
            return 404, {"Content-Type": "text/html"}, b"<html>404 Not Found</html>"
        if "access_token" not in query:
            return dingtalk_error(40035, "缺少参数 access_token")
        if query["access_token"] != self.token:
            return dingtalk_error(300001, "token is not exist")
        self.largest = max(self.largest, len(request.body))
        if len(request.body) > self.body_limit:
            return dingtalk_error(460101, "message too long, exceed 20000 bytes")
        body = _json(request.body)
        if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown", "link", "actionCard",
                                                                      "feedCard"):
            return dingtalk_error(40035, "缺少参数 json")
        if self.secret:
            timestamp, signature = query.get("timestamp", ""), query.get("sign", "")
            try:
                fresh = abs(self.clock() * 1000 - int(timestamp)) <= 3_600_000
            except ValueError:
                fresh = False
            # parse_qs has already URL-decoded the sign once, as DingTalk does.
            if not fresh or signature != dingtalk_sign(timestamp, self.secret):
                return dingtalk_error(310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
        text = _dingtalk_text(body)
        if self.keywords and not any(k in text for k in self.keywords):
            return dingtalk_error(310000, "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
        if self.window.full(self.clock()):
            return dingtalk_error(130101, "send too fast, exceed 20 times per minute")
        self.received.append(body)
        return dingtalk_error(0, "ok")


def _dingtalk_text(body: dict[str, Any]) -> str:
    content = body.get(body["msgtype"]) or {}
    return " ".join(str(v) for v in content.values() if isinstance(v, str)) if isinstance(content, dict) else ""


# --- WeCom -----------------------------------------------------------------------------------------

@dataclass
class WeComRobot(ChatServer):
    """``POST /cgi-bin/webhook/send?key=…``: markdown content ≤ 4096 bytes, 20 a minute, errcode."""

    key: str = WECOM_KEY
    per_minute: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window = _Window(self.per_minute, 60.0)
        self.largest = 0  # bytes of the largest markdown content received

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/cgi-bin/webhook/send?key={self.key}"

    def check(self, request: Request) -> Answer:
        split = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        if split.path != "/cgi-bin/webhook/send" or query.get("key") != self.key:
            return json_answer(200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1732512345_x], "
                                     "from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"})
        body = _json(request.body)
        if not isinstance(body, dict):
            return json_answer(200, {"errcode": 40016, "errmsg": "invalid button size"})  # what WeCom says to junk
        kind = body.get("msgtype")
        if kind not in ("text", "markdown", "image", "news", "file", "template_card"):
            return json_answer(200, {"errcode": 40008, "errmsg": "invalid message type"})
        content = str((body.get(kind) or {}).get("content") or "")
        if not content:
            return json_answer(200, {"errcode": 44004, "errmsg": "empty content"})
        size = len(content.encode("utf-8"))
        limit = 4096 if kind == "markdown" else 2048
        if kind == "markdown":
            self.largest = max(self.largest, size)
        if size > limit:
            # The code WeCom gives is not in our sources; any non-zero errcode is a refusal.
            return json_answer(200, {"errcode": 40058, "errmsg": f"markdown.content exceed max length {limit}"})
        if self.window.full(self.clock()):
            return json_answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
        self.received.append(body)
        return json_answer(200, {"errcode": 0, "errmsg": "ok"})


# --- Slack -----------------------------------------------------------------------------------------

def slack_error(status: int, reason: str, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "text/plain", **(headers or {})}, reason.encode()


@dataclass
class SlackHook(ChatServer):
    """An incoming webhook: HTTP 200 ``ok``; errors are statuses with a plain-text reason; 1 a second."""

    path: str = SLACK_PATH
    retry_after: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window = _Window(1, 1.0)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{self.path}"

    def check(self, request: Request) -> Answer:
        if request.path != self.path:
            return slack_error(404, "no_service")
        body = _json(request.body)
        if not isinstance(body, dict):
            return slack_error(400, "invalid_payload")
        blocks = body.get("blocks") or []
        if not body.get("text") and not blocks:
            return slack_error(400, "no_text")
        if len(blocks) > 50 or any(_block_too_long(b) for b in blocks):
            return slack_error(400, "invalid_blocks")
        if self.window.full(self.clock()):
            return slack_error(429, "rate_limited", {"Retry-After": str(self.retry_after)})
        self.received.append(body)
        return slack_error(200, "ok")


def _block_too_long(block: dict[str, Any]) -> bool:
    text = str((block.get("text") or {}).get("text") or "")
    return (block.get("type") == "section" and len(text) > 3000) or (block.get("type") == "header" and len(text) > 150)


# --- Telegram --------------------------------------------------------------------------------------

_ALLOWED_TAG = re.compile(r"</?(b|strong|i|em|u|ins|s|strike|del|code|pre|a(\s+href=\"[^\"]*\")?|tg-spoiler)>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def telegram_error(code: int, description: str, retry_after: int | None = None) -> Answer:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return json_answer(code, body)


@dataclass
class TelegramApi(ChatServer):
    """``POST /bot<token>/sendMessage`` with HTML: entities parsed, 4096 characters, ~1 a second per chat."""

    token: str = TELEGRAM_TOKEN
    chats: tuple[str, ...] = (TELEGRAM_CHAT,)
    retry_after: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window = _Window(1, 1.0)

    def check(self, request: Request) -> Answer:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", request.path)
        if not match:
            return telegram_error(404, "Not Found")
        if match.group(1) != self.token:
            return telegram_error(401, "Unauthorized")
        body = _json(request.body)
        if not isinstance(body, dict) or match.group(2) != "sendMessage":
            return telegram_error(400, "Bad Request: message text is empty")
        if str(body.get("chat_id")) not in self.chats:
            return telegram_error(400, "Bad Request: chat not found")
        text = str(body.get("text") or "")
        if body.get("parse_mode") == "HTML":
            problem = _html_problem(text)
            if problem:
                return telegram_error(400, f"Bad Request: can't parse entities: {problem}")
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
        if not text.strip():
            return telegram_error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return telegram_error(400, "Bad Request: message is too long")
        if self.window.full(self.clock()):
            return telegram_error(429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after)
        self.received.append({**body, "visible": text})
        return json_answer(200, {"ok": True, "result": {"message_id": len(self.received), "chat": {
            "id": int(body["chat_id"]), "type": "supergroup"}, "date": int(self.clock()), "text": text}})


def _html_problem(text: str) -> str | None:
    rest = _ALLOWED_TAG.sub("", text)
    if "<" in rest or ">" in rest:
        return f"unsupported start tag at byte offset {text.find('<')}"
    if "&" in _ENTITY.sub("", rest):
        return "character entity expected"
    return None


# --- a webhook receiver ----------------------------------------------------------------------------

@dataclass
class WebhookReceiver(ChatServer):
    """Verifies ``X-Signature-256`` (GitHub's convention) when it has a secret; 2xx on success."""

    secret: str = ""
    path: str = "/hooks/balance"

    @property
    def hook_url(self) -> str:
        return f"{self.url}{self.path}"

    def check(self, request: Request) -> Answer:
        if request.path != self.path:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        if self.secret:
            expected = "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("x-signature-256", ""), expected):
                return 401, {"Content-Type": "text/plain"}, b"bad signature"
        body = _json(request.body)
        if body is None:
            return 400, {"Content-Type": "text/plain"}, b"not json"
        self.received.append(body)
        return 204, {}, b""


# --- SMTP ------------------------------------------------------------------------------------------

@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes
    options: list[str] = field(default_factory=list)  # MAIL FROM's parameters (SMTPUTF8, BODY=8BITMIME)


class SmtpServer:
    """aiosmtpd on 127.0.0.1: ``security`` none, starttls or tls; refuses the addresses in ``refuse``.

    Like many real servers it does not offer SMTPUTF8 (unless ``smtputf8``): an envelope address that
    is not ASCII cannot be sent to it at all.
    """

    def __init__(self, security: str = "none", cert: tuple[str, str] | None = None, username: str = "",
                 password: str = "", refuse: tuple[str, ...] = (), smtputf8: bool = False) -> None:
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.received: list[Mail] = []
        self.refuse = refuse
        self.logins: list[str] = []
        owner = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                                  rcpt_options: Any) -> str:
                if address in owner.refuse:
                    return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                owner.received.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                           list(envelope.mail_options)))
                return "250 Message accepted for delivery"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login.decode() == username and \
                data.password.decode() == password
            if ok:
                owner.logins.append(username)
            return AuthResult(success=ok, handled=False)

        context = None
        if cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": _free_port(), "enable_SMTPUTF8": smtputf8}
        if username:
            kwargs.update(authenticator=authenticate, auth_require_tls=security == "starttls")
        if security == "tls":
            kwargs["ssl_context"] = context
        elif security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        self.controller = Controller(Handler(), **kwargs)

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _free_port() -> int:
    # aiosmtpd's Controller checks its server by connecting to the port it was given, so not 0.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_certificate(folder: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: the client trusts it through SSL_CERT_FILE."""
    import subprocess

    from tests.support.system_tools import need_tool

    openssl = need_tool("openssl", package="openssl")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return str(cert), str(key)
