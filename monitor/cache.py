"""A log file's successful snapshots as columns, per account, and the cache of them kept beside it.

The cache of ``checks-2026-12-03.jsonl`` is ``.checks-2026-12-03.jsonl.cache``: what reading the file's
first bytes gave (each account's snapshots, the steps between them worked out, the lines that cannot be
read), with how many bytes those were and their crc32. It is used only while the file still begins with
exactly those bytes, and then only the lines after them are read; a copied folder keeps its caches, and a
hand edit, a truncation or a damaged cache makes it ignored (and made again). It holds nothing but what
the file's bytes give, so it can never change a number.
"""

from __future__ import annotations

import json
import marshal
import os
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from heapq import heapify, heappop, heappush
from itertools import chain, islice
from operator import le
from pathlib import Path
from typing import Any

from monitor.records import Record
from monitor.usage import COLUMNS, Series, micros

MAGIC = b"api-balance-monitor cache 3\n"
Block = list[list[Any]]  # an account's snapshots in one file, in line order: a seq column, then COLUMNS


class Part:
    """One log file as a run read it: from its cache (the first ``size`` bytes) and the lines after."""

    def __init__(self, name: str, head: dict[str, Any] | None = None, cached: dict[str, bytes] | None = None) -> None:
        head = head or {}
        self.name = name
        self.cached = cached or {}  # account: its block of the cached bytes (marshal)
        self.tail: dict[str, Block] = {}  # account: its block of the lines read after them
        self.size: int = head.get("size", 0)  # the bytes (whole lines) the part holds, and their crc32
        self.crc: int = head.get("crc", 0)
        self.lines: int = head.get("lines", 0)
        self.seq: int = head.get("seq", 0)  # the seq a line without one takes (the last record's)
        self.stat: list[int] | None = head.get("stat")  # the file's when the cache covered all of it
        self.seen: list[int] | None = None  # the file's when this run read it
        self.top: list[int] | None = head.get("top")  # the highest seq and its newest time (µs)
        self.unreadable: list[int] = head.get("unreadable", [])
        self.reported: set[str] = set(head.get("reported", []))  # accounts with a successful report
        self.from_cache = bool(head)
        self.whole = True  # every line read ends in a newline (the part may be cached)
        self.read = 0  # the bytes of whole lines read after the cached ones
        self.next = (0, 0, 0)  # the size, crc32 and lines a cache of the part as read would hold

    def accounts(self) -> Iterator[str]:
        return chain(self.cached, (a for a in self.tail if a not in self.cached))

    def blocks(self, account: str) -> list[Block]:
        # Our own bytes, their crc32 checked on loading: marshal, as quick to read as a cache must be.
        found = [marshal.loads(self.cached[account])] if account in self.cached else []  # noqa: S302
        return found + ([self.tail[account]] if account in self.tail else [])

    def add(self, records: list[Record], seq: int) -> None:
        """Records read after the part's lines, in line order; ``seq``: the last one's."""
        self.seq = seq
        for r in records:
            if self.top is None or r.seq > self.top[0]:
                self.top = [r.seq, micros(r.time)]
            elif r.seq == self.top[0]:
                self.top[1] = max(self.top[1], micros(r.time))
            if not r.ok:
                continue
            if r.run == "report":
                self.reported.add(r.account)
            block = self.tail.get(r.account) or self.tail.setdefault(r.account, [[] for _ in range(len(COLUMNS) + 1)])
            values = (r.seq, micros(r.time), r.key_fingerprint, r.balance, r.used, r.currency, r.run,
                      "?" if block[0] else None, None, None)
            for column, value in zip(block, values):
                column.append(value)


