"""The vocabulary of the configuration: every settings class, each key declared once on its field
(``schema.setting``: type, default, check, secrecy), a class's cross-field rules in its ``checked``.
Everyone reads these; ``monitor.config`` loads them from ``config.yaml``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from monitor import schema as s
from monitor.prometheus_extra import client_installed, extra_missing
from monitor.providers import PROVIDERS
from monitor.schema import Reader, Settings, Where, nonempty, rule, setting

MAX_NAME_LENGTH = 100


def _timezone(value: Any) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = nonempty(value)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {text!r} (use a name such as Asia/Shanghai or UTC)") from None


def _system_timezone() -> tzinfo:
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(os.readlink("/etc/localtime").split("zoneinfo/", 1)[-1])
    for name in filter(None, candidates):
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(name)
    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


_PLAIN = setting(s.string, secret=False)
_TEXT = setting(nonempty, secret=False)
_WHOLE = setting(s.number(1, integer=True))


# --- the sections -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistorySettings(Settings):
    # the log of runs (JSON Lines files, state.json, the lock), relative to the config's folder
    folder: Path = field(default=Path("api_usage_history"), metadata=_TEXT)
    file: Path = field(default=Path("api_usage_history.json"), metadata=_TEXT)  # a v1 history the first run imports
    retention_days: int = field(default=90, metadata=_WHOLE)
    lock_wait_seconds: float = field(default=30.0, metadata=setting(s.number(0)))
    check_retention_days: int = field(default=8, metadata=_WHOLE)

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        made = super().checked(r, path, values, raw)
        return made and dataclasses.replace(made, folder=r.folder / made.folder, file=r.folder / made.file)


@dataclass(frozen=True)
class AlertSettings(Settings):
    # `check` posts a still-active alert again after this long (0: only on change)
    repeat_hours: float = field(default=0.0, metadata=setting(s.number(0)))


@dataclass(frozen=True)
class HttpSettings(Settings):
    timeout_seconds: float = field(default=10.0, metadata=setting(s.number(0.1)))
    retries: int = field(default=2, metadata=setting(s.number(0, integer=True)))
    max_workers: int = field(default=8, metadata=_WHOLE)
    per_host: int = field(default=4, metadata=_WHOLE)
    run_timeout_seconds: float = field(default=120.0, metadata=setting(s.number(1)))


@dataclass(frozen=True)
class MetricsSettings(Settings):
    """Where the Prometheus metrics go: a node_exporter textfile, a Pushgateway, or both."""

    textfile: Path | None = field(default=None, metadata=setting(rule(nonempty, lambda text: text.endswith(".prom"), (
        lambda text: f"must end in .prom: node_exporter's textfile collector reads only *.prom files, not {text!r}")),
        secret=False))
    # may be ${VAR:-}, empty for "no push"; user:password@ in it is basic auth
    pushgateway_url: str | None = field(default=None, metadata=setting(s.optional_url, secret="endpoint"))
    job: str = field(default="api_balance_monitor", metadata=setting(s.one_line, secret=False))

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        if raw and "textfile" not in raw and "pushgateway_url" not in raw:
            r.problem(path, "needs textfile or pushgateway_url (or remove the metrics section)")
        if not values.get("pushgateway_url"):  # ${PUSHGATEWAY_URL:-} may leave it empty: then there is no push
            values.pop("pushgateway_url", None)
        elif urlsplit(values["pushgateway_url"]).password:  # balances are no secret, a password is
            r.plain_http((*path, "pushgateway_url"), values["pushgateway_url"], what="the password")
        if "textfile" in values:
            values["textfile"] = textfile = r.folder / values["textfile"]
            if not textfile.parent.is_dir():
                r.warn((*path, "textfile"), f"the folder {textfile.parent} does not exist; the metrics cannot be "
                                            "written there")
        if "textfile" not in values and "pushgateway_url" not in values:
            return None
        if not client_installed():
            r.problem(path, extra_missing())
        return cls(**values)


# --- the channels: each section may also be a list of them ------------------------------------------


def _mentions(allowed: str, pattern: str, words: tuple[str, ...] = ("all",)) -> dict[str, s.Setting]:
    def wrong(items: tuple[str, ...]) -> list[str]:
        return [item for item in items if item not in words and not re.fullmatch(pattern, item)]

    return setting(rule(s.string_list, lambda items: not wrong(items), lambda items: f"{wrong(items)[0]!r} is not "
                                                                                      f"{allowed}"), secret=False)


def _shaped(pattern: str, reason: str, check: s.Check = nonempty) -> s.Check:
    return rule(check, lambda text: re.fullmatch(pattern, text), reason)


def _address(value: Any) -> str:
    text = nonempty(value)
    if "@" not in text or any(c.isspace() for c in text.strip("<> ").rsplit("<", 1)[-1]):
        raise ValueError(f"must be an e-mail address such as ops@example.com, not {text!r}")
    return text


def _addresses(value: Any) -> tuple[str, ...]:
    found: tuple[str, ...] = rule(s.string_list, bool, "must list at least one address")(value)
    for item in found:
        _address(item)
    return found


_BOT_TOKEN = _shaped(r"\d+:[A-Za-z0-9_-]+", "must be the token @BotFather gave, shaped 123456789:AA… (digits, a colon, "
                     "letters)")
_CHAT_ID = _shaped(r"-?\d+|@\w{4,}", "must be a chat's number (e.g. \"-1001234567890\", quoted) or a channel's @name",
                   lambda value: nonempty(str(value) if type(value) is int else value))  # unquoted, a number
_HOOK = setting(s.url, secret="url")  # a webhook URL: its path and query are secret
_SECRET = setting(s.string, secret=True)


class _Robot(Settings):
    """A chat robot whose webhook URL carries its token as a query parameter, named ``query_key``."""

    query_key: ClassVar[str]

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        made = super().checked(r, path, values, raw)
        if made and f"{cls.query_key}=" not in urlsplit(made.webhook_url).query:
            r.problem((*path, "webhook_url"), f"has no {cls.query_key}=… in it: copy the robot's whole webhook URL")
            return None
        return made


@dataclass(frozen=True)
class FeishuSettings(Settings):
    webhook_url: str = field(metadata=_HOOK)
    secret: str = field(default="", metadata=_SECRET)
    keyword: str = field(default="", metadata=_PLAIN)
    mention_on_alert: tuple[str, ...] = field(default=(), metadata=setting(s.string_list, secret=False))
    kind: ClassVar[str] = "feishu"


@dataclass(frozen=True)
class DingTalkSettings(_Robot):
    webhook_url: str = field(metadata=_HOOK)  # https://oapi.dingtalk.com/robot/send?access_token=...
    secret: str = field(default="", metadata=_SECRET)  # 加签 (SEC...)
    keyword: str = field(default="", metadata=_PLAIN)
    mention_on_alert: tuple[str, ...] = field(default=(), metadata=_mentions("all or a mobile number",
                                                                              r"\+?[0-9][0-9-]{4,19}"))
    kind: ClassVar[str] = "dingtalk"
    query_key: ClassVar[str] = "access_token"

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        made = super().checked(r, path, values, raw)
        if made and made.secret and not made.secret.startswith("SEC"):
            r.warn((*path, "secret"), "DingTalk's 加签 secrets start with SEC; is this the right value?")
        return made


@dataclass(frozen=True)
class WeComSettings(_Robot):
    webhook_url: str = field(metadata=_HOOK)  # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...
    mention_on_alert: tuple[str, ...] = field(default=(), metadata=_mentions("all or a WeCom user id",
                                                                              r"[A-Za-z0-9_.@-]+"))
    kind: ClassVar[str] = "wecom"
    query_key: ClassVar[str] = "key"


@dataclass(frozen=True)
class SlackSettings(Settings):
    webhook_url: str = field(metadata=_HOOK)
    mention_on_alert: tuple[str, ...] = field(default=(), metadata=_mentions(
        "channel, here, everyone or a member id (U…)", r"[UW][A-Z0-9]{2,}", ("channel", "here", "everyone")))
    kind: ClassVar[str] = "slack"


@dataclass(frozen=True)
class TelegramSettings(Settings):
    bot_token: str = field(metadata=setting(_BOT_TOKEN, secret=True))
    chat_id: str = field(metadata=setting(_CHAT_ID, secret=False))
    api_url: str = field(default="https://api.telegram.org", metadata=setting(s.url, secret="endpoint"))
    kind: ClassVar[str] = "telegram"

    def secrets(self) -> list[str]:
        return [*super().secrets(), f"bot{self.bot_token}"]  # as it stands in the API's path


@dataclass(frozen=True)
class EmailSettings(Settings):
    host: str = field(metadata=_TEXT)
    sender: str = field(metadata=setting(_address, secret=False, key="from"))
    to: tuple[str, ...] = field(metadata=setting(_addresses, secret=False))
    port: int = field(default=465, metadata=setting(rule(s.number(1, integer=True), lambda port: port <= 65535,
                                                         "must be a port number, 1 to 65535")))
    security: str = field(default="tls", metadata=setting(s.one_of("tls", "starttls", "none"), secret=False))
    username: str = field(default="", metadata=setting(s.string))
    password: str = field(default="", metadata=_SECRET)
    kind: ClassVar[str] = "email"

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        if "port" not in raw:  # by default the one of `security`
            values["port"] = {"tls": 465, "starttls": 587, "none": 25}[values.get("security", "tls")]
        made = super().checked(r, path, values, raw)
        if made and bool(made.username) != bool(made.password):
            r.problem(path, "needs both username and password, or neither")
            return None
        if made and made.security == "none" and made.password and not s.is_loopback(made.host):
            r.problem((*path, "security"), f"is none, which would send the password unencrypted to {made.host}: "
                                           "use tls (port 465) or starttls (port 587)")
            return None
        return made


@dataclass(frozen=True)
class WebhookSettings(Settings):
    url: str = field(metadata=_HOOK)
    secret: str = field(default="", metadata=_SECRET)
    # extra headers; a value taken from the environment, or a credential header's, is a secret
    headers: Mapping[str, str] = field(default_factory=dict, metadata=setting(s.string, secret="header",
                                                                              per_header=True))
    kind: ClassVar[str] = "webhook"


ChannelSettings = (FeishuSettings | DingTalkSettings | WeComSettings | SlackSettings | TelegramSettings
                   | EmailSettings | WebhookSettings)
CHANNELS: dict[str, type[Settings]] = {cls.kind: cls for cls in (
    FeishuSettings, DingTalkSettings, WeComSettings, SlackSettings, TelegramSettings, EmailSettings, WebhookSettings)}


@dataclass(frozen=True)
class ChannelEntry(Settings):
    """One configured channel: ``label`` is its config path (``dingtalk``, or ``dingtalk[1]`` in a list)."""

    label: str
    settings: ChannelSettings


def read_channels(r: Reader, top: Mapping[str, Any]) -> list[ChannelEntry]:
    """Every channel section, each a mapping or a list of them, in the order of ``CHANNELS``."""
    found = []
    for name, cls in CHANNELS.items():
        if (raw := top.get(name)) == []:
            r.problem((name,), "is an empty list: remove it, or list at least one")
        items = [((name, i), item) for i, item in enumerate(raw)] if isinstance(raw, list) else [((name,), raw)]
        for path, item in items if raw is not None else []:
            if item is None:
                required = [key for key, d in s.declared(cls).items() if d.required]
                r.problem(path, f"is empty: give its {', '.join(required)}, or remove it")
            elif (settings := r.section(cls, path, item)) is not None:
                found.append(ChannelEntry(s.dotted(path), settings))
    return found


# --- accounts -------------------------------------------------------------------------------------------


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


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, (str, int)) for v in value.values()):
        raise ValueError("must be a mapping of header names to strings")
    return {str(k): str(v) for k, v in value.items()}


def _provider(value: Any) -> str:
    import difflib

    if (text := s.string(value)) not in PROVIDERS:
        close = difflib.get_close_matches(text, list(PROVIDERS), n=1, cutoff=0.6)
        raise ValueError(f"unknown provider {text!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f" (known: {', '.join(PROVIDERS)})")
    return text


def _currency(value: Any) -> str:
    text = nonempty(value).upper()
    if not text.isalpha() or len(text) != 3:
        raise ValueError(f"must be a three-letter currency code such as USD or CNY, not {value!r}")
    return text


_NAME = rule(rule(lambda value: nonempty(str(value) if type(value) in (int, float) else value), (
    lambda text: len(text) <= MAX_NAME_LENGTH), lambda text: f"is {len(text)} characters long; keep it to "
    f"{MAX_NAME_LENGTH} so the report stays readable"), s.printable, s.NOT_PRINTABLE)
_MONEY = setting(_money)
_ENDPOINT = setting(s.url, secret="endpoint")  # secret in its query (?key=) and user part
# The keys that describe one provider's endpoint or money: an account takes them from ``defaults`` only
# when it uses ``defaults.provider`` (a DeepSeek account must never send its key to the relay's host,
# and an OpenRouter account must never be relabelled CNY because the relays are).
PROVIDER_KEYS = frozenset({"base_url", "currency", "hard_limit", "url", "headers", "balance", "used", "total",
                           "divisor"})
ADMIN_KEYS = ("access_token", "user_id", "user_header", "watch", "refresh", "user_low_balance")  # new-api-admin's
# ... and one provider's credentials and settings (OpenRouter's management key, a relay site's admin keys)
OWN_KEYS = PROVIDER_KEYS | {"management_key", *ADMIN_KEYS}
HARD_LIMIT_PROVIDERS = ("openai-billing", "new-api")  # new-api falls back to the billing routes
ONLY_FOR = {"hard_limit": HARD_LIMIT_PROVIDERS, "management_key": ("openrouter",),  # when not their default
            **{key: ("new-api-admin",) for key in ADMIN_KEYS}}
WATCHABLE = ("channels", "users")


def _watch(value: Any) -> tuple[str, ...]:
    found = s.string_list(value)
    for item in found:
        if item not in WATCHABLE:
            close = difflib.get_close_matches(item, WATCHABLE, n=1, cutoff=0.6)
            raise ValueError(f"{item!r} is not channels or users" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if not found:
        raise ValueError("must list channels, users or both")
    return tuple(dict.fromkeys(found))


def _user_id(value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else nonempty(value).strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError("must be the admin's numeric user id (e.g. 1), not a user name")
    return text


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {s.type_name(value)}")
    return value


@dataclass(frozen=True)
class Account(Settings):
    name: str = field(metadata=setting(_NAME, secret=False))
    provider: str = field(metadata=setting(_provider, secret=False, required=False))  # default: defaults.provider
    api_key: str = field(metadata=setting(nonempty, secret="key"))
    base_url: str | None = field(default=None, metadata=_ENDPOINT)
    url: str | None = field(default=None, metadata=_ENDPOINT)
    currency: str | None = field(default=None, metadata=setting(_currency, secret=False))
    low_balance: Decimal = field(default=Decimal("1"), metadata=_MONEY)
    low_days: Decimal = field(default=Decimal("3"), metadata=_MONEY)
    # a period's spend rate this many times the usual one is a spike, when at least spike_min_amount was spent
    spike_factor: Decimal = field(default=Decimal("3"), metadata=_MONEY)
    spike_min_amount: Decimal = field(default=Decimal("1"), metadata=_MONEY)
    headers: Mapping[str, str] = field(default_factory=dict, metadata=setting(_headers, secret="header"))
    balance: str | None = field(default=None, metadata=_TEXT)  # json provider: dotted paths into the answer
    used: str | None = field(default=None, metadata=_TEXT)
    total: str | None = field(default=None, metadata=_TEXT)
    divisor: Decimal = field(default=Decimal("1"), metadata=setting(rule(_money, lambda amount: amount != 0,
                                                                         "must be more than 0 (every amount is "
                                                                         "divided by it)")))
    # openai-billing: what hard_limit_usd means, "total" or "remaining"
    hard_limit: str = field(default="total", metadata=setting(rule(nonempty, lambda text: text in (
        "total", "remaining"), lambda text: f"must be total (the default) or remaining, not {text!r}")))
    management_key: str | None = field(default=None, metadata=setting(nonempty, secret=True))  # openrouter: credits
    # new-api-admin, a relay site as its admin sees it (reference/operators.md §1): the admin's system access
    # token (系统访问令牌), the admin's numeric user id sent as user_header (forks renamed it), what to watch
    access_token: str | None = field(default=None, metadata=setting(nonempty, secret=True))
    user_id: str | None = field(default=None, metadata=setting(_user_id, secret=False))
    user_header: str = field(default="New-Api-User", metadata=setting(rule(
        nonempty, lambda text: re.fullmatch(r"[A-Za-z0-9-]+", text),
        lambda text: f"must be an HTTP header name such as New-Api-User, not {text!r}"), secret=False))
    watch: tuple[str, ...] = field(default=("channels",), metadata=setting(_watch, secret=False))
    refresh: bool = field(default=False, metadata=setting(_boolean))  # each channel's balance refreshed first
    user_low_balance: Decimal | None = field(default=None, metadata=_MONEY)  # users below it: low (else low_balance)
    spike_window_minutes: float = field(default=30, metadata=setting(s.number(1)))  # a spike's span, at least

    @property
    def host(self) -> str:
        """The host this account's queries go to (shown by check-config)."""
        return urlsplit(self.url or self.base_url or PROVIDERS[self.provider].default_base_url or "").netloc

    @classmethod
    def read_all(cls, r: Reader, raw_defaults: Any, raw_accounts: Any) -> list[Account]:
        """``defaults``, then every account with what it inherits from them (SPEC, Configuration)."""
        defaults, defaults_given = r.fields(cls, ("defaults",), raw_defaults, skip="name")
        defaults_failed = set(defaults_given) - set(defaults)
        if raw_accounts is None or not isinstance(raw_accounts, list) or not raw_accounts:
            r.problem(("accounts",), "is required: list at least one account" if raw_accounts is None
                      else "must be a list of at least one account")
            return []
        default_provider = defaults.get("provider", "openai-billing")
        accounts: list[Account] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_accounts):
            path: Where = ("accounts", index)
            if raw is None:  # a bare "-": mapping() lets an empty section pass, but an account needs keys
                r.problem(path, "is empty: an account needs at least name and api_key")
                continue
            values, given = r.fields(cls, path, raw)
            if not isinstance(raw, dict):
                continue
            provider = values.get("provider", default_provider)
            inherited = set(defaults_given) - set(given) - (OWN_KEYS if provider != default_provider else set())
            # A key that failed in defaults is already reported; do not report it missing per account.
            failed = (set(given) - set(values)) | (defaults_failed & inherited)
            values.update((key, defaults[key]) for key in inherited & set(defaults))
            for key, allowed in ONLY_FOR.items():
                default = cls.__dataclass_fields__[key].default
                if values.get(key, default) != default and provider not in allowed:
                    r.problem((*path, key) if key in given else ("defaults", key), f"applies only to the provider"
                              f"{'s' if len(allowed) > 1 else ''} {' and '.join(allowed)}, not {provider}")
            if (account := cls.checked_one(r, path, values, failed, provider, seen)) is not None:
                accounts.append(account)
        return accounts

    @classmethod
    def checked_one(cls, r: Reader, path: Where, values: dict[str, Any], failed: set[str], provider: str,
                    seen: dict[str, int]) -> Account | None:
        required = [key for key, d in s.declared(cls).items() if d.required]
        if provider in PROVIDERS and not PROVIDERS[provider].needs_key:  # a site signs in with its admin token
            required = [key if key != "api_key" else "access_token" for key in required]
            values.setdefault("api_key", "")
        if provider in PROVIDERS and not PROVIDERS[provider].needs_key:  # a site signs in with its admin token
            required = [key if key != "api_key" else "access_token" for key in required]
            values.setdefault("api_key", "")
        for key in required:
            if key not in values and key not in failed:
                r.problem(path, f"missing {key}")
        if (name := values.get("name")) is not None:
            if name in seen:
                r.problem((*path, "name"), f"duplicate account name {name!r} (also accounts[{seen[name]}])")
            seen.setdefault(name, int(path[-1]))
        if provider not in PROVIDERS or "provider" in failed:
            return None
        needs = {"base_url": " (the relay's address, e.g. https://relay.example.com)"}
        if PROVIDERS[provider].needs_url:
            needs = {"url": "", "currency": " (the answer does not say)",
                     "balance": " (the dotted path of the balance in the answer)"}
        elif PROVIDERS[provider].default_base_url is not None:
            needs = {}
        for key, why in needs.items():
            if key not in values and key not in failed:
                r.problem(path, f"provider {provider} needs {key}{why}")
        return None if failed or not set(required) <= set(values) else cls(**{**values, "provider": provider})


