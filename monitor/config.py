"""Load and validate ``config.yaml`` (with ``.env``): every error, each with its file, line and key."""

from __future__ import annotations

import dataclasses
import difflib
import io
import ipaddress
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from monitor.interpolate import MissingVariable, interpolate, is_reference, references, written_part
from monitor.providers import PROVIDERS
from monitor.redact import PLAIN_KEYS, describe_bad_url, is_written_secret, secret_kind, secret_parts

DEFAULT_CONFIG = "config.yaml"
CONFIG_ENV = "API_BALANCE_MONITOR_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024  # a config larger than this is surely not hand-written
MAX_NAME_LENGTH = 100


class ConfigError(Exception):
    """Every problem found, one per line, each naming the file, the line and the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class HistorySettings:
    folder: Path  # the log of runs (JSON Lines files, state.json, the lock)
    file: Path  # a v1 history (one JSON document) that the first run imports, if it is there
    retention_days: int = 90
    lock_wait_seconds: float = 30.0
    check_retention_days: int = 8


@dataclass(frozen=True)
class AlertSettings:
    repeat_hours: float = 0.0  # `check` posts a still-active alert again after this long (0: only on change)


@dataclass(frozen=True)
class HttpSettings:
    timeout_seconds: float = 10.0
    retries: int = 2
    max_workers: int = 8
    per_host: int = 4
    run_timeout_seconds: float = 120.0


@dataclass(frozen=True)
class FeishuSettings:
    webhook_url: str
    secret: str = ""
    keyword: str = ""
    mention_on_alert: tuple[str, ...] = ()
    kind: ClassVar[str] = "feishu"

    def secrets(self) -> list[str]:
        from monitor.redact import webhook_parts

        return [*webhook_parts(self.webhook_url), self.secret]


@dataclass(frozen=True)
class DingTalkSettings:
    webhook_url: str  # https://oapi.dingtalk.com/robot/send?access_token=...
    secret: str = ""  # 加签 (SEC...)
    keyword: str = ""
    mention_on_alert: tuple[str, ...] = ()  # "all" or mobile numbers
    kind: ClassVar[str] = "dingtalk"

    def secrets(self) -> list[str]:
        return [*_query_secrets(self.webhook_url), self.secret]


@dataclass(frozen=True)
class WeComSettings:
    webhook_url: str  # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...
    mention_on_alert: tuple[str, ...] = ()  # "all" or user ids
    kind: ClassVar[str] = "wecom"

    def secrets(self) -> list[str]:
        return _query_secrets(self.webhook_url)


@dataclass(frozen=True)
class SlackSettings:
    webhook_url: str
    mention_on_alert: tuple[str, ...] = ()  # channel, here, or member ids
    kind: ClassVar[str] = "slack"

    def secrets(self) -> list[str]:
        from monitor.redact import webhook_parts

        return webhook_parts(self.webhook_url)


@dataclass(frozen=True)
class TelegramSettings:
    bot_token: str
    chat_id: str
    api_url: str = "https://api.telegram.org"
    kind: ClassVar[str] = "telegram"

    def secrets(self) -> list[str]:
        return [self.bot_token, f"bot{self.bot_token}"]


@dataclass(frozen=True)
class EmailSettings:
    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 465
    security: str = "tls"  # tls | starttls | none
    username: str = ""
    password: str = ""
    kind: ClassVar[str] = "email"

    def secrets(self) -> list[str]:
        return [self.password]


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    secret_headers: tuple[str, ...] = ()  # header values taken from the environment
    kind: ClassVar[str] = "webhook"

    def secrets(self) -> list[str]:
        from monitor.redact import webhook_parts

        return [*webhook_parts(self.url), *_query_secrets(self.url), self.secret, *self.secret_headers]


ChannelSettings = (FeishuSettings | DingTalkSettings | WeComSettings | SlackSettings | TelegramSettings
                   | EmailSettings | WebhookSettings)


@dataclass(frozen=True)
class ChannelEntry:
    """One configured channel: ``label`` is its config path (``dingtalk``, or ``dingtalk[1]`` in a list)."""

    label: str
    settings: ChannelSettings


def _query_secrets(url: str) -> list[str]:
    """A URL whose token is a query parameter (DingTalk, WeCom): the URL and each parameter's value."""
    from urllib.parse import parse_qsl

    return [url, *(v for _, v in parse_qsl(urlsplit(url).query))]


@dataclass(frozen=True)
class MetricsSettings:
    """Where the Prometheus metrics go: a node_exporter textfile, a Pushgateway, or both."""

    textfile: Path | None = None
    pushgateway_url: str | None = None
    job: str = "api_balance_monitor"


