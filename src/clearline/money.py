"""Money arithmetic shared by every stage: the decimal context, ISO 4217 minor
units, the single rounding helper and residual allocation.

Input: `decimal.Decimal` values from contract literals and usage records.
Output: rounded `Decimal` values and allocation results. Nothing else in
Clearline calls `Decimal.quantize` for money: every rounding point a contract
declares goes through `round_money`.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from clearline.currencies import CURRENCIES

__all__ = [
    "CONTEXT",
    "MINOR_UNITS",
    "ROUNDING_MODES",
    "Rounding",
    "allocate",
    "is_power_of_ten",
    "minor_unit",
    "parse_decimal",
    "round_money",
]

# A bounded context: 50 significant digits is far beyond any settlement amount,
# and the exponent limits turn an absurd input (1e999999) into a trapped error
# instead of a number that takes minutes to print.
CONTEXT = decimal.Context(
    prec=50,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-100,
    Emax=100,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
# Where the engine adds up records' amounts. A record's amount is computed in CONTEXT
# (50 digits; a division may round it there); its line's sum is taken here, with room
# for 60 more digits, so that adding a few million amounts of any magnitudes from 10**-52
# to 10**9 never rounds: the sum, and every figure made from it, is the same whatever the
# order of the records, the batches or the worker processes.
SUMS = CONTEXT.copy()
SUMS.prec = CONTEXT.prec + 60

# ISO 4217 minor units for the currencies Clearline knows: every legal tender CLDR
# lists in use since 2020, and XDR (clearline/currencies.py, generated from Babel's
# CLDR data by scripts/gen_currencies.py). A currency not in it is a diagnostic, not a guess.
MINOR_UNITS: dict[str, int] = {code: digits for code, (digits, _name) in CURRENCIES.items()}

# Contract wording -> decimal rounding constant. "down" and "up" are toward
# and away from zero, as in the decimal module and in accounting usage.
ROUNDING_MODES: dict[str, str] = {
    "half up": decimal.ROUND_HALF_UP,
    "half even": decimal.ROUND_HALF_EVEN,
    "half down": decimal.ROUND_HALF_DOWN,
    "down": decimal.ROUND_DOWN,
    "up": decimal.ROUND_UP,
}


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of `currency`, e.g. ``Decimal('0.01')`` for EUR.

    >>> minor_unit("JPY"), minor_unit("BHD")
    (Decimal('1'), Decimal('0.001'))
    """
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def is_power_of_ten(quantum: Decimal) -> bool:
    """Whether `quantum` is 1, 10, 0.1, 0.01, ... (what `quantize` accepts).

    >>> is_power_of_ten(Decimal("0.01")), is_power_of_ten(Decimal("0.05"))
    (True, False)
    """
    if quantum <= 0:
        return False
    digits = quantum.normalize().as_tuple().digits
    return digits == (1,)


@dataclass(frozen=True, slots=True)
class Rounding:
    """A declared rounding: the mode as the contract words it and the quantum."""

    mode: str  # a key of ROUNDING_MODES
    quantum: Decimal

    def apply(self, value: Decimal) -> Decimal:
        return round_money(value, self)

    def describe(self) -> str:
        return f"{self.mode} to {self.quantum}"


def round_money(value: Decimal, rounding: Rounding) -> Decimal:
    """Round `value` to `rounding.quantum` with the declared mode.

    Idempotent: rounding an already rounded value changes nothing.

    >>> round_money(Decimal("81.6475"), Rounding("half up", Decimal("0.01")))
    Decimal('81.65')
    >>> round_money(Decimal("0.0125"), Rounding("half even", Decimal("0.001")))
    Decimal('0.012')
    """
    result = value.quantize(
        rounding.quantum.normalize(), rounding=ROUNDING_MODES[rounding.mode], context=CONTEXT
    )
    if result == 0:
        # Normalise negative zero: -0.00 must never reach a line file.
        return abs(result)
    return result


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NOT_FINITE = {"nan", "snan", "inf", "infinity"}


def parse_decimal(text: str) -> Decimal:
    """Parse a finite decimal within the bounded context, or raise ValueError.

    >>> parse_decimal("0.0150")
    Decimal('0.0150')
    """
    stripped = text.strip()
    if stripped.lower().lstrip("+-") in _NOT_FINITE:
        raise ValueError(f"{text!r} is not a finite number")
    if not _NUMBER.fullmatch(stripped):
        # Decimal() would also take '1_000' and any Unicode digits; a number in a file has ASCII ones
        raise ValueError(f"{text!r} is not a number")
    try:
        value = Decimal(stripped)
    except decimal.InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or value.adjusted() > CONTEXT.Emax or exponent < -CONTEXT.prec:
        raise ValueError(f"{text!r} is outside the supported range")
    if len(value.as_tuple().digits) > CONTEXT.prec:
        raise ValueError(f"{text!r} has more than {CONTEXT.prec} significant digits")
    return value


def allocate(total: Decimal, weights: Sequence[Decimal], quantum: Decimal) -> list[Decimal]:
    """Split `total` (a multiple of `quantum`) in proportion to `weights`.

    Each share is first rounded down to the quantum; the residual quanta go
    one each to the largest remainders, ties broken by position (declaration
    order). The shares always sum to `total` exactly.

    >>> allocate(Decimal("100.00"), [Decimal(1)] * 3, Decimal("0.01"))
    [Decimal('33.34'), Decimal('33.33'), Decimal('33.33')]
    """
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        raise ValueError("cannot allocate by weights that sum to zero")
    down = Rounding("down", quantum)
    exact = [CONTEXT.divide(CONTEXT.multiply(total, w), weight_sum) for w in weights]
    shares = [round_money(e, down) for e in exact]
    residual_units = int(CONTEXT.divide(total - sum(shares, Decimal(0)), quantum))
    # the largest remainders in size, so a negative total mirrors a positive one
    order = sorted(range(len(weights)), key=lambda i: (-abs(exact[i] - shares[i]), i))
    step = quantum if residual_units >= 0 else -quantum
    for i in order[: abs(residual_units)]:
        shares[i] += step
    return shares
