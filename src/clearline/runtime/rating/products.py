"""The plan's products and rules as the engine rates them: each product with its
period, effective window, rules ready for the hot loop (their closures compiled,
prices in units of account converted) and the memo of prices its fast paths keep.

Input: a contract plan, one of its products and the period. Output: `_ProductRT`,
`_Rule`, `_Priced`. The engine (`engine.py`) and its fast paths (`fast.py`) both
read them; neither is imported here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from clearline.compiler import ir
from clearline.periods import Period, period_bounds
from clearline.runtime.rating import closures
from clearline.runtime.rating.accounts import Conversion, converted_product
from clearline.runtime.rating.accumulate import (
    LineAcc,
    RatedPrice,
)
from clearline.runtime.rating.bands import BandClock
from clearline.runtime.rating.closures import (
    PRODUCT_FIELDS,
    at_defaults,
    pure,
)

_ZERO = Decimal(0)
_CACHE_LIMIT = 1 << 15  # entries of a memo or cache before it starts afresh (memory stays flat)


def _local_midnight(day: str, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tz)


class _Rule:
    """One charge or payout rule, ready for the hot loop."""

    def __init__(
        self, index: int, kind: str, plan: ir.ChargePlan | ir.PayoutPlan, product: ir.ProductPlan
    ) -> None:
        self.index = index
        self.kind = kind  # "I" invoice (charge) or "P" payout
        self.plan = plan
        self.rate = plan.rate
        self.party = plan.party if isinstance(plan, ir.PayoutPlan) else ""
        self.vat = plan.vat_rate if isinstance(plan, ir.ChargePlan) else None
        self.tiers = {t.name: t for t in product.tiers}
        self.bundle = product.components
        self.fn = closures.compile_expr(plan.rate.expr, plan.rate, product.measure, self.tiers, self.bundle)
        self.line_level = plan.rate.line_level
        # `the payout to P`: the rule reads what earlier pay rules paid for the same unit
        self.reads_payouts = any(e.op in {"payout_to", "remainder_after"} for e in ir.walk(plan.rate.expr))
        self.allowance_per = plan.rate.allowance_per
        self.subscription = product.kind == "subscription"
        self.vat_included = (
            isinstance(plan, ir.ChargePlan) and plan.vat_included and plan.vat_rate is not None
        )
        self.minimum = plan.rate.minimum
        self.maximum = plan.rate.maximum
        self.values = sorted({e.field for e in ir.walk(plan.rate.expr) if e.op == "field" and e.field})
        self.aggregates = sorted(
            {(e.func or "", e.field or "") for e in ir.walk(plan.rate.expr) if e.op == "agg"}
        )
        tables = {t.name: t for t in product.tables}
        names = _tables_of(plan.rate.expr)
        self.table = tables[names[0]] if names else None
        self.rows, self.lengths = closures.prefix_index(self.table) if self.table else ({}, ())
        self.record_rounding = plan.rate.record_rounding
        self.by_day = any(c.party == self.party and c.fixing == "record date" for c in product.conversions)
        # fast path: the line key but party and group, the lines by (party, group), and the
        # table row by key (a longest-prefix match depends on the key's first `key_length` chars)
        self.head: tuple[str, ...] = ()
        self.lines: dict[tuple[str, str], LineAcc] = {}
        self.found: dict[str, ir.RowPlan | None] = {}
        self.found_key: dict[str, str | None] = {}  # the same, the row's key only
        prefix = self.table is not None and self.table.key_kind == "prefix"
        self.key_length = max(self.lengths, default=0) if prefix else None
        self.pure = pure(plan)
        self.band = plan.clause.band  # `during peak`: prices only the records in that band

    def find(self, short: str) -> ir.RowPlan | None:
        """The table row for a key's first `key_length` chars (all of a value key), cached."""
        assert self.table is not None
        found = closures.lookup(self.table, self.rows, self.lengths, short)
        if len(self.found) >= _CACHE_LIMIT:
            self.found.clear()
            self.found_key.clear()
        self.found[short] = found
        self.found_key[short] = None if found is None else found.key
        return found


