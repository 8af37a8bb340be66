"""Rating: plan expressions -> Python closures, and the same expressions
explained with the values that went in (for traces); record predicates ->
closures over raw rows.

Input: `ir.Expr`, `ir.RatePlan`, `ir.TablePlan`, `ir.Pred`. Output: functions
of a rating unit (`Unit`), of a row, or of a run of rows at once. The
closures are the hot path; `explain` mirrors them term by term and is tested
to agree with them. `pure` says which rules price a record from its
quantity, answered flag and table row only, so that the engine can share one
price among the records that rate alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from decimal import ROUND_CEILING, Decimal
from typing import Any

from clearline.compiler import ir, units
from clearline.money import CONTEXT, allocate
from clearline.runtime.rating.predicates import (
    RecordProblem,
    RowPred,
    RunPred,
    compile_pred,
    compile_run_pred,
    field_number,
    pred_fields,
)
from clearline.tiers import apply_tiers, bands, tier_quantity

__all__ = [
    "PRODUCT_FIELDS",
    "RecordProblem",
    "RowPred",
    "RunPred",
    "Unit",
    "at_defaults",
    "bill_quantity",
    "compile_expr",
    "compile_pred",
    "compile_run_pred",
    "explain",
    "field_number",
    "lookup",
    "pred_fields",
    "prefix_index",
    "pure",
]

_ZERO = Decimal(0)


@dataclass(slots=True)
class Unit:
    """One rating unit: a usage record, or a subscriber's period."""

    quantity: Decimal  # billed quantity, in the product's measure
    row: ir.RowPlan | None  # the rate-table row that matched, if any
    answered: bool
    days: int  # active days in the period (subscriptions; 0 for usage)
    period_days: int  # days in the period
    net: Decimal = _ZERO
    gross: Decimal = _ZERO
    # money read from the record (`the value of amount in PLN`), by field name
    values: dict[str, Decimal] | None = None
    # a line's aggregates over its records, by (function, field): line-level rules only
    aggregates: dict[tuple[str, str], Decimal] | None = None
    key: str = ""  # the value of a rule's `for each FIELD` allowance field
    # what the product's earlier pay rules paid each party for this unit (`the payout to P`)
    payouts: dict[str, Decimal] | None = None
    # the net less what the pay rules up to and including each clause paid (`the remainder after`)
    remainders: dict[str, Decimal] | None = None
    # time bands: the band that priced it and when it (or its part) starts, on the bands' clock
    band: str = ""
    clock: str = ""


Fn = Callable[[Unit], Decimal]


def bill_quantity(quantity: Decimal, first: int | None, nxt: int | None) -> Decimal:
    """Apply rating increments: the first block in full, then whole next blocks.

    >>> bill_quantity(Decimal(61), 30, 6), bill_quantity(Decimal(7), 30, 6), bill_quantity(Decimal(0), 60, 60)
    (Decimal('66'), Decimal('30'), Decimal('0'))
    """
    if first is None or nxt is None or quantity <= 0:
        return quantity
    if quantity <= first:
        return Decimal(first)
    blocks = CONTEXT.divide(quantity - first, Decimal(nxt)).to_integral_value(rounding=ROUND_CEILING)
    return first + blocks * nxt


def prefix_index(table: ir.TablePlan) -> tuple[dict[str, ir.RowPlan], tuple[int, ...]]:
    rows = {r.key: r for r in table.rows}
    lengths = tuple(sorted({len(k) for k in rows}, reverse=True))
    return rows, lengths


def lookup(
    table: ir.TablePlan, rows: dict[str, ir.RowPlan], lengths: tuple[int, ...], key: str
) -> ir.RowPlan | None:
    """Longest-prefix (or exact-value) match of `key` in a rate table."""
    if table.key_kind == "value":
        return rows.get(key)
    for n in lengths:
        if n <= len(key):
            row = rows.get(key[:n])
            if row is not None:
                return row
    return None


