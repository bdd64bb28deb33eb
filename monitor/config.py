"""Load and validate ``config.yaml`` (with ``.env``): every error, each with its file, line and key.

The settings classes, each key declared once on its field, are in ``monitor.settings`` (re-exported here);
this module reads the file, interpolates ``${VAR}`` from ``.env`` and the environment, and walks them.
"""

from __future__ import annotations

import dataclasses
import io
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor import schema as s
from monitor.schema import Reader
from monitor.settings import ACCOUNT_KEYS as ACCOUNT_KEYS
from monitor.settings import CHANNELS as CHANNELS
from monitor.settings import HARD_LIMIT_PROVIDERS as HARD_LIMIT_PROVIDERS
from monitor.settings import ONLY_FOR as ONLY_FOR
from monitor.settings import OWN_KEYS as OWN_KEYS
from monitor.settings import PROVIDER_KEYS as PROVIDER_KEYS
from monitor.settings import SECTIONS as SECTIONS
from monitor.settings import SETTINGS_OF, read_channels
from monitor.settings import TOP_LEVEL as TOP_LEVEL
from monitor.settings import Account as Account
from monitor.settings import AlertSettings as AlertSettings
from monitor.settings import ChannelEntry as ChannelEntry
from monitor.settings import ChannelSettings as ChannelSettings
from monitor.settings import Config as Config
from monitor.settings import DingTalkSettings as DingTalkSettings
from monitor.settings import EmailSettings as EmailSettings
from monitor.settings import FeishuSettings as FeishuSettings
from monitor.settings import HistorySettings as HistorySettings
from monitor.settings import HttpSettings as HttpSettings
from monitor.settings import MetricsSettings as MetricsSettings
from monitor.settings import SlackSettings as SlackSettings
from monitor.settings import TelegramSettings as TelegramSettings
from monitor.settings import WebhookSettings as WebhookSettings
from monitor.settings import WeComSettings as WeComSettings

DEFAULT_CONFIG = "config.yaml"
CONFIG_ENV = "API_BALANCE_MONITOR_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024  # a config larger than this is surely not hand-written


class ConfigError(Exception):
    """Every problem found, one per line, each naming the file, the line and the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def resolve_path(cli_path: str | None, environ: Mapping[str, str]) -> Path:
    """``-c``, else ``$API_BALANCE_MONITOR_CONFIG``, else ``./config.yaml``."""
    return Path(cli_path or environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate the config at ``path``; raise ``ConfigError`` listing every problem."""
    from dotenv import dotenv_values

    from monitor import yamlload

    try:
        if (size := path.stat().st_size) > MAX_CONFIG_BYTES:
            raise ConfigError([f"{path}: the file is {size} bytes; a config is at most {MAX_CONFIG_BYTES} bytes"])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (give one with -c PATH or ${CONFIG_ENV})"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder, not a config file"]) from None
    except PermissionError:
        raise ConfigError([f"{path}: cannot be read (permission denied)"]) from None
    try:
        doc = yamlload.load(_text(path, raw, byte=True))
    except yamlload.YamlSyntaxError as exc:
        from monitor.redact import scrub

        raise ConfigError([f"{path}:{exc.line}: YAML syntax error: {scrub(exc.message)}"]) from None
    # The folder as the path names it: a config reached through a symbolic link finds the .env and the
    # history beside the link (where the operator put them), not beside the link's target.
    folder = path.absolute().parent
    env_file = folder / ".env"
    dotenv = dotenv_values(stream=io.StringIO(_text(env_file, _read(env_file)) if env_file.is_file() else ""))
    environ = os.environ if environ is None else environ
    r = Reader(str(path), doc, {**{k: v for k, v in dotenv.items() if v is not None}, **environ}, env_file, folder)
    config = _build(r)  # the real environment wins over .env, above
    warnings = [*r.warnings, *_permission_warnings(path, env_file, r.written_secrets)]
    return dataclasses.replace(config, warnings=tuple(warnings), secret_values=tuple(r.secrets))


def _build(r: Reader) -> Config:
    top = r.mapping((), r.doc.value if r.doc.value is not None else {}, TOP_LEVEL)
    if r.doc.value is None:
        r.problem((), "the file is empty; it needs at least an 'accounts' list")
    keys = s.declared(Config)
    found: dict[str, Any] = {key: r.value((key,), top[key], keys[key]) for key in ("timezone", "language")
                             if key in top}
    found.update((name, r.section(SETTINGS_OF[name], (name,), top.get(name))) for name in ("history", "http", "alerts"))
    channels = read_channels(r, top)
    if top.get("heartbeat_url") not in (None, ""):  # ${HEARTBEAT_URL:-} may leave it empty: then there is none
        found["heartbeat_url"] = r.value(("heartbeat_url",), top["heartbeat_url"], keys["heartbeat_url"]) or None
    if top.get("metrics") is not None:
        found["metrics"] = r.section(MetricsSettings, ("metrics",), top["metrics"])
    accounts = Account.read_all(r, top.get("defaults"), top.get("accounts"))
    r.finish()
    if r.problems:
        raise ConfigError(r.problems)
    feishu = next((c.settings for c in channels if isinstance(c.settings, FeishuSettings)), None)
    return Config(path=Path(r.where), accounts=tuple(accounts), channels=tuple(channels), feishu=feishu,
                  **{key: value for key, value in found.items() if value is not None})


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{file}: cannot be read ({exc.strerror or exc})"]) from None


def _text(file: Path, raw: bytes, byte: bool = False) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([f"{file}:{line}: the file is not UTF-8 text{f' (byte {exc.start})' if byte else ''}; "
                           "save it as UTF-8"]) from None


def _permission_warnings(path: Path, env_file: Path, written_secrets: bool) -> list[str]:
    found = []
    for target in [*([env_file] if env_file.is_file() else []), *([path] if written_secrets else [])]:
        if (mode := target.stat().st_mode) & (stat.S_IRWXG | stat.S_IRWXO):
            found.append(f"{target}: holds secrets but is readable by group or others (mode "
                         f"{stat.S_IMODE(mode):03o}); fix: chmod 600 {target}")
    return found
