"""Units of account: prices written in one are converted before anything is rated.

Input: the plans, the period and the FX table. Output: per contract version, the
rate of each unit of account it declares (`Conversion`), and each product with its
prices converted into the settlement currency (`converted_product`), which the
engine rates instead of the plan's. The plan itself, recorded in the run folder and
hashed, keeps the prices as written; each line's trace shows the conversion.

A price `0.0525 XDR per minute`, with XDR -> EUR 1.1520 on the period's last day,
rates as 0.0525 × 1.1520 = 0.060480 EUR per minute, exactly (a rate published the
other way, EUR -> XDR, divides, in the 50-digit context). Every rounding and limit
the rule declares then applies to the amount in the settlement currency.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.money import CONTEXT
from clearline.periods import period_bounds
from clearline.runtime.inputs.refdata import FxTable

__all__ = ["Conversion", "conversions_for", "converted_product", "key_of"]


@dataclass(frozen=True, slots=True)
class Conversion:
    """One unit of account of a contract version, at its rate for the period."""

    code: str
    name: str
    into: str
    rate: Decimal
    inverted: bool  # the table publishes INTO -> CODE: divide by it
    date: str
    table: str

    def apply(self, value: Decimal) -> Decimal:
        """`value` in the unit, in the settlement currency (without trailing zeros:
        0.0525 × 1.1520 is 0.06048, as a person writes it)."""
        exact = CONTEXT.divide(value, self.rate) if self.inverted else CONTEXT.multiply(value, self.rate)
        return CONTEXT.normalize(exact) if exact else Decimal(0)

    def trace(self) -> dict[str, str]:
        op = "/" if self.inverted else "×"
        return {
            "unit": self.code,
            "name": self.name,
            "into": self.into,
            "rate": format(self.rate, "f"),
            "date": self.date,
            "table": self.table,
            "arithmetic": f"price in {self.code} {op} {format(self.rate, 'f')} = price in {self.into}",
        }


def key_of(plan: ir.ContractPlan) -> str:
    return f"{plan.id} {plan.version}"


def conversions_for(
    plans: Sequence[ir.ContractPlan], period: str, fx: FxTable | None
) -> dict[str, dict[str, Conversion]]:
    """Contract version -> unit -> its conversion at the period's end; ClearlineError
    naming the declaration when the FX table is missing or has no rate for it."""
    out: dict[str, dict[str, Conversion]] = {}
    problems: list[Diagnostic] = []
    for plan in plans:
        for unit in plan.units_of_account:
            day = period_bounds(period, plan.period, plan.time_zone).last_day
            found = fx.find(day, unit.code, plan.currency) if fx is not None else None
            if found is None:
                where = f"in {fx.name}" if fx is not None else "(no FX rates were given: --fx FILE)"
                problems.append(
                    Diagnostic(
                        codes.MISSING_REFERENCE_DATA,
                        f"{plan.id}'s prices in {unit.code} need a {unit.code}/{plan.currency} rate "
                        f"for {day} {where}",
                        unit.span,
                        f"add a row `{day},{unit.code},{plan.currency},RATE` to the FX rates file",
                    )
                )
                continue
            rate, inverted = found
            name = fx.name if fx is not None else ""
            out.setdefault(key_of(plan), {})[unit.code] = Conversion(
                unit.code, unit.name, plan.currency, rate, inverted, day.isoformat(), name
            )
    if problems:
        raise ClearlineError(problems)
    return out


def converted_product(product: ir.ProductPlan, rates: dict[str, Conversion], currency: str) -> ir.ProductPlan:
    """`product` with every price in a unit of account converted into `currency`: money
    literals and prices per unit in its rules' amounts, a record's value read in the unit
    (multiplied as read), and its rate tables' rows. The texts stay as written."""

    def expr(e: ir.Expr) -> ir.Expr:
        args = tuple(expr(a) for a in e.args)
        conv = rates.get(e.currency or "")
        if conv is not None and e.op in ("money", "per") and e.value is not None:
            return dataclasses.replace(e, args=args, value=conv.apply(e.value), currency=currency)
        if conv is not None and e.op == "field":
            read = dataclasses.replace(e, args=args, currency=currency)
            factor = ir.Expr("number", value=conv.rate, text=format(conv.rate, "f"))
            return ir.Expr("div" if conv.inverted else "mul", (read, factor), text=e.text)
        return dataclasses.replace(e, args=args) if args != e.args else e

    def rate(r: ir.RatePlan) -> ir.RatePlan:
        return dataclasses.replace(r, expr=expr(r.expr))

    def row(r: ir.RowPlan) -> ir.RowPlan:
        conv = rates.get(r.currency)
        if conv is None:
            return r
        fee = None if r.connect_fee is None else conv.apply(r.connect_fee)
        return dataclasses.replace(r, price=conv.apply(r.price), currency=currency, connect_fee=fee)

    return dataclasses.replace(
        product,
        charges=tuple(dataclasses.replace(c, rate=rate(c.rate)) for c in product.charges),
        payouts=tuple(dataclasses.replace(p, rate=rate(p.rate)) for p in product.payouts),
        tables=tuple(dataclasses.replace(t, rows=tuple(row(r) for r in t.rows)) for t in product.tables),
    )