def compile_expr(
    expr: ir.Expr,
    rate: ir.RatePlan,
    measure: str,
    tiers: dict[str, ir.TierPlan] | None = None,
    bundle: tuple[tuple[str, Decimal], ...] = (),
) -> Fn:
    """A closure computing `expr` for one unit, exactly (no rounding).

    A line-level rule (tiers, aggregates) is computed once per line, with the
    line's total quantity and aggregates in the unit.
    """
    mul, div, add, sub = CONTEXT.multiply, CONTEXT.divide, CONTEXT.add, CONTEXT.subtract
    op = expr.op
    if op == "field":
        name = expr.field
        assert name is not None

        def field_value(u: Unit) -> Decimal:
            assert u.values is not None
            return u.values[name]

        return field_value
    if op == "agg":
        key = (expr.func or "", expr.field or "")

        def aggregate(u: Unit) -> Decimal:
            assert u.aggregates is not None
            return u.aggregates[key]

        return aggregate
    if op == "tiers":
        assert tiers is not None and expr.table is not None
        tier = tiers[expr.table]
        tier_bands = bands(tier)
        if expr.base == "net":
            return lambda u: apply_tiers(u.net, tier_bands, tier.mode)[0]
        if expr.base == "gross":
            return lambda u: apply_tiers(u.gross, tier_bands, tier.mode)[0]
        return lambda u: apply_tiers(tier_quantity(u.quantity, tier, measure), tier_bands, tier.mode)[0]
    if op == "base":
        if expr.base == "gross":
            return lambda u: u.gross
        return lambda u: u.net
    if op == "payout_to":
        to = expr.field or ""
        return lambda u: (u.payouts or {}).get(to, _ZERO)
    if op == "remainder_after":
        step = expr.field or ""
        return lambda u: (u.remainders or {}).get(step, u.net)
    if op == "share_of":
        assert expr.value is not None
        fraction: Decimal = expr.value
        inner = compile_expr(expr.args[0], rate, measure, tiers, bundle)
        return lambda u: mul(fraction, inner(u))
    if op == "allocated":
        assert expr.value is not None and expr.size is not None
        part: Decimal = expr.value
        quantum: Decimal = expr.size
        names = [name for name, _ in bundle]
        weights = [price for _, price in bundle]
        index = names.index(expr.field or "")
        use_gross = expr.base == "gross"
        return lambda u: mul(part, allocate(u.gross if use_gross else u.net, weights, quantum)[index])
    if op == "money" or op == "number":
        value = expr.value
        assert value is not None
        return lambda u: value
    if op == "per":
        price = expr.value
        assert price is not None and expr.unit is not None
        if expr.unit == "month":
            if rate.line_level:
                return lambda u: price  # one period of a line-level charge
            if rate.prorated:
                # multiply before dividing: 39.00 × 15 / 31, not 39.00 × (15 / 31)
                return lambda u: div(mul(price, Decimal(u.days)), Decimal(u.period_days))
            return lambda u: price
        if expr.unit == "day":
            return lambda u: mul(price, Decimal(u.days))
        ratio = units.factor(measure, expr.unit)
        fee = rate.connect_fee
        if expr.size is not None:
            size = expr.size

            def blocks(u: Unit) -> Decimal:
                quantity = u.quantity if ratio == 1 else div(u.quantity, ratio)
                started = div(quantity, size).to_integral_value(rounding=ROUND_CEILING)
                amount = mul(started, price)
                return add(amount, fee) if fee is not None and u.answered else amount

            return blocks
        if ratio == 1:
            base: Fn = lambda u: mul(u.quantity, price)  # noqa: E731
        else:
            base = lambda u: div(mul(u.quantity, price), ratio)  # noqa: E731
        if fee is None:
            return base
        return lambda u: add(base(u), fee) if u.answered else base(u)
    if op == "table":
        ratios: dict[str, Decimal] = {}

        def table_rate(u: Unit) -> Decimal:
            row = u.row
            assert row is not None
            ratio = ratios.get(row.per)
            if ratio is None:
                ratio = ratios[row.per] = units.factor(measure, row.per)
            amount = mul(u.quantity, row.price)
            if ratio != 1:
                amount = div(amount, ratio)
            if u.answered and row.connect_fee is not None:
                amount = add(amount, row.connect_fee)
            return amount

        return table_rate
    if op == "share":
        assert expr.value is not None
        share: Decimal = expr.value
        if expr.base == "net":
            return lambda u: mul(share, u.net)
        return lambda u: mul(share, u.gross)
    left = compile_expr(expr.args[0], rate, measure, tiers, bundle)
    right = compile_expr(expr.args[1], rate, measure, tiers, bundle)
    if op == "add":
        return lambda u: add(left(u), right(u))
    if op == "sub":
        return lambda u: sub(left(u), right(u))
    if op == "mul":
        return lambda u: mul(left(u), right(u))
    if op == "div":
        return lambda u: div(left(u), right(u))
    if op == "larger":
        return lambda u: max(left(u), right(u))
    if op == "smaller":
        return lambda u: min(left(u), right(u))
    raise ValueError(f"unknown expression op {op!r}")


def _fmt(value: Decimal) -> str:
    return format(value, "f")


