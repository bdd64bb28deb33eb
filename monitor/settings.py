"""Every settings class of the configuration (see ``monitor.schema``); ``monitor.config`` loads them."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from monitor import checks
from monitor.checks import nonempty, rule
from monitor.prometheus_extra import client_installed, extra_missing
from monitor.providers import PROVIDERS
from monitor.schema import Reader, Settings, Where, declared, setting

MAX_NAME_LENGTH = 100


def _system_timezone() -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(os.readlink("/etc/localtime").split("zoneinfo/", 1)[-1])
    for name in filter(None, candidates):
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(name)
    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


_TEXT = setting(nonempty, secret=False)
_WHOLE = setting(checks.number(1, integer=True))


@dataclass(frozen=True)
class HistorySettings(Settings):
    # the log of runs (JSON Lines files, state.json, the lock), relative to the config's folder
    folder: Path = field(default=Path("api_usage_history"), metadata=_TEXT)
    file: Path = field(default=Path("api_usage_history.json"), metadata=_TEXT)  # a v1 history the first run imports
    retention_days: int = field(default=90, metadata=_WHOLE)
    lock_wait_seconds: float = field(default=30.0, metadata=setting(checks.number(0)))
    check_retention_days: int = field(default=8, metadata=_WHOLE)

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        made = super().checked(r, path, values, raw)
        return made and dataclasses.replace(made, folder=r.folder / made.folder, file=r.folder / made.file)


@dataclass(frozen=True)
class AlertSettings(Settings):
    # `check` posts a still-active alert again after this long (0: only on change)
    repeat_hours: float = field(default=0.0, metadata=setting(checks.number(0)))


@dataclass(frozen=True)
class HttpSettings(Settings):
    timeout_seconds: float = field(default=10.0, metadata=setting(checks.number(0.1)))
    retries: int = field(default=2, metadata=setting(checks.number(0, integer=True)))
    max_workers: int = field(default=8, metadata=_WHOLE)
    per_host: int = field(default=4, metadata=_WHOLE)
    run_timeout_seconds: float = field(default=120.0, metadata=setting(checks.number(1)))


@dataclass(frozen=True)
class MetricsSettings(Settings):
    """Where the Prometheus metrics go: a node_exporter textfile, a Pushgateway, or both."""

    textfile: Path | None = field(default=None, metadata=setting(rule(nonempty, lambda text: text.endswith(".prom"), (
        lambda text: f"must end in .prom: node_exporter's textfile collector reads only *.prom files, not {text!r}")),
        secret=False))
    # may be ${VAR:-}, empty for "no push"; user:password@ in it is basic auth
    pushgateway_url: str | None = field(default=None, metadata=setting(checks.optional_url, secret="endpoint"))
    job: str = field(default="api_balance_monitor", metadata=setting(checks.one_line, secret=False))

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


@dataclass(frozen=True)
class ChannelEntry(Settings):
    """One configured channel: ``label`` is its config path (``dingtalk``, or ``dingtalk[1]`` in a list)."""

    label: str
    settings: Settings  # the class its module names SETTINGS


def _provider(value: Any) -> str:
    if (text := checks.string(value)) not in PROVIDERS:
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
    f"{MAX_NAME_LENGTH} so the report stays readable"), checks.printable, checks.NOT_PRINTABLE)
_MONEY = setting(checks.money)


@dataclass(frozen=True)
class ProviderKeys(Settings):
    """A provider's own account keys (its module's ``KEYS``), read typed with ``account.keys(TheirKeys)``. Like
    ``base_url`` they describe one provider's endpoint, money or credentials, so an account inherits them from
    ``defaults`` only when it uses ``defaults.provider`` (a DeepSeek key must never go to the relay's host); on
    another provider's account a value other than the default is refused (ignored when ``refused`` is False)."""

    refused: ClassVar[bool] = True

    def endpoint(self) -> str | None:
        """The URL queried instead of ``base_url``, when these keys name one (check-config shows its host)."""
        return None


K = TypeVar("K", bound=ProviderKeys)
OwnKeys = Mapping[str, type[ProviderKeys]]  # each provider's KEYS, by provider name (the loader finds them)


@dataclass(frozen=True)
class Account(Settings):
    name: str = field(metadata=setting(_NAME, secret=False))
    provider: str = field(metadata=setting(_provider, secret=False, required=False))  # default: defaults.provider
    api_key: str = field(metadata=setting(nonempty, secret="key"))
    base_url: str | None = field(default=None, metadata=setting(checks.url, secret="endpoint"))  # its query is secret
    currency: str | None = field(default=None, metadata=setting(_currency, secret=False))
    low_balance: Decimal = field(default=Decimal("1"), metadata=_MONEY)
    low_days: Decimal = field(default=Decimal("3"), metadata=_MONEY)
    # a period's spend rate this many times the usual one is a spike, when at least spike_min_amount was spent
    spike_factor: Decimal = field(default=Decimal("3"), metadata=_MONEY)
    spike_min_amount: Decimal = field(default=Decimal("1"), metadata=_MONEY)
    spike_window_minutes: float = field(default=30, metadata=setting(checks.number(1)))  # a spike's span, at least
    own: ProviderKeys | None = None  # its provider's own keys (the module's KEYS), as the loader read them

    def keys(self, kind: type[K]) -> K:
        """This account's values of its provider's own keys: ``kind``'s defaults when it has none of them."""
        return self.own if isinstance(self.own, kind) else kind()

    @property
    def host(self) -> str:
        """The host this account's queries go to (shown by check-config)."""
        own = self.own.endpoint() if self.own else None
        return urlsplit(own or self.base_url or PROVIDERS[self.provider].default_base_url or "").netloc

    @classmethod
    def read_all(cls, r: Reader, raw_defaults: Any, raw_accounts: Any, own: OwnKeys) -> list[Account]:
        """``defaults``, then every account with what it inherits from them (SPEC, Configuration)."""
        kinds = tuple(dict.fromkeys(own.values()))
        # The keys of one provider's endpoint, money or credentials: inherited only by defaults.provider's.
        provider_keys = {"base_url", "currency", *(key for kind in kinds for key in declared(kind))}
        defaults, defaults_given = r.fields((cls, *kinds), ("defaults",), raw_defaults, skip="name")
        defaults_failed = set(defaults_given) - set(defaults)
        if raw_accounts is None or not isinstance(raw_accounts, list) or not raw_accounts:
            r.problem(("accounts",), "is required: list at least one account" if raw_accounts is None
                      else "must be a list of at least one account")
            return []
        default_provider = defaults.get("provider", "openai-billing")
        for kind in (kind for kind in kinds if not kind.refused and kind is not own.get(default_provider)):
            for key in sorted(set(declared(kind)) & set(defaults_given)):  # json's keys: taken, never refused
                r.warn(("defaults", key), f"does nothing: defaults give it only to {default_provider} accounts "
                                          "(defaults.provider), which do not take it; set it on the accounts")
        accounts: list[Account] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_accounts):
            path: Where = ("accounts", index)
            if raw is None:  # a bare "-": mapping() lets an empty section pass, but an account needs keys
                r.problem(path, "is empty: an account needs at least name and api_key")
                continue
            values, given = r.fields((cls, *kinds), path, raw)
            if not isinstance(raw, dict):
                continue
            provider = values.get("provider", default_provider)
            inherited = set(defaults_given) - set(given) - (provider_keys if provider != default_provider else set())
            # A key that failed in defaults is already reported; do not report it missing per account.
            failed = (set(given) - set(values)) | (defaults_failed & inherited)
            values.update((key, defaults[key]) for key in inherited & set(defaults))
            for kind in (kind for kind in kinds if kind.refused and kind is not own.get(provider)):
                allowed = [name for name, keys in own.items() if keys is kind]
                for key, d in declared(kind).items():
                    if d.name in values and values[d.name] != getattr(kind(), d.name):
                        r.problem((*path, key) if key in given else ("defaults", key), f"applies only to the provider"
                                  f"{'s' if len(allowed) > 1 else ''} {' and '.join(allowed)}, not {provider}")
            if (account := cls.checked_one(r, path, values, failed, provider, seen, own.get(provider))) is not None:
                accounts.append(account)
        return accounts

    @classmethod
    def checked_one(cls, r: Reader, path: Where, values: dict[str, Any], failed: set[str], provider: str,
                    seen: dict[str, int], kind: type[ProviderKeys] | None) -> Account | None:
        required = [key for key, d in [*declared(cls).items(), *declared(kind or ProviderKeys).items()]
                    if d.required]
        if provider in PROVIDERS and not PROVIDERS[provider].needs_key:  # a site signs in with a token of its own
            required.remove("api_key")
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
        if failed or not set(required) <= set(values):
            return None
        mine = {n: v for n, v in values.items() if n in cls.__dataclass_fields__}
        keys = kind(**{n: v for n, v in values.items() if n in kind.__dataclass_fields__}) if kind else None
        return cls(**{**mine, "provider": provider, "own": keys})


@dataclass(frozen=True)
class Config(Settings):
    path: Path
    accounts: tuple[Account, ...]
    timezone: tzinfo = field(default_factory=_system_timezone, metadata=setting(checks.timezone, secret=False))
    language: str = field(default="zh", metadata=setting(checks.one_of("zh", "en"), secret=False))
    history: HistorySettings = HistorySettings()
    http: HttpSettings = HttpSettings()
    alerts: AlertSettings = AlertSettings()
    channels: tuple[ChannelEntry, ...] = ()
    heartbeat_url: str | None = field(default=None, metadata=setting(checks.optional_url, secret="url"))
    metrics: MetricsSettings | None = None
    warnings: tuple[str, ...] = ()
    secret_values: tuple[str, ...] = ()  # every secret the loader met (see schema.Reader.expand)

    def secrets(self) -> list[str]:
        """Every value that must never be shown: the declared secrets, and each value taken from the environment."""
        return [*super().secrets(), *self.secret_values]
