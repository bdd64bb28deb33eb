"""How amounts are written: exactly in the history, rounded (half-up) only where people read them.

One helper for every place that shows money, so the text, the card, ``--json``, ``history`` and the CSV
never disagree on the last digit.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FOUR = Decimal("0.0001")


def rounded(value: Decimal, places: Decimal = FOUR) -> Decimal:
    result = value.quantize(places, rounding=ROUND_HALF_UP)
    return result.copy_abs() if result == 0 else result  # never "-0.0000"


def shown(value: Decimal | None, places: Decimal = FOUR) -> str | None:
    """The decimal string people read (``--json``, CSV): ``12.3457`` for 12.345678."""
    return None if value is None else f"{rounded(value, places):f}"


def exact(value: Decimal | None) -> str | None:
    """The decimal string the history keeps: every digit the provider sent, never an exponent."""
    return None if value is None else f"{value:f}"
