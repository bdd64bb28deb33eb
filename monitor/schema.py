"""The vocabulary of settings, and the one reader that walks them: a key is declared once, on its dataclass
field (``field(default=…, metadata=setting(check, secret=…))``), its cross-field rules in its class's ``checked``;
``Reader`` reports every problem with file, line and key, and the variable to fix, never a secret."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from monitor import interpolate as env
from monitor import redact
from monitor.checks import Check, is_loopback, type_name, url
from monitor.interpolate import MissingVariable, interpolate, is_reference, references, written_part

Where = tuple[str | int, ...]  # a path into the document: ("accounts", 2, "api_key")


@dataclass(frozen=True)
class Setting:
    check: Check
    secret: str | None = None  # how the value is secret (a kind of redact.secret_parts), or None
    plain: bool = False  # not a secret even when taken from the environment (a path, a name)
    key: str = ""  # the YAML key; declared() fills in the field's name when it is the same
    required: bool | None = None  # None: when the field has no default (declared() fills it in)
    per_header: bool = False  # a mapping of header names, each value read and checked on its own line
    name: str = ""  # the field's (declared() fills it in)


def setting(check: Check, *, secret: bool | str | None = None, key: str = "", required: bool | None = None,
            per_header: bool = False) -> dict[str, Setting]:
    """A field's metadata. ``secret=True``: a secret; a kind (``"key"``, ``"url"``: a webhook's path and query,
    ``"endpoint"``: a URL's query and password, ``"header"``: a credential header's value) says how;
    ``secret=False``: plain even from the environment; unset: a secret only when taken from the environment."""
    kind = "secret" if secret is True else secret or None
    return {"setting": Setting(check, kind, secret is False, key, required, per_header)}


_DECLARED: dict[type, dict[str, Setting]] = {}


def declared(cls: Any) -> dict[str, Setting]:
    """The YAML keys of a settings class, each with its field's declaration, in the order of the fields."""
    if cls not in _DECLARED:
        found = _DECLARED[cls] = {}
        for f in dataclasses.fields(cls):
            if s := f.metadata.get("setting"):
                no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                required = no_default if s.required is None else s.required
                found[s.key or f.name] = dataclasses.replace(s, key=s.key or f.name, name=f.name, required=required)
    return _DECLARED[cls]


class Settings:
    """A section of settings (a dataclass whose fields are declared with ``setting``)."""

    kind: ClassVar[str] = ""  # a channel's name

    def secrets(self) -> list[str]:
        """Every value that must never be shown, found by each field's declaration (nested settings too)."""
        found: list[str] = []
        for f in getattr(self, "__dataclass_fields__", {}).values():
            value, s = getattr(self, f.name), f.metadata.get("setting")
            for item in value if isinstance(value, tuple) else [value]:
                if isinstance(item, Settings):
                    found += item.secrets()
                elif s is not None and s.secret:
                    pairs = item.items() if isinstance(item, Mapping) else [(f.name, item)]
                    found += [part for name, text in pairs if isinstance(text, str) and (s.secret != "header" or
                              redact.SECRET_HEADER.search(name)) for part in redact.secret_parts(s.secret, text)]
        return [s for s in found if s]

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        """The settings made of the ``values`` that passed, or None; a class with cross-field rules extends this."""
        given = raw or {}
        missing = [key for key, s in declared(cls).items() if s.required and key not in given]
        for key in missing:
            r.problem(path, f"needs {key} (or remove the {path[0]} section)")
        failed = [key for key, s in declared(cls).items() if key in given and s.name not in values]
        return None if missing or failed else cls(**values)


def dotted(path: Where) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


_MISSING = object()  # a value whose ${VAR} is not set (the problem is already recorded)


