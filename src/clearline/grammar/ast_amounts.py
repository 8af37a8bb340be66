"""The typed contract AST, its amounts and predicates: money, numbers, shares, bases,
arithmetic, table and tier references, field values, aggregates and the conditions
of `matches`. Part of `clearline.grammar.ast`, which re-exports every name.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from clearline.source import Span

__all__ = [
    "Add",
    "Aggregate",
    "And",
    "BaseAmount",
    "Compare",
    "Deduction",
    "Expr",
    "FieldValue",
    "Ident",
    "Larger",
    "Money",
    "Mul",
    "Not",
    "Number",
    "OneOf",
    "Or",
    "PayoutTo",
    "Pred",
    "RemainderAfter",
    "Share",
    "ShareOf",
    "StartsWith",
    "TableRate",
    "TierRef",
]


@dataclass(frozen=True, slots=True)
class Ident:
    name: str
    span: Span


# --- amounts --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Money:
    """`39.00 PLN`, or with `per` a price: `0.0150 EUR per minute`.

    With `block` the price is per started block of that many `per` units:
    `5.00 EUR per block of 100 MB`.
    """

    amount: Decimal
    currency: str
    per: str | None
    span: Span
    block: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Number:
    value: Decimal
    span: Span


@dataclass(frozen=True, slots=True)
class Share:
    """`55% of net`: `percent` is the number before the % sign.

    `after_deductions`: `55% of net after deductions` (the product's declared
    deductions are subtracted from the base first); `component`: `60% of the
    allocated net of tv` (the base is the component's share of a bundle).
    """

    percent: Decimal
    base: str
    span: Span
    after_deductions: bool = False
    component: Ident | None = None
    billed: bool = False  # `15% of billed net`: the product's period net after its discounts


@dataclass(frozen=True, slots=True)
class ShareOf:
    """`55% of (the larger of net and 30.00 PLN)`: a percentage of any amount."""

    percent: Decimal
    amount: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class PayoutTo:
    """`the payout to studio`: what the earlier pay rules of the product pay `party` for
    the same rating unit (`10% of (net - the payout to studio)`)."""

    party: Ident
    span: Span


@dataclass(frozen=True, slots=True)
class BaseAmount:
    """`net` or `gross` on its own: the rating unit's whole net or gross charge;
    `net after deductions` less the product's deductions; `the allocated net of tv` the
    part of it a bundle's component gets."""

    base: str
    span: Span
    after_deductions: bool = False
    component: Ident | None = None


@dataclass(frozen=True, slots=True)
class RemainderAfter:
    """`the remainder after "4.1 Studio share"`: the unit's net less what the product's
    pay rules up to and including that clause pay for the same unit."""

    label: str
    label_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Add:
    op: str  # "+" or "-"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Mul:
    op: str  # "*" or "/"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Larger:
    """`the larger of A and B` (or `the smaller of`, with `larger=False`)."""

    larger: bool
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class TableRate:
    table: Ident
    span: Span


@dataclass(frozen=True, slots=True)
class TierRef:
    """`tiers data_price` (on the line's quantity) or `tiers studio_share of net` (a tiered
    share of the line's net or gross)."""

    table: Ident
    span: Span
    base: str | None = None


@dataclass(frozen=True, slots=True)
class FieldValue:
    """`the value of amount in PLN`: a money amount read from each record."""

    field: Ident
    currency: str
    span: Span


@dataclass(frozen=True, slots=True)
class Aggregate:
    """`the maximum of active_sims`: a number taken over the line's records."""

    func: str  # "maximum", "minimum", "sum", "average"
    field: Ident
    span: Span


Expr = (
    Money
    | Number
    | Share
    | ShareOf
    | BaseAmount
    | PayoutTo
    | RemainderAfter
    | Add
    | Mul
    | Larger
    | TableRate
    | TierRef
    | FieldValue
    | Aggregate
)


@dataclass(frozen=True, slots=True)
class Deduction:
    """`deduction bad_debt "Bad-debt allowance" is 3% of net`: subtracted from the base of
    `... of net after deductions`."""

    name: Ident
    title: str | None
    amount: Expr
    span: Span


# --- predicates ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compare:
    field: Ident
    op: str
    value: str | Decimal
    span: Span


@dataclass(frozen=True, slots=True)
class OneOf:
    field: Ident
    values: tuple[str | Decimal, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class StartsWith:
    field: Ident
    prefix: str
    span: Span


@dataclass(frozen=True, slots=True)
class And:
    left: Pred
    right: Pred
    span: Span


@dataclass(frozen=True, slots=True)
class Or:
    left: Pred
    right: Pred
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Pred
    span: Span


Pred = Compare | OneOf | StartsWith | And | Or | Not
