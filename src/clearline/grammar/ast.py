"""The typed contract AST: what the contract says, with a span on every node.

Built by `to_ast.build` from the Lark tree; consumed by the compiler. Frozen
dataclasses with tuple fields: passes build new objects, never mutate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from clearline.source import Span

__all__ = [
    "Add",
    "AddClause",
    "Amendment",
    "And",
    "BandHours",
    "Change",
    "ChangeTable",
    "Charge",
    "Clause",
    "Compare",
    "ConnectFee",
    "Contract",
    "Convert",
    "Document",
    "Effective",
    "Example",
    "Expect",
    "Expr",
    "FieldDecl",
    "Ident",
    "Increments",
    "Larger",
    "Library",
    "LinePer",
    "Modifier",
    "Money",
    "Mul",
    "Not",
    "Number",
    "OneOf",
    "Or",
    "Party",
    "Pay",
    "PayoutTo",
    "Pred",
    "Product",
    "Prorated",
    "RateRow",
    "RateTable",
    "RemainderAfter",
    "RemoveClause",
    "ReplaceClause",
    "Round",
    "Rule",
    "Settle",
    "Share",
    "StartsWith",
    "Subscription",
    "TableRate",
    "TimeBand",
    "TimeBands",
    "UnitOfAccount",
    "Vat",
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


@dataclass(frozen=True, slots=True)
class TimeBands:
    """`time bands in Europe/Warsaw { ... }`: the bands of the week on a declared clock."""

    zone: str
    zone_span: Span
    bands: tuple[TimeBand, ...]
    span: Span


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