def merged(blocks: list[Block]) -> Block:
    """Blocks as one, in seq order (stable: records of one seq keep their order); the step into a
    snapshot whose neighbour before it is not the one of its own block is marked ``"?"`` (to work out)."""
    if len(blocks) == 1 and _ordered(blocks[0][0]):  # a file's lines in the order of runs
        return blocks[0]
    pieces = _pieces(blocks) if all(_ordered(b[0]) for b in blocks) else None
    if pieces is None:  # a hand edit put a file's seqs out of order: snapshot by snapshot
        pieces = [(b, n, n + 1) for _, b, n in sorted((s, b, n) for b, block in enumerate(blocks)
                                                       for n, s in enumerate(block[0]))]
    columns: Block = [[] for _ in range(len(COLUMNS) + 1)]
    starts = []
    for b, start, end in pieces:
        starts.append(len(columns[0]))
        for column, source in zip(columns, blocks[b]):
            column += source[start:end]
    for at in starts[1:]:
        columns[7][at] = "?"  # the step into a piece comes from another block (or another place in its own)
    return columns


def _ordered(seq: list[int]) -> bool:
    return all(map(le, seq, islice(seq, 1, None)))


def _pieces(blocks: list[Block]) -> list[tuple[int, int, int]]:
    """The runs of consecutive snapshots of each block, in seq order: (block, start, end). The blocks of a
    week are days of checks, with a month of reports falling in among them: a few dozen runs, each found
    by bisection rather than snapshot by snapshot."""
    heads = [(block[0][0], b, 0) for b, block in enumerate(blocks) if block[0]]
    heapify(heads)
    pieces = []
    while heads:
        _, b, start = heappop(heads)
        seq = blocks[b][0]
        end = len(seq)
        if heads:  # up to the next block's head (on a tie, the block before it goes first)
            limit, other, _ = heads[0]
            end = (bisect_right if b < other else bisect_left)(seq, limit, start)
            if end < len(seq):
                heappush(heads, (seq[end], b, end))
        pieces.append((b, start, end))
    return pieces


class Histories(Mapping[str, Series]):
    """Each account's series, made when it is asked for and not kept (a run holds one at a time)."""

    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts
        self.names = list(dict.fromkeys(chain.from_iterable(p.accounts() for p in parts)))

    def __getitem__(self, name: str) -> Series:
        blocks = [b for p in self.parts for b in p.blocks(name)]
        if not blocks:
            raise KeyError(name)
        return Series.of(merged(blocks)[1:])

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def load(path: Path) -> Part | None:
    """The cache of log file ``path``, or None when there is none, or it is damaged."""
    try:
        magic, check, rest = (path.parent / f".{path.name}.cache").read_bytes().split(b"\n", 2)
        if magic + b"\n" != MAGIC or int(check) != zlib.crc32(rest):  # the head is checked with the body
            return None
        head, body = rest.split(b"\n", 1)
        found = json.loads(head)
        if found["marshal"] != marshal.version:
            return None
        cached = marshal.loads(zlib.decompress(body, wbits=-15))  # noqa: S302 (crc32 checked above)
        if not isinstance(cached, dict) or not all(type(v) is bytes for v in cached.values()):
            return None
        return Part(path.name, found, cached)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zlib.error):
        return None


def stamp(stat: os.stat_result) -> list[int]:
    """What changes whenever a file is written (the change time even when a hand edit puts the rest back)."""
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def dump(part: Part, size: int, crc: int, lines: int) -> bytes:
    """The cache of ``part``, which holds the first ``size`` bytes (``lines`` lines) of its file; stamped
    with the file's inode, size and times taken before it was read, when it covers all of it (taken later,
    they could be those of an edit made meanwhile, which the cache would then hide)."""
    cached = {}
    for account in part.accounts():
        block = merged(part.blocks(account))
        series = Series.of(block[1:])
        columns = [block[0], *(getattr(series, c) for c in COLUMNS)]
        for c in (3, 4, 8, 9):  # amounts as their exact text
            columns[c] = [None if v is None else str(v) for v in columns[c]]
        cached[account] = marshal.dumps(columns)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw: the whole has its crc32, no second checksum
    body = packer.compress(marshal.dumps(cached)) + packer.flush()
    head = {"size": size, "crc": crc, "lines": lines, "stat": part.seen if part.seen and part.seen[1] == size else None,
            "seq": part.seq, "top": part.top, "unreadable": part.unreadable, "reported": sorted(part.reported),
            "marshal": marshal.version}
    rest = json.dumps(head).encode() + b"\n" + body
    return MAGIC + b"%d\n" % zlib.crc32(rest) + rest
