"""``${VAR}`` and ``${VAR:-default}`` from the environment; ``\\${VAR}`` stays literal."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PATTERN = re.compile(r"(\\)?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Replace every reference; raise ``MissingVariable`` for one with no value and no default.

    An empty variable counts as unset, as in the shell's ``:-``: an empty key is never meant.
    """

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
