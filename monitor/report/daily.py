"""The ``history`` command's views of usage per day: a table for a terminal, and CSV rows.

Pure: it is handed the days and each account's usage per day, and returns text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from monitor.amounts import shown
from monitor.report.words import money
from monitor.usage import sparkline

MARKS = {"reset": "R", "topup": "T"}
TREND_DAYS = 60
LEGEND = "R = usage was reset that day, T = topped up that day (neither counted as usage); - = no data"


@dataclass(frozen=True)
class Column:
    """One account: its currency (None when it never answered) and its usage per local day."""

    name: str
    currency: str | None
    per_day: dict[date, tuple[Decimal, set[str]]]
    account: str | None = None  # the account's own name, where ``name`` adds the currency


def width(text: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two, combining marks none."""
    total = 0
    for c in text:
        if unicodedata.combining(c) or c in "\u200b\ufe0f":
            continue
        total += 2 if unicodedata.east_asian_width(c) in "WF" else 1
    return total


def ljust(text: str, columns: int) -> str:
    return text + " " * max(columns - width(text), 0)


def rjust(text: str, columns: int) -> str:
    return " " * max(columns - width(text), 0) + text


def marks(events: set[str]) -> str:
    return "".join(MARKS[e] for e in sorted(events) if e in MARKS)


def table(days: Sequence[date], columns: Sequence[Column]) -> str:
    """Days down (in the order given: newest first), accounts across, then a total per currency.

    Below the table: each account's total over the days shown, and a sparkline (oldest left).
    """
    currencies = sorted({c.currency for c in columns if c.currency})
    header = ["date", *(c.name for c in columns), *(f"total {cur}" for cur in currencies)]
    # Each cell is (amount, marks): amounts right-aligned, marks in a narrow column of their own.
    rows: list[list[tuple[str, str]]] = []
    sums = {c.name: Decimal(0) for c in columns}
    grand = {cur: Decimal(0) for cur in currencies}
    for day in days:
        row: list[tuple[str, str]] = [(day.isoformat(), "")]
        per_currency: dict[str, Decimal | None] = dict.fromkeys(currencies)
        for c in columns:
            if day not in c.per_day or c.currency is None:
                row.append(("-", ""))
                continue
            amount, events = c.per_day[day]
            row.append((money(amount, c.currency), marks(events)))
            sums[c.name] += amount
            per_currency[c.currency] = (per_currency[c.currency] or Decimal(0)) + amount
        for cur in currencies:
            value = per_currency[cur]
            row.append(("-", "") if value is None else (money(value, cur), ""))
            if value is not None:
                grand[cur] += value
        rows.append(row)
    footer: list[tuple[str, str]] = [("total", "")]
    footer += [(money(sums[c.name], c.currency), "") if c.currency else ("-", "") for c in columns]
    footer += [(money(grand[cur], cur), "") for cur in currencies]

    body = [*rows, footer]
    mark_widths = [max(width(r[i][1]) for r in body) for i in range(len(header))]
    amount_widths = [max(width(r[i][0]) for r in body) for i in range(len(header))]
    widths = [max(amount_widths[i] + (mark_widths[i] + 1 if mark_widths[i] else 0), width(header[i]))
              for i in range(len(header))]

    def cell(i: int, value: tuple[str, str]) -> str:
        amount, mark = value
        if i == 0:
            return ljust(amount, widths[0])
        tail = " " + ljust(mark, mark_widths[i]) if mark_widths[i] else ""
        return rjust(amount, widths[i] - width(tail)) + tail

    def line(cells: list[str]) -> str:
        return "  ".join(cells).rstrip()

    out = [line([ljust(header[0], widths[0]), *(rjust(h, widths[i]) for i, h in enumerate(header) if i)])]
    out.append(line(["-" * w for w in widths]))
    out += [line([cell(i, v) for i, v in enumerate(row)]) for row in rows]
    out.append(line(["-" * w for w in widths]))
    out.append(line([cell(i, v) for i, v in enumerate(footer)]))
    out.append("")
    out.append(LEGEND)
    out.append("")
    # A sparkline longer than a terminal is a wall of blocks: it covers the latest TREND_DAYS at most.
    shown = list(days)[:TREND_DAYS]
    out.append("trend (oldest left):" if len(shown) == len(days) else f"trend, last {TREND_DAYS} days (oldest left):")
    name_width = max((width(c.name) for c in columns), default=0)
    oldest_first = list(reversed(shown))
    for c in columns:
        spark = sparkline([c.per_day[d][0] if d in c.per_day else None for d in oldest_first])
        out.append(f"  {ljust(c.name, name_width)}  {spark}")  # spaces inside are days without data
    return "\n".join(out) + "\n"


def csv_rows(days: Sequence[date], columns: Sequence[Column]) -> list[list[str]]:
    """One row per account per day that has data: date, account, currency, usage, events."""
    rows = [["date", "account", "currency", "usage", "events"]]
    for day in days:
        for c in columns:
            if day in c.per_day:
                amount, events = c.per_day[day]
                usage = shown(amount) or ""
                rows.append([day.isoformat(), c.account or c.name, c.currency or "", usage, " ".join(sorted(events))])
    return rows