@dataclass(frozen=True)
class Account:
    name: str
    provider: str
    api_key: str
    base_url: str | None = None
    url: str | None = None
    currency: str | None = None
    low_balance: Decimal = Decimal("1")
    low_days: Decimal = Decimal("3")
    spike_factor: Decimal = Decimal("3")  # a period's spend rate this many times the usual one is a spike
    spike_min_amount: Decimal = Decimal("1")  # ... when at least this much was spent in it
    headers: Mapping[str, str] = field(default_factory=dict)
    balance: str | None = None  # json provider: dotted paths into the answer
    used: str | None = None
    total: str | None = None
    divisor: Decimal = Decimal("1")
    hard_limit: str = "total"  # openai-billing: what hard_limit_usd means, "total" or "remaining"
    management_key: str | None = None  # openrouter: the account's management key (a secret), for /api/v1/credits
    # new-api-admin (a relay site as its admin sees it; reference/operators.md §1):
    access_token: str | None = None  # the admin's system access token (系统访问令牌), a secret
    user_id: str | None = None  # that admin's numeric user id, sent as ``user_header``
    user_header: str = "New-Api-User"  # forks renamed it (Veloera-User, Rix-Api-User, …)
    watch: tuple[str, ...] = ("channels",)  # channels, users
    refresh: bool = False  # refresh each enabled channel's balance first, one request per channel
    user_low_balance: Decimal | None = None  # users below this are low (None: low_balance)

    @property
    def host(self) -> str:
        """The host this account's queries go to (shown by check-config)."""
        target = self.url or self.base_url or PROVIDERS[self.provider].default_base_url or ""
        return urlsplit(target).netloc


@dataclass(frozen=True)
class Config:
    path: Path
    timezone: tzinfo
    language: str
    history: HistorySettings
    http: HttpSettings
    feishu: FeishuSettings | None  # the first Feishu bot, if any (every channel is in ``channels``)
    heartbeat_url: str | None
    accounts: tuple[Account, ...]
    warnings: tuple[str, ...] = ()
    metrics: MetricsSettings | None = None
    channels: tuple[ChannelEntry, ...] = ()
    alerts: AlertSettings = AlertSettings()
    secret_values: tuple[str, ...] = ()  # every secret the loader met (see _Builder.remember)

    def secrets(self) -> list[str]:
        """Every value that must never be shown: keys, URLs' tokens, signing secrets, header values,
        and each value taken from the environment."""
        from monitor.redact import key_variants, url_secrets

        found = [v for a in self.accounts for v in key_variants(a.api_key)]
        found += [a.management_key for a in self.accounts if a.management_key]
        found += [a.access_token for a in self.accounts if a.access_token]
        for entry in self.channels:
            found += entry.settings.secrets()
        if self.heartbeat_url:
            found += url_secrets(self.heartbeat_url)
        if self.metrics and self.metrics.pushgateway_url:
            found += _url_password(self.metrics.pushgateway_url)
        found += self.secret_values
        return [s for s in found if s]


def resolve_path(cli_path: str | None, environ: Mapping[str, str]) -> Path:
    """``-c``, else ``$API_BALANCE_MONITOR_CONFIG``, else ``./config.yaml``."""
    return Path(cli_path or environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


# --- the declarative part: every key, its type and its default --------------------------------

Check = Callable[[Any], Any]  # returns the converted value or raises ValueError with the reason


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_type_name(value)}")
    return value