class Reader:
    """Walks the YAML document once, collecting every problem instead of stopping at the first."""

    def __init__(self, where: str, doc: Any, env: Mapping[str, str], env_file: Path, folder: Path) -> None:
        self.where, self.doc, self.env = where, doc, env
        self.env_file = env_file  # named in "is not set": the very file the variable belongs in
        self.folder = folder  # relative paths (the history, the metrics file) are relative to it
        self.problems = [f"{where}:{line}: {redact.scrub(f'{dotted(p)}: {msg}')}" for line, p, msg in doc.errors]
        self.warnings: list[str] = []
        self.written_secrets = False  # a secret written in the config itself: the file must be private
        self.secrets: list[str] = []  # every secret met, for the Redactor (and this reader's own messages)

    def problem(self, path: Where, message: str) -> None:
        # A message about a value never shows a secret, even one written where no secret belongs.
        self.problems.append(f"{self.where}:{self.doc.line_of(path)}: {redact.scrub(f'{dotted(path)}: {message}')}")

    def warn(self, path: Where, message: str) -> None:
        self.warnings.append(f"{self.where}:{self.doc.line_of(path)}: {dotted(path)}: {message}")

    def finish(self) -> None:
        """Hide each secret met in every problem and warning (the last line of defence)."""
        if self.secrets:
            hide = redact.Redactor(self.secrets)
            self.problems, self.warnings = [hide(p) for p in self.problems], [hide(w) for w in self.warnings]

    def mapping(self, path: Where, raw: Any, known: Mapping[str, Any] | tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(path, f"must be a mapping of keys to values, not {type_name(raw)}")
            return {}
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                self.problem((*path, key), f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return {k: v for k, v in raw.items() if k in known}

    def fields(self, cls: type | tuple[type, ...], path: Where, raw: Any,
               skip: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        """The values that passed, by field name, and the known keys given; ``cls`` may be several classes."""
        known = {key: s for c in (cls if isinstance(cls, tuple) else (cls,)) for key, s in declared(c).items()
                 if key != skip}
        given = self.mapping(path, raw, known)
        values = {known[key].name: value for key, item in given.items()
                  if (value := self.value((*path, key), item, known[key])) is not None}
        for key, s in known.items():
            if s.check is url and s.name in values:
                self.plain_http((*path, key), values[s.name])
        return values, given

    def section(self, cls: Any, path: Where, raw: Any) -> Any:
        """A section's settings, or None (every problem recorded)."""
        values = self.fields(cls, path, raw)[0]
        return cls.checked(self, path, values, raw) if raw is None or isinstance(raw, dict) else None

    def value(self, path: Where, raw: Any, s: Setting) -> Any:
        """Interpolate then check one value; record a problem and return None when it fails."""
        if s.per_header:
            return self._headers(path, raw, s)
        if (value := self.expand(path, raw, s)) is _MISSING:
            return None
        try:
            return s.check(value)
        except ValueError as exc:
            names = sorted({n for text in _strings(raw) for n in references(text)})
            message = str(exc)
            for name in names:  # never a value from the environment (maybe a secret): its variable instead
                from_env = self.env.get(name) or ""
                for shown in sorted({from_env, from_env.strip()}, key=len, reverse=True):
                    if len(shown) >= 4:
                        message = message.replace(shown, f"${{{name}}}")
            if (refs := sorted(f"${{{n}}}" for n in names)) and not any(ref in message for ref in refs):
                message += f" (from {', '.join(refs)})"  # which variable to fix, since its value is not shown
            self.problem(path, message)
            return None

    def _headers(self, path: Where, raw: Any, s: Setting) -> dict[str, str] | None:
        if not isinstance(raw, dict):
            self.problem(path, "must be a mapping of header names to strings")
            return None
        headers: dict[str, str] = {}
        for key, item in raw.items():
            if not isinstance(item, (str, int)) or isinstance(item, bool):
                self.problem((*path, key), "must be a string")
            elif (value := self.value((*path, key), str(item), dataclasses.replace(s, per_header=False))) is not None:
                headers[str(key)] = value
        return headers if len(headers) == len(raw) else None

    def expand(self, path: Where, raw: Any, s: Setting) -> Any:
        """``raw`` with ``${VAR}`` replaced in every string (nested ones too), or ``_MISSING`` when one is not set."""
        if isinstance(raw, dict):
            expanded = {key: self.expand((*path, key), item, s) for key, item in raw.items()}
            return _MISSING if _MISSING in expanded.values() else expanded
        if isinstance(raw, list):
            items = [self.expand((*path, index), item, s) for index, item in enumerate(raw)]
            return _MISSING if _MISSING in items else items
        if not isinstance(raw, str):
            return raw
        try:
            value = interpolate(raw, self.env)
        except MissingVariable as exc:
            state = "is empty" if self.env.get(exc.name) == "" else "is not set"
            self.problem(path, f"environment variable {exc.name} {state} (put it in {self.env_file}, "
                               f"or give a default: ${{{exc.name}:-…}})")
            return _MISSING
        except env.BrokenReference:
            self.problem(path, "has a ${ that is no variable reference: write ${NAME} (letters, digits and _, "
                               "closed by }), or \\${NAME} for the text ${NAME}")
            return _MISSING
        if env.SHELL_STYLE.fullmatch(raw):
            self.warn(path, f"a shell-style $NAME is taken literally: this file reads variables written ${{{raw[1:]}}}")
        # The secrets in it: what its declaration says, and whatever came from the environment (unless the
        # key is a plain one, such as the history folder's path).
        kind = s.secret if s.secret != "header" or redact.SECRET_HEADER.search(str(path[-1])) else None
        self.written_secrets |= redact.is_written_secret(kind, written_part(raw))
        found = redact.secret_parts(kind, value)
        if is_reference(raw) and not s.plain:
            found += [value, *(self.env.get(name) or "" for name in references(raw))]
            found += redact.url_secrets(value) if redact.is_url(value) else []
        self.secrets += [x for x in found if x and x not in self.secrets]
        return value

    def plain_http(self, path: Where, address: str, what: str = "the key") -> None:
        split = urlsplit(address)
        if split.scheme == "http" and not is_loopback(split.hostname or ""):
            self.warn(path, f"plain http:// to {split.hostname} sends {what} unencrypted; use https://")


def _strings(raw: Any) -> list[str]:
    """Every string inside ``raw`` (a value, a mapping of header values, a list)."""
    if isinstance(raw, (dict, list)):
        return [s for item in (raw.values() if isinstance(raw, dict) else raw) for s in _strings(item)]
    return [raw] if isinstance(raw, str) else []
