"""What a document shows about one line, read from the run folder: the contract's
rules for it, its unit price, tier bands, commitment and discount, and the
fields every document shares (number, period, party, language, issuers)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from clearline.compiler import ir
from clearline.money import CONTEXT, MINOR_UNITS, round_money
from clearline.reports.documents import (
    TIER_MODES,
    Band,
    Commitment,
    Discount,
    DocLine,
    Tiers,
    document_number,
    period_days,
)
from clearline.reports.i18n import N_, language_for
from clearline.reports.rundata import LineRow, Party, RunData

# A quantity that is an aggregate of a usage field: the engine writes its unit
# as "<field> (<function>)", e.g. "active_sims (maximum)".
AGGREGATES = {
    "maximum": N_("maximum of %(field)s"),
    "minimum": N_("minimum of %(field)s"),
    "sum": N_("sum of %(field)s"),
    "average": N_("average of %(field)s"),
}


def rules_of(run: RunData, line: LineRow) -> list[ir.ChargePlan | ir.PayoutPlan]:
    product = run.product(line.contract_id, line.product)
    if product is None:
        return []
    if line.kind == "invoice":
        return [c for c in product.charges if c.clause.label == line.clause]
    return [p for p in product.payouts if p.clause.label == line.clause and p.party == line.party]


def _price_unit(run: RunData, line: LineRow) -> str | None:
    product = run.product(line.contract_id, line.product)
    found: set[str] = set()
    for rule in rules_of(run, line):
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


def doc_line(run: RunData, line: LineRow) -> DocLine:
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


def detail(run: RunData, line: LineRow) -> DocLine:
    """A line with what an invoice or statement explains about it.

    A true-up's commitment and a discount's percentage and base are the trace's
    figures (the run folder's own); a price taken from the contract is shown only
    where it reproduces the line's amount.
    """
    doc = doc_line(run, line)
    product = run.product(line.contract_id, line.product)
    rules = rules_of(run, line)
    price, price_unit = line.unit_price, doc.price_unit
    if price is None:
        price, price_unit = _contract_price(line, rules) or (None, price_unit)
    aggregate = field_name = ""
    labels: tuple[tuple[str, str], ...] = ()
    found = re.fullmatch(r"(\w+) \((\w+)\)", line.unit)
    if found and found.group(2) in AGGREGATES:
        aggregate, field_name = AGGREGATES[found.group(2)], found.group(1).replace("_", " ")
        plan = run.plan(line.contract_id)  # the contract's labels of the field, per language
        labels = next((f.labels for f in plan.fields if f.name == found.group(1)), ()) if plan else ()
    trace = run.traces.get(line.line_id) or {}
    commitment, discount = _commitment(trace, line), _discount(trace, line)
    return DocLine(
        line=line,
        title=doc.title,
        price_unit=price_unit,
        group_key=doc.group_key,
        group_value=doc.group_value,
        price=price,
        aggregate=aggregate,
        aggregate_field=field_name,
        field_labels=labels,
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


def bands_of(recorded: object, kind: str, currency: str) -> tuple[Band, ...] | None:
    """The bands a trace recorded (`tiers[].bands`, or a waterfall step's `bands`), as
    exact decimals; None when they are not there as the run writes them."""
    if not isinstance(recorded, list) or not recorded:
        return None
    bands = []
    for b in recorded:
        if not isinstance(b, dict):
            return None
        lower, rate, quantity, amount = (decimal_of(b.get(k)) for k in ("from", "rate", "quantity", "amount"))
        if lower is None or rate is None or quantity is None or amount is None:
            return None
        upper = decimal_of(b.get("to")) if b.get("to") else None
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
    bands = bands_of(tier.get("bands"), "price", line.currency)
    exact = decimal_of(tier.get("amount"))
    if bands is None or exact is None or round_money(exact, rate.line_rounding) != line.amount:
        return None
    label = TIER_MODES.get(str(tier.get("mode")), str(tier.get("mode")))
    return Tiers(label, "price", str(tier.get("unit") or ""), line.currency, bands)


def _commitment(trace: dict[str, Any], line: LineRow) -> Commitment | None:
    """A true-up line's commitment, as its trace recorded it: what was committed (after
    proration) and what the committed clauses charged."""
    found = trace.get("commitment")
    if line.kind != "invoice" or not isinstance(found, dict):
        return None
    committed, charged = decimal_of(found.get("committed")), decimal_of(found.get("charged"))
    if committed is None or charged is None:
        return None
    return Commitment(committed, charged, tuple(str(c) for c in found.get("clauses") or ()))


def _discount(trace: dict[str, Any], line: LineRow) -> Discount | None:
    """A discount line's percentage (or fixed amount) and base, as its trace recorded them."""
    found = trace.get("discount")
    if line.kind != "invoice" or not isinstance(found, dict):
        return None
    base = decimal_of(trace.get("discounted_base"))
    clauses = tuple(str(c) for c in found.get("clauses") or ())
    return Discount(decimal_of(found.get("fraction")), decimal_of(found.get("amount")), base, clauses)


def issuers_of(run: RunData, contract_ids: Iterable[str]) -> list[Party]:
    """The operators of the contracts a document's lines come from."""
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


def document_fields(
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
        "issuers": issuers_of(run, (ln.contract_id for ln in lines)),
    }


def by_party(lines: Iterable[LineRow]) -> dict[tuple[str, str], list[LineRow]]:
    groups: dict[tuple[str, str], list[LineRow]] = {}
    for ln in lines:
        groups.setdefault((ln.party, ln.period), []).append(ln)
    return dict(sorted(groups.items()))


def same_amount(text: Any, amount: Decimal) -> bool:
    value = decimal_of(text)
    return value is not None and value == amount


def decimal_of(text: Any) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        return Decimal(str(text))
    except ArithmeticError:
        return None


def gross_of(line: LineRow) -> Decimal:
    if line.gross_amount is not None:
        return line.gross_amount
    return line.amount + (line.vat_amount or Decimal(0))
