"""Tiered prices and shares: a period's quantity (or amount) -> an amount.

Bands are half-open `[lower, upper)`; the last band may be open-ended
(`upper` None). `graduated` prices each unit in its own band; `volume` prices
every unit at the rate of the band the total reached (a quantity exactly at a
band's lower bound is in that band). Rates are prices per unit, or fractions
for tiered shares. Exact: nothing here rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from clearline.compiler import ir, units
from clearline.money import CONTEXT

__all__ = ["Band", "BandUse", "apply_tiers", "bands", "tier_quantity"]


@dataclass(frozen=True, slots=True)
class Band:
    lower: Decimal
    upper: Decimal | None
    rate: Decimal


@dataclass(frozen=True, slots=True)
class BandUse:
    """How much of the total fell in one band and what it cost."""

    band: Band
    quantity: Decimal
    amount: Decimal


def apply_tiers(total: Decimal, bands: Sequence[Band], mode: str) -> tuple[Decimal, list[BandUse]]:
    """The tiered amount of `total` and the bands it used.

    >>> bands = [Band(Decimal(0), Decimal(500000), Decimal("0.0040")),
    ...          Band(Decimal(500000), Decimal(2000000), Decimal("0.0030")),
    ...          Band(Decimal(2000000), None, Decimal("0.0018"))]
    >>> apply_tiers(Decimal(2350000), bands, "graduated")[0]
    Decimal('7130.0000')
    >>> apply_tiers(Decimal(2350000), bands, "volume")[0]
    Decimal('4230.0000')
    >>> apply_tiers(Decimal(500000), bands, "volume")[0]  # exactly at a lower bound: that band
    Decimal('1500.0000')
    """
    if total <= 0:
        return Decimal(0), []
    uses: list[BandUse] = []
    if mode == "volume":
        for band in bands:
            if band.lower <= total and (band.upper is None or total < band.upper):
                amount = CONTEXT.multiply(total, band.rate)
                return amount, [BandUse(band, total, amount)]
        raise ValueError(f"{total} is beyond the last band")
    amount = Decimal(0)
    for band in bands:
        if total <= band.lower:
            break
        top = total if band.upper is None else min(total, band.upper)
        part = top - band.lower
        cost = CONTEXT.multiply(part, band.rate)
        uses.append(BandUse(band, part, cost))
        amount += cost
    if bands and bands[-1].upper is not None and total > bands[-1].upper:
        raise ValueError(f"{total} is beyond the last band")
    return amount, uses


def tier_quantity(quantity: Decimal, tier: ir.TierPlan, measure: str) -> Decimal:
    """The product's quantity in the tier's unit (bands are written in it)."""
    if tier.unit is None or tier.unit == measure:
        return quantity
    return CONTEXT.divide(quantity, units.factor(measure, tier.unit))


def bands(tier: ir.TierPlan) -> list[Band]:
    return [Band(b.lower, b.upper, b.rate) for b in tier.bands]
