"""The documents of a run, as data: invoices, self-billing statements, the audit report.

Input: `RunData`. Output: `Invoice`, `Statement` and `Audit` values whose
every total is a `Decimal` sum of line-file amounts; the templates only
format them. Document numbers are derived from the run (period, party, the
plan hash and the line ids), never from the clock, so rendering the same run
twice gives the same documents.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clearline.compiler import ir
from clearline.money import CONTEXT, MINOR_UNITS, round_money
from clearline.periods import period_bounds
from clearline.reports.i18n import N_, language_for
from clearline.reports.rundata import LineRow, Party, RejectRow, RunData
from clearline.reports.traces import Node, trace_tree

__all__ = [
    "Audit",
    "Invoice",
    "Statement",
    "build_audit",
    "build_invoices",
    "build_statements",
    "document_number",
    "issuers_of",
    "period_days",
]

# How many rejected or unmatched records the audit report lists; the rest are
# counted, and the CSV files hold them all.
LISTED_REJECTS = 1000

_BASES = {"net": N_("Net revenue"), "gross": N_("Gross revenue"), "remainder": N_("Remainder")}
# Line kinds as the audit report names them.
KIND_LABELS = (N_("invoice"), N_("payout"), N_("retained"), N_("withholding"))
_GROUPS = {"prefix": N_("prefix")}
# A quantity that is an aggregate of a usage field: the engine writes its unit
# as "<field> (<function>)", e.g. "active_sims (maximum)".
_AGGREGATES = {
    "maximum": N_("maximum of %(field)s"),
    "minimum": N_("minimum of %(field)s"),
    "sum": N_("sum of %(field)s"),
    "average": N_("average of %(field)s"),
}
_TIER_MODES = {"graduated": N_("graduated tiers"), "volume": N_("volume tiers")}


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


def _sum_by_currency(items: Iterable[tuple[str, Decimal]]) -> list[Money]:
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
    # What the invoices and statements add (see `_detail`); the audit report
    # lists lines without them.
    price: Decimal | None = None  # the line's unit price, or the contract's when it reconciles
    aggregate: str = ""  # message id: "maximum of %(field)s"
    aggregate_field: str = ""  # the usage field, readable: "active sims"
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


@dataclass(slots=True)
class Statement(Document):
    currency: str = ""
    lines: list[StatementLine] = field(default_factory=list)
    withholding: list[Withholding] = field(default_factory=list)  # not under a payout of the statement
    settled: list[Money] = field(default_factory=list)  # per settlement currency
    paid: list[Money] = field(default_factory=list)  # before withholding, per payment currency
    withheld: list[Money] = field(default_factory=list)
    payable: list[Money] = field(default_factory=list)

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


# --- shared lookups ---------------------------------------------------------------------


def _rules(run: RunData, line: LineRow) -> list[ir.ChargePlan | ir.PayoutPlan]:
    product = run.product(line.contract_id, line.product)
    if product is None:
        return []
    if line.kind == "invoice":
        return [c for c in product.charges if c.clause.label == line.clause]
    return [p for p in product.payouts if p.clause.label == line.clause and p.party == line.party]


def _price_unit(run: RunData, line: LineRow) -> str | None:
    product = run.product(line.contract_id, line.product)
    found: set[str] = set()
    for rule in _rules(run, line):
        expr = rule.rate.expr
        if expr.op == "per" and expr.unit and expr.size is not None:
            # a package price: per started block, never per unit (`per block of 100 MB`)
            found.add(f"block:{format(expr.size, 'f')}:{expr.unit}")
        elif expr.op == "per" and expr.unit:
            found.add(expr.unit)
        elif expr.op == "table" and product is not None:
            for table in product.tables:
                if table.name == expr.table:
                    found |= {row.per for row in table.rows}
    return found.pop() if len(found) == 1 else None


def _doc_line(run: RunData, line: LineRow) -> DocLine:
    product = run.product(line.contract_id, line.product)
    title = product.title if product is not None and product.title else line.product
    key = value = ""
    # The line files have no group column: the engine writes it into the
    # description as "<title>, <group by> <group>: ...".
    if line.description.startswith(f"{title}, ") and ": " in line.description:
        group = line.description[len(title) + 2 : line.description.index(": ")]
        if " " in group:
            key, value = group.split(" ", 1)
    return DocLine(line, title, _price_unit(run, line), key, value)


def _detail(run: RunData, line: LineRow, siblings: Iterable[LineRow] = ()) -> DocLine:
    """A line with what an invoice or statement explains about it.

    `siblings`: the other lines of the document (a true-up counts what the
    committed clauses charged the same customer). Everything taken from the
    contract is shown only where it reproduces the line's amount.
    """
    doc = _doc_line(run, line)
    product = run.product(line.contract_id, line.product)
    rules = _rules(run, line)
    price, price_unit = line.unit_price, doc.price_unit
    if price is None:
        price, price_unit = _contract_price(line, rules) or (None, price_unit)
    aggregate = field_name = ""
    found = re.fullmatch(r"(\w+) \((\w+)\)", line.unit)
    if found and found.group(2) in _AGGREGATES:
        aggregate, field_name = _AGGREGATES[found.group(2)], found.group(1).replace("_", " ")
    commitment = discount = None
    if product is not None:
        commitment = _commitment(product, line, siblings)
        discount = _discount(run, product, line)
    return DocLine(
        line=line,
        title=doc.title,
        price_unit=price_unit,
        group_key=doc.group_key,
        group_value=doc.group_value,
        price=price,
        aggregate=aggregate,
        aggregate_field=field_name,
        tiers=_price_tiers(run, line, rules) if product is not None else None,
        commitment=commitment,
        discount=discount,
        vat_included=any(isinstance(r, ir.ChargePlan) and r.vat_included for r in rules),
    )


def _contract_price(line: LineRow, rules: list[ir.ChargePlan | ir.PayoutPlan]) -> tuple[Decimal, str] | None:
    """The price of `0.80 EUR per month times the maximum of active_sims`: the line
    files leave it out; shown only if quantity x price is exactly the line's amount."""
    if line.quantity is None or len(rules) != 1:
        return None
    expr = rules[0].rate.expr
    if expr.op != "mul" or len(expr.args) != 2:
        return None
    prices = [a for a in expr.args if a.op == "per" and a.value is not None and a.size is None and a.unit]
    if len(prices) != 1 or not any(a.op == "agg" for a in expr.args):
        return None
    value, unit = prices[0].value, prices[0].unit
    if value is None or unit is None or CONTEXT.multiply(value, line.quantity) != line.amount:
        return None
    return value, unit


