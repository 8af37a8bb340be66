"""The settlement plan: checked contracts lowered to plain, serialisable data.

Input: built by `lower.lower_contract` from a checked AST. Output: consumed by
the runtime, which imports this module and the shared modules only, so a plan
loaded from JSON runs without the grammar. `PLAN_SCHEMA` versions the JSON
form; `to_json`/`from_json` round-trip exactly (decimals travel as strings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import Decimal
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from clearline.money import Rounding
from clearline.source import Span

__all__ = [
    "PLAN_SCHEMA",
    "BandPlan",
    "ChargePlan",
    "ClauseRef",
    "CommitPlan",
    "ContractPlan",
    "ConversionPlan",
    "DiscountPlan",
    "Expr",
    "FieldPlan",
    "PartyPlan",
    "PayoutPlan",
    "Pred",
    "ProductPlan",
    "RatePlan",
    "RowPlan",
    "SplitPlan",
    "StepPlan",
    "TablePlan",
    "TierPlan",
    "UnitOfAccountPlan",
    "WaterfallPlan",
    "WithholdPlan",
    "from_json",
    "plan_hash",
    "to_json",
    "walk",
]

PLAN_SCHEMA = 1
_OMIT_DEFAULT = {"omit_default": True}  # a field added later, written only when set


@dataclass(frozen=True, slots=True)
class ClauseRef:
    """The paper contract's clause: label, optional prose, where it is written."""

    label: str
    text: str | None
    span: Span
    excerpt: str  # the clause's source lines, so a trace reads without the file
    # `clause "1.1 Peak calls" during peak`: the time band whose records it prices
    band: str | None = field(default=None, metadata=_OMIT_DEFAULT)


@dataclass(frozen=True, slots=True)
class Expr:
    """An amount expression.

    op is one of: money (value=amount, currency), number (value), share (value
    = fraction, base), per (value=price, currency, unit: a price per unit of
    usage or per period), add, sub, mul, div, larger, smaller, table (table),
    tiers (table: a tier table priced on the line's quantity), field (field,
    currency: a money amount read from each record), agg (func, field: a
    number over the line's records), base (base: the unit's whole net or
    gross), share_of (value: fraction of args[0]), allocated (value:
    fraction of the component `field`'s allocation of `base`, exact to the
    quantum `size`); tiers with `base` is a tiered share of the line's base.
    """

    op: str
    args: tuple[Expr, ...] = ()
    value: Decimal | None = None
    currency: str | None = None
    unit: str | None = None
    base: str | None = None
    table: str | None = None
    text: str = ""  # as written in the contract, for traces
    field: str | None = None
    func: str | None = None
    size: Decimal | None = None  # op per: the block size (price per started block of `size` units)


