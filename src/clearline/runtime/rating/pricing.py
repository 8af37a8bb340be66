"""How one record is priced for one product: its quantity, its rate-table row,
each rule's amount in order (`Pricing.rate`), in the run's decimal CONTEXT.

Input: a row of an input file and a product (`products._ProductRT`). Output: the
record's `Rated` amounts per rule, or a subscription's lifecycle `Event`; a
record that cannot be priced raises `RecordProblem` with the reason. The
reference path (`reference._FileContext.record`) and the fast paths' memo
(`fast_product.FastProduct`) both price through here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, localcontext
from typing import Protocol

from clearline import codes
from clearline.money import CONTEXT, round_money
from clearline.periods import Period
from clearline.runtime.inputs.readers import Row
from clearline.runtime.rating import closures
from clearline.runtime.rating.accumulate import Event
from clearline.runtime.rating.closures import RecordProblem, RowPred, field_number
from clearline.runtime.rating.fast import EngineState, FastPaths
from clearline.runtime.rating.products import Rated, _ProductRT, _Rule

__all__ = ["Engine", "OutOfPeriod", "Pricing", "out_of_period"]


class Engine(EngineState, Protocol):
    """What the reference path reads of the engine (`engine.Engine`), without importing it."""

    products: list[_ProductRT]
    fast: bool
    route: bool
    settled: dict[str, str]
    refunds: dict[str, str] | None
    too_late: dict[str, str]

    def check_refund(self, p: _ProductRT, rid: str, refunded: str | None) -> None: ...

    def reject(
        self,
        file: str,
        line: int,
        record_id: str,
        reason: str,
        field_name: str = "",
        value: str = "",
        *,
        code: str,
    ) -> None: ...


class OutOfPeriod(RecordProblem):
    """A record outside the settled period: rejected, or routed to its own."""


def out_of_period(period: Period, ts: dt.datetime) -> RecordProblem:
    """The reject of a record outside the period, saying when it is in the contract's time zone.

    A mediation system that stamps summer-time records with the winter offset
    puts them an hour off: the reason says so, since that is the usual cause.
    """
    tz = period.start.tzinfo
    local = ts.astimezone(tz)
    reason = (
        f"outside the settled period {period.label} "
        f"({period.start.isoformat()} to {period.end.isoformat()}): it is {local.isoformat()} in {tz}"
    )
    if local.utcoffset() != ts.utcoffset():
        reason += (
            f"; note that the record's offset {ts.isoformat()[19:]} is not {tz}'s offset on that date "
            f"({local.isoformat()[19:]})"
        )
    return OutOfPeriod(reason, "timestamp", ts.isoformat(), code=codes.REJECT_OUT_OF_PERIOD)


class Pricing(FastPaths):
    """The pricing of `_FileContext` (runtime.rating.reference), which sets the attributes below."""

    engine: Engine
    i_qty: int | None
    answered: dict[int, RowPred]
    starts: dict[int, RowPred]
    ends: dict[int, RowPred]

    def value(self, row: Row, name: str) -> str | None:
        col = self.index.get(name)
        if col is None or col >= len(row):
            return None
        return row[col]

    def rate(self, p: _ProductRT, row: Row, ts: dt.datetime, rid: str) -> list[Rated] | Event:
        """The record's amounts for product `p` (or its lifecycle event), computed in
        the run's decimal CONTEXT whatever the context of the caller."""
        with localcontext(CONTEXT):
            return self._rate(p, row, ts, rid)

    def _rate(self, p: _ProductRT, row: Row, ts: dt.datetime, rid: str) -> list[Rated] | Event:
        period = p.period
        if not ts < period.end:
            raise out_of_period(period, ts)
        if p.product.kind == "subscription":
            if self.starts[id(p)](row):
                return Event(ts, rid, True)
            if self.ends[id(p)](row):
                return Event(ts, rid, False)
            raise RecordProblem(
                f"matches subscription {p.product.name} but is neither its start nor its end event",
                code=codes.REJECT_NOT_AN_EVENT,
            )
        if ts < period.start:
            raise out_of_period(period, ts)
        if p.product.reads_quantity:
            text = row[self.i_qty] if self.i_qty is not None and self.i_qty < len(row) else None
            if text is None or text == "":
                raise RecordProblem(
                    f"product {p.product.name} reads `quantity`, which is empty",
                    "quantity",
                    code=codes.REJECT_EMPTY_FIELD,
                )
            quantity = field_number("quantity", text)
            if quantity < 0 and not p.product.refunds:
                raise RecordProblem(
                    f"`quantity` is negative: {text}", "quantity", text, code=codes.REJECT_NEGATIVE
                )
        else:
            quantity = Decimal(1)
        if p.product.refund_field is not None:
            self.engine.check_refund(p, rid, self.value(row, p.product.refund_field))
        answered = self.answered[id(p)](row)
        results: list[Rated] = []
        net = Decimal(0)
        gross = Decimal(0)
        paid_to: dict[str, Decimal] = {}  # what the pay rules so far paid each party
        remainders: dict[str, Decimal] = {}  # clause -> the net less the pay rules through it
        paid_total = Decimal(0)
        band = p.clock.band_of(ts) if p.clock is not None else None
        for rule in p.charges + p.payouts:
            if rule.band is not None and rule.band != band:
                continue  # a clause `during` another band
            unit, group = self.unit(p, rule, row, quantity, answered)
            if band is not None and p.clock is not None:
                unit.band = band  # and when a part starts, when records are cut at band ends
                unit.clock = p.clock.clock(ts) if p.product.split_at_changes else ""
            unit.net, unit.gross = net, gross
            if rule.reads_payouts:
                unit.payouts = dict(paid_to)  # as it stands for this rule (its trace shows it)
                unit.remainders = dict(remainders)
            if rule.values:
                unit.values = {name: self.number(row, name, p) for name in rule.values}
            aggs = [(func, name, self.number(row, name, p)) for func, name in rule.aggregates]
            if rule.allowance_per is not None:
                key = self.value(row, rule.allowance_per)
                if not key:
                    raise RecordProblem(
                        f"product {p.product.name} reads `{rule.allowance_per}`, which is empty",
                        rule.allowance_per,
                        code=codes.REJECT_EMPTY_FIELD,
                    )
                unit.key = key
            if rule.line_level:
                # priced once per line from its totals: the record adds its quantity and values
                results.append((rule, group, unit, None, None, aggs))
                continue
            amount = rule.fn(unit)
            if rule.minimum is not None and amount < rule.minimum:
                amount = rule.minimum
            if rule.maximum is not None and amount > rule.maximum:
                amount = rule.maximum
            paid: Decimal | None = None
            if rule.vat_included:
                assert rule.vat is not None
                # the amount paid includes VAT: extract the net where the contract rounds it,
                # each record's net when it rounds each record, else the line's (exactly here)
                paid = amount
                amount = CONTEXT.divide(paid, 1 + rule.vat)
                if rule.record_rounding is not None:
                    amount = round_money(amount, rule.record_rounding)
            elif rule.record_rounding is not None:
                amount = round_money(amount, rule.record_rounding)
            if p.reads_payouts and rule.kind == "P":
                paid_to[rule.party] = paid_to.get(rule.party, Decimal(0)) + amount
                paid_total += amount
                remainders[rule.plan.clause.label] = net - paid_total
            if rule.kind == "I":
                net += amount
                if paid is not None:
                    gross += paid
                else:
                    gross += (
                        amount
                        if rule.vat is None
                        else CONTEXT.add(amount, CONTEXT.multiply(amount, rule.vat))
                    )
            results.append((rule, group, unit, amount, paid, aggs))
        return results

    def number(self, row: Row, name: str, p: _ProductRT) -> Decimal:
        text = self.value(row, name)
        if text is None or text == "":
            raise RecordProblem(
                f"product {p.product.name} reads `{name}`, which is empty",
                name,
                code=codes.REJECT_EMPTY_FIELD,
            )
        value = field_number(name, text)
        if value < 0 and not p.product.refunds:
            # a negative amount is a refund: only a product that `accepts refunds` settles one
            raise RecordProblem(
                f"`{name}` is negative: {text} (a refund; the product does not `accept refunds`)",
                name,
                text,
                code=codes.REJECT_NEGATIVE,
            )
        if p.integers and name in p.integers and value != value.to_integral_value():
            raise RecordProblem(
                f"`{name}` is an integer field: {text!r} is not a whole number",
                name,
                text,
                code=codes.REJECT_NOT_WHOLE,
            )
        return value

    def unit(
        self, p: _ProductRT, rule: _Rule, row: Row, quantity: Decimal, answered: bool
    ) -> tuple[closures.Unit, str]:
        row_plan = None
        first, nxt = rule.rate.first, rule.rate.next
        if rule.table is not None:
            key = self.value(row, rule.table.field)
            if not key:
                raise RecordProblem(
                    f"rate table {rule.table.name} reads `{rule.table.field}`, which is empty",
                    rule.table.field,
                    code=codes.REJECT_EMPTY_FIELD,
                )
            row_plan = closures.lookup(rule.table, rule.rows, rule.lengths, key)
            if row_plan is None:
                raise RecordProblem(
                    f"no rate in table {rule.table.name} for {rule.table.field} {key}",
                    rule.table.field,
                    key,
                    code=codes.REJECT_NO_RATE,
                )
            first, nxt = row_plan.first, row_plan.next
        billed = closures.bill_quantity(quantity, first, nxt) if answered else quantity
        group_by = rule.rate.group_by
        if group_by is None:
            group = ""
        elif group_by == "prefix":
            group = row_plan.key if row_plan else ""
        else:
            group = self.value(row, group_by) or ""
        return closures.Unit(billed, row_plan, answered, 0, p.period.days), group