def _trim(amount: Decimal, currency: str) -> Decimal:
    """An exact amount with no more digits than it needs, but its currency's minor units."""
    minor = Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))
    if amount == amount.quantize(minor, context=CONTEXT):
        return amount.quantize(minor, context=CONTEXT)
    return amount.normalize(CONTEXT)


def _bands(recorded: object, kind: str, currency: str) -> tuple[Band, ...] | None:
    """The bands a trace recorded (`tiers[].bands`, or a waterfall step's `bands`), as
    exact decimals; None when they are not there as the run writes them."""
    if not isinstance(recorded, list) or not recorded:
        return None
    bands = []
    for b in recorded:
        if not isinstance(b, dict):
            return None
        lower, rate, quantity, amount = (_decimal(b.get(k)) for k in ("from", "rate", "quantity", "amount"))
        if lower is None or rate is None or quantity is None or amount is None:
            return None
        upper = _decimal(b.get("to")) if b.get("to") else None
        shown = _trim(quantity, currency) if kind == "share" else quantity
        bands.append(Band(lower, upper, shown, rate, _trim(amount, currency)))
    return tuple(bands)


def _price_tiers(run: RunData, line: LineRow, rules: list[ir.ChargePlan | ir.PayoutPlan]) -> Tiers | None:
    """The bands of a line priced by tiers of its period's quantity, as its trace
    recorded them (reports never price tiers again)."""
    if line.quantity is None or len(rules) != 1:
        return None
    rate = rules[0].rate
    expr = rate.expr
    if expr.op != "tiers" or expr.base is not None or rate.allowance is not None:
        return None
    recorded = [t for t in (run.traces.get(line.line_id) or {}).get("tiers") or [] if isinstance(t, dict)]
    if len(recorded) != 1 or recorded[0].get("kind") != "price":
        return None
    tier = recorded[0]
    bands = _bands(tier.get("bands"), "price", line.currency)
    exact = _decimal(tier.get("amount"))
    if bands is None or exact is None or round_money(exact, rate.line_rounding) != line.amount:
        return None
    label = _TIER_MODES.get(str(tier.get("mode")), str(tier.get("mode")))
    return Tiers(label, "price", str(tier.get("unit") or ""), line.currency, bands)


