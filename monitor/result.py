"""What one account's query came to: the result every later step (history, report, alerts) reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.settings import Account
from monitor.snapshot import Snapshot


@dataclass(frozen=True)
class AccountResult:
    account: Account
    time: datetime  # aware, UTC
    fingerprint: str
    snapshot: Snapshot | None
    error: str | None
    site: str | None = None  # the site entry (new-api-admin) this account is an item of, for the report
    kind: str | None = None  # of a site's item: "site" (the entry itself), "channel", "user", "key", "team"

    @property
    def ok(self) -> bool:
        return self.snapshot is not None
