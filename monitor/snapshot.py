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
    disabled: bool = False  # switched off at the site (a relay's disabled channel or user): shown, never alerted


@dataclass(frozen=True)
class Item:
    """One thing a site provider found: the site itself, an upstream channel or a user (``new-api-admin``), a
    virtual key or a team (``litellm-admin``).

    Each becomes an account of its own, named ``<entry>/<name>`` (the site itself: ``<entry>``), judged by
    the threshold of its ``kind``. ``ident`` tells it apart across renames (its fingerprint in the history:
    a channel deleted and created again under the same name is a new one); it is never a secret.
    """

    kind: str  # "site", "channel" or "user" (new-api-admin); "key" or "team" (litellm-admin)
    name: str  # "" for the site itself
    ident: str
    snapshot: Snapshot | None
    error: str | None = None
    low_balance: Decimal | None = None  # its own threshold (new-api-admin's users: user_low_balance), if any


class ProviderError(Exception):
    """A query that failed, with a message fit for the report (no secrets, no raw bodies)."""