def _commitment(product: ir.ProductPlan, line: LineRow, siblings: Iterable[LineRow]) -> Commitment | None:
    plan = next((c for c in product.commitments if c.clause.label == line.clause), None)
    if plan is None or line.kind != "invoice":
        return None
    key = (line.party, line.contract_id, line.contract_version, line.product, line.period)
    charged = sum(
        (
            ln.amount
            for ln in siblings
            if ln.kind == "invoice"
            and ln.clause in plan.clauses
            and (ln.party, ln.contract_id, ln.contract_version, ln.product, ln.period) == key
        ),
        Decimal(0),
    )
    # A prorated commitment is what the true-up made up to.
    committed = charged + line.amount if plan.prorated else plan.amount
    return Commitment(committed, charged, plan.clauses)


def _discount(run: RunData, product: ir.ProductPlan, line: LineRow) -> Discount | None:
    plan = next((d for d in product.discounts if d.clause.label == line.clause), None)
    if plan is None or line.kind != "invoice":
        return None
    base = _decimal((run.traces.get(line.line_id) or {}).get("discounted_base"))
    return Discount(plan.fraction, plan.amount, base, plan.clauses)


def issuers_of(run: RunData, contract_ids: Iterable[str]) -> list[Party]:
    """The operators of the contracts a document's lines come from."""
    return _issuers(run, contract_ids)


def _issuers(run: RunData, contract_ids: Iterable[str]) -> list[Party]:
    found: dict[str, Party] = {}
    for cid in sorted(set(contract_ids)):
        plan = run.plan(cid)
        if plan is not None:
            op = plan.operator
            found.setdefault(op.name, run.party(op.name, "operator", op.title))
            continue
        retained = next((ln for ln in run.lines if ln.kind == "retained" and ln.contract_id == cid), None)
        if retained is not None:
            found.setdefault(retained.party, run.party(retained.party, "operator", retained.party_name))
    return list(found.values())


def _language(party: Party, lang: str | None) -> tuple[str, bool]:
    if lang is not None:
        return lang, False
    return language_for(party.language)


def _document(
    run: RunData, prefix: str, period: str, party: Party, lines: list[LineRow], lang: str | None
) -> dict[str, Any]:
    days = period_days(period)
    language, fallback = _language(party, lang)
    return {
        "number": document_number(prefix, period, party.id, run.plan_sha256, [ln.line_id for ln in lines]),
        "period": period,
        "period_first": days[0] if days else None,
        "period_last": days[1] if days else None,
        "party": party,
        "language": language,
        "fallback": fallback,
        "issuers": _issuers(run, (ln.contract_id for ln in lines)),
    }


def _by_party(lines: Iterable[LineRow]) -> dict[tuple[str, str], list[LineRow]]:
    groups: dict[tuple[str, str], list[LineRow]] = {}
    for ln in lines:
        groups.setdefault((ln.party, ln.period), []).append(ln)
    return dict(sorted(groups.items()))


# --- invoices ---------------------------------------------------------------------------


def build_invoices(run: RunData, lang: str | None = None) -> list[Invoice]:
    """One invoice per end customer and period, every product and partner on it."""
    invoices = []
    for (customer, period), lines in _by_party(ln for ln in run.lines if ln.kind == "invoice").items():
        party = run.party(customer, "customer", lines[0].party_name)
        invoice = Invoice(**_document(run, "INV", period, party, lines, lang))
        invoice.lines = [_detail(run, ln, lines) for ln in lines]
        groups: dict[tuple[str, bool, str], list[LineRow]] = {}
        for ln in lines:
            groups.setdefault((ln.currency, ln.reverse_charge, ln.vat_rate_text), []).append(ln)
        invoice.vat_groups = [
            VatGroup(
                currency,
                group[0].vat_rate,
                rate_text,
                reverse,
                sum((ln.amount for ln in group), Decimal(0)),
                sum((ln.vat_amount or Decimal(0) for ln in group), Decimal(0)),
            )
            for (currency, reverse, rate_text), group in sorted(
                groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[1][0].vat_rate or Decimal(0))
            )
        ]
        invoice.totals = [
            InvoiceTotal(
                m.currency,
                m.amount,
                sum((ln.vat_amount or Decimal(0) for ln in lines if ln.currency == m.currency), Decimal(0)),
                sum(
                    (_gross(ln) for ln in lines if ln.currency == m.currency),
                    Decimal(0),
                ),
            )
            for m in _sum_by_currency((ln.currency, ln.amount) for ln in lines)
        ]
        invoices.append(invoice)
    return invoices


