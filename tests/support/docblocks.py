"""The shell blocks of the docs, found by the comment above each: ``<!-- run by tests/FILE: NAME -->``
(a test runs it) or ``<!-- not run by the tests: WHY -->``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELLS = ("sh", "shell", "bash", "console")
_BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_MARK = re.compile(r"<!--\s*(run by ((?:tests/|\.ci/)\S+?): (\S+)|not run by the tests: (.+?))\s*-->\s*\Z", re.S)


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    language: str
    text: str
    runner: str | None  # "tests/test_x.py" when a test runs it
    name: str | None  # the name that test looks it up by
    why_not: str | None


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n")
        last_line = before.rsplit("\n", 1)[-1]
        mark = _MARK.search(last_line)
        found.append(Block(path, text[: match.start()].count("\n") + 1, match.group(1), match.group(2),
                           mark.group(2) if mark and mark.group(2) else None,
                           mark.group(3) if mark and mark.group(3) else None,
                           mark.group(4) if mark and mark.group(4) else None))
    return found


def block(relative: str, name: str) -> str:
    """The text of the block in ``relative`` (from the repository root) that a test runs as ``name``."""
    [found] = [b for b in blocks(ROOT / relative) if b.name == name]
    return found.text