@dataclass(frozen=True, slots=True)
class Pred:
    """A record predicate. op: eq, ne, lt, le, gt, ge, in, prefix, and, or, not."""

    op: str
    field: str | None = None
    values: tuple[str, ...] = ()  # literals as text; numeric when `numeric`
    numeric: bool = False
    args: tuple[Pred, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class RowPlan:
    key: str
    price: Decimal
    currency: str
    per: str  # canonical unit of the price
    first: int | None
    next: int | None
    connect_fee: Decimal | None
    span: Span


@dataclass(frozen=True, slots=True)
class TablePlan:
    name: str
    key_kind: str  # "prefix" or "value"
    field: str
    rows: tuple[RowPlan, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class BandPlan:
    lower: Decimal
    upper: Decimal | None
    rate: Decimal  # price per unit, or a fraction for a tiered share


@dataclass(frozen=True, slots=True)
class TierPlan:
    name: str
    mode: str  # "graduated" or "volume"
    kind: str  # "price" (per unit of quantity) or "share" (fractions of an amount)
    unit: str | None  # canonical unit of a priced tier
    currency: str | None
    bands: tuple[BandPlan, ...]
    span: Span
    # "year" or "lifetime": the bands count the earlier periods' amounts too (from the ledger)
    over: str | None = field(default=None, metadata=_OMIT_DEFAULT)


@dataclass(frozen=True, slots=True)
class RatePlan:
    """How one rule prices a rating unit: its expression and modifiers."""

    expr: Expr
    prorated: bool
    first: int | None
    next: int | None
    connect_fee: Decimal | None
    record_rounding: Rounding | None
    line_rounding: Rounding
    line_rounding_declared: bool
    group_by: str | None  # None, "prefix" (the matched table key) or a field name
    minimum: Decimal | None = None  # per event, after the formula
    maximum: Decimal | None = None  # per event
    cap: Decimal | None = None  # per line and period, before line rounding
    line_level: bool = False  # priced once per line from its totals (tiers, aggregates, allowances)
    floor: Decimal | None = None  # per line and period (a minimum guarantee), before line rounding
    allowance: Decimal | None = None  # free quantity, in the product's measure
    allowance_per: str | None = None  # a field: the allowance is per distinct value of it
    pooled: bool = False  # the per-value allowances are shared across the line


@dataclass(frozen=True, slots=True)
class ChargePlan:
    clause: ClauseRef
    span: Span
    text: str  # the rule as written
    rate: RatePlan
    vat_rate: Decimal | None  # a fraction, 0.23 for 23%
    vat_included: bool = False  # the amount is gross; net is extracted per record
    reverse_charge: bool = False


@dataclass(frozen=True, slots=True)
class PayoutPlan:
    party: str
    clause: ClauseRef
    span: Span
    text: str  # the rule as written
    rate: RatePlan


@dataclass(frozen=True, slots=True)
class ConversionPlan:
    party: str
    currency: str
    fixing: str  # "period end" or "record date"
    rounding: Rounding
    clause: ClauseRef
    span: Span


@dataclass(frozen=True, slots=True)
class CommitPlan:
    """A minimum spend per customer and period; the shortfall is a true-up line."""

    clause: ClauseRef
    span: Span
    text: str
    amount: Decimal
    currency: str
    clauses: tuple[str, ...]  # the clauses whose lines count towards it
    prorated: bool  # by the contract's effective days in the period
    vat_rate: Decimal | None
    reverse_charge: bool
    line_rounding: Rounding


@dataclass(frozen=True, slots=True)
class StepPlan:
    label: str
    party: str
    kind: str  # "base", "remainder", "step", "fixed", "tiers", "rest"
    value: Decimal | None
    of_step: str | None
    tiers: TierPlan | None
    rounding: Rounding | None
    span: Span
    text: str


@dataclass(frozen=True, slots=True)
class WaterfallPlan:
    clause: ClauseRef
    span: Span
    base: str  # "net" or "gross" of the product's period
    steps: tuple[StepPlan, ...]


@dataclass(frozen=True, slots=True)
class DiscountPlan:
    """A discount per customer on the lines of some clauses (all charges when empty)."""

    clause: ClauseRef
    span: Span
    text: str
    fraction: Decimal | None
    amount: Decimal | None
    clauses: tuple[str, ...]
    line_rounding: Rounding
    invoice: bool = False  # on the subtotal of every product of the contract, not only this one


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """The period's net divided among parties; residual minor units by largest remainder
    (ties by declaration order) unless a residual party is named."""

    clause: ClauseRef
    span: Span
    base: str
    # party, weight: a fraction of the whole (sum 1), or whole numbers over a common
    # denominator when the contract writes fractions; each party gets base × weight / Σ weights
    shares: tuple[tuple[str, Decimal], ...]
    residual: str | None
    written: tuple[str, ...] = ()  # each share as the contract writes it: "33.33%", "1/3"


@dataclass(frozen=True, slots=True)
class WithholdPlan:
    party: str
    rate: Decimal  # a fraction
    clause: ClauseRef
    span: Span


@dataclass(frozen=True, slots=True)
class ProductPlan:
    name: str
    title: str
    span: Span
    matches: Pred
    kind: str  # "usage" or "subscription"
    measure: str  # canonical unit of one rating unit's quantity
    reads_quantity: bool
    answered: Pred
    starts: Pred | None
    ends: Pred | None
    charges: tuple[ChargePlan, ...]
    payouts: tuple[PayoutPlan, ...]
    conversions: tuple[ConversionPlan, ...]
    tables: tuple[TablePlan, ...]  # the rate tables its rules use
    tiers: tuple[TierPlan, ...] = ()  # the tier tables its rules use
    commitments: tuple[CommitPlan, ...] = ()
    waterfalls: tuple[WaterfallPlan, ...] = ()
    withholdings: tuple[WithholdPlan, ...] = ()
    discounts: tuple[DiscountPlan, ...] = ()
    splits: tuple[SplitPlan, ...] = ()
    components: tuple[tuple[str, Decimal], ...] = ()  # a bundle's components and standalone prices
    # `accepts refunds [of FIELD]`: negative records allowed, FIELD naming the refunded record
    refunds: bool = field(default=False, metadata=_OMIT_DEFAULT)
    refund_field: str | None = field(default=None, metadata=_OMIT_DEFAULT)
    # `pay X 15% of billed net`: shares of the period's net after the product's discounts,
    # priced once per period when the discounts are known (rate.expr is the share)
    billed: tuple[PayoutPlan, ...] = field(default=(), metadata=_OMIT_DEFAULT)
    # `split records at rate changes, increments per part`: a record spanning the start
    # of the contract's next version is prorated by time, each part rated by its version
    split_at_changes: bool = field(default=False, metadata=_OMIT_DEFAULT)
    # a product with a clause `during` a band: the contract's time bands, which its rules follow
    bands: TimeBandsPlan | None = field(default=None, metadata=_OMIT_DEFAULT)


@dataclass(frozen=True, slots=True)
class PartyDetails:
    """A party's legal particulars (`details of PARTY { ... }`), as its documents show them."""

    legal_name: str = ""
    address: tuple[str, ...] = ()  # one text per address line
    postcode: str = ""
    city: str = ""
    country: str = ""  # ISO 3166 alpha-2; the party's `country` when the block gives none
    vat_id: str = ""  # without spaces, upper case
    registration: str = ""
    iban: str = ""  # without spaces, upper case
    bic: str = ""
    payment_days: int | None = None  # `payment due 30 days after issue`


@dataclass(frozen=True, slots=True)
class PartyPlan:
    name: str
    role: str
    title: str
    currency: str
    country: str | None
    language: str | None
    # left out of the JSON when unset: a plan without particulars serialises, and hashes, as before
    details: PartyDetails | None = field(default=None, metadata=_OMIT_DEFAULT)


@dataclass(frozen=True, slots=True)
class FieldPlan:
    name: str
    type: str
    # how documents name it, per language ("" the default, in English): `active_sims integer
    # "active SIMs", de "aktiven SIM-Karten"`
    labels: tuple[tuple[str, str], ...] = field(default=(), metadata=_OMIT_DEFAULT)


@dataclass(frozen=True, slots=True)
class UnitOfAccountPlan:
    """A unit of account (`unit of account XDR "Special drawing right", 4 digits, ...`):
    prices written in it are converted into the settlement currency at the rate of
    `fixing` ("period end") before anything is rated."""

    code: str
    name: str
    digits: int
    fixing: str
    span: Span


@dataclass(frozen=True, slots=True)
class TimeBandPlan:
    """One time band: its name, its label on documents, and its minutes of the week
    [from, until), Monday 00:00 being 0 (`compiler.bands.week_of`)."""

    name: str
    label: str
    week: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class TimeBandsPlan:
    """`time bands in ZONE { ... }`: the bands, every minute of the week in one, on ZONE's clock."""

    zone: str
    bands: tuple[TimeBandPlan, ...]
    # the contract's public holidays (ISO dates) and the band each of them is in all day
    holidays: tuple[str, ...] = field(default=(), metadata=_OMIT_DEFAULT)
    holiday_band: str | None = field(default=None, metadata=_OMIT_DEFAULT)

    def band(self, name: str) -> TimeBandPlan:
        return next(b for b in self.bands if b.name == name)


@dataclass(frozen=True, slots=True)
class ContractPlan:
    schema: int
    id: str
    version: int
    title: str
    file: str
    sha256: str
    effective_from: str
    effective_until: str
    period: str
    currency: str
    time_zone: str
    parties: tuple[PartyPlan, ...]
    fields: tuple[FieldPlan, ...]
    products: tuple[ProductPlan, ...]
    sources: tuple[str, ...] = ()  # every file the version was built from (amendments, libraries)
    # the ledger: (series, format) of the operator's document numbers; how many later
    # closed periods a closed period still takes late usage for (None: the default)
    # (left out of the JSON when unset: a plan without them serialises, and hashes, as before)
    number_formats: tuple[tuple[str, str], ...] = field(default=(), metadata=_OMIT_DEFAULT)
    late_periods: int | None = field(default=None, metadata=_OMIT_DEFAULT)
    # units of account its prices may be written in (converted before rating)
    units_of_account: tuple[UnitOfAccountPlan, ...] = field(default=(), metadata=_OMIT_DEFAULT)

    def party(self, name: str) -> PartyPlan:
        return next(p for p in self.parties if p.name == name)

    @property
    def operator(self) -> PartyPlan:
        return next(p for p in self.parties if p.role == "operator")


# --- JSON -----------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _encode(getattr(value, f.name))
            for f in fields(value)
            if not (f.metadata.get("omit_default") and getattr(value, f.name) == f.default)
        }
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def to_json(plan: ContractPlan) -> dict[str, Any]:
    """The plan as JSON-ready data (decimals as strings, exact)."""
    data = _encode(plan)
    assert isinstance(data, dict)
    return data


T = TypeVar("T")


def _decode(tp: Any, data: Any) -> Any:
    origin = get_origin(tp)
    if origin is None and isinstance(tp, type) and is_dataclass(tp):
        hints = get_type_hints(tp)
        # Fields added later carry defaults, so an older plan of the same schema still loads.
        return tp(**{f.name: _decode(hints[f.name], data[f.name]) for f in fields(tp) if f.name in data})
    if tp is Decimal:
        return Decimal(data)
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in data)
        return tuple(_decode(t, v) for t, v in zip(args, data, strict=True))
    args = get_args(tp)
    if args and type(None) in args:  # Optional[X]
        if data is None:
            return None
        inner = next(a for a in args if a is not type(None))
        return _decode(inner, data)
    return data


def walk(expr: Expr) -> list[Expr]:
    """`expr` and every expression inside it, depth first."""
    found = [expr]
    for arg in expr.args:
        found += walk(arg)
    return found


def from_json(data: dict[str, Any]) -> ContractPlan:
    """Load a plan written by `to_json`; refuses another schema version."""
    if data.get("schema") != PLAN_SCHEMA:
        raise ValueError(
            f"plan schema {data.get('schema')!r} is not supported (this Clearline reads {PLAN_SCHEMA})"
        )
    plan = _decode(ContractPlan, data)
    assert isinstance(plan, ContractPlan)
    return plan


def plan_hash(plan: ContractPlan) -> str:
    text = json.dumps(to_json(plan), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def encode(value: Any) -> Any:
    """Any plan node (a dataclass of the plan) as JSON-ready data, as `to_json` writes it."""
    return _encode(value)


def decode(tp: type[T], data: Any) -> T:
    """A plan node of type `tp` from what `encode` wrote."""
    node = _decode(tp, data)
    assert isinstance(node, tp)
    return node
