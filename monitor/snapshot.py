"""What one balance query returns, and the error a provider raises instead."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Snapshot:
    """One account's numbers at one moment. ``None`` means the provider does not report it."""

    currency: str
    balance: Decimal | None
    used: Decimal | None = None
    total: Decimal | None = None
    unlimited: bool = False
    note: str | None = None  # why the numbers are special: "quota exhausted", "key expired"
    exhausted: bool = False  # the key can spend no more (an alert even without a threshold)


class ProviderError(Exception):
    """A query that failed, with a message fit for the report (no secrets, no raw bodies)."""
