"""A line's exact amount, from its partial sums: free units, line-level prices, tiers
over the year, and the VAT arithmetic its trace shows; the unit price and aggregate a
line states.

A mixin of `settle._Finisher`, which sets the attributes below.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clearline.compiler import ir, units
from clearline.money import CONTEXT
from clearline.runtime.rating import closures
from clearline.runtime.rating.engine import Engine, LineAcc
from clearline.runtime.rating.products import _ProductRT
from clearline.runtime.settlement.lines import _pct, _s

__all__: list[str] = []


class _LineAmounts:
    engine: Engine

    def line_amount(self, p: _ProductRT, rule: Any, acc: LineAcc) -> tuple[Decimal, str]:
        """The line's exact amount before line rounding, and how it was reached."""
        rate: ir.RatePlan = rule.rate
        if not rate.line_level:
            return acc.amount, f"sum of {acc.units} unit amount(s) = {_s(acc.amount)}"
        unit, free = self.line_unit(p, rule, acc), ""
        if rate.allowance is not None:
            _, free = _chargeable(rate, acc, p.product.measure)
        earlier = self.engine.cumulative.get(acc.line_id)
        if earlier is not None and any(t.over for t in rule.tiers.values()):
            return self.over_periods(p, rule, unit, earlier)
        value, text = closures.explain(rate.expr, rate, p.product.measure, unit, rule.tiers, rule.bundle)
        return value, f"{free}; {text}" if free else text

    @staticmethod
    def line_unit(p: _ProductRT, rule: Any, acc: LineAcc) -> closures.Unit:
        """The line as one rating unit: its chargeable quantity (after free units), its
        bases and aggregates. A line is not an event: no connect fee at line level."""
        rate: ir.RatePlan = rule.rate
        aggregates = dict(acc.aggregates)
        for (func, name), total in acc.aggregates.items():
            if func == "average":
                aggregates[(func, name)] = CONTEXT.divide(total, Decimal(acc.records))
        quantity = acc.quantity
        if rate.allowance is not None:
            quantity, _ = _chargeable(rate, acc, p.product.measure)
        return closures.Unit(
            quantity, None, False, 0, p.period.days, acc.net_base, acc.gross_base, aggregates=aggregates
        )

    def over_periods(
        self, p: _ProductRT, rule: Any, unit: closures.Unit, earlier: tuple[Decimal, Decimal, Decimal]
    ) -> tuple[Decimal, str]:
        """Tiers over the year (or lifetime): the bands see the earlier periods' amounts, and
        this period's line is what the whole comes to less what the earlier part came to."""
        quantity, net, gross = earlier
        days = p.period.days
        before = closures.Unit(quantity, None, False, 0, days, net, gross, aggregates=unit.aggregates)
        whole = closures.Unit(
            unit.quantity + quantity,
            None,
            False,
            0,
            p.period.days,
            unit.net + net,
            unit.gross + gross,
            aggregates=unit.aggregates,
        )
        rate, measure = rule.rate, p.product.measure
        tiers, bundle = rule.tiers, rule.bundle
        all_value, all_text = closures.explain(rate.expr, rate, measure, whole, tiers, bundle)
        before_value, before_text = closures.explain(rate.expr, rate, measure, before, tiers, bundle)
        value = all_value - before_value
        return value, (
            f"over the year so far: {all_text}; less the earlier periods: {before_text}; "
            f"{_s(all_value)} - {_s(before_value)} = {_s(value)}"
        )

    @staticmethod
    def vat_trace(
        rule: Any, amount: Decimal, rate: Decimal, vat: Decimal | None, gross: Decimal | None
    ) -> dict[str, str]:
        if rule.vat_included:
            record = rule.rate.record_rounding
            if record is not None and not rule.rate.line_level:
                where = f"each record's net is its amount / {_s(1 + rate)}, rounded {record.describe()}"
            elif rule.subscription and not rule.rate.line_level:
                where = f"each subscriber's net is its amount / {_s(1 + rate)}, rounded with the line"
            else:
                where = f"the line's net is its total / {_s(1 + rate)}, rounded with the line"
            arithmetic = (
                f"prices include {_pct(rate)} VAT: {where}; "
                f"VAT = paid {_s(gross)} - net {_s(amount)} = {_s(vat)}"
            )
        elif rule.plan.reverse_charge:
            arithmetic = "reverse charge: the customer accounts for VAT (0%)"
        else:
            arithmetic = f"{_s(amount)} × {_pct(rate)} = {_s(CONTEXT.multiply(amount, rate))}"
        return {
            "rate": _pct(rate),
            "base": _s(amount),
            "arithmetic": arithmetic,
            "rounded": _s(vat),
            "gross": _s(gross),
        }


def _chargeable(rate: ir.RatePlan, acc: LineAcc, measure: str) -> tuple[Decimal, str]:
    """The line's quantity after its free units, and the arithmetic."""
    free = rate.allowance
    assert free is not None
    unit = units.plural(measure)
    if rate.allowance_per is None:
        left = max(Decimal(0), acc.quantity - free)
        return left, f"{_s(acc.quantity)} {unit} - {_s(free)} free = {_s(left)}"
    count = len(acc.by_value)
    if rate.pooled:
        pool = free * count
        left = max(Decimal(0), acc.quantity - pool)
        return left, (
            f"{_s(acc.quantity)} {unit} - {_s(free)} free x {count} {rate.allowance_per} "
            f"(pooled) = {_s(left)}"
        )
    left = sum((max(Decimal(0), q - free) for q in acc.by_value.values()), Decimal(0))
    return left, (
        f"{_s(left)} {unit} above {_s(free)} free for each of {count} {rate.allowance_per} "
        f"(not pooled), of {_s(acc.quantity)}"
    )


def aggregate_of(expr: ir.Expr) -> tuple[str, str] | None:
    if expr.op == "agg":
        return (expr.func or "", expr.field or "")
    for arg in expr.args:
        found = aggregate_of(arg)
        if found:
            return found
    return None


def stated_unit_price(expr: ir.Expr, acc: LineAcc) -> Decimal | None:
    if expr.op == "per":
        return expr.value
    if expr.op == "table" and acc.samples:
        rows = {s[1].row.key: s[1].row.price for s in acc.samples if s[1].row is not None}
        if len(rows) == 1:
            return next(iter(rows.values()))
    return None
