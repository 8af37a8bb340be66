"""Units of measure as contracts write them, and how they convert.

Time units convert among themselves (a price per minute applies to usage
measured in seconds); counts (event, call, unit) are one family; data units
are their own families (whether 1 GB is 1000 or 1024 MB is a contract term,
so Clearline never assumes it); day and month are settlement-period units.
A contract may declare its own units (`unit seat`): each is a family of its own,
written with its name or its plural (seat, seats), priced per itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

__all__ = [
    "BUILTIN_WORDS",
    "PERIOD_UNITS",
    "builtin",
    "canonical",
    "declared_words",
    "dimension",
    "factor",
    "plural",
]

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
BUILTIN_WORDS = frozenset(_CANONICAL)


def canonical(unit: str, declared: Mapping[str, str] | None = None) -> str:
    """The unit's canonical name; `declared` maps the words of a contract's own units
    (`unit seat`: seat and seats) to theirs. A word that is neither is returned as it
    is (the checker reports it as an unknown unit).

    >>> canonical("minutes"), canonical("subscriber-month"), canonical("seats", {"seats": "seat"})
    ('minute', 'month', 'seat')
    """
    found = _CANONICAL.get(unit)
    if found is not None:
        return found
    return (declared or {}).get(unit, unit)


def builtin(unit: str) -> bool:
    """Whether `unit` is a word of a built-in unit (the others are a contract's own)."""
    return unit in _CANONICAL


def declared_words(names: Iterable[str]) -> dict[str, str]:
    """The words of a contract's own units: each name and its plural (name + s)."""
    return {word: name for name in names for word in (name, name + "s")}


def dimension(unit: str) -> str:
    """The family a unit converts within; a contract's own unit is a family of its own."""
    return _DIMENSION[unit][0] if unit in _DIMENSION else unit


def factor(measure: str, price_unit: str) -> Decimal:
    """How many `measure` units make one `price_unit`: 60 seconds per minute.

    >>> factor("second", "minute")
    Decimal('60')
    """
    if measure == price_unit:
        return Decimal(1)  # also a contract's own unit, priced per itself
    return _DIMENSION[price_unit][1] / _DIMENSION[measure][1]


def plural(unit: str) -> str:
    return unit if unit in {"KB", "MB", "GB"} else unit + "s"
