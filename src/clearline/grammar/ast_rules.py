"""The typed contract AST, its rules: the modifiers of a price, the rules of a clause
(charge, pay, convert, VAT, rounding, commitments, waterfalls, discounts, splits,
withholding) and the clause itself. Part of `clearline.grammar.ast`, which re-exports
every name.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from clearline.grammar.ast_amounts import (
    Expr,
    Ident,
    Money,
)
from clearline.source import Span

__all__ = [
    "Allowance",
    "Charge",
    "Clause",
    "Commit",
    "ConnectFee",
    "Convert",
    "Discount",
    "Distribute",
    "Increments",
    "Limit",
    "LinePer",
    "Modifier",
    "Pay",
    "Pooled",
    "Prorated",
    "Round",
    "Rule",
    "Split",
    "SplitShare",
    "Step",
    "Vat",
    "Withhold",
]


# --- rules -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prorated:
    span: Span


@dataclass(frozen=True, slots=True)
class Increments:
    first: int
    next: int
    span: Span


@dataclass(frozen=True, slots=True)
class ConnectFee:
    fee: Money
    span: Span


@dataclass(frozen=True, slots=True)
class Limit:
    """`at least 0.05 EUR per event` / `at most 2.00 EUR per event` / `capped at 100.00 EUR per period`."""

    kind: str  # "minimum", "maximum" (per event) or "cap" (per line and period)
    amount: Money
    span: Span


@dataclass(frozen=True, slots=True)
class Allowance:
    """`first 1000 MB free` (per line), or `first 100 MB free for each sim` (per distinct value)."""

    amount: Decimal
    unit: str
    per: Ident | None
    span: Span


@dataclass(frozen=True, slots=True)
class Pooled:
    """`pooled`: the allowances of every distinct value are shared across the line."""

    span: Span


Modifier = Prorated | Increments | ConnectFee | Limit | Allowance | Pooled


@dataclass(frozen=True, slots=True)
class Round:
    point: str | None  # "record", "line" or None (the default point)
    mode: str
    quantum: Decimal
    span: Span


@dataclass(frozen=True, slots=True)
class Charge:
    amount: Expr
    modifiers: tuple[Modifier, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Pay:
    party: Ident
    amount: Expr
    modifiers: tuple[Modifier, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Convert:
    party: Ident
    currency: str
    fixing: str  # "period end" or "record date"
    rounding: Round | None
    span: Span


@dataclass(frozen=True, slots=True)
class Vat:
    percent: Decimal
    included: bool  # prices include VAT: it is extracted per record
    reverse_charge: bool  # 0% with the reverse-charge note (B2B cross-border)
    span: Span


@dataclass(frozen=True, slots=True)
class Commit:
    """`minimum spend 9000.00 EUR per month on clause "2.2 Data"`: a true-up line."""

    amount: Money
    clauses: tuple[tuple[str, Span], ...]
    prorated: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a waterfall.

    kind: "base" (a % of the distributed amount), "remainder", "step" (a % of
    an earlier step's amount, named by its label), "fixed", "tiers" (a tiered
    share of the remainder), "rest".
    """

    party: Ident
    keeps: bool  # written `PARTY keeps ...` (the operator) rather than `pay PARTY ...`
    kind: str
    percent: Decimal | None
    money: Money | None
    of_step: tuple[str, Span] | None
    tiers: Ident | None
    label: str | None
    rounding: Round | None
    span: Span


@dataclass(frozen=True, slots=True)
class Distribute:
    """`distribute the period's net { steps }`."""

    base: str  # "net" or "gross"
    steps: tuple[Step, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Discount:
    """`discount 10% on clause "2.2 Data"` or `discount 5.00 EUR on all charges`."""

    percent: Decimal | None
    money: Money | None
    clauses: tuple[tuple[str, Span], ...]  # empty: all the product's charges
    span: Span
    invoice: bool = False  # `on the invoice`: the customer's whole invoice from this contract


@dataclass(frozen=True, slots=True)
class SplitShare:
    """One party's share of a split: `tvco 60%`, `tvco 1/3`, `1/3 to tvco`."""

    party: Ident
    share: Fraction  # of the whole, exactly (60% is 3/5); a zero denominator is 0 (see written)
    written: str  # as the contract writes it: "60%", "1/3"
    span: Span


@dataclass(frozen=True, slots=True)
class Split:
    """`split the period's net { tvco 60% musicco 40% } residual to tvco`, or
    `split the period's net equally between a, b and c`."""

    base: str
    shares: tuple[SplitShare, ...]
    residual: Ident | None
    span: Span
    equally: bool = False


@dataclass(frozen=True, slots=True)
class Withhold:
    """`withhold 10% tax from streamco's payouts`."""

    party: Ident
    percent: Decimal
    span: Span


@dataclass(frozen=True, slots=True)
class LinePer:
    key: Ident
    span: Span


Rule = Charge | Pay | Convert | Vat | Round | LinePer | Commit | Distribute | Withhold | Discount | Split


@dataclass(frozen=True, slots=True)
class Clause:
    label: str
    text: str | None
    rules: tuple[Rule, ...]
    span: Span
    band: Ident | None = None  # `clause "1.1 Peak" during peak { ... }`: the band it prices
