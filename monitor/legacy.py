"""Records read from a file as a stream, with bounded memory: a v1 history (the single JSON document
``{"version": 1, "alerts": {...}, "records": [...]}`` earlier releases wrote, on one line or many) or JSON
Lines (``history export``). A record that cannot be read costs that record, not the file."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

CHUNK = 1 << 20
_LONGEST = 1 << 20  # no record is this long: a value that will not parse within it is broken, not cut short
_SPACE = re.compile(r"\s*")
_BETWEEN = re.compile(r"[\s,]*")  # between two records
_DOCUMENT = re.compile(r'\{\s*"(?:version|alerts|records)"\s*:')
_DECODE = json.JSONDecoder().raw_decode


class Unknown(ValueError):
    """A document of a version this release does not know."""


class Stream:
    """The values of ``handle`` (bytes, UTF-8 with or without a BOM); ``head`` holds a v1 document's
    fields other than its records (``version``, ``alerts``) once they have been read, ``skipped`` how
    many records could not be read."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self.buf, self.pos, self.eof = "", 0, False
        self.head: dict[str, Any] = {}
        self.skipped = 0
        self.text = ""  # the last value's own text, as the file has it

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(CHUNK)
        self.eof = not chunk
        self.buf = self.buf[self.pos:] + self.decoder.decode(chunk, final=self.eof)
        self.pos = 0
        return True

    def _peek(self, space: re.Pattern[str] = _SPACE) -> str:
        while True:
            self.pos = space.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos:self.pos + 1]

    def _value(self, peeked: bool = False) -> Any:
        if not peeked:
            self._peek()
        while True:
            try:
                value, end = _DECODE(self.buf, self.pos)
                if end < len(self.buf) or self.eof or isinstance(value, (dict, list, str)):
                    self.text = self.buf[self.pos:end]
                    self.pos = end
                    return value
            except ValueError:
                if len(self.buf) - self.pos > _LONGEST or not self._more():
                    raise
                continue
            self._more()  # a number at the end of what was read may go on

    def _skip(self) -> None:
        """Past a broken record: to the next line, or (a file of one line) to the next object."""
        self.skipped += 1
        while True:
            cut = self.buf.find("\n", self.pos + 1)
            if cut < 0:
                cut = self.buf.find("{", self.pos + 1)
            if cut >= 0:
                self.pos = cut
                return
            self.pos = len(self.buf)
            if not self._more():
                return

    def records(self) -> Iterator[Any]:
        self._peek()
        while len(self.buf) - self.pos < 4096 and self._more():
            pass
        if _DOCUMENT.match(self.buf, self.pos):
            yield from self._document()
            return
        while self._peek():
            try:
                yield self._value()
            except ValueError:
                self._skip()

    def _document(self) -> Iterator[Any]:
        self.pos += 1  # the document's "{"
        while self._peek() not in ("}", ""):
            if self._peek() == ",":
                self.pos += 1
                continue
            key = self._value()
            if self._peek() != ":":
                raise ValueError("not a history document")
            self.pos += 1
            if key != "records":
                self.head[key] = self._value()
                if key == "version" and self.head[key] != 1:
                    raise Unknown(f"version {self.head[key]!r}")
                continue
            if self._peek() != "[":
                raise ValueError("records is not a list")
            self.pos += 1
            while self._peek(_BETWEEN) not in ("]", ""):
                try:
                    yield self._value(peeked=True)
                except ValueError:
                    self._skip()
            self.pos += 1