def tier_uses(
    expr: ir.Expr, measure: str, unit: Unit, tiers: dict[str, ir.TierPlan] | None
) -> list[dict[str, Any]]:
    """Each tier table the amount reads, with the total it was applied to and the bands it
    used (their bounds, the quantity in each, the rate, the amount): the trace's `tiers`,
    so a document shows the bands from the run folder alone."""
    found: list[dict[str, Any]] = []
    for node in ir.walk(expr):
        if node.op != "tiers" or tiers is None or node.table is None:
            continue
        tier = tiers[node.table]
        if node.base is not None:
            total = unit.gross if node.base == "gross" else unit.net
        else:
            total = tier_quantity(unit.quantity, tier, measure)
        value, uses = apply_tiers(total, bands(tier), tier.mode)
        found.append(
            {
                "table": tier.name,
                "mode": tier.mode,
                "kind": tier.kind,
                "of": node.base or "quantity",
                "unit": tier.unit or "",
                "currency": tier.currency or "",
                "total": _fmt(total),
                "amount": _fmt(value),
                "bands": [
                    {
                        "from": _fmt(u.band.lower),
                        "to": "" if u.band.upper is None else _fmt(u.band.upper),
                        "quantity": _fmt(u.quantity),
                        "rate": _fmt(u.band.rate),
                        "amount": _fmt(u.amount),
                    }
                    for u in uses
                ],
            }
        )
    return found


def explain(
    expr: ir.Expr,
    rate: ir.RatePlan,
    measure: str,
    unit: Unit,
    tiers: dict[str, ir.TierPlan] | None = None,
    bundle: tuple[tuple[str, Decimal], ...] = (),
) -> tuple[Decimal, str]:
    """(value, the arithmetic written out with the values that went in)."""
    value = compile_expr(expr, rate, measure, tiers, bundle)(unit)
    op = expr.op
    if op == "base":
        return value, f"{expr.base} {_fmt(value)}"
    if op == "payout_to":
        return value, f"the payout to {expr.field} {_fmt(value)}"
    if op == "remainder_after":
        return value, f'the remainder after "{expr.field}" {_fmt(value)}'
    if op == "share_of" and expr.value == 1:  # `net after deductions`: the base less them
        return value, explain(expr.args[0], rate, measure, unit, tiers, bundle)[1]
    if op == "share_of":
        assert expr.value is not None
        _, inner = explain(expr.args[0], rate, measure, unit, tiers, bundle)
        return value, f"{_fmt((expr.value * 100).normalize())}% × ({inner}) = {_fmt(value)}"
    if op == "allocated":
        assert expr.value is not None
        prices = ", ".join(f"{name} {_fmt(price)}" for name, price in bundle)
        base = unit.gross if expr.base == "gross" else unit.net
        whole = "" if expr.value == 1 else f"{_fmt((expr.value * 100).normalize())}% × "
        return value, (
            f"{whole}{expr.field}'s part of {expr.base} "
            f"{_fmt(base)} by standalone prices ({prices}) = {_fmt(value)}"
        )
    if op == "tiers" and expr.base is not None:
        assert tiers is not None and expr.table is not None
        tier = tiers[expr.table]
        base = unit.gross if expr.base == "gross" else unit.net
        _, uses = apply_tiers(base, bands(tier), tier.mode)
        used = " + ".join(f"{_fmt(u.quantity)} × {_fmt(u.band.rate)}" for u in uses) or "0"
        return value, f"tiers {tier.name} ({tier.mode}) of {expr.base} {_fmt(base)}: {used} = {_fmt(value)}"
    if op in {"money", "number"}:
        return value, expr.text
    if op == "field":
        return value, f"{expr.field} {_fmt(value)} {expr.currency}"
    if op == "agg":
        return value, f"the {expr.func} of {expr.field} = {_fmt(value)}"
    if op == "tiers":
        assert tiers is not None and expr.table is not None
        tier = tiers[expr.table]
        total = tier_quantity(unit.quantity, tier, measure)
        _, uses = apply_tiers(total, bands(tier), tier.mode)
        parts = [
            f"{_fmt(u.quantity)} × {_fmt(u.band.rate)} [{_fmt(u.band.lower)}, "
            f"{'∞' if u.band.upper is None else _fmt(u.band.upper)}) = {_fmt(u.amount)}"
            for u in uses
        ]
        return value, (
            f"tiers {tier.name} ({tier.mode}) on {_fmt(total)} {tier.unit or ''}: "
            f"{' + '.join(parts) or '0'} = {_fmt(value)}"
        )
    if op == "per":
        assert expr.value is not None and expr.unit is not None
        price = f"{_fmt(expr.value)} {expr.currency}"
        if expr.unit == "month":
            if rate.line_level:
                return value, f"{price} per month, one period"
            if rate.prorated:
                return value, f"{price} × {unit.days} / {unit.period_days} days = {_fmt(value)}"
            return value, f"{price} per month"
        if expr.unit == "day":
            return value, f"{price} × {unit.days} days = {_fmt(value)}"
        ratio = units.factor(measure, expr.unit)
        if expr.size is not None:
            quantity = unit.quantity if ratio == 1 else unit.quantity / ratio
            started = (quantity / expr.size).to_integral_value(rounding=ROUND_CEILING)
            text = (
                f"{_fmt(quantity)} {units.plural(expr.unit)} in started blocks of {_fmt(expr.size)}: "
                f"{_fmt(started)} × {price}"
            )
            if rate.connect_fee is not None and unit.answered:
                text += f" + connect fee {_fmt(rate.connect_fee)}"
            return value, f"{text} = {_fmt(value)}"
        text = f"{_fmt(unit.quantity)} {units.plural(measure)} × {price}"
        if ratio != 1:
            text += f" / {ratio} {units.plural(measure)} per {expr.unit}"
        if rate.connect_fee is not None and unit.answered:
            text += f" + connect fee {_fmt(rate.connect_fee)}"
        return value, f"{text} = {_fmt(value)}"
    if op == "table":
        row = unit.row
        assert row is not None
        ratio = units.factor(measure, row.per)
        text = (
            f'rate "{row.key}" from table {expr.table}: {_fmt(unit.quantity)} '
            f"{units.plural(measure)} × {_fmt(row.price)} {row.currency}"
        )
        if ratio != 1:
            text += f" / {ratio} {units.plural(measure)} per {row.per}"
        if unit.answered and row.connect_fee is not None:
            text += f" + connect fee {_fmt(row.connect_fee)}"
        return value, f"{text} = {_fmt(value)}"
    if op == "share":
        assert expr.value is not None
        base = unit.net if expr.base == "net" else unit.gross
        return (
            value,
            f"{_fmt((expr.value * 100).normalize())}% × {expr.base} {_fmt(base)} = {_fmt(value)}",
        )
    _, left = explain(expr.args[0], rate, measure, unit, tiers, bundle)
    _, right = explain(expr.args[1], rate, measure, unit, tiers, bundle)
    if op in {"larger", "smaller"}:
        return value, f"the {op} of ({left}) and ({right}) = {_fmt(value)}"
    sign = {"add": "+", "sub": "-", "mul": "×", "div": "/"}[op]
    return value, f"({left}) {sign} ({right}) = {_fmt(value)}"


