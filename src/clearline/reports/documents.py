"""The documents of a run, as data: invoices, self-billing statements and their lines.

The values `invoices.py`, `statements.py` and `audit.py` build from a `RunData`;
every total is a `Decimal` sum of line-file amounts, and the templates only
format them. Document numbers are derived from the run (period, party, the
plan hash and the line ids), never from the clock, so rendering the same run
twice gives the same documents.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from clearline.periods import period_bounds
from clearline.reports.i18n import N_
from clearline.reports.rundata import LineRow, Party

__all__ = [
    "Basis",
    "DocLine",
    "Document",
    "Fx",
    "Invoice",
    "InvoiceTotal",
    "Money",
    "Statement",
    "StatementLine",
    "Step",
    "Withholding",
    "document_number",
    "period_days",
    "sum_by_currency",
]


BASES = {"net": N_("Net revenue"), "gross": N_("Gross revenue"), "remainder": N_("Remainder")}
# Line kinds as the audit report names them.
KIND_LABELS = (N_("invoice"), N_("payout"), N_("retained"), N_("withholding"))
GROUPS = {"prefix": N_("prefix")}
TIER_MODES = {"graduated": N_("graduated tiers"), "volume": N_("volume tiers")}


def document_number(prefix: str, period: str, party: str, plan_sha256: str, line_ids: Iterable[str]) -> str:
    """`INV-2026-03-C-1001-1A2B3C4D`: the period, the party, and a hash of what is billed.

    >>> document_number("INV", "2026-03", "C-1001", "ab", ["I-1", "I-2"])
    'INV-2026-03-C-1001-A86877AC'
    """
    digest = hashlib.sha256("\n".join([plan_sha256, period, party, *sorted(line_ids)]).encode()).hexdigest()
    return f"{prefix}-{period}-{party}-{digest[:8].upper()}"


def period_days(label: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of a period label (`2026-03`, `2026-Q1`, `2026-W10`, `2026-03-05`)."""
    for kind, pattern in (
        ("monthly", r"\d{4}-\d{2}"),
        ("quarterly", r"\d{4}-Q[1-4]"),
        ("weekly", r"\d{4}-W\d{2}"),
        ("daily", r"\d{4}-\d{2}-\d{2}"),
    ):
        if re.fullmatch(pattern, label):
            try:
                bounds = period_bounds(label, kind, "UTC")
            except ValueError:
                return None
            return bounds.first_day, bounds.last_day
    return None


@dataclass(frozen=True, slots=True)
class Money:
    currency: str
    amount: Decimal


def sum_by_currency(items: Iterable[tuple[str, Decimal]]) -> list[Money]:
    totals: dict[str, Decimal] = {}
    for currency, amount in items:
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    return [Money(c, a) for c, a in sorted(totals.items())]


@dataclass(frozen=True, slots=True)
class Band:
    """The part of a tiered quantity (or amount, for a tiered share) in one band."""

    lower: Decimal
    upper: Decimal | None  # None: open-ended
    quantity: Decimal  # what fell in the band: a quantity, or an amount for a share
    rate: Decimal  # a price per unit, or a fraction
    amount: Decimal  # exact, before the line's rounding


@dataclass(frozen=True, slots=True)
class Tiers:
    """How a tiered price or share priced a line, band by band."""

    mode_label: str  # message id: "graduated tiers"...
    kind: str  # "price" (per unit) or "share" (fractions of an amount)
    unit: str  # what the bands of a price count (MB); "" for a share
    currency: str
    bands: tuple[Band, ...]


@dataclass(frozen=True, slots=True)
class Commitment:
    """A true-up line: the commitment and what the committed clauses charged."""

    committed: Decimal
    charged: Decimal
    clauses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Discount:
    """A discount line: its percentage (or fixed amount) and what it was taken of."""

    fraction: Decimal | None
    amount: Decimal | None  # a fixed discount
    base: Decimal | None  # the customer's discounted lines, net
    clauses: tuple[str, ...]  # empty: all charges


@dataclass(frozen=True, slots=True)
class DocLine:
    """A line as a document shows it."""

    line: LineRow
    title: str  # the product's title from the contract, else its name
    price_unit: str | None  # what unit_price is per (month, minute...), when the plan says
    group_key: str = ""  # "prefix" for "one line per prefix"
    group_value: str = ""
    # What the invoices and statements add (see `detail`); the audit report
    # lists lines without them.
    price: Decimal | None = None  # the line's unit price, or the contract's when it reconciles
    aggregate: str = ""  # message id: "maximum of %(field)s"
    aggregate_field: str = ""  # the usage field, readable: "active sims"
    # the field's labels from the contract, per language ("" the English one): what documents show
    field_labels: tuple[tuple[str, str], ...] = ()
    tiers: Tiers | None = None
    commitment: Commitment | None = None
    discount: Discount | None = None
    vat_included: bool = False  # the contract's prices include VAT
    step: str = ""  # the waterfall step a payout is for: "content share"


@dataclass(frozen=True, slots=True)
class VatGroup:
    currency: str
    rate: Decimal | None
    rate_text: str
    reverse_charge: bool
    net: Decimal
    vat: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceTotal:
    currency: str
    net: Decimal
    vat: Decimal
    gross: Decimal