def _gross(line: LineRow) -> Decimal:
    if line.gross_amount is not None:
        return line.gross_amount
    return line.amount + (line.vat_amount or Decimal(0))


# --- self-billing statements ------------------------------------------------------------


def _shares(expr: ir.Expr) -> tuple[list[Decimal], set[str]]:
    shares: list[Decimal] = []
    bases: set[str] = set()
    if expr.op == "share" and expr.value is not None:
        shares.append(expr.value)
        if expr.base:
            bases.add(expr.base)
    for arg in expr.args:
        s, b = _shares(arg)
        shares += s
        bases |= b
    return shares, bases


def _fx(run: RunData, line: LineRow) -> Fx | None:
    if line.paid_amount is None or line.fx_rate is None or not line.paid_currency:
        return None
    fx = (run.traces.get(line.line_id) or {}).get("fx") or {}
    # Which way the published rate reads: 1 EUR = 4.2500 PLN is divided by
    # to pay 81.65 PLN in EUR. The closer of the two readings is the one used.
    divided = abs(line.amount / line.fx_rate - line.paid_amount)
    multiplied = abs(line.amount * line.fx_rate - line.paid_amount)
    base, quote = (
        (line.paid_currency, line.currency)
        if divided <= multiplied
        else (
            line.currency,
            line.paid_currency,
        )
    )
    return Fx(
        rate=line.fx_rate,
        date=line.fx_date,
        table=str(fx.get("table", "")),
        fixing=str(fx.get("fixing", "")),
        clause=str((fx.get("clause") or {}).get("label", "")),
        base=base,
        quote=quote,
    )


def _statement_line(run: RunData, line: LineRow, withholding: tuple[Withholding, ...]) -> StatementLine:
    trace = run.traces.get(line.line_id) or {}
    clause = trace.get("clause") or {}
    rules = _rules(run, line)
    shares: list[Decimal] = []
    bases: set[str] = set()
    for rule in rules:
        s, b = _shares(rule.rate.expr)
        shares += s
        bases |= b
    basis = None
    if len(bases) == 1:
        base = bases.pop()
        funding = [
            ln
            for ln in run.lines
            if ln.kind == "invoice"
            and (ln.contract_id, ln.contract_version, ln.product, ln.period)
            == (line.contract_id, line.contract_version, line.product, line.period)
        ]
        amount = None
        if base == "net":
            amount = sum((ln.amount for ln in funding), Decimal(0))
        elif base == "gross":
            amount = sum((_gross(ln) for ln in funding), Decimal(0))
        basis = Basis(_BASES.get(base, base), amount, line.currency)
    doc = _detail(run, line)
    steps: tuple[Step, ...] = ()
    waterfall = _waterfall(run, line, trace)
    if waterfall is not None:
        steps, tiers = waterfall
        own = steps[-1]
        basis, shares = own.basis, list(own.shares)
        doc = dataclasses.replace(doc, tiers=tiers, step=own.label)
    rule_text = str((trace.get("rule") or {}).get("text", "")) or "; ".join(r.text for r in rules)
    return StatementLine(
        doc=doc,
        clause_text=str(clause.get("text") or ""),
        rule_text=rule_text,
        basis=basis,
        shares=tuple(dict.fromkeys(shares)),
        fx=_fx(run, line),
        steps=steps,
        withholding=withholding,
    )