def _nonempty(value: Any) -> str:
    text = _string(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _number(minimum: float | None = None, integer: bool = False) -> Check:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise ValueError(f"must be {'a whole number' if integer else 'a number'}, not {_type_name(value)}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return check


def _money(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be a number, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a finite number, zero or more")
    return amount


def _divisor(value: Any) -> Decimal:
    amount = _money(value)
    if amount == 0:
        raise ValueError("must be more than 0 (every amount is divided by it)")
    return amount


HARD_LIMITS = ("total", "remaining")
WATCHABLE = ("channels", "users")


def _watch(value: Any) -> tuple[str, ...]:
    found = _string_list(value)
    for item in found:
        if item not in WATCHABLE:
            raise ValueError(f"{item!r} is not channels or users{_did_you_mean(item, WATCHABLE)}")
    if not found:
        raise ValueError("must list channels, users or both")
    return tuple(dict.fromkeys(found))


def _user_id(value: Any) -> str:
    text = str(value).strip() if isinstance(value, int) and not isinstance(value, bool) else _nonempty(value)
    if not text.isascii() or not text.isdigit():
        raise ValueError("must be the admin's numeric user id (e.g. 1), not a user name")
    return text


def _header_name(value: Any) -> str:
    text = _nonempty(value)
    if not re.fullmatch(r"[A-Za-z0-9-]+", text):
        raise ValueError(f"must be an HTTP header name such as New-Api-User, not {text!r}")
    return text


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {_type_name(value)}")
    return value


def _hard_limit(value: Any) -> str:
    text = _nonempty(value)
    if text not in HARD_LIMITS:
        raise ValueError(f"must be total (the default) or remaining, not {text!r}")
    return text


def _url(value: Any) -> str:
    text = _nonempty(value)
    split = urlsplit(text)
    if split.scheme not in ("http", "https") or not split.netloc:
        # Never the value itself: a webhook URL is a secret, typo or not.
        raise ValueError(f"must start with http:// or https:// and name a host, not {describe_bad_url(text)}")
    return text.rstrip("/")


def _optional_url(value: Any) -> str:
    """A URL, or "" for none (``${HEARTBEAT_URL:-}`` left empty)."""
    return _url(value) if _string(value).strip() else ""


def _prom_file(value: Any) -> str:
    text = _nonempty(value)
    if not text.endswith(".prom"):
        raise ValueError(f"must end in .prom: node_exporter's textfile collector reads only *.prom files, not {text!r}")
    return text


def _job(value: Any) -> str:
    text = _nonempty(value)
    if any(ord(c) < 32 for c in text):
        raise ValueError("must not contain line breaks or control characters")
    return text


def _language(value: Any) -> str:
    text = _string(value)
    if text not in ("zh", "en"):
        raise ValueError(f"must be zh or en, not {text!r}")
    return text


def _timezone(value: Any) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = _nonempty(value)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {text!r} (use a name such as Asia/Shanghai or UTC)") from None


def _string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of strings")
    return tuple(value)


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, (str, int)) for v in value.values()):
        raise ValueError("must be a mapping of header names to strings")
    return {str(k): str(v) for k, v in value.items()}


def _provider(value: Any) -> str:
    text = _string(value)
    if text not in PROVIDERS:
        raise ValueError(f"unknown provider {text!r}{_did_you_mean(text, PROVIDERS)} (known: {', '.join(PROVIDERS)})")
    return text


def _currency(value: Any) -> str:
    text = _nonempty(value).upper()
    if not text.isalpha() or len(text) != 3:
        raise ValueError(f"must be a three-letter currency code such as USD or CNY, not {value!r}")
    return text


def _name(value: Any) -> str:
    text = _nonempty(value if not isinstance(value, (int, float)) or isinstance(value, bool) else str(value))
    if len(text) > MAX_NAME_LENGTH:
        raise ValueError(f"is {len(text)} characters long; keep it to {MAX_NAME_LENGTH} so the report stays readable")
    if any(ord(c) < 32 for c in text):
        raise ValueError("must not contain line breaks or control characters")
    return text


def _mentions(allowed: str, pattern: str, words: tuple[str, ...] = ("all",)) -> Check:
    import re

    shape = re.compile(pattern)

    def check(value: Any) -> tuple[str, ...]:
        found = _string_list(value)
        for item in found:
            if item not in words and not shape.fullmatch(item):
                raise ValueError(f"{item!r} is not {allowed}")
        return found

    return check


def _port(value: Any) -> int:
    port: int = _number(1, integer=True)(value)
    if port > 65535:
        raise ValueError("must be a port number, 1 to 65535")
    return port


def _security(value: Any) -> str:
    text = _string(value)
    if text not in ("tls", "starttls", "none"):
        raise ValueError(f"must be tls, starttls or none, not {text!r}")
    return text


def _address(value: Any) -> str:
    text = _nonempty(value)
    if "@" not in text or any(c.isspace() for c in text.strip("<> ").rsplit("<", 1)[-1]):
        raise ValueError(f"must be an e-mail address such as ops@example.com, not {text!r}")
    return text


def _addresses(value: Any) -> tuple[str, ...]:
    found = _string_list(value)
    if not found:
        raise ValueError("must list at least one address")
    for item in found:
        _address(item)
    return found


def _bot_token(value: Any) -> str:
    import re

    text = _nonempty(value)
    if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", text):
        raise ValueError("must be the token @BotFather gave, shaped 123456789:AA… (digits, a colon, letters)")
    return text


def _chat_id(value: Any) -> str:
    import re

    text = _nonempty(str(value) if isinstance(value, int) and not isinstance(value, bool) else value)
    if not re.fullmatch(r"-?\d+|@\w{4,}", text):
        raise ValueError("must be a chat's number (e.g. \"-1001234567890\", quoted) or a channel's @name")
    return text


_MOBILES = _mentions("all or a mobile number", r"\+?[0-9][0-9-]{4,19}")
_USER_IDS = _mentions("all or a WeCom user id", r"[A-Za-z0-9_.@-]+")
_SLACK = _mentions("channel, here, everyone or a member id (U…)", r"[UW][A-Z0-9]{2,}", ("channel", "here", "everyone"))

SECTIONS: dict[str, dict[str, Check]] = {
    "alerts": {"repeat_hours": _number(0)},
    "history": {
        "folder": _nonempty,
        "file": _nonempty,
        "retention_days": _number(1, integer=True),
        "lock_wait_seconds": _number(0),
        "check_retention_days": _number(1, integer=True),
    },
    "http": {
        "timeout_seconds": _number(0.1),
        "retries": _number(0, integer=True),
        "max_workers": _number(1, integer=True),
        "per_host": _number(1, integer=True),
        "run_timeout_seconds": _number(1),
    },
    "metrics": {
        "textfile": _prom_file,
        "pushgateway_url": _optional_url,  # may be ${VAR:-}, empty for "no push"
        "job": _job,
    },
    "feishu": {
        "webhook_url": _url,
        "secret": _string,
        "keyword": _string,
        "mention_on_alert": _string_list,
    },
    "dingtalk": {"webhook_url": _url, "secret": _string, "keyword": _string, "mention_on_alert": _MOBILES},
    "wecom": {"webhook_url": _url, "mention_on_alert": _USER_IDS},
    "slack": {"webhook_url": _url, "mention_on_alert": _SLACK},
    "telegram": {"bot_token": _bot_token, "chat_id": _chat_id, "api_url": _url},
    "email": {"host": _nonempty, "port": _port, "security": _security, "username": _string, "password": _string,
              "from": _address, "to": _addresses},
    "webhook": {"url": _url, "secret": _string, "headers": _headers},
}
_SECRET_HEADER = re.compile(r"auth|token|key|secret|cookie|session|passw|sign", re.I)  # header names
CHANNELS = ("feishu", "dingtalk", "wecom", "slack", "telegram", "email", "webhook")
REQUIRED: dict[str, tuple[str, ...]] = {
    "feishu": ("webhook_url",), "dingtalk": ("webhook_url",), "wecom": ("webhook_url",), "slack": ("webhook_url",),
    "telegram": ("bot_token", "chat_id"), "email": ("host", "from", "to"), "webhook": ("url",),
}

ACCOUNT_KEYS: dict[str, Check] = {
    "name": _name,
    "provider": _provider,
    "api_key": _nonempty,
    "base_url": _url,
    "url": _url,
    "currency": _currency,
    "low_balance": _money,
    "low_days": _money,
    "spike_factor": _money,
    "spike_min_amount": _money,
    "headers": _headers,
    "balance": _nonempty,
    "used": _nonempty,
    "total": _nonempty,
    "divisor": _divisor,
    "hard_limit": _hard_limit,
    "management_key": _nonempty,
    "access_token": _nonempty,
    "user_id": _user_id,
    "user_header": _header_name,
    "watch": _watch,
    "refresh": _bool,
    "user_low_balance": _money,
}
# The keys that describe one provider's endpoint or money: an account takes them from ``defaults`` only
# when it uses ``defaults.provider`` (a DeepSeek account must never send its key to the relay's host,
# and an OpenRouter account must never be relabelled CNY because the relays are).
PROVIDER_KEYS = frozenset({"base_url", "currency", "hard_limit", "url", "headers", "balance", "used", "total",
                           "divisor", "management_key", "access_token", "user_id", "user_header", "watch",
                           "refresh", "user_low_balance"})
ADMIN_KEYS = ("access_token", "user_id", "user_header", "watch", "refresh", "user_low_balance")  # new-api-admin only
HARD_LIMIT_PROVIDERS = ("openai-billing", "new-api")  # new-api falls back to the billing routes
TOP_LEVEL = ("timezone", "language", "history", "http", *CHANNELS, "heartbeat_url", "alerts", "metrics", "defaults",
             "accounts")

# --- loading --------------------------------------------------------------------------------------


def load(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate the config at ``path``; raise ``ConfigError`` listing every problem."""
    from dotenv import dotenv_values

    from monitor import yamlload

    environ = os.environ if environ is None else environ
    where = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError([f"{where}: the file is {size} bytes; a config is at most {MAX_CONFIG_BYTES} bytes"])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{where}: no such file (give one with -c PATH or ${CONFIG_ENV})"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{where}: is a folder, not a config file"]) from None
    except PermissionError:
        raise ConfigError([f"{where}: cannot be read (permission denied)"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = f"{where}:{line}: the file is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        raise ConfigError([problem]) from None
    try:
        doc = yamlload.load(text)
    except yamlload.YamlSyntaxError as exc:
        from monitor.redact import scrub

        raise ConfigError([f"{where}:{exc.line}: YAML syntax error: {scrub(exc.message)}"]) from None

    # The folder as the path names it: a config reached through a symbolic link finds the .env and the
    # history beside the link (where the operator put them), not beside the link's target.
    folder = path.absolute().parent
    env_file = folder / ".env"
    dotenv = {k: v for k, v in dotenv_values(stream=io.StringIO(_dotenv_text(env_file))).items() if v is not None}
    env = {**dotenv, **environ}  # the real environment wins over .env

    builder = _Builder(where, doc, env)
    builder.env_file = env_file
    config = builder.build(folder)
    warnings = list(builder.warnings)
    warnings += _permission_warnings(path, env_file, builder.written_secrets)
    return dataclasses.replace(config, warnings=tuple(warnings), secret_values=tuple(builder.secrets))


def _dotenv_text(env_file: Path) -> str:
    """The text of the ``.env`` beside the config ("" when there is none); ``ConfigError`` when unreadable."""
    if not env_file.is_file():
        return ""
    try:
        raw = env_file.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{env_file}: cannot be read ({exc.strerror or exc})"]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([f"{env_file}:{line}: the file is not UTF-8 text; save it as UTF-8"]) from None


def _permission_warnings(path: Path, env_file: Path, written_secrets: bool) -> list[str]:
    found = []
    targets = [env_file] if env_file.is_file() else []
    if written_secrets:
        targets.append(path)
    for target in targets:
        mode = target.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            found.append(
                f"{target}: holds secrets but is readable by group or others (mode {stat.S_IMODE(mode):03o}); "
                f"fix: chmod 600 {target}"
            )
    return found


class _Builder:
    """Walks the YAML document once, collecting every problem instead of stopping at the first."""

    def __init__(self, where: str, doc: Any, env: Mapping[str, str]) -> None:
        self.where = where
        self.doc = doc
        self.env = env
        from monitor.redact import scrub

        self.problems: list[str] = [f"{where}:{line}: {scrub(f'{_dotted(p)}: {msg}')}" for line, p, msg in doc.errors]
        self.warnings: list[str] = []
        self.env_file: Path | None = None  # named in "is not set": the very file the variable belongs in
        self.written_secrets = False  # a secret written in the config itself: the file must be private
        self.secrets: list[str] = []  # every secret met, for the Redactor (and this loader's own messages)

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        from monitor.redact import scrub

        # A message about a value never shows a secret, even one written where no secret belongs.
        self.problems.append(f"{self.where}:{self.doc.line_of(path)}: {scrub(f'{_dotted(path)}: {message}')}")

    def value(self, path: tuple[str | int, ...], raw: Any, check: Check) -> Any:
        """Interpolate then check one value; record a problem and return None when it fails."""
        written = raw
        raw = self.expand(path, raw)
        if raw is _MISSING:
            return None
        try:
            return check(raw)
        except ValueError as exc:
            message = self._hide_environment(str(exc), written)
            names = sorted({f"${{{n}}}" for text in _strings(written) for n in references(text)})
            if names and not any(n in message for n in names):
                message += f" (from {', '.join(names)})"  # which variable to fix, since its value is not shown
            self.problem(path, message)
            return None

    def expand(self, path: tuple[str | int, ...], raw: Any) -> Any:
        """``raw`` with ``${VAR}`` replaced in every string, nested ones (header values) included;
        ``_MISSING`` (the problem recorded) when a variable is not set."""
        if isinstance(raw, dict):
            expanded = {key: self.expand((*path, key), item) for key, item in raw.items()}
            return _MISSING if _MISSING in expanded.values() else expanded
        if isinstance(raw, list):
            items = [self.expand((*path, index), item) for index, item in enumerate(raw)]
            return _MISSING if _MISSING in items else items
        if not isinstance(raw, str):
            return raw
        try:
            value = interpolate(raw, self.env)
        except MissingVariable as exc:
            self.problem(
                path,
                f"environment variable {exc.name} is not set "
                f"(put it in {self.env_file or 'the .env beside the config'}, "
                f"or give a default: ${{{exc.name}:-…}})",
            )
            return _MISSING
        self.remember(path, raw, value)
        return value

    def remember(self, path: tuple[str | int, ...], written: str, value: str) -> None:
        """Note the secrets of one string value: what its key says is secret, and whatever came from the
        environment (unless the key is a plain one, such as the history file's path)."""
        from monitor.redact import is_url, key_variants, url_secrets

        kind = secret_kind(path)
        if is_written_secret(kind, written_part(written)):
            self.written_secrets = True
        found = secret_parts(kind, value)
        if kind == "secret" and path[-1] == "api_key":
            found += key_variants(value)
        key = next((p for p in reversed(path) if isinstance(p, str)), "")
        if is_reference(written) and key not in PLAIN_KEYS:
            found += [value, *(self.env.get(name) or "" for name in references(written))]
            if is_url(value):
                found += url_secrets(value)
        self.secrets += [s for s in found if s and s not in self.secrets]

    def _hide_environment(self, message: str, written: Any) -> str:
        """A message that names ``${VAR}`` where it would show a value from the environment (maybe a secret)."""
        for name in sorted({n for text in _strings(written) for n in references(text)}):
            value = self.env.get(name) or ""
            for shown in sorted({value, value.strip()}, key=len, reverse=True):
                if len(shown) >= 4:
                    message = message.replace(shown, f"${{{name}}}")
        return message

    def mapping(
        self, path: tuple[str | int, ...], raw: Any, known: Mapping[str, Check] | tuple[str, ...]
    ) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(path, f"must be a mapping of keys to values, not {_type_name(raw)}")
            return {}
        for key in raw:
            if key not in known:
                self.problem((*path, key), f"unknown key {key!r}{_did_you_mean(key, known)}")
        return {k: v for k, v in raw.items() if k in known}

    def section(self, name: str, raw: Any) -> dict[str, Any]:
        checks = SECTIONS[name]
        values = {}
        for key, item in self.mapping((name,), raw, checks).items():
            value = self.value((name, key), item, checks[key])
            if value is not None:
                values[key] = value
        return values

    def build(self, folder: Path) -> Config:
        top = self.mapping((), self.doc.value if self.doc.value is not None else {}, TOP_LEVEL)
        if self.doc.value is None:
            self.problem((), "the file is empty; it needs at least an 'accounts' list")
        timezone = self.value(("timezone",), top["timezone"], _timezone) if "timezone" in top else None
        language = self.value(("language",), top["language"], _language) if "language" in top else None

        history = self.section("history", top.get("history"))
        history_folder = folder / Path(history.pop("folder", "api_usage_history"))
        history_file = folder / Path(history.pop("file", "api_usage_history.json"))
        http = self.section("http", top.get("http"))
        alerts = self.section("alerts", top.get("alerts"))

        channels = self.channels(top)

        heartbeat = None
        if top.get("heartbeat_url") not in (None, ""):
            # ${HEARTBEAT_URL:-} may leave it empty: then there is no heartbeat.
            heartbeat = self.value(("heartbeat_url",), top["heartbeat_url"], _optional_url) or None

        metrics = self.metrics(top["metrics"], folder) if top.get("metrics") is not None else None

        accounts = self.accounts(top.get("defaults"), top.get("accounts"))
        if self.secrets:  # the last line of defence: a secret named in a problem or a warning
            from monitor.redact import Redactor

            hide = Redactor(self.secrets)
            self.problems = [hide(p) for p in self.problems]
            self.warnings = [hide(w) for w in self.warnings]
        if self.problems:
            raise ConfigError(self.problems)
        return Config(
            path=Path(self.where),
            timezone=timezone or _system_timezone(),
            language=language or "zh",
            history=HistorySettings(folder=history_folder, file=history_file, **history),
            http=HttpSettings(**http),
            feishu=next((c.settings for c in channels if isinstance(c.settings, FeishuSettings)), None),
            heartbeat_url=heartbeat,
            accounts=tuple(accounts),
            metrics=metrics,
            channels=tuple(channels),
            alerts=AlertSettings(**alerts),
        )

    def metrics(self, raw: Any, folder: Path) -> MetricsSettings | None:
        values = self.section("metrics", raw)
        given = raw if isinstance(raw, dict) else {}
        if given and "textfile" not in given and "pushgateway_url" not in given:
            self.problem(("metrics",), "needs textfile or pushgateway_url (or remove the metrics section)")
        url = values.pop("pushgateway_url", "")
        if url:  # ${PUSHGATEWAY_URL:-} may leave it empty: then there is no push
            values["pushgateway_url"] = url
            if urlsplit(url).password:  # balances are no secret, a password is
                self._check_plain_http(("metrics", "pushgateway_url"), url, what="the password")
        if "textfile" in values:
            textfile = Path(values["textfile"])
            values["textfile"] = textfile if textfile.is_absolute() else folder / textfile
            if not values["textfile"].parent.is_dir():
                self.warnings.append(
                    f"{self.where}:{self.doc.line_of(('metrics', 'textfile'))}: metrics.textfile: the folder "
                    f"{values['textfile'].parent} does not exist; the metrics cannot be written there"
                )
        if "textfile" not in values and "pushgateway_url" not in values:
            return None
        from monitor.metrics import EXTRA_MISSING, client_installed

        if not client_installed():
            self.problem(("metrics",), EXTRA_MISSING)
        return MetricsSettings(**values)

    def channels(self, top: Mapping[str, Any]) -> list[ChannelEntry]:
        """Every channel section, each a mapping or a list of them, in the order of ``CHANNELS``."""
        found = []
        for name in CHANNELS:
            raw = top.get(name)
            if raw is None:
                continue
            if isinstance(raw, list):
                if not raw:
                    self.problem((name,), "is an empty list: remove it, or list at least one")
                items: list[tuple[tuple[str | int, ...], Any]] = [((name, i), item) for i, item in enumerate(raw)]
            else:
                items = [((name,), raw)]
            for path, item in items:
                settings = self.channel(name, path, item)
                if settings is not None:
                    found.append(ChannelEntry(_dotted(path), settings))
        return found

    def channel(self, name: str, path: tuple[str | int, ...], raw: Any) -> ChannelSettings | None:
        checks = SECTIONS[name]
        given = self.mapping(path, raw, checks)
        if not isinstance(raw, dict):
            if raw is not None and not isinstance(raw, list):
                return None
            if raw is None:
                self.problem(path, f"is empty: give its {', '.join(REQUIRED[name])}, or remove it")
            return None
        values: dict[str, Any] = {}
        for key, item in given.items():
            if key == "headers":
                value = self.header_values((*path, key), item)
            else:
                value = self.value((*path, key), item, checks[key])
            if value is not None:
                values[key] = value
        missing = [k for k in REQUIRED[name] if k not in values and k not in given]
        for key in missing:
            self.problem(path, f"needs {key} (or remove the {name} section)")
        if missing or set(given) - set(values):
            return None
        for key in ("webhook_url", "url", "api_url"):
            if key in values:
                self._check_plain_http((*path, key), values[key])
        return self._channel_settings(name, path, values)

    def _channel_settings(self, name: str, path: tuple[str | int, ...],
                          values: dict[str, Any]) -> ChannelSettings | None:
        if name == "feishu":
            return FeishuSettings(**values)
        if name == "dingtalk":
            if "access_token=" not in urlsplit(values["webhook_url"]).query:
                self.problem((*path, "webhook_url"), "has no access_token=… in it: copy the robot's whole webhook URL")
                return None
            if values.get("secret") and not values["secret"].startswith("SEC"):
                where = (*path, "secret")
                self.warnings.append(f"{self.where}:{self.doc.line_of(where)}: {_dotted(where)}: "
                                     "DingTalk's 加签 secrets start with SEC; is this the right value?")
            return DingTalkSettings(**values)
        if name == "wecom":
            if "key=" not in urlsplit(values["webhook_url"]).query:
                self.problem((*path, "webhook_url"), "has no key=… in it: copy the robot's whole webhook URL")
                return None
            return WeComSettings(**values)
        if name == "slack":
            return SlackSettings(**values)
        if name == "telegram":
            return TelegramSettings(**values)
        if name == "email":
            return self._email(path, values)
        headers = values.pop("headers", ({}, ()))
        return WebhookSettings(**values, headers=headers[0], secret_headers=headers[1])

    def _email(self, path: tuple[str | int, ...], values: dict[str, Any]) -> EmailSettings | None:
        security = values.get("security", "tls")
        port = values.get("port", {"tls": 465, "starttls": 587, "none": 25}[security])
        if bool(values.get("username")) != bool(values.get("password")):
            self.problem(path, "needs both username and password, or neither")
            return None
        if security == "none" and values.get("password") and not _is_loopback(values["host"]):
            self.problem((*path, "security"), f"is none, which would send the password unencrypted to "
                         f"{values['host']}: use tls (port 465) or starttls (port 587)")
            return None
        return EmailSettings(host=values["host"], sender=values["from"], to=values["to"], port=port,
                             security=security, username=values.get("username", ""),
                             password=values.get("password", ""))

    def header_values(self, path: tuple[str | int, ...], raw: Any) -> tuple[dict[str, str], tuple[str, ...]] | None:
        """Extra headers, each value interpolated; values taken from the environment are secrets."""
        if not isinstance(raw, dict):
            self.problem(path, "must be a mapping of header names to strings")
            return None
        headers: dict[str, str] = {}
        secret: list[str] = []
        for key, item in raw.items():
            if not isinstance(item, (str, int)) or isinstance(item, bool):
                self.problem((*path, key), "must be a string")
                continue
            value = self.value((*path, key), str(item), _string)
            if value is None:
                continue
            if isinstance(item, str) and references(item):
                # The whole value ("Bearer …") and each variable's own value, which may show up alone.
                secret += [value, *(self.env.get(name) or "" for name in references(item))]
            elif _SECRET_HEADER.search(str(key)):
                secret.append(value)  # written into the file, but an Authorization header is a secret anyway
            headers[str(key)] = value
        return (headers, tuple(secret)) if len(headers) == len(raw) else None

    def accounts(self, raw_defaults: Any, raw_accounts: Any) -> list[Account]:
        defaults_known = {k: v for k, v in ACCOUNT_KEYS.items() if k != "name"}
        defaults_raw = self.mapping(("defaults",), raw_defaults, defaults_known)
        defaults = {}
        for key, item in defaults_raw.items():
            value = self.value(("defaults", key), item, defaults_known[key])
            if value is not None:
                defaults[key] = value
        defaults_failed = set(defaults_raw) - set(defaults)
        for key in ("base_url", "url"):  # once here, not once per account that inherits it
            if key in defaults:
                self._check_plain_http(("defaults", key), defaults[key])
        if raw_accounts is None:
            self.problem(("accounts",), "is required: list at least one account")
            return []
        if not isinstance(raw_accounts, list) or not raw_accounts:
            self.problem(("accounts",), "must be a list of at least one account")
            return []
        default_provider = defaults.get("provider", "openai-billing")
        accounts: list[Account] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_accounts):
            path: tuple[str | int, ...] = ("accounts", index)
            if raw is None:  # a bare "-": mapping() lets an empty section pass, but an account needs keys
                self.problem(path, "is empty: an account needs at least name and api_key")
                continue
            given = self.mapping(path, raw, ACCOUNT_KEYS)
            if not given and not isinstance(raw, dict):
                continue
            values: dict[str, Any] = {}
            for key, item in given.items():
                value = self.value((*path, key), item, ACCOUNT_KEYS[key])
                if value is not None:
                    values[key] = value
            for key in ("base_url", "url"):
                if key in values:
                    self._check_plain_http((*path, key), values[key])
            provider = values.get("provider", default_provider)
            inherited = set(defaults_raw) - set(given)
            if provider != default_provider:
                inherited -= PROVIDER_KEYS
            # A key that failed in defaults is already reported; do not report it missing per account.
            failed = (set(given) - set(values)) | (defaults_failed & inherited)
            for key in inherited & set(defaults):
                values[key] = defaults[key]
            if values.get("hard_limit", "total") != "total" and provider not in HARD_LIMIT_PROVIDERS:
                where = (*path, "hard_limit") if "hard_limit" in given else ("defaults", "hard_limit")
                self.problem(where, f"applies only to the providers {' and '.join(HARD_LIMIT_PROVIDERS)}, "
                                    f"not {provider}")
            if "management_key" in values and provider != "openrouter":
                where = (*path, "management_key") if "management_key" in given else ("defaults", "management_key")
                self.problem(where, f"applies only to the provider openrouter, not {provider}")
            for key in ADMIN_KEYS:
                if key in values and provider != "new-api-admin":
                    where = (*path, key) if key in given else ("defaults", key)
                    self.problem(where, f"applies only to the provider new-api-admin, not {provider}")
            account = self.account(path, values, failed, provider, seen)
            if account:
                accounts.append(account)
        return accounts

    def account(
        self, path: tuple[str | int, ...], values: dict[str, Any], failed: set[str], provider: str, seen: dict[str, int]
    ) -> Account | None:
        # A site provider signs in with its own admin credential (access_token) instead of an api_key.
        needs_key = provider not in PROVIDERS or PROVIDERS[provider].needs_key
        credential = "api_key" if needs_key else "access_token"
        for required in ("name", credential):
            if required not in values and required not in failed:
                self.problem(path, f"missing {required}")
        name = values.get("name")
        if name is not None:
            if name in seen:
                self.problem((*path, "name"), f"duplicate account name {name!r} (also accounts[{seen[name]}])")
            seen.setdefault(name, int(path[-1]))
        if provider not in PROVIDERS or "provider" in failed:
            return None
        info = PROVIDERS[provider]
        if info.needs_url:
            if "url" not in values and "url" not in failed:
                self.problem(path, f"provider {provider} needs url")
            if "currency" not in values and "currency" not in failed:
                self.problem(path, f"provider {provider} needs currency (the answer does not say)")
            if "balance" not in values and "balance" not in failed:
                self.problem(path, f"provider {provider} needs balance (the dotted path of the balance in the answer)")
        elif info.default_base_url is None and "base_url" not in values and "base_url" not in failed:
            self.problem(path, f"provider {provider} needs base_url (the relay's address, e.g. https://relay.example.com)")
        if not {"name", credential} <= set(values) or failed:
            return None
        values.setdefault("api_key", "")
        values["provider"] = provider
        return Account(**values)

    def _check_plain_http(self, path: tuple[str | int, ...], url: str, what: str = "the key") -> None:
        split = urlsplit(url)
        if split.scheme == "http" and not _is_loopback(split.hostname or ""):
            self.warnings.append(
                f"{self.where}:{self.doc.line_of(path)}: {_dotted(path)}: plain http:// to {split.hostname} "
                f"sends {what} unencrypted; use https://"
            )


def _url_password(url: str) -> list[str]:
    """A URL with ``user:password@`` in it is a secret; so is the password alone."""
    split = urlsplit(url)
    return [url, split.password] if split.password else []


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _system_timezone() -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.readlink("/etc/localtime")
        candidates.append(target.split("zoneinfo/", 1)[-1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    from datetime import datetime

    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


_MISSING = object()  # a value whose ${VAR} is not set (the problem is already recorded)


def _strings(raw: Any) -> list[str]:
    """Every string inside ``raw`` (a value, a mapping of header values, a list)."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, dict):
        return [s for item in raw.values() for s in _strings(item)]
    if isinstance(raw, list):
        return [s for item in raw for s in _strings(item)]
    return []


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "empty",
    }.get(type(value), type(value).__name__)
