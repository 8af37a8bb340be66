"""Units of measure as contracts write them, and how they convert.

Time units convert among themselves (a price per minute applies to usage
measured in seconds); counts (event, call, unit) are one family; data units
are their own families (whether 1 GB is 1000 or 1024 MB is a contract term,
so Clearline never assumes it); day and month are settlement-period units.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["PERIOD_UNITS", "canonical", "dimension", "factor", "plural"]

_CANONICAL = {
    "second": "second",
    "seconds": "second",
    "minute": "minute",
    "minutes": "minute",
    "hour": "hour",
    "hours": "hour",
    "day": "day",
    "days": "day",
    "month": "month",
    "months": "month",
    "subscriber-month": "month",
    "KB": "KB",
    "MB": "MB",
    "GB": "GB",
    "event": "event",
    "events": "event",
    "call": "event",
    "calls": "event",
    "unit": "event",
    "units": "event",
}

_DIMENSION = {
    "second": ("time", Decimal(1)),
    "minute": ("time", Decimal(60)),
    "hour": ("time", Decimal(3600)),
    "event": ("count", Decimal(1)),
    "KB": ("KB", Decimal(1)),
    "MB": ("MB", Decimal(1)),
    "GB": ("GB", Decimal(1)),
    "day": ("period-day", Decimal(1)),
    "month": ("period-month", Decimal(1)),
}

PERIOD_UNITS = frozenset({"day", "month"})


def canonical(unit: str) -> str:
    """The unit's canonical name.

    >>> canonical("minutes"), canonical("subscriber-month")
    ('minute', 'month')
    """
    return _CANONICAL[unit]


def dimension(unit: str) -> str:
    return _DIMENSION[unit][0]


def factor(measure: str, price_unit: str) -> Decimal:
    """How many `measure` units make one `price_unit`: 60 seconds per minute.

    >>> factor("second", "minute")
    Decimal('60')
    """
    return _DIMENSION[price_unit][1] / _DIMENSION[measure][1]


def plural(unit: str) -> str:
    return unit if unit in {"KB", "MB", "GB"} else unit + "s"
