"""Load and validate ``config.yaml`` (with ``.env``): every error, each with its file, line and key.
The settings classes are in ``monitor.settings``, a channel's and a provider's own in their modules."""

from __future__ import annotations

import dataclasses
import importlib
import io
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor import notify, providers, settings
from monitor.redact import scrub
from monitor.schema import Reader, Settings, declared, dotted
from monitor.settings import Account, ChannelEntry, Config, HttpSettings, ProviderKeys


def channels() -> dict[str, type[Settings]]:
    """Each channel's settings class (its module's ``SETTINGS``), by section name, in the table's order."""
    return {name: notify.settings_class(name) for name in notify.CHANNELS}


def own_keys() -> dict[str, type[ProviderKeys]]:
    """Each provider's own account keys (its module's ``KEYS``), by provider name, for those that have some."""
    return {name: keys for name, info in providers.PROVIDERS.items()
            if (keys := getattr(importlib.import_module(info.module), "KEYS", None))}


def top_level() -> tuple[str, ...]:
    return ("timezone", "language", "history", "http", *channels(), "heartbeat_url", "alerts", "metrics", "defaults",
            "accounts")


SETTINGS_OF = {"history": settings.HistorySettings, "http": HttpSettings, "alerts": settings.AlertSettings,
               "metrics": settings.MetricsSettings}
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
        raise ConfigError([f"{path}:{exc.line}: YAML syntax error: {scrub(exc.message)}"]) from None
    # The folder as the path names it: a config reached through a symbolic link finds the .env and the
    # history beside the link (where the operator put them), not beside the link's target.
    folder = path.absolute().parent
    env_file = folder / ".env"
    try:
        env_text = _text(env_file, env_file.read_bytes()) if env_file.is_file() else ""
    except OSError as exc:
        raise ConfigError([f"{env_file}: cannot be read ({exc.strerror or exc})"]) from None
    dotenv = dotenv_values(stream=io.StringIO(env_text))
    environ = os.environ if environ is None else environ
    r = Reader(str(path), doc, {**{k: v for k, v in dotenv.items() if v is not None}, **environ}, env_file, folder)
    config = _build(r)  # the real environment wins over .env, above
    warnings = [*r.warnings, *_permission_warnings(path, env_file, r.written_secrets)]
    return dataclasses.replace(config, warnings=tuple(warnings), secret_values=tuple(r.secrets))


def _build(r: Reader) -> Config:
    top = r.mapping((), r.doc.value, top_level())
    if r.doc.value is None:
        r.problem((), "the file is empty; it needs at least an 'accounts' list")
    keys = declared(Config)
    found: dict[str, Any] = {key: r.value((key,), top[key], keys[key]) for key in ("timezone", "language")
                             if key in top}
    found.update((name, r.section(SETTINGS_OF[name], (name,), top.get(name)))
                 for name in ("history", "http", "alerts"))
    found_channels = _channels(r, top)
    if top.get("heartbeat_url") not in (None, ""):  # ${HEARTBEAT_URL:-} may leave it empty: then there is none
        found["heartbeat_url"] = r.value(("heartbeat_url",), top["heartbeat_url"], keys["heartbeat_url"]) or None
    found["metrics"] = r.section(SETTINGS_OF["metrics"], ("metrics",), top.get("metrics"))  # None when absent
    accounts = Account.read_all(r, top.get("defaults"), top.get("accounts"), own_keys())
    r.finish()
    if r.problems:
        raise ConfigError(r.problems)
    return Config(path=Path(r.where), accounts=tuple(accounts), channels=tuple(found_channels),
                  **{key: value for key, value in found.items() if value is not None})


def _channels(r: Reader, top: Mapping[str, Any]) -> list[ChannelEntry]:
    """Every channel section, each a mapping or a list of them, in the order of the channel table."""
    found = []
    for name, cls in channels().items():
        if (raw := top.get(name)) == []:
            r.problem((name,), "is an empty list: remove it, or list at least one")
        items = [((name, i), item) for i, item in enumerate(raw)] if isinstance(raw, list) else [((name,), raw)]
        for path, item in items if name in top else []:  # a bare "wecom:" is a section left half uncommented
            if item is None:
                required = [key for key, d in declared(cls).items() if d.required]
                r.problem(path, f"is empty: give its {', '.join(required)}, or remove it")
            elif (made := r.section(cls, path, item)) is not None:
                found.append(ChannelEntry(dotted(path), made))
    return found


def _text(file: Path, raw: bytes, byte: bool = False) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([f"{file}:{line}: the file is not UTF-8 text{f' (byte {exc.start})' if byte else ''}; "
                           "save it as UTF-8"]) from None


def _permission_warnings(path: Path, env_file: Path, written_secrets: bool) -> list[str]:
    secret_files = [*([env_file] if env_file.is_file() else []), *([path] if written_secrets else [])]
    return [f"{target}: holds secrets but is readable by group or others (mode {stat.S_IMODE(mode):03o}); fix: "
            f"chmod 600 {target}" for target in secret_files if (mode := target.stat().st_mode) & 0o077]
