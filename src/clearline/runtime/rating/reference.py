"""The engine's reference path: one input file's column positions and compiled
predicates (`_FileContext`), and every record taken through every check in
order, each failure a reject (`record`, `settle_record`).

Input: rows of one file, from `engine.Engine.feed`. Output: contributions to the
engine's `Accumulated` state and the batch's rated rows. The fast paths
(runtime.rating.fast) hand it every record they do not settle.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import cast

from clearline import codes
from clearline.compiler import units
from clearline.money import CONTEXT
from clearline.periods import period_of
from clearline.runtime.inputs.readers import Row
from clearline.runtime.rating.accumulate import (
    Event,
    LineAcc,
    RatedLine,
    RatedPrice,
    RatedRows,
    Reject,
    Routed,
    line_id,
)
from clearline.runtime.rating.closures import RecordProblem, RowPred, compile_pred, field_number
from clearline.runtime.rating.fast_product import FastProduct
from clearline.runtime.rating.pricing import Engine, OutOfPeriod, Pricing
from clearline.runtime.rating.products import Rated, _ProductRT, _Rule

__all__ = ["_FileContext"]

_ZERO = Decimal(0)


class _FileContext(Pricing):
    """Column positions and compiled predicates of one input file."""

    engine: Engine  # what it reads of `engine.Engine`; its fast paths read only `fast.EngineState`

    def __init__(self, engine: Engine, file: str, index: dict[str, int]) -> None:
        self.engine = engine
        self.file = file
        self.index = index
        self.i_id = index.get("record_id")
        self.i_ts = index.get("timestamp")
        self.i_cust = index.get("customer_id")
        self.i_qty = index.get("quantity")
        self.answered = {id(p): compile_pred(p.product.answered, index) for p in engine.products}
        self.starts = {
            id(p): compile_pred(p.product.starts, index) for p in engine.products if p.product.starts
        }
        self.ends = {id(p): compile_pred(p.product.ends, index) for p in engine.products if p.product.ends}
        self.prepared = [(p, compile_pred(p.product.matches, index)) for p in engine.products]
        self.fast = [FastProduct(self, p, match) for p, match in self.prepared]
        # the fast paths need an id and a timestamp column, and a product they can rate
        self.fast_ok = (
            engine.fast
            and self.i_id is not None
            and self.i_ts is not None
            and bool(self.fast)
            and any(p.fast for p in engine.products)  # a record another matches goes by `record`
        )
        self.min_width = max(self.i_id or 0, self.i_ts or 0) + 1
        # columns: the width of a row with the id, timestamp and customer; 0 when one is
        # missing (every record is then unusual)
        read = [self.i_id, self.i_ts, self.i_cust]
        # only usage by columns, and no product priced by time band (its records go one by one)
        usage = any(f.ok and not f.product.subscription and f.clock is None for f in self.fast)
        self.columnar = 0 if not self.fast_ok or not usage or None in read else max(cast(list[int], read)) + 1
        self.get_id = itemgetter(self.i_id or 0)
        self.get_ts = itemgetter(self.i_ts or 0)
        self.get_cust = itemgetter(self.i_cust or 0)
        self.backoff = self.skipping = 0  # batches to rate record by record (see `feed`)
        # UTC offset as written ("+01:00") -> per product its (from, until) as timestamp text
        self.windows: dict[str, tuple[tuple[FastProduct, str, str], ...]] = {}

    def record(
        self,
        line_no: int,
        row: Row,
        prepared: list[tuple[_ProductRT, RowPred]],
        out: RatedRows,
    ) -> None:
        """The reference path: every check in order, each failure a reject."""
        engine = self.engine
        first = row[0] if row else None
        if first is not None and first.startswith("\x00"):
            # an unreadable line (see readers.marker): its record id and field ride last
            engine.reject(
                self.file, line_no, row[-2] or "", first[1:], row[-1] or "", code=codes.REJECT_UNREADABLE
            )
            return
        rid = row[self.i_id] if self.i_id is not None and self.i_id < len(row) else None
        if not rid:
            engine.reject(
                self.file,
                line_no,
                "",
                "the record has no record_id",
                "record_id",
                code=codes.REJECT_NO_RECORD_ID,
            )
            return
        ts_text = row[self.i_ts] if self.i_ts is not None and self.i_ts < len(row) else None
        if not ts_text:
            engine.reject(
                self.file,
                line_no,
                rid,
                "the record has no timestamp",
                "timestamp",
                code=codes.REJECT_NO_TIMESTAMP,
            )
            return
        try:
            ts = dt.datetime.fromisoformat(ts_text)
        except ValueError:
            engine.reject(
                self.file,
                line_no,
                rid,
                f"`timestamp` is not a date and time: {ts_text!r}",
                "timestamp",
                ts_text,
                code=codes.REJECT_BAD_TIMESTAMP,
            )
            return
        if ts.tzinfo is None:
            engine.reject(
                self.file,
                line_no,
                rid,
                f"`timestamp` {ts_text} has no UTC offset; write e.g. {ts_text}+01:00",
                "timestamp",
                ts_text,
                code=codes.REJECT_TIMESTAMP_NO_OFFSET,
            )
            return
        seen = engine.seen.get(rid) if engine.candidates is None or rid in engine.candidates else None
        if seen is not None:
            where = engine.settled.get(rid) if seen[1] == 0 else None  # line 0: the ledger's
            engine.reject(
                self.file,
                line_no,
                rid,
                f"duplicate record id: {where or f'first read at {seen[0]}:{seen[1]}'}",
                "record_id",
                rid,
                code=codes.REJECT_DUPLICATE,
            )
            return
        if engine.candidates is None or rid in engine.candidates:
            engine.seen[rid] = (self.file, line_no)
        self.settle_record(line_no, row, rid, ts, prepared, out)

    def settle_record(
        self,
        line_no: int,
        row: Row,
        rid: str,
        ts: dt.datetime,
        prepared: list[tuple[_ProductRT, RowPred]],
        out: RatedRows,
    ) -> None:
        """The record once admitted (not a duplicate): matched, rated and added up."""
        engine = self.engine
        try:
            # A subscription's lifecycle events may predate the contract: its active
            # days are clipped to the effective interval when the period closes.
            matched = [
                p
                for p, pred in prepared
                if pred(row) and (p.subscription or p.effective_from <= ts < p.effective_until)
            ]
            if not matched:
                engine.acc.unmatched.append(
                    Reject(
                        self.file,
                        line_no,
                        rid,
                        "",
                        "",
                        "no product of any contract matches this record",
                        codes.UNMATCHED_NO_PRODUCT,
                    )
                )
                return
            customer = row[self.i_cust] if self.i_cust is not None and self.i_cust < len(row) else None
            if not customer:
                raise RecordProblem(
                    "the record has no customer_id", "customer_id", code=codes.REJECT_NO_CUSTOMER
                )
            if engine.customers is not None and customer not in engine.customers:
                raise RecordProblem(
                    f"customer {customer} is not in the customers file",
                    "customer_id",
                    customer,
                    code=codes.REJECT_UNKNOWN_CUSTOMER,
                )
            staged: list[tuple[_ProductRT, list[Rated] | Event]] = []
            for p in matched:
                parts = self.split_at_change(p, row, ts) if p.product.split_at_changes else None
                for part, part_row, part_ts in parts or [(p, row, ts)]:
                    banded = self.split_at_bands(part, part_row, part_ts) if part.clock else None
                    for piece, piece_row, piece_ts in banded or [(part, part_row, part_ts)]:
                        staged.append((piece, self.rate(piece, piece_row, piece_ts, rid)))
        except RecordProblem as problem:
            if isinstance(problem, OutOfPeriod) and engine.too_late:
                problem = self.past_window(matched, ts) or problem
            routes = isinstance(problem, OutOfPeriod) and engine.route
            if routes and (target := self.period_of(matched, ts)) is not None:
                fields = tuple(
                    (name, cell)
                    for name, i in self.index.items()
                    if i < len(row) and (cell := row[i]) is not None
                )
                engine.acc.routed.append(Routed(self.file, line_no, rid, target, fields))
                return
            engine.reject(
                self.file, line_no, rid, problem.reason, problem.field, problem.value, code=problem.code
            )
            return
        except (InvalidOperation, ArithmeticError):
            engine.reject(
                self.file,
                line_no,
                rid,
                f"the amounts of this record are too large to compute exactly within {CONTEXT.prec} digits",
                code=codes.REJECT_TOO_LARGE,
            )
            return
        engine.acc.rated += 1
        for p, result in staged:
            if isinstance(result, Event):
                by_customer = engine.acc.events.setdefault((p.ci, p.pi), {})
                by_customer.setdefault(customer, []).append(result)
                continue
            for rule, group, unit, amount, paid, aggs in result:
                party = customer if rule.kind == "I" else rule.party
                acc = rule.lines.get((party, group)) or self.line_of(rule, party, group)
                acc.add(rid, unit, _ZERO if amount is None else amount)
                if paid is not None:
                    acc.gross += paid
                for func, name, value in aggs:
                    acc.aggregate(func, name, value)
                if rule.allowance_per is not None:
                    acc.by_value[unit.key] = acc.by_value.get(unit.key, _ZERO) + unit.quantity
                if amount is None:
                    acc.net_base += unit.net
                    acc.gross_base += unit.gross
                if rule.by_day and amount is not None:
                    day = ts.astimezone(p.period.start.tzinfo).date()
                    acc.by_day[day] = acc.by_day.get(day, Decimal(0)) + amount
                out.add(
                    rid,
                    acc.rated or self.rated_line(acc, rule),
                    RatedPrice(format(unit.quantity, "f"), "" if amount is None else format(amount, "f")),
                )

    def split_at_change(
        self, p: _ProductRT, row: Row, ts: dt.datetime
    ) -> list[tuple[_ProductRT, Row, dt.datetime]] | None:
        """A record measured in time that runs past the start of its contract's next
        version, inside the period (`split records at rate changes`): its part before the
        change, on `p`, and the rest from the change on the next version's product, each
        with its own quantity (increments apply to each part). None when it does not span
        a change."""
        change = p.effective_until
        if self.i_qty is None or self.i_qty >= len(row) or not ts < change < p.period.end:
            return None
        text = row[self.i_qty]
        if not text:
            return None  # the rating says why
        quantity = field_number("quantity", text)
        per_unit = units.factor("second", p.product.measure)  # seconds in one unit of the measure
        before = CONTEXT.divide(Decimal((change - ts) // dt.timedelta(microseconds=1)).scaleb(-6), per_unit)
        if not before < quantity:
            return None
        nxt = next(
            (
                q
                for q in self.engine.products
                if q.contract.id == p.contract.id
                and q.product.name == p.product.name
                and q.effective_from == change
            ),
            None,
        )
        if nxt is None:
            return None  # no version after this one: the rate at the start
        first, rest = list(row), list(row)
        first[self.i_qty] = format(before.normalize(), "f")
        rest[self.i_qty] = format((quantity - before).normalize(), "f")
        return [(p, first, ts), (nxt, rest, change)]

    def split_at_bands(
        self, p: _ProductRT, row: Row, ts: dt.datetime
    ) -> list[tuple[_ProductRT, Row, dt.datetime]] | None:
        """A record measured in time that runs into another time band, inside the period
        and its version (`split records at rate changes`): a part per band it runs through,
        each with its own quantity (increments apply to each part) and its band's clauses.
        None when it stays in one band, or the contract does not split records."""
        if not p.product.split_at_changes or p.clock is None:
            return None
        if self.i_qty is None or self.i_qty >= len(row) or not row[self.i_qty]:
            return None  # the rating says why
        quantity = field_number("quantity", row[self.i_qty] or "")
        if quantity <= 0:
            return None
        per_unit = units.factor("second", p.product.measure)  # seconds in one unit of the measure
        try:
            seconds = CONTEXT.multiply(quantity, per_unit)
            end = ts + dt.timedelta(microseconds=int(seconds.scaleb(6)))
        except (OverflowError, ArithmeticError):
            return None  # no moment that far: the rating decides
        cuts = p.clock.cuts(ts, min(end, p.period.end, p.effective_until))
        if not cuts:
            return None
        parts: list[tuple[_ProductRT, Row, dt.datetime]] = []
        left, at = quantity, ts
        for cut in cuts:
            part = CONTEXT.divide(Decimal((cut - at) // dt.timedelta(microseconds=1)).scaleb(-6), per_unit)
            piece = list(row)
            piece[self.i_qty] = format(part.normalize(), "f")
            parts.append((p, piece, at))
            left, at = left - part, cut
        last = list(row)
        last[self.i_qty] = format(left.normalize(), "f")
        parts.append((p, last, at))
        return parts

    def past_window(self, matched: list[_ProductRT], ts: dt.datetime) -> RecordProblem | None:
        """The reject of a record whose period, for a contract it matches, is closed and past
        the contract's late-usage window; None when no such period holds it."""
        for p in matched:
            label = period_of(ts, p.contract.period, p.contract.time_zone)
            why = self.engine.too_late.get(f"{p.contract.id} {label}")
            if why is not None:
                return RecordProblem(why, "timestamp", ts.isoformat(), code=codes.REJECT_PAST_LATE_WINDOW)
        return None

    @staticmethod
    def period_of(matched: list[_ProductRT], ts: dt.datetime) -> str | None:
        """The one other period every matched product puts the record in; None when one
        of them settles it in this period or two disagree (contracts in other time zones)."""
        labels = set()
        for p in matched:
            inside = ts < p.period.end if p.subscription else p.period.start <= ts < p.period.end
            if inside:
                return None
            labels.add(period_of(ts, p.contract.period, p.contract.time_zone))
        return labels.pop() if len(labels) == 1 else None

    def line_of(self, rule: _Rule, party: str, group: str) -> LineAcc:
        key = (*rule.head, party, group)
        lines = self.engine.acc.lines
        acc = lines.get(key)
        if acc is None:
            acc = lines[key] = LineAcc(line_id(rule.kind, key), key)
        if acc.rated is None:
            self.rated_line(acc, rule)
        rule.lines[(party, group)] = acc
        return acc

    @staticmethod
    def rated_line(acc: LineAcc, rule: _Rule) -> RatedLine:
        acc.rated = RatedLine(acc.line_id, rule.plan.clause.label)
        return acc.rated