# (rule, group, unit, net amount or None for line-level rules, amount paid incl. VAT or None,
#  aggregate values (function, field, value))
Rated = tuple["_Rule", str, closures.Unit, Decimal | None, Decimal | None, list[tuple[str, str, Decimal]]]


def _tables_of(expr: ir.Expr) -> list[str]:
    found = [expr.table] if expr.op == "table" and expr.table else []
    for arg in expr.args:
        found += _tables_of(arg)
    return found


class _ProductRT:
    def __init__(
        self,
        ci: int,
        pi: int,
        contract: ir.ContractPlan,
        product: ir.ProductPlan,
        period_label: str,
        conversions: dict[str, Conversion] | None = None,
    ) -> None:
        self.ci, self.pi = ci, pi
        self.contract = contract
        # rated with its prices in units of account converted (the plan keeps them as written)
        self.conversions = conversions or {}
        if self.conversions:
            product = converted_product(product, self.conversions, contract.currency)
        self.product = product
        self.integers = frozenset(f.name for f in contract.fields if f.type == "integer")
        self.period: Period = period_bounds(period_label, contract.period, contract.time_zone)
        tz = self.period.start.tzinfo
        assert tz is not None
        self.effective_from = _local_midnight(contract.effective_from, tz)
        self.effective_until = _local_midnight(contract.effective_until, tz)
        self.subscription = product.kind == "subscription"
        # time bands: a record's band, on the bands' clock, decides which clauses price it
        self.clock = BandClock(product.bands) if product.bands is not None else None
        # each subscriber's active days in the period, set when the subscriptions are settled:
        # what `prorated by active days` prorates a minimum, a cap and a commitment by
        self.active_days: dict[str, int] = {}
        self.charges = [_Rule(i, "I", c, product) for i, c in enumerate(product.charges)]
        self.payouts = [_Rule(i, "P", p, product) for i, p in enumerate(product.payouts)]
        # only then are the payouts of each unit kept as it is rated (none of that otherwise)
        self.reads_payouts = any(r.reads_payouts for r in self.payouts)
        for rule in self.charges + self.payouts:
            label = rule.plan.clause.label
            rule.head = (rule.kind, contract.id, str(contract.version), product.name, label, str(rule.index))
        # fast path: when a record is rated without the reference path, and the memo of prices
        # time bands without splitting: the band at the record's timestamp joins the memo key
        known = PRODUCT_FIELDS | ({"bands"} if not product.split_at_changes else set())
        self.fast = at_defaults(product, known) and (
            (product.starts is not None and product.ends is not None)
            if self.subscription
            else all(r.pure for r in self.charges + self.payouts)
        )
        start, end = self.period.start, self.period.end
        self.window = (
            (None, end)
            if self.subscription
            else (max(self.effective_from, start), min(self.effective_until, end))
        )
        self.memo: dict[tuple[str | bool | None, ...], tuple[_Priced, ...]] = {}


class _Priced:
    """One rule's result for a memo entry: what the reference path computed."""

    __slots__ = (
        "amount",
        "by_day",
        "charge",
        "column",
        "fixed",
        "group",
        "level",
        "line",
        "paid",
        "quantity",
        "rated",
        "rule",
        "unit",
    )

    def __init__(self, position: int, rated: Rated) -> None:
        rule, _, unit, amount, paid, _ = rated
        self.rule = rule
        self.charge = rule.kind == "I"
        self.unit = unit
        self.quantity = unit.quantity
        self.amount = _ZERO if amount is None else amount
        self.paid = paid
        self.by_day = rule.by_day and amount is not None
        self.level = amount is None  # a line-level rule: priced when the line closes
        group_by = rule.rate.group_by
        # the line's group: with the price, or (column >= 0) from the record's field
        self.column = -1 if group_by is None or group_by == "prefix" else position
        self.group = (unit.row.key if unit.row else "") if group_by == "prefix" else ""
        # the price part of its rated rows
        self.rated = RatedPrice(format(unit.quantity, "f"), "" if amount is None else format(amount, "f"))
        # a payout's line with the group from the price: the same line for every record
        self.fixed = not self.charge and self.column < 0
        self.line: LineAcc | None = None
