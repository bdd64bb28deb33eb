"""Reports built from raw history records, as a run reads them from the log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from monitor.records import Record, parse
from monitor.redact import fingerprint
from monitor.usage import Series, series_of
from tests.conftest import MAIN_KEY


def past(records: list[dict[str, Any]]) -> dict[str, Series]:
    """Each account's series of ``records`` (dicts as the history holds them), in the order given: a
    record without its own ``seq`` gets its position; one too damaged to parse is left out, as a run does."""
    parsed = [parse(raw, seq) for seq, raw in enumerate(records, 1)]
    return series_of(sorted((r for r in parsed if isinstance(r, Record)), key=lambda r: r.seq))


def accounts(stdout: str) -> dict[str, Any]:
    """The accounts of a ``--json`` document, by name."""
    return {a["name"]: a for a in json.loads(stdout)["accounts"]}


def record(moment: datetime, used: str, currency: str, account: str = "main") -> dict[str, Any]:
    """A record as an earlier release's history file (v1) holds it."""
    return {"time": moment.isoformat(), "account": account, "key_fingerprint": fingerprint(MAIN_KEY),
            "provider": "openai-billing", "ok": True, "currency": currency, "balance": None, "used": used,
            "total": None, "unlimited": False, "error": None}