def _waterfall(
    run: RunData, line: LineRow, trace: dict[str, Any]
) -> tuple[tuple[Step, ...], Tiers | None] | None:
    """The steps of a distribution up to the partner's (the last), and its tiers.

    What each step took its share of comes from the trace (the net, or what the
    earlier steps left); the other steps' amounts are left out.
    """
    entries = [e for e in trace.get("waterfall") or [] if isinstance(e, dict)]
    own = next(
        (
            i
            for i, e in enumerate(entries)
            if e.get("party") == line.party and _same(e.get("amount"), line.amount)
        ),
        None,
    )
    if own is None:
        return None
    product = run.product(line.contract_id, line.product)
    plans = [w for w in (product.waterfalls if product else ()) if w.clause.label == line.clause]
    by_label = {st.label: st for w in plans[:1] for st in w.steps}
    base = plans[0].base if plans else ""
    steps = []
    tiers = None
    for i, entry in enumerate(entries[: own + 1]):
        label = str(entry.get("step", ""))
        plan = by_label.get(label)
        kind = plan.kind if plan is not None else ""
        amount = _decimal(entry.get("basis"))
        if kind == "base" or plan is None or (i == 0 and kind != "step"):
            # What remains before the first step is the whole base.
            basis = Basis(_BASES.get(base, base), amount, line.currency)
        elif kind == "step":
            basis = Basis(_BASES["remainder"], amount, line.currency, step=plan.of_step or "")
        else:
            basis = Basis(_BASES["remainder"], amount, line.currency)
        shares: tuple[Decimal, ...] = ()
        fixed = None
        if plan is not None and plan.tiers is not None:
            shares = tuple(b.rate for b in plan.tiers.bands) if plan.tiers.kind == "share" else ()
            if i == own and amount is not None and plan.tiers.kind == "share":
                bands = _bands(entry.get("bands"), "share", line.currency)
                mode = _TIER_MODES.get(plan.tiers.mode, plan.tiers.mode)
                tiers = None if bands is None else Tiers(mode, "share", "", line.currency, bands)
        elif plan is not None and kind in {"fixed", "per_transaction"}:
            fixed = plan.value
        elif plan is not None and plan.value is not None:
            shares = (plan.value,)
        steps.append(Step(label, basis, kind, shares, fixed, i == own))
    return tuple(steps), tiers


def _step_label(run: RunData, line: LineRow) -> str:
    """The waterfall step a payout or retained line is for ("" for other lines)."""
    entries = (run.traces.get(line.line_id) or {}).get("waterfall") or []
    return next(
        (
            str(e.get("step", ""))
            for e in entries
            if isinstance(e, dict) and e.get("party") == line.party and _same(e.get("amount"), line.amount)
        ),
        "",
    )


def _same(text: Any, amount: Decimal) -> bool:
    value = _decimal(text)
    return value is not None and value == amount


def _decimal(text: Any) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        return Decimal(str(text))
    except ArithmeticError:
        return None


def _withholding(run: RunData, line: LineRow, payouts: dict[str, LineRow]) -> tuple[str, Withholding]:
    """A withholding line and which of the partner's `payouts` it is withheld from ("" when none)."""
    trace = run.traces.get(line.line_id) or {}
    found = (trace.get("from_lines") or {}).get("payout") or []
    payout = str(found[0]) if len(found) == 1 and str(found[0]) in payouts else ""
    basis = payouts[payout].amount if payout else None
    product = run.product(line.contract_id, line.product)
    plans = [w for w in (product.withholdings if product else ()) if w.party == line.party]
    plan = next((w for w in plans if w.clause.label == line.clause), plans[0] if len(plans) == 1 else None)
    rate = line.withholding_rate if line.withholding_rate is not None else plan.rate if plan else None
    clause = trace.get("clause") or {}
    row = Withholding(_detail(run, line), str(clause.get("text") or ""), rate, basis, _fx(run, line))
    return payout, row


def build_statements(run: RunData, lang: str | None = None) -> list[Statement]:
    """One self-billing statement per partner and period, in its currency.

    Payouts and the tax withheld from them; never the operator's retained
    lines, not even the steps it keeps in a distribution.
    """
    statements = []
    kinds = {"payout", "withholding"}
    for (partner, period), lines in _by_party(ln for ln in run.lines if ln.kind in kinds).items():
        party = run.party(partner, "partner", lines[0].party_name)
        statement = Statement(**_document(run, "SB", period, party, lines, lang))
        payouts = [ln for ln in lines if ln.kind == "payout"]
        withholding = [ln for ln in lines if ln.kind == "withholding"]
        under: dict[str, list[Withholding]] = {}
        by_id = {ln.line_id: ln for ln in payouts}
        for ln in withholding:
            payout, row = _withholding(run, ln, by_id)
            if payout:
                under.setdefault(payout, []).append(row)
            else:
                statement.withholding.append(row)
        statement.lines = [_statement_line(run, ln, tuple(under.get(ln.line_id, ()))) for ln in payouts]
        statement.settled = _sum_by_currency((ln.currency, ln.amount) for ln in payouts)
        statement.paid = _sum_by_currency((ln.payable_currency, ln.payable_amount) for ln in payouts)
        # Withholding lines carry negative amounts (what the engine writes);
        # a `withholding_amount` column is the positive tax on its payout line.
        withheld = [(ln.payable_currency, -ln.payable_amount) for ln in withholding]
        withheld += [(ln.payable_currency, ln.withholding_amount) for ln in payouts if ln.withholding_amount]
        statement.withheld = _sum_by_currency(withheld)
        statement.payable = _sum_by_currency(
            [(m.currency, m.amount) for m in statement.paid] + [(c, -a) for c, a in withheld]
        )
        currencies = {m.currency for m in statement.payable}
        statement.currency = party.currency or (currencies.pop() if len(currencies) == 1 else "")
        statements.append(statement)
    return statements


