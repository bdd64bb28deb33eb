"""Loopback emulators of a one-api/new-api relay and a Feishu custom bot, for the demo and the tests.

They answer as ``shared/reference/`` records: the relay's auth errors, cents and 1e8 unlimited; the
bot's signature check, keyword check, rate limit, size limit and error codes (HTTP 200 with a code).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from monitor.notify.feishu import BODY_LIMIT, sign

Answer = tuple[int, dict[str, str], bytes]
S = TypeVar("S", bound="LoopbackServer")

CLOUDFLARE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    b"<body>Checking your browser before accessing the site.</body></html>"
)


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(
        body, ensure_ascii=False
    ).encode("utf-8")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    time: float


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 and a free port; ``handle`` answers every request."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.connections = 0  # TCP connections accepted: keep-alive reuse shows as fewer than requests
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests being answered at once: a client's per-host limit
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm the body would wait for the
            # client's delayed ACK (~40 ms), a latency no real relay adds.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with owner._lock:
                    owner.connections += 1

            def _serve(self) -> None:
                with owner._lock:
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    self._answer()
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  body, time.time())
                with owner._lock:
                    owner.requests.append(request)
                answer = owner.handle(request)
                if answer is None:  # hang up without an answer
                    self.close_connection = True
                    return
                status, headers, payload = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    # The client stopped waiting (its timeout ran out during a delay): a real server drops
                    # the answer without a word, rather than print a traceback after the run has gone on.
                    self.close_connection = True

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the demo prints what matters

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll: shutdown() waits up to one poll, and the tests start and stop many servers.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, request: Request) -> Answer | None:
        raise NotImplementedError

    def __enter__(self: S) -> S:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the relay --------------------------------------------------------------------------------------

QUOTA_PER_UNIT = 500_000  # one-api / new-api default: quota units per dollar


@dataclass
class Token:
    """A relay key. Amounts are in dollars; the relay stores raw quota and converts like the real one."""

    total: Decimal = Decimal("20")
    used: Decimal = Decimal("0")
    unlimited: bool = False
    expired: bool = False
    name: str = "demo"

    @property
    def exhausted(self) -> bool:
        return not self.unlimited and self.used >= self.total


@dataclass
class RelayEmulator(LoopbackServer):
    """A one-api relay (``new_api=True`` adds new-api's ``/api/usage/token`` and ``/api/status``).

    ``faults`` maps a path to a function returning the answer to give instead (HTML, 429, hang, …).
    ``delay`` adds latency to every answer. ``rate_limit`` is (requests, seconds) per client, then 429.
    """

    tokens: dict[str, Token] = field(default_factory=dict)
    new_api: bool = False
    faults: dict[str, Callable[[Request], Answer | None]] = field(default_factory=dict)
    delay: float = 0.0
    rate_limit: tuple[int, float] | None = None
    retry_after: int | None = None
    quota_per_unit: int = QUOTA_PER_UNIT

    def __post_init__(self) -> None:
        LoopbackServer.__init__(self)
        self._hits: deque[float] = deque()
        self.limited = 0  # requests answered 429 by the rate limit

    def handle(self, request: Request) -> Answer | None:
        if self.delay:
            time.sleep(self.delay)
        path = request.path.split("?", 1)[0]
        if self.rate_limit and self._limited():
            with self._lock:
                self.limited += 1
            headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
            return 429, headers, b""  # one-api: c.Status(429), no body
        if path in self.faults:
            return self.faults[path](request)
        if path == "/api/status" and self.new_api:
            return json_answer(200, {"success": True, "message": "", "data": {
                "quota_per_unit": self.quota_per_unit, "display_in_currency": True,
                "quota_display_type": "USD", "usd_exchange_rate": 7.3, "version": "v0.6.0"}})
        routes = {
            "/v1/dashboard/billing/subscription": self._subscription,
            "/dashboard/billing/subscription": self._subscription,
            "/v1/dashboard/billing/usage": self._usage,
            "/dashboard/billing/usage": self._usage,
        }
        if self.new_api:
            routes["/api/usage/token"] = self._token_usage
            routes["/api/usage/token/"] = self._token_usage
        if path not in routes:
            return json_answer(404, {"error": {"message": f"Invalid URL ({request.method} {path})",
                                               "type": "invalid_request_error", "param": "", "code": ""}})
        return routes[path](request)

    def _limited(self) -> bool:
        assert self.rate_limit is not None
        count, seconds = self.rate_limit
        now = time.monotonic()
        with self._lock:
            while self._hits and self._hits[0] <= now - seconds:
                self._hits.popleft()
            if len(self._hits) >= count:
                return True
            self._hits.append(now)
            return False

    def _token(self, request: Request, read_only: bool = False) -> Token | Answer:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        key = key[3:] if key.startswith("sk-") else key
        token = self.tokens.get(key.split("-")[0]) or self.tokens.get(f"sk-{key}")
        kind = "new_api_error" if self.new_api else "one_api_error"
        if token is None:
            message = "无效的令牌 (request id: 20261128090500123456)"
            return json_answer(401, {"error": {"message": message, "type": kind}})
        if read_only:
            return token  # new-api's TokenAuthReadOnly accepts expired and exhausted keys
        if token.expired:
            return json_answer(401, {"error": {"message": "该令牌已过期 (request id: 20261128090500123457)",
                                               "type": kind}})
        if token.exhausted:
            return json_answer(401, {"error": {
                "message": f"[sk-abc***xyz] 该令牌额度已用尽 TokenStatusExhausted[sk-{token.name}]", "type": kind}})
        return token

    def _subscription(self, request: Request) -> Answer:
        token = self._token(request)
        if not isinstance(token, Token):
            return token
        limit: float = 100000000.0 if token.unlimited else float(token.total)
        return json_answer(200, {"object": "billing_subscription", "has_payment_method": True,
                                 "soft_limit_usd": limit, "hard_limit_usd": limit,
                                 "system_hard_limit_usd": limit, "access_until": 0})

    def _usage(self, request: Request) -> Answer:
        token = self._token(request)
        if not isinstance(token, Token):
            return token
        return json_answer(200, {"object": "list", "total_usage": float(token.used * 100)})  # cents

    def _token_usage(self, request: Request) -> Answer:
        token = self._token(request, read_only=True)
        if not isinstance(token, Token):
            return json_answer(401, {"success": False, "message": "无效的令牌"})
        granted = int(token.total * self.quota_per_unit)
        used = int(token.used * self.quota_per_unit)
        return json_answer(200, {"code": True, "message": "ok", "data": {
            "object": "token_usage", "name": token.name, "total_granted": granted, "total_used": used,
            "total_available": granted - used, "unlimited_quota": token.unlimited, "model_limits": {},
            "model_limits_enabled": False, "expires_at": 0}})


# --- the Feishu bot ----------------------------------------------------------------------------------

SUCCESS = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}


def feishu_error(code: int, msg: str, status: int = 200) -> Answer:
    return json_answer(status, {"code": code, "data": {}, "msg": msg})


@dataclass
class FeishuBotEmulator(LoopbackServer):
    """A custom bot: ``POST /open-apis/bot/v2/hook/<token>``, with the bot's security settings.

    ``scripted`` is a queue of answers to give before the normal checks (e.g. two 11232s).
    ``received`` holds every accepted message (the decoded body), in order.
    """

    token: str = "954e40d7-6b1c-4111-9f2a-649b5e0ba5f9"
    secret: str = ""
    keywords: tuple[str, ...] = ()
    scripted: list[Answer] = field(default_factory=list)
    per_second: int = 5
    per_minute: int = 100

    def __post_init__(self) -> None:
        LoopbackServer.__init__(self)
        self.received: list[dict[str, Any]] = []
        self._sent: deque[float] = deque()

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/open-apis/bot/v2/hook/{self.token}"

    def handle(self, request: Request) -> Answer:
        prefix = "/open-apis/bot/v2/hook/"
        if request.method != "POST" or not request.path.startswith(prefix):
            return feishu_error(99991201, "resource not find", status=404)
        if request.path[len(prefix):].rstrip("/") != self.token:
            return feishu_error(19001, "param invalid: incoming webhook access token invalid")
        with self._lock:
            if self.scripted:
                return self.scripted.pop(0)
        if len(request.body) > BODY_LIMIT:
            return feishu_error(9499, "Bad Request")
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            return feishu_error(99991300, f"invalid request body: not json, {exc}")
        if not isinstance(body, dict) or body.get("msg_type") not in ("text", "post", "image", "share_chat",
                                                                         "interactive"):
            return feishu_error(19002, "params error, msg_type need")
        if self.secret:
            timestamp, signature = body.get("timestamp"), body.get("sign")
            try:
                fresh = abs(time.time() - int(str(timestamp))) <= 3600
            except ValueError:
                fresh = False
            if not isinstance(timestamp, str) or not fresh or signature != sign(timestamp, self.secret):
                return feishu_error(19021, "sign match fail or timestamp is not within one hour from current time")
        if body["msg_type"] == "interactive":
            problem = _card_problem(body.get("card"))
            if problem:
                return feishu_error(11246, problem)
        elif not isinstance(body.get("content"), dict):
            return feishu_error(9499, "Bad Request")
        if self.keywords and not any(k in " ".join(_texts(body)) for k in self.keywords):
            return feishu_error(19024, "Key Words Not Found")
        if self._throttled():
            return feishu_error(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1500]")
        with self._lock:
            self.received.append(body)
        return json_answer(200, SUCCESS)

    def _throttled(self) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._sent and self._sent[0] <= now - 60:
                self._sent.popleft()
            last_second = sum(1 for t in self._sent if t > now - 1)
            if last_second >= self.per_second or len(self._sent) >= self.per_minute:
                return True
            self._sent.append(now)
            return False


def _texts(value: Any, key: str = "") -> list[str]:
    """Every text-like value of a message (not ``href``/``url``: Feishu does not search those for keywords)."""
    if isinstance(value, dict):
        return [t for k, v in value.items() if k not in ("href", "url", "sign", "timestamp") for t in _texts(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v, key)]
    return [value] if isinstance(value, str) else []


def _card_problem(card: Any) -> str | None:
    if not isinstance(card, dict):
        return "create message content fail"
    header = card.get("header")
    if header is not None and not isinstance((header or {}).get("title"), dict):
        return "ErrCode: 200621; ErrMsg: parse card json err, please check whether the card json is correct"
    elements = card.get("elements") if card.get("schema") != "2.0" else (card.get("body") or {}).get("elements")
    for element in elements or []:
        if not isinstance(element, dict) or element.get("tag") == "divider":
            return "ErrCode: 11310; ErrMsg: unsupported type of block; ErrorValue: divider"
    return None
