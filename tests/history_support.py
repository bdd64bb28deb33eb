"""Reports built from raw history records, as a run reads them from the log."""

from __future__ import annotations

from typing import Any

from monitor.records import Record, parse
from monitor.usage import Series, series_of


def past(records: list[dict[str, Any]]) -> dict[str, Series]:
    """Each account's series of ``records`` (dicts as the history holds them), in the order given: a
    record without its own ``seq`` gets its position; one too damaged to parse is left out, as a run does."""
    parsed = [parse(raw, seq) for seq, raw in enumerate(records, 1)]
    return series_of(sorted((r for r in parsed if isinstance(r, Record)), key=lambda r: r.seq))