# -- rules' purity -----------------------------------------------------------------


# What the engine's fast path knows of the plan. Any other field, added later, must keep
# its default for a product to take the fast path: it may change how a record is rated.
PRODUCT_FIELDS = {
    "name", "title", "span", "matches", "kind", "measure", "reads_quantity", "answered",
    "starts", "ends", "charges", "payouts", "conversions", "tables", "tiers",
    # period-level: applied by settle to the closed lines, never per record
    "commitments", "waterfalls", "withholdings", "discounts", "splits", "billed",
}  # fmt: skip
_RULE_FIELDS = {"party", "clause", "span", "text", "rate", "vat_rate", "vat_included", "reverse_charge"}
_RATE_FIELDS = {
    "expr", "prorated", "first", "next", "connect_fee", "record_rounding", "line_rounding",
    "line_rounding_declared", "group_by", "minimum", "maximum", "cap", "line_level", "floor",
    "allowance", "pooled",
}  # fmt: skip
# expressions whose value depends on the unit's quantity, table row, answered flag, net and
# gross only (not `field`, `agg`, which read the record or the line)
_PURE_OPS = {
    "money", "number", "per", "table", "tiers", "share", "add", "sub", "mul", "div", "larger", "smaller",
}  # fmt: skip


def at_defaults(node: object, known: set[str]) -> bool:
    for f in fields(node):  # type: ignore[arg-type]  # plan nodes are dataclasses
        if f.name in known:
            continue
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            return False
        if getattr(node, f.name) != default:
            return False
    return True


def pure(plan: ir.ChargePlan | ir.PayoutPlan) -> bool:
    """Whether a rule's per-record price depends on the quantity, the answered
    flag and its table row only, so that records alike can share it."""
    return (
        at_defaults(plan, _RULE_FIELDS)
        and at_defaults(plan.rate, _RATE_FIELDS)
        and _pure_expr(plan.rate.expr)
    )


def _pure_expr(expr: ir.Expr) -> bool:
    return expr.op in _PURE_OPS and all(_pure_expr(arg) for arg in expr.args)
