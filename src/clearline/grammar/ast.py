"""The typed contract AST: what the contract says, with a span on every node.

Built by `to_ast.build` from the Lark tree; consumed by the compiler. Frozen
dataclasses with tuple fields: passes build new objects, never mutate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# one namespace, `ast.X`: the amounts and the rules live in their own modules
from clearline.grammar.ast_amounts import (
    Add,
    Aggregate,
    And,
    BaseAmount,
    Compare,
    Deduction,
    Expr,
    FieldValue,
    Ident,
    Larger,
    Money,
    Mul,
    Not,
    Number,
    OneOf,
    Or,
    PayoutTo,
    Pred,
    RemainderAfter,
    Share,
    ShareOf,
    StartsWith,
    TableRate,
    TierRef,
)
from clearline.grammar.ast_rules import (
    Allowance,
    Charge,
    Clause,
    Commit,
    ConnectFee,
    Convert,
    Discount,
    Distribute,
    Increments,
    Limit,
    LinePer,
    Modifier,
    Pay,
    Pooled,
    Prorated,
    Round,
    Rule,
    Split,
    SplitShare,
    Step,
    Vat,
    Withhold,
)
from clearline.source import Span

__all__ = [
    "Add",
    "AddClause",
    "Aggregate",
    "Allowance",
    "Amendment",
    "And",
    "BandHours",
    "BaseAmount",
    "Change",
    "ChangeTable",
    "Charge",
    "Clause",
    "Commit",
    "Compare",
    "ConnectFee",
    "Contract",
    "Convert",
    "Deduction",
    "Detail",
    "Details",
    "Discount",
    "Distribute",
    "Document",
    "Effective",
    "Example",
    "Expect",
    "Expr",
    "FieldDecl",
    "FieldValue",
    "Ident",
    "Increments",
    "Larger",
    "Library",
    "Limit",
    "LinePer",
    "Modifier",
    "Money",
    "Mul",
    "Not",
    "Number",
    "NumberFormat",
    "OneOf",
    "Or",
    "Party",
    "Pay",
    "PayoutTo",
    "Pooled",
    "Pred",
    "Product",
    "Prorated",
    "RateRow",
    "RateTable",
    "Refunds",
    "RemainderAfter",
    "RemoveClause",
    "ReplaceClause",
    "Round",
    "Rule",
    "Settle",
    "Share",
    "ShareOf",
    "Split",
    "SplitShare",
    "StartsWith",
    "Step",
    "Subscription",
    "TableRate",
    "TierBand",
    "TierRef",
    "TierTable",
    "TimeBand",
    "TimeBands",
    "UnitOfAccount",
    "Vat",
    "Withhold",
]


# --- declarations ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscription:
    starts: Pred
    ends: Pred
    span: Span


@dataclass(frozen=True, slots=True)
class Product:
    name: Ident
    title: str | None
    matches: tuple[Pred, ...]
    measured: tuple[tuple[str, Span], ...]
    subscription: tuple[Subscription, ...]
    answered: tuple[Pred, ...]
    clauses: tuple[Clause, ...]
    span: Span
    deductions: tuple[Deduction, ...] = ()
    components: tuple[tuple[Ident, Money], ...] = ()
    refunds: tuple[Refunds, ...] = ()  # `accepts refunds [of FIELD]`


@dataclass(frozen=True, slots=True)
class Refunds:
    """`accepts refunds of refunded_id`: records with a negative quantity or amount,
    each naming (in the optional field) the record it refunds."""

    field: Ident | None
    span: Span


@dataclass(frozen=True, slots=True)
class RateRow:
    key: str
    price: Money
    increments: Increments | None
    connect_fee: ConnectFee | None
    span: Span


@dataclass(frozen=True, slots=True)
class RateTable:
    name: Ident
    key_kind: str  # "prefix" or "value"
    field: Ident
    rows: tuple[RateRow, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class TierBand:
    lower: Decimal
    upper: Decimal | None
    rate: Decimal  # a price per unit, or a percentage (0-100) when `percent`
    percent: bool
    currency: str | None  # of the price, or of the bounds of an amount tier
    unit: str | None  # per unit of a priced tier
    span: Span


@dataclass(frozen=True, slots=True)
class TierTable:
    name: Ident
    mode: str  # "graduated" or "volume"
    bands: tuple[TierBand, ...]
    span: Span
    over: str | None = None  # `over the year` / `over the lifetime`: earlier periods count (the ledger)


@dataclass(frozen=True, slots=True)
class Party:
    role: str
    name: Ident
    title: str
    currency: str | None
    country: str | None
    language: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Detail:
    """One particular of a party: `vat id "PL5260250274"` is ("vat id", "PL5260250274")."""

    key: str  # "legal name", "address", "postcode", "city", "country", "vat id", ...
    value: str  # the text as written; `payment due 30 days after issue` is "30"
    span: Span  # the whole item
    value_span: Span


@dataclass(frozen=True, slots=True)
class Details:
    """`details of telcopl { ... }`: a party's legal particulars, for its documents."""

    party: Ident
    items: tuple[Detail, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class FieldDecl:
    name: Ident
    type: str
    span: Span
    # how documents name it: ("", "active SIMs") in English, ("de", "aktiven SIM-Karten")...
    labels: tuple[tuple[str, str, Span], ...] = ()


@dataclass(frozen=True, slots=True)
class Effective:
    start: str  # ISO date text as written; checked by the compiler
    until: str
    start_span: Span
    until_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Settle:
    period: str
    currency: str
    currency_span: Span
    time_zone: tuple[str, Span] | None
    span: Span


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """`invoice numbers "FV/{year}/{month}/{seq:05}"`: a document series' number format."""

    series: str  # invoice, credit-note, self-billing
    format: str
    span: Span


@dataclass(frozen=True, slots=True)
class UnitOfAccount:
    """`unit of account XDR "Special drawing right", 4 digits, converted at the rate of
    the period end`: prices may be written in it; they are converted into the settlement
    currency before anything is rated."""

    code: str
    name: str
    digits: int
    fixing: str  # "period end" ("record date" is refused by the checker)
    span: Span


@dataclass(frozen=True, slots=True)
class BandHours:
    """`monday to friday 08:00 to 20:00`: days of the week (0 Monday .. 6 Sunday) and a
    clock interval in minutes from midnight (`24:00` is 1440); `otherwise` is None days."""

    first_day: int | None
    last_day: int | None
    start: int
    end: int
    span: Span


@dataclass(frozen=True, slots=True)
class TimeBand:
    """`peak "Peak" monday to friday 08:00 to 20:00`: a named band and when it is."""

    name: Ident
    label: str | None
    hours: tuple[BandHours, ...]
    span: Span
    on_holidays: Span | None = None  # `on holidays`: the whole of each holiday is in this band


@dataclass(frozen=True, slots=True)
class TimeBands:
    """`time bands in Europe/Warsaw { ... }`: the bands of the week on a declared clock."""

    zone: str
    zone_span: Span
    bands: tuple[TimeBand, ...]
    span: Span
    holidays: tuple[tuple[str, Span], ...] = ()  # `holidays 2026-01-01, 2026-01-06`: ISO dates


@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    title: str | None
    versions: tuple[tuple[int, Span], ...]
    effective: tuple[Effective, ...]
    settle: tuple[Settle, ...]
    time_zones: tuple[tuple[str, Span], ...]
    parties: tuple[Party, ...]
    fields: tuple[FieldDecl, ...]
    tables: tuple[RateTable, ...]
    products: tuple[Product, ...]
    span: Span
    file: str
    tiers: tuple[TierTable, ...] = ()
    imports: tuple[tuple[str, Span], ...] = ()
    examples: tuple[Example, ...] = ()
    numbering: tuple[NumberFormat, ...] = ()  # `invoice numbers "FV/{year}/{seq:05}"`
    late_usage: tuple[tuple[int, Span], ...] = ()  # `accept late usage for 2 periods`
    units_of_account: tuple[UnitOfAccount, ...] = ()
    units: tuple[Ident, ...] = ()  # `unit seat`: the contract's own units
    # `split records at rate changes, increments per part`: where it is written
    split_changes: tuple[Span, ...] = ()
    details: tuple[Details, ...] = ()  # `details of telcopl { legal name "...", ... }`
    time_bands: tuple[TimeBands, ...] = ()  # `time bands in ZONE { ... }`


# --- worked examples ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expect:
    """`expect payout "streamco" for "4.2 Revenue share" 81.65 PLN paid 19.21 EUR`."""

    kind: str  # "invoice", "payout", "retained"
    party: str
    clause: str | None
    amount: Money
    paid: Money | None
    span: Span


@dataclass(frozen=True, slots=True)
class Example:
    label: str
    period: tuple[str, Span] | None
    usage: tuple[tuple[str, Span], ...]  # CSV lines, the first is the header
    fx: tuple[tuple[str, str, Decimal, str], ...]  # (from, to, rate, date)
    expects: tuple[Expect, ...]
    span: Span


# --- amendments and libraries ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplaceClause:
    clause: Clause
    span: Span


@dataclass(frozen=True, slots=True)
class AddClause:
    product: Ident
    clause: Clause
    span: Span


@dataclass(frozen=True, slots=True)
class RemoveClause:
    label: str
    span: Span


@dataclass(frozen=True, slots=True)
class ChangeTable:
    table: Ident
    rows: tuple[RateRow, ...]
    span: Span


Change = ReplaceClause | AddClause | RemoveClause | ChangeTable


@dataclass(frozen=True, slots=True)
class Amendment:
    """`amendment of SP-2026 from 2026-03-15 { ... }`: changes in force from a date."""

    contract_id: str
    start: str
    start_span: Span
    title: str | None
    versions: tuple[tuple[int, Span], ...]
    changes: tuple[Change, ...]
    span: Span
    file: str


@dataclass(frozen=True, slots=True)
class Library:
    """Shared parties, usage fields, rate tables and tiers, imported by contracts."""

    id: str
    title: str | None
    parties: tuple[Party, ...]
    fields: tuple[FieldDecl, ...]
    tables: tuple[RateTable, ...]
    tiers: tuple[TierTable, ...]
    span: Span
    file: str
    details: tuple[Details, ...] = ()


Document = Contract | Amendment | Library