# --- the audit report -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartyTotal:
    party: str
    name: str
    kind: str
    currency: str
    amount: Decimal
    lines: int
    paid: tuple[Money, ...]


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    kind: str  # "invoice" or "statement"
    number: str
    party: Party
    language: str
    fallback: bool
    file: str


@dataclass(slots=True)
class Audit:
    number: str
    period: str
    period_first: dt.date | None
    period_last: dt.date | None
    language: str
    fallback: bool
    manifest: dict[str, Any]
    lines: list[DocLine]
    totals: list[PartyTotal]
    conservation: list[dict[str, Any]]
    traces: dict[str, Node]
    rejects: list[RejectRow]
    unmatched: list[RejectRow]
    rejects_count: int
    unmatched_count: int
    notes: list[str]
    output_checks: dict[str, bool]
    issuers: list[Party]
    documents: list[DocumentEntry] = field(default_factory=list)

    @property
    def conservation_ok(self) -> bool:
        return all(c["ok"] for c in self.conservation)


def _conservation(lines: list[LineRow]) -> list[dict[str, Any]]:
    """Recomputed from the line files, so the report checks the manifest's claim."""
    totals: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for ln in lines:
        if ln.kind not in {"invoice", "payout", "retained"}:
            continue
        t = totals.setdefault(
            (ln.contract_id, ln.period, ln.currency),
            {"invoice": Decimal(0), "payout": Decimal(0), "retained": Decimal(0)},
        )
        t[ln.kind] += ln.amount
    return [
        {
            "contract_id": cid,
            "period": period,
            "currency": currency,
            "net_revenue": t["invoice"],
            "payouts": t["payout"],
            "retained": t["retained"],
            "ok": t["invoice"] == t["payout"] + t["retained"],
        }
        for (cid, period, currency), t in sorted(totals.items())
    ]


def build_audit(run: RunData, run_dir: str, lang: str | None = None) -> Audit:
    """The run's audit report, in the operator's language (English if operators differ)."""
    issuers = _issuers(run, (ln.contract_id for ln in run.lines))
    issuers = issuers or _issuers(run, (p.id for p in run.plans))
    languages = {language_for(p.language) for p in issuers}
    language, fallback = languages.pop() if len(languages) == 1 else ("en", True)
    if lang is not None:
        language, fallback = lang, False
    groups: dict[tuple[str, str, str], list[LineRow]] = {}
    for ln in run.lines:
        groups.setdefault((ln.party, ln.kind, ln.currency), []).append(ln)
    totals = [
        PartyTotal(
            party,
            lines[0].party_name,
            kind,
            currency,
            sum((ln.amount for ln in lines), Decimal(0)),
            len(lines),
            tuple(_sum_by_currency((ln.paid_currency, ln.paid_amount) for ln in lines if ln.paid_amount)),
        )
        for (party, kind, currency), lines in sorted(groups.items())
    ]
    days = period_days(run.period)
    return Audit(
        number=document_number("AUD", run.period, "run", run.plan_sha256, [ln.line_id for ln in run.lines]),
        period=run.period,
        period_first=days[0] if days else None,
        period_last=days[1] if days else None,
        language=language,
        fallback=fallback,
        manifest=run.manifest,
        lines=[dataclasses.replace(_doc_line(run, ln), step=_step_label(run, ln)) for ln in run.lines],
        totals=totals,
        conservation=_conservation(run.lines),
        traces={lid: trace_tree(t, run_dir) for lid, t in sorted(run.traces.items())},
        rejects=run.rejects[:LISTED_REJECTS],
        unmatched=run.unmatched[:LISTED_REJECTS],
        rejects_count=len(run.rejects),
        unmatched_count=len(run.unmatched),
        notes=list(run.notes),
        output_checks=dict(run.output_checks),
        issuers=issuers,
    )