@dataclass(slots=True)
class Document:
    number: str
    period: str
    period_first: dt.date | None
    period_last: dt.date | None
    party: Party
    language: str
    fallback: bool  # the party's language is not supported: English, and the document says so
    issuers: list[Party]
    # set by legal.apply_issue: how the document is issued (docs/reports.md)
    issue_date: dt.date | None = None
    due_date: dt.date | None = None
    payment_days: int | None = None  # the operator's `payment due N days after issue`
    legal_number: str = ""  # the ledger's number; "" for a draft
    payment_reference: str = ""
    payee: Party | None = None  # whose bank account the payment goes to
    # particulars art. 226 asks and the parties lack: (party id, the particulars)
    missing: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def draft(self) -> bool:
        """Not issued under a ledger's number: the document says DRAFT."""
        return not self.legal_number

    @property
    def shown_number(self) -> str:
        return self.legal_number or self.number


@dataclass(slots=True)
class Invoice(Document):
    lines: list[DocLine] = field(default_factory=list)
    vat_groups: list[VatGroup] = field(default_factory=list)
    totals: list[InvoiceTotal] = field(default_factory=list)

    @property
    def reverse_charge(self) -> bool:
        return any(d.line.reverse_charge for d in self.lines)


@dataclass(frozen=True, slots=True)
class Basis:
    label: str  # message id: "Net revenue"...
    amount: Decimal | None
    currency: str
    step: str = ""  # the basis is the amount of this earlier waterfall step


@dataclass(frozen=True, slots=True)
class Fx:
    rate: Decimal
    date: str
    table: str
    fixing: str
    clause: str
    base: str  # 1 `base` = `rate` `quote`
    quote: str


@dataclass(frozen=True, slots=True)
class Step:
    """A waterfall step up to the partner's own, as its statement shows it.

    Only what each step took its share of and the share: the amounts of the
    other steps (the operator's and other partners') are not shown.
    """

    label: str
    basis: Basis
    kind: str  # "base", "remainder", "step", "tiers", "fixed", "per_transaction", "rest"
    shares: tuple[Decimal, ...]  # a percentage, or each band's of a tiered share
    fixed: Decimal | None  # a fixed amount (per transaction for "per_transaction")
    own: bool  # the step this statement's line is for


@dataclass(frozen=True, slots=True)
class Withholding:
    """Tax withheld from a payout: a `withholding` line, shown under its payout."""

    doc: DocLine
    clause_text: str
    rate: Decimal | None
    basis: Decimal | None  # the payout it is withheld from, in the settlement currency
    fx: Fx | None


@dataclass(frozen=True, slots=True)
class StatementLine:
    doc: DocLine
    clause_text: str
    rule_text: str
    basis: Basis | None
    shares: tuple[Decimal, ...]
    fx: Fx | None
    steps: tuple[Step, ...] = ()  # a waterfall payout: the steps up to this one
    withholding: tuple[Withholding, ...] = ()


@dataclass(frozen=True, slots=True)
class CarriedLine:
    """An adjustment of an earlier period on a self-billing statement: "adjustment for
    2026-03" (late usage, re-rating), correcting a line of an issued statement."""

    row: LineRow  # the adjustment: its id, kind (payout or withholding), amount, currency
    period: str  # the period it corrects
    reason: str  # "late usage", "re-rated: RS-2026 version 2 from 2026-03-06"
    corrects: str  # the statement it corrects ("" for a line new in the period)
    adjusts: str  # the line id it corrects


@dataclass(slots=True)
class Statement(Document):
    currency: str = ""
    lines: list[StatementLine] = field(default_factory=list)
    withholding: list[Withholding] = field(default_factory=list)  # not under a payout of the statement
    settled: list[Money] = field(default_factory=list)  # per settlement currency
    paid: list[Money] = field(default_factory=list)  # before withholding, per payment currency
    withheld: list[Money] = field(default_factory=list)
    payable: list[Money] = field(default_factory=list)
    adjustments: list[CarriedLine] = field(default_factory=list)  # of earlier periods (carried.py)

    @property
    def owed(self) -> bool:
        """The total is below zero: the supplier (the partner) owes it to the issuer."""
        return any(m.amount < 0 for m in self.payable)

    @property
    def clauses(self) -> list[tuple[str, str, str]]:
        """Each clause once: label, prose, the rule as the contract words it."""
        found = [(s.doc.line.clause, s.clause_text, s.rule_text) for s in self.lines]
        found += [
            (w.doc.line.clause, w.clause_text, "")
            for w in [*(w for s in self.lines for w in s.withholding), *self.withholding]
        ]
        seen = dict.fromkeys(found)
        return [c for c in seen if c[1] or c[2]]

    @property
    def converted(self) -> bool:
        """Whether any amount is paid in another currency than it was settled in."""
        rows = [s.doc.line for s in self.lines]
        rows += [w.doc.line for s in self.lines for w in s.withholding]
        rows += [w.doc.line for w in self.withholding]
        return any(ln.payable_currency != ln.currency for ln in rows)
