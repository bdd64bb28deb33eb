"""``${VAR}`` and ``${VAR:-default}`` from the environment; ``\\${VAR}`` stays literal."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PATTERN = re.compile(r"(\\)?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# A "${" that starts no reference (no closing brace, spaces in the name): sent as it is, it would be taken for
# the key itself and fail at the provider with a misleading 401.
_BROKEN = re.compile(r"(?<!\\)\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")
# The shell's $NAME, which this file does not read: a whole value of it is almost surely meant as ${NAME}.
SHELL_STYLE = re.compile(r"\$[A-Z_][A-Z0-9_]*")


class BrokenReference(Exception):
    """A ``${`` that is not a reference: no closing brace, or no variable's name inside."""


class MissingVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Replace every reference; raise ``MissingVariable`` for one with no value and no default.

    An empty variable counts as unset, as in the shell's ``:-``: an empty key is never meant.
    """
    if _BROKEN.search(text):
        raise BrokenReference()

    def replace(match: re.Match[str]) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise MissingVariable(name)

    return _PATTERN.sub(replace, text)


def is_reference(text: str) -> bool:
    """Whether ``text`` takes (part of) its value from the environment."""
    return any(not m.group(1) for m in _PATTERN.finditer(text))


def references(text: str) -> list[str]:
    """The names of the variables ``text`` takes its value from."""
    return [m.group(2) for m in _PATTERN.finditer(text) if not m.group(1)]


def written_part(text: str) -> str:
    """What ``text`` holds without the environment: each reference replaced by its default (or nothing).

    A secret written here (``api_key: sk-…`` or ``${KEY:-sk-…}``) lives in the config file itself,
    which must then be kept private.
    """

    def replace(match: re.Match[str]) -> str:
        escaped, _, default = match.groups()
        return match.group(0)[1:] if escaped else default or ""

    return _PATTERN.sub(replace, text)