# --- the whole file -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config(Settings):
    path: Path
    accounts: tuple[Account, ...]
    timezone: tzinfo = field(default_factory=_system_timezone, metadata=setting(_timezone, secret=False))
    language: str = field(default="zh", metadata=setting(s.one_of("zh", "en"), secret=False))
    history: HistorySettings = HistorySettings()
    http: HttpSettings = HttpSettings()
    alerts: AlertSettings = AlertSettings()
    channels: tuple[ChannelEntry, ...] = ()
    feishu: FeishuSettings | None = None  # the first Feishu bot, if any (every channel is in ``channels``)
    heartbeat_url: str | None = field(default=None, metadata=setting(s.optional_url, secret="url"))
    metrics: MetricsSettings | None = None
    warnings: tuple[str, ...] = ()
    secret_values: tuple[str, ...] = ()  # every secret the loader met (see schema.Reader.expand)

    def secrets(self) -> list[str]:
        """Every value that must never be shown: keys, URLs' tokens, signing secrets, header values,
        and each value taken from the environment."""
        return [*super().secrets(), *self.secret_values]


# The settings class of each section that is not a channel.
SETTINGS_OF = {"history": HistorySettings, "http": HttpSettings, "alerts": AlertSettings, "metrics": MetricsSettings}
SECTIONS = {name: tuple(s.declared(cls)) for name, cls in {**SETTINGS_OF, **CHANNELS}.items()}  # the keys of each
ACCOUNT_KEYS = tuple(s.declared(Account))
TOP_LEVEL = ("timezone", "language", "history", "http", *CHANNELS, "heartbeat_url", "alerts", "metrics", "defaults",
             "accounts")


