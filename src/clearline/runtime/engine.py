"""The engine: usage rows -> rated contributions accumulated per line.

Input: contract plans, a period and batches of raw rows. Output: an
`Accumulated` state (exact decimal sums per line key, subscription events,
counts, rejects, unmatched) that `settle.finish` turns into lines and traces.
A batch's effect is a sum, so batches can be fed in any order and merged.

Every record read ends in exactly one of: rated, rejected (with the reason),
unmatched (no product of any contract matched it).

Three paths, one result. `_FileContext.record` is the reference: every check
in order, each failure a reject. `records` takes the ordinary record -- well
formed, inside the period, priced by pure rules (`rating.pure`) -- through
the same checks on the common case only, and hands anything else to the
reference path. `columns` does what `records` does for a whole run of
ordinary records at once, with maps and set operations. Prices come from a
per-product memo keyed by what pure rules read (the quantity's text, the
answered flag, the table rows) and filled by the reference `rate`, so the
records that rate alike share one computation, one `Unit` and one rated-row
part. A line adds its records' amounts in record order on every path. Each
input file gets one `_FileContext`: column positions, compiled predicates,
and per product its window as timestamp text for each UTC offset met
(timestamps with one offset compare as strings).

Duplicates: record ids are remembered exactly only for the `candidates`, a
superset of the ids that occur more than once, found by a pre-scan of the
input (`readers.duplicate_candidates`); without it every id is remembered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import chain, compress, repeat
from operator import attrgetter, eq, is_, itemgetter
from typing import Any, cast

from clearline.compiler import ir
from clearline.money import CONTEXT, round_money
from clearline.runtime import rating
from clearline.runtime.periods import Period, period_bounds, period_of
from clearline.runtime.rating import (
    PRODUCT_FIELDS,
    RecordProblem,
    RowPred,
    at_defaults,
    compile_pred,
    compile_run_pred,
    field_number,
    pred_fields,
    pure,
)
from clearline.runtime.readers import Batch, Customer, Row

__all__ = [
    "SAMPLE_SIZE",
    "Accumulated",
    "Engine",
    "LineAcc",
    "RatedLine",
    "RatedPrice",
    "RatedRows",
    "Reject",
    "Routed",
]

SAMPLE_SIZE = 5  # record ids (the smallest) kept per line for traces

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Reject:
    file: str
    line: int
    record_id: str
    field: str
    value: str
    reason: str


@dataclass(slots=True)
class LineAcc:
    """Exact partial sums of one output line."""

    line_id: str
    key: tuple[str, ...]
    amount: Decimal = Decimal(0)
    quantity: Decimal = Decimal(0)
    units: int = 0
    records: int = 0
    samples: list[tuple[str, rating.Unit, Decimal]] = field(default_factory=list)
    # per local day, for payouts converted at the rate of each record's date
    by_day: dict[dt.date, Decimal] = field(default_factory=dict)
    gross: Decimal = Decimal(0)  # with `vat N% included`: the sum of gross amounts
    # line-level rules: (function, field) -> running maximum, minimum or sum
    aggregates: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    # allowances `for each FIELD`: the quantity of each distinct value
    by_value: dict[str, Decimal] = field(default_factory=dict)
    # the line part of its rated-records rows (made by the engine)
    rated: RatedLine | None = field(default=None, compare=False, repr=False)
    # line-level shares: the sum of the units' net and gross
    net_base: Decimal = Decimal(0)
    gross_base: Decimal = Decimal(0)

    def aggregate(self, func: str, name: str, value: Decimal) -> None:
        key = (func, name)
        current = self.aggregates.get(key)
        if current is None:
            self.aggregates[key] = value
        elif func in ("maximum", "minimum"):
            # equal values written differently (5 and 5.0): keep the shorter writing, so the
            # result does not depend on which record came first
            better = value > current if func == "maximum" else value < current
            if better or (value == current and _exponent(value) > _exponent(current)):
                self.aggregates[key] = value
        else:  # sum, and average (divided by the record count when the line closes)
            self.aggregates[key] = current + value

    def add(self, record_id: str, unit: rating.Unit, amount: Decimal) -> None:
        self.amount += amount
        self.quantity += unit.quantity
        self.units += 1
        self.records += 1
        samples = self.samples
        if len(samples) < SAMPLE_SIZE or record_id < samples[-1][0]:
            self.sample(record_id, unit, amount)

    def sample(self, record_id: str, unit: rating.Unit, amount: Decimal) -> None:
        """Keep the unit if its id is among the SAMPLE_SIZE smallest (for the trace)."""
        samples = self.samples
        if len(samples) < SAMPLE_SIZE:
            samples.append((record_id, unit, amount))
            samples.sort(key=lambda s: s[0])
        elif record_id < samples[-1][0]:
            samples[-1] = (record_id, unit, amount)
            samples.sort(key=lambda s: s[0])

    def merge(self, other: LineAcc) -> None:
        """Add another partial sum of this line (another engine's, over other records)."""
        self.amount += other.amount
        self.quantity += other.quantity
        self.units += other.units
        self.records += other.records
        self.gross += other.gross
        self.net_base += other.net_base
        self.gross_base += other.gross_base
        for day, value in other.by_day.items():
            self.by_day[day] = self.by_day.get(day, _ZERO) + value
        for value_key, value in other.by_value.items():
            self.by_value[value_key] = self.by_value.get(value_key, _ZERO) + value
        for (func, name), value in other.aggregates.items():
            self.aggregate(func, name, value)
        for record_id, unit, amount in other.samples:
            self.sample(record_id, unit, amount)


@dataclass(slots=True)
class RatedRow:
    record_id: str
    line_id: str
    clause: str
    quantity: str
    amount: str


@dataclass(frozen=True, slots=True, eq=False)
class RatedLine:
    """The line part of rated-records rows: one per line (hashed by identity)."""

    line_id: str
    clause: str


@dataclass(frozen=True, slots=True, eq=False)
class RatedPrice:
    """The price part of rated-records rows: records that rate alike share one."""

    quantity: str
    amount: str


@dataclass(slots=True)
class RatedRows:
    """A batch's rated rows, column by column: record id, line part, price part.
    The writer renders each distinct part once."""

    ids: list[str] = field(default_factory=list)
    lines: list[RatedLine] = field(default_factory=list)
    prices: list[RatedPrice] = field(default_factory=list)

    def add(self, record_id: str, line: RatedLine, price: RatedPrice) -> None:
        self.ids.append(record_id)
        self.lines.append(line)
        self.prices.append(price)

    def __len__(self) -> int:
        return len(self.ids)


def line_id(kind: str, key: tuple[str, ...]) -> str:
    """A stable id from what the line is (not from when it was seen)."""
    digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:10]
    return f"{kind}-{digest}"


@dataclass(slots=True)
class Event:
    timestamp: dt.datetime
    record_id: str
    starts: bool


@dataclass(frozen=True, slots=True)
class Routed:
    """A record of another period, set aside for that period's run (`--out-of-period route`)."""

    file: str
    line: int
    record_id: str
    period: str  # the label of the period it belongs to
    fields: tuple[tuple[str, str], ...]  # the record as read: column, text


@dataclass(slots=True)
class Accumulated:
    read: int = 0
    rated: int = 0
    rejects: list[Reject] = field(default_factory=list)
    unmatched: list[Reject] = field(default_factory=list)
    routed: list[Routed] = field(default_factory=list)
    lines: dict[tuple[str, ...], LineAcc] = field(default_factory=dict)
    # (contract index, product index) -> customer -> lifecycle events
    events: dict[tuple[int, int], dict[str, list[Event]]] = field(default_factory=dict)

    def merge(self, other: Accumulated) -> None:
        """Add the partial results of another engine of the same plans and period.

        Counts, lists and events are concatenated, and each line's sums
        added: exact while the sums need no rounding in the decimal context
        (50 digits), so the result does not depend on how the records were
        split. Duplicate ids across the two are not looked for: give both
        engines the candidates of the whole input and compare their `seen`.
        """
        self.read += other.read
        self.rated += other.rated
        self.rejects += other.rejects
        self.unmatched += other.unmatched
        self.routed += other.routed
        for key, line in other.lines.items():
            mine = self.lines.get(key)
            if mine is None:
                self.lines[key] = line
            else:
                mine.merge(line)
        for product, by_customer in other.events.items():
            mine_events = self.events.setdefault(product, {})
            for customer, events in by_customer.items():
                mine_events.setdefault(customer, []).extend(events)


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
        self.fn = rating.compile_expr(plan.rate.expr, plan.rate, product.measure, self.tiers, self.bundle)
        self.line_level = plan.rate.line_level
        self.allowance_per = plan.rate.allowance_per
        self.vat_included = (
            isinstance(plan, ir.ChargePlan) and plan.vat_included and plan.vat_rate is not None
        )
        self.minimum = plan.rate.minimum
        self.maximum = plan.rate.maximum
        self.values = sorted({e.field for e in _walk(plan.rate.expr) if e.op == "field" and e.field})
        self.aggregates = sorted(
            {(e.func or "", e.field or "") for e in _walk(plan.rate.expr) if e.op == "agg"}
        )
        tables = {t.name: t for t in product.tables}
        names = _tables_of(plan.rate.expr)
        self.table = tables[names[0]] if names else None
        self.rows, self.lengths = rating.prefix_index(self.table) if self.table else ({}, ())
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

    def find(self, short: str) -> ir.RowPlan | None:
        """The table row for a key's first `key_length` chars (all of a value key), cached."""
        assert self.table is not None
        found = rating.lookup(self.table, self.rows, self.lengths, short)
        if len(self.found) >= _CACHE_LIMIT:
            self.found.clear()
            self.found_key.clear()
        self.found[short] = found
        self.found_key[short] = None if found is None else found.key
        return found


# (rule, group, unit, net amount or None for line-level rules, amount paid incl. VAT or None,
#  aggregate values (function, field, value))
Rated = tuple["_Rule", str, rating.Unit, Decimal | None, Decimal | None, list[tuple[str, str, Decimal]]]


def _walk(expr: ir.Expr) -> list[ir.Expr]:
    found = [expr]
    for arg in expr.args:
        found += _walk(arg)
    return found


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
    ) -> None:
        self.ci, self.pi = ci, pi
        self.contract = contract
        self.product = product
        self.integers = frozenset(f.name for f in contract.fields if f.type == "integer")
        self.period: Period = period_bounds(period_label, contract.period, contract.time_zone)
        tz = self.period.start.tzinfo
        assert tz is not None
        self.effective_from = _local_midnight(contract.effective_from, tz)
        self.effective_until = _local_midnight(contract.effective_until, tz)
        self.subscription = product.kind == "subscription"
        self.charges = [_Rule(i, "I", c, product) for i, c in enumerate(product.charges)]
        self.payouts = [_Rule(i, "P", p, product) for i, p in enumerate(product.payouts)]
        for rule in self.charges + self.payouts:
            label = rule.plan.clause.label
            rule.head = (rule.kind, contract.id, str(contract.version), product.name, label, str(rule.index))
        # fast path: when a record is rated without the reference path, and the memo of prices
        self.fast = at_defaults(product, PRODUCT_FIELDS) and (
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


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


class OutOfPeriod(RecordProblem):
    """A record outside the settled period: rejected, or routed to its own."""


def _out_of_period(period: Period, ts: dt.datetime) -> RecordProblem:
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
    return OutOfPeriod(reason, "timestamp", ts.isoformat())


class Engine:
    """Feeds batches of rows through every product of every contract."""

    def __init__(
        self,
        plans: list[ir.ContractPlan],
        period: str,
        customers: dict[str, Customer] | None = None,
        candidates: set[str] | frozenset[str] | None = None,
        fast: bool = True,
        route: bool = False,
    ) -> None:
        """`candidates`: the only ids that may occur twice (`duplicate_candidates`);
        None remembers every id. `fast=False` takes every record through the
        reference path (for checking that the fast paths agree with it).
        `route`: a record of another period is set aside for it (`Routed`)
        instead of rejected, when every product it matches puts it in the same
        other period."""
        self.plans = plans
        self.period_label = period
        self.customers = customers
        self.products = [
            _ProductRT(ci, pi, c, p, period) for ci, c in enumerate(plans) for pi, p in enumerate(c.products)
        ]
        self.acc = Accumulated()
        self.candidates = candidates
        self.fast = fast
        self.route = route
        self.seen: dict[str, tuple[str, int]] = {}  # record id -> where it was first read
        self.contexts: dict[tuple[str, tuple[str, ...]], _FileContext] = {}

    # -- per file ------------------------------------------------------------------
    def feed(self, file: str, columns: list[str], batch: Batch) -> RatedRows:
        """Rate one batch; returns its rated rows (the caller streams them out)."""
        key = (file, tuple(columns))  # JSON Lines columns grow as new keys appear
        context = self.contexts.get(key)
        if context is None:
            index = {name: i for i, name in enumerate(columns)}
            context = self.contexts[key] = _FileContext(self, file, index)
        out = RatedRows()
        context.feed(batch, out)
        return out

    def admit(self, file: str, columns: list[str], batch: Batch) -> None:
        """Remember the ids of a batch that another engine rates, without rating it.

        Exactly the ids `_FileContext.record` would remember -- a record with
        an id and a timestamp with a UTC offset, not read before -- so that
        engines which each rate some of the batches and admit the others find
        every duplicate where one engine would (`runtime.parallel`).
        """
        index = {name: i for i, name in enumerate(columns)}  # as `feed` makes it
        i_id, i_ts = index.get("record_id"), index.get("timestamp")
        if i_id is None or i_ts is None:
            return  # `record` rejects every row of this file before its id counts
        candidates, seen = self.candidates, self.seen
        parse = dt.datetime.fromisoformat
        for line_no, row in batch:
            if len(row) <= i_ts or len(row) <= i_id:
                continue
            rid = row[i_id]
            if not rid or (candidates is not None and rid not in candidates) or rid in seen:
                continue
            first, text = row[0], row[i_ts]
            if (first is not None and first.startswith("\x00")) or not text:
                continue
            try:
                if parse(text).tzinfo is None:
                    continue
            except ValueError:
                continue
            seen[rid] = (file, line_no)

    def reject(
        self,
        file: str,
        line: int,
        record_id: str,
        reason: str,
        field_name: str = "",
        value: str = "",
    ) -> None:
        self.acc.rejects.append(Reject(file, line, record_id, field_name, value[:200], reason))


class _FileContext:
    """Column positions and compiled predicates of one input file."""

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
        self.fast = [_FastProduct(self, p, match) for p, match in self.prepared]
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
        usage = any(f.ok and not f.product.subscription for f in self.fast)  # only usage by columns
        self.columnar = 0 if not self.fast_ok or not usage or None in read else max(cast(list[int], read)) + 1
        self.get_id = itemgetter(self.i_id or 0)
        self.get_ts = itemgetter(self.i_ts or 0)
        self.get_cust = itemgetter(self.i_cust or 0)
        self.backoff = self.skipping = 0  # batches to rate record by record (see `feed`)
        # UTC offset as written ("+01:00") -> per product its (from, until) as timestamp text
        self.windows: dict[str, tuple[tuple[_FastProduct, str, str], ...]] = {}

    def value(self, row: Row, name: str) -> str | None:
        col = self.index.get(name)
        if col is None or col >= len(row):
            return None
        return row[col]

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
            # an unreadable line (see readers.marker); its record id, if any, rides last
            carried = row[-1] if len(row) > len(self.index) else None
            engine.reject(self.file, line_no, carried or "", first[1:])
            return
        rid = row[self.i_id] if self.i_id is not None and self.i_id < len(row) else None
        if not rid:
            engine.reject(self.file, line_no, "", "the record has no record_id", "record_id")
            return
        ts_text = row[self.i_ts] if self.i_ts is not None and self.i_ts < len(row) else None
        if not ts_text:
            engine.reject(self.file, line_no, rid, "the record has no timestamp", "timestamp")
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
            )
            return
        seen = engine.seen.get(rid) if engine.candidates is None or rid in engine.candidates else None
        if seen is not None:
            engine.reject(
                self.file,
                line_no,
                rid,
                f"duplicate record id: first read at {seen[0]}:{seen[1]}",
                "record_id",
                rid,
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
                    )
                )
                return
            customer = row[self.i_cust] if self.i_cust is not None and self.i_cust < len(row) else None
            if not customer:
                raise RecordProblem("the record has no customer_id", "customer_id")
            if engine.customers is not None and customer not in engine.customers:
                raise RecordProblem(
                    f"customer {customer} is not in the customers file", "customer_id", customer
                )
            staged: list[tuple[_ProductRT, list[Rated] | Event]] = []
            for p in matched:
                staged.append((p, self.rate(p, row, ts, rid)))
        except RecordProblem as problem:
            routes = isinstance(problem, OutOfPeriod) and engine.route
            if routes and (target := self.period_of(matched, ts)) is not None:
                fields = tuple(
                    (name, cell)
                    for name, i in self.index.items()
                    if i < len(row) and (cell := row[i]) is not None
                )
                engine.acc.routed.append(Routed(self.file, line_no, rid, target, fields))
                return
            engine.reject(self.file, line_no, rid, problem.reason, problem.field, problem.value)
            return
        except (InvalidOperation, ArithmeticError):
            engine.reject(
                self.file,
                line_no,
                rid,
                f"the amounts of this record are too large to compute exactly within {CONTEXT.prec} digits",
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

    # -- the fast paths --------------------------------------------------------------
    def feed(self, batch: Batch, out: RatedRows) -> None:
        """Rate a batch: in runs of ordinary records a column at a time
        (`columns`), a run with an unusual record halved until it is small,
        then record by record (`records`).

        When most of a batch went record by record (records of several
        products mixed, say), the next batches skip the columns, for longer
        each time it happens again."""
        self.engine.acc.read += len(batch)
        if not self.fast_ok:
            for line_no, row in batch:
                self.record(line_no, row, self.prepared, out)
            return
        if not self.columnar or self.skipping > 0:
            self.skipping -= 1
            self.records(batch, out)
            return
        by_record = 0
        runs = [batch]
        while runs:
            run = runs.pop()
            if len(run) >= _SHORT_RUN and self.columns(run, out):
                continue
            if len(run) < 2 * _SHORT_RUN:
                by_record += len(run)
                self.records(run, out)
            else:  # the halves in order: the last pushed is taken first
                half = len(run) // 2
                runs += [run[half:], run[:half]]
        if 2 * by_record > len(batch):
            self.backoff = min(2 * self.backoff + 1, _MAX_BACKOFF)
            self.skipping = self.backoff
        else:
            self.backoff = 0

    def records(self, batch: Batch, out: RatedRows) -> None:
        """Rate record by record: ordinary records here, the others through `record`.

        The checks below are the reference path's, in its order, on the
        common case only; whatever they do not settle -- a reject, an
        unmatched record, an unusual value -- goes to `record` (before the
        duplicate check) or `settle_record` (after it), which decide it.
        """
        engine = self.engine
        acc = engine.acc
        record, settle_record, prepared = self.record, self.settle_record, self.prepared
        file, i_id, i_ts, i_cust, width = self.file, self.i_id, self.i_ts, self.i_cust, self.min_width
        assert i_id is not None and i_ts is not None
        if i_cust is None:
            i_cust = _NO_COLUMN
        candidates, seen, customers, events = engine.candidates, engine.seen, engine.customers, acc.events
        windows_of = self.windows
        parse = dt.datetime.fromisoformat
        add_id, add_line, add_price = out.ids.append, out.lines.append, out.prices.append
        for line_no, row in batch:
            if len(row) < width:
                record(line_no, row, prepared, out)
                continue
            rid = row[i_id]
            text = row[i_ts]
            first = row[0]
            # "YYYY-MM-DDTHH:MM:SS+hh:mm", the form whose order as text is its order in time
            if (
                not rid
                or not text
                or (first and first[0] == "\x00")
                or len(text) != 25
                or text[4:17:3] != "--T::"
            ):
                record(line_no, row, prepared, out)
                continue
            windows = windows_of.get(text[19:]) or self.add_windows(text[19:])
            if not windows:
                record(line_no, row, prepared, out)
                continue
            try:
                ts = parse(text)
            except ValueError:
                record(line_no, row, prepared, out)
                continue
            if candidates is None or rid in candidates:
                if rid in seen:
                    record(line_no, row, prepared, out)  # rejects it as a duplicate
                    continue
                seen[rid] = (file, line_no)
            staged: list[tuple[_FastProduct, tuple[_Priced, ...] | bool]] = []
            try:
                for fast, start, end in windows:
                    if fast.match(row):
                        if not (fast.ok and start <= text < end):
                            raise _Unusual
                        staged.append((fast, fast.price(row, ts, rid)))
                if not staged:
                    raise _Unusual  # unmatched
                customer = row[i_cust] if i_cust < len(row) else None
                if not customer or (customers is not None and customer not in customers):
                    raise _Unusual
            except (_Unusual, RecordProblem, ArithmeticError):
                settle_record(line_no, row, rid, ts, prepared, out)
                continue
            acc.rated += 1
            for fast, priced in staged:
                if priced is True or priced is False:
                    by_customer = events.get(fast.key) or events.setdefault(fast.key, {})
                    by_customer.setdefault(customer, []).append(Event(ts, rid, priced))
                    continue
                for price in priced:
                    line = price.line
                    if line is None:  # the line depends on the record: its customer or a field
                        rule = price.rule
                        column = price.column
                        if column < 0:
                            group = price.group
                        else:  # `one line per FIELD`: the column of this file
                            column = fast.group_columns[column]
                            group = (row[column] if column < len(row) else None) or ""
                        party = customer if price.charge else rule.party
                        line = rule.lines.get((party, group)) or self.line_of(rule, party, group)
                        if price.fixed:
                            price.line = line
                    amount = price.amount
                    line.amount += amount
                    line.quantity += price.quantity
                    line.units += 1
                    line.records += 1
                    samples = line.samples
                    if len(samples) < SAMPLE_SIZE or rid < samples[-1][0]:
                        line.sample(rid, price.unit, amount)
                    if price.paid is not None:
                        line.gross += price.paid
                    if price.level:
                        line.net_base += price.unit.net
                        line.gross_base += price.unit.gross
                    if price.by_day:
                        day = ts.astimezone(fast.tz).date()
                        line.by_day[day] = line.by_day.get(day, Decimal(0)) + amount
                    add_id(rid)
                    add_line(line.rated or self.rated_line(line, price.rule))
                    add_price(price.rated)

    def columns(self, run: Batch, out: RatedRows) -> bool:
        """Rate a run of ordinary records a column at a time; False, having
        changed nothing, when any record of the run is not ordinary.

        The checks are those of `records`, each made for the whole run by maps
        and set operations; a run is ordinary when one usage product matches
        every record. A line then adds each distinct price times its count,
        which is the sum record by record when every partial sum is exact
        (`_add_exactly` checks it; else the run goes record by record).
        """
        engine = self.engine
        numbers, rows = run.numbers, run.rows
        n = len(rows)
        try:
            width = min(map(len, rows))
            if width < self.columnar:
                return False
            ids = list(map(self.get_id, rows))
            texts = list(map(self.get_ts, rows))
            firsts = ids if self.i_id == 0 else list(map(_FIRST, rows))
            if not all(ids) or "\x00" in "".join(firsts):
                return False
            # every timestamp "YYYY-MM-DDTHH:MM:SS+hh:mm": the fixed characters of all of them
            # at once, the offsets' digits, then the parse for the rest
            joined = "".join(texts)
            if set(map(len, texts)) != {25} or any(joined[i::25] != c * n for i, c in _FORM):
                return False
            digits = "".join(joined[i::25] for i in _OFFSET_DIGITS)
            if not set(joined[19::25]) <= {"+", "-"} or not (digits.isascii() and digits.isdigit()):
                return False
            stamps = list(map(dt.datetime.fromisoformat, texts))
            fast: _FastProduct | None = None
            for candidate in self.fast:
                matches = candidate.run_match(rows, width)
                if matches is None or (matches and fast is not None):
                    return False
                if matches:
                    fast = candidate
            if fast is None or not fast.ok or fast.product.subscription or not 0 < fast.width <= width:
                return False
            # inside the product's window: at once when a day away from its ends, whatever
            # the offset; else per offset, as `records` does
            low, high = min(texts)[:19], max(texts)[:19]
            if not (fast.wide[0] <= low and high < fast.wide[1]) and not self.within(fast, texts, joined):
                return False
            customers = list(map(self.get_cust, rows))
            named = set(customers)
            if "" in named or None in named:
                return False
            if engine.customers is not None and not named <= engine.customers.keys():
                return False
            entries = fast.prices(rows, stamps, ids)
            if entries is None:
                return False
        except (ValueError, TypeError, AttributeError, RecordProblem, ArithmeticError):
            return False
        # duplicates last: the run is ordinary unless an id was read before
        candidates, seen = engine.candidates, engine.seen
        if candidates is None:
            admitted = list(zip(ids, numbers, strict=True))
        else:
            hits = candidates.intersection(ids) if candidates else ()
            admitted = [(rid, n) for rid, n in zip(ids, numbers, strict=True) if rid in hits] if hits else []
        if admitted and (
            len({rid for rid, _ in admitted}) != len(admitted)
            or not seen.keys().isdisjoint(r for r, _ in admitted)
        ):
            return False
        file = self.file
        seen.update((rid, (file, n)) for rid, n in admitted)
        engine.acc.rated += len(rows)
        parts = [
            self.add_rule(fast, k, entries, ids, customers, rows, stamps) for k in range(len(entries[0]))
        ]
        if len(parts) == 1:
            out.ids += ids
            out.lines += parts[0][0]
            out.prices += parts[0][1]
        else:  # each record's rows together, in the rules' order
            out.ids += chain.from_iterable(zip(*[ids] * len(parts), strict=True))
            out.lines += chain.from_iterable(zip(*(p[0] for p in parts), strict=True))
            out.prices += chain.from_iterable(zip(*(p[1] for p in parts), strict=True))
        return True

    def within(self, fast: _FastProduct, texts: list[str], joined: str) -> bool:
        """Whether every timestamp is inside the product's window for its own
        UTC offset (the timestamps of each offset compare as text)."""
        varying = [i for i in (19, 20, 21, 23, 24) if len(set(joined[i::25])) > 1]
        groups: dict[str, list[str]] = {}
        if not varying:
            groups[texts[0][19:]] = texts
        elif len(varying) == 1:  # e.g. +01:00 and +02:00: one character tells them apart
            i = varying[0]
            flags = joined[i::25]
            for c in set(flags):
                members = list(compress(texts, map(eq, flags, repeat(c))))
                groups[members[0][19:]] = members
        else:
            offsets = list(map(_OFFSET_OF, texts))
            for offset in set(offsets):
                groups[offset] = [t for t, o in zip(texts, offsets, strict=True) if o == offset]
        position = self.fast.index(fast)
        for offset, members in groups.items():
            window = self.windows.get(offset) or self.add_windows(offset)
            if not window:
                return False
            _, start, end = window[position]
            if min(members) < start or not max(members) < end:
                return False
        return True

    def add_rule(
        self,
        fast: _FastProduct,
        k: int,
        entries: list[tuple[_Priced, ...]],
        ids: list[str],
        customers: list[str],
        rows: Sequence[Row],
        stamps: list[dt.datetime],
    ) -> tuple[list[RatedLine], list[RatedPrice]]:
        """Add a run's prices of the product's k-th rule to their lines; the
        line and price parts of their rated rows."""
        prices = list(map(itemgetter(k), entries))
        first = prices[0]
        rule = first.rule
        if first.fixed:
            for price in set(prices) if any(map(is_, map(_LINE, prices), repeat(None))) else ():
                if price.line is None:
                    line = rule.lines.get((rule.party, price.group)) or self.line_of(
                        rule, rule.party, price.group
                    )
                    price.line = line
            lines: list[LineAcc] = list(map(_LINE, prices))
        else:
            parties = customers if first.charge else [rule.party] * len(prices)
            if first.column < 0:
                groups = list(map(_GROUP, prices))
            else:
                column = fast.group_columns[first.column]
                groups = [(row[column] if column < len(row) else None) or "" for row in rows]
            keys = list(zip(parties, groups, strict=True))
            found = list(map(rule.lines.get, keys))
            lines = [line or self.line_of(rule, *key) for line, key in zip(found, keys, strict=True)]
        # each line adds its records' prices in their order, as record by record
        if first.fixed and len(rule.lines) <= _FEW_LINES:  # all the rule's lines: a few
            distinct = {id(line): line for line in rule.lines.values()}
        elif first.fixed:
            distinct = {id(line): line for line in map(_LINE, set(prices))}
        else:
            distinct = {id(line): line for line in lines}
        present = list(distinct.values())
        if len(distinct) > _FEW_LINES:  # a line per customer, say: one pass over the records
            for price, line in zip(prices, lines, strict=True):
                line.amount += price.amount
                line.quantity += price.quantity
                if price.paid is not None:
                    line.gross += price.paid
                if price.level:
                    line.net_base += price.unit.net
                    line.gross_base += price.unit.gross
                line.units += 1
                line.records += 1
        else:
            present = []
            for line in distinct.values():
                own = prices if len(distinct) == 1 else list(compress(prices, map(is_, lines, repeat(line))))
                if own:
                    present.append(line)
                line.amount = sum(map(_AMOUNT, own), line.amount)
                line.quantity = sum(map(_QUANTITY, own), line.quantity)
                if first.paid is not None:  # a rule's prices all have one, or none
                    line.gross = sum(map(_PAID, own), line.gross)
                if first.level:  # a line-level rule: the units' net and gross (see settle_record)
                    line.net_base = sum(map(_NET, map(_UNIT, own)), line.net_base)
                    line.gross_base = sum(map(_GROSS, map(_UNIT, own)), line.gross_base)
                line.units += len(own)
                line.records += len(own)
        # samples: the records whose id is below the largest kept of their line
        limits = [line.samples[-1][0] if len(line.samples) >= SAMPLE_SIZE else None for line in present]
        limit = None if None in limits else max(cast(list[str], limits))
        if limit is None or min(ids) < limit:
            for price, line, rid in zip(prices, lines, ids, strict=True):
                samples = line.samples
                if len(samples) < SAMPLE_SIZE or rid < samples[-1][0]:
                    line.sample(rid, price.unit, price.amount)
        if first.by_day:
            for price, line, ts in zip(prices, lines, stamps, strict=True):
                day = ts.astimezone(fast.tz).date()
                line.by_day[day] = line.by_day.get(day, Decimal(0)) + price.amount
        return cast(list[RatedLine], list(map(_RATED, lines))), list(map(_RATED, prices))

    def add_windows(self, offset: str) -> tuple[tuple[_FastProduct, str, str], ...]:
        """Per product, its (from, until) as timestamp text with this UTC offset,
        or () when the offset is not of the form +hh:mm."""
        found: tuple[tuple[_FastProduct, str, str], ...] = ()
        if _OFFSET.fullmatch(offset) and int(offset[1:3]) < 24 and int(offset[4:]) < 60:
            sign = -1 if offset[0] == "-" else 1
            tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:])))
            try:
                found = tuple(
                    (
                        fast,
                        _text(fast.product.window[0], tz, offset),
                        _text(fast.product.window[1], tz, offset),
                    )
                    for fast in self.fast
                )
            except (OverflowError, ValueError):
                found = ()
        if len(self.windows) >= _CACHE_LIMIT:
            self.windows.clear()
        self.windows[offset] = found
        return found

    def rate(self, p: _ProductRT, row: Row, ts: dt.datetime, rid: str) -> list[Rated] | Event:
        period = p.period
        if not ts < period.end:
            raise _out_of_period(period, ts)
        if p.product.kind == "subscription":
            if self.starts[id(p)](row):
                return Event(ts, rid, True)
            if self.ends[id(p)](row):
                return Event(ts, rid, False)
            raise RecordProblem(
                f"matches subscription {p.product.name} but is neither its start nor its end event"
            )
        if ts < period.start:
            raise _out_of_period(period, ts)
        if p.product.reads_quantity:
            text = row[self.i_qty] if self.i_qty is not None and self.i_qty < len(row) else None
            if text is None or text == "":
                raise RecordProblem(f"product {p.product.name} reads `quantity`, which is empty", "quantity")
            quantity = field_number("quantity", text)
            if quantity < 0:
                raise RecordProblem(f"`quantity` is negative: {text}", "quantity", text)
        else:
            quantity = Decimal(1)
        answered = self.answered[id(p)](row)
        results: list[Rated] = []
        net = Decimal(0)
        gross = Decimal(0)
        for rule in p.charges + p.payouts:
            unit, group = self.unit(p, rule, row, quantity, answered)
            unit.net, unit.gross = net, gross
            if rule.values:
                unit.values = {name: self.number(row, name, p) for name in rule.values}
            aggs = [(func, name, self.number(row, name, p)) for func, name in rule.aggregates]
            if rule.allowance_per is not None:
                key = self.value(row, rule.allowance_per)
                if not key:
                    raise RecordProblem(
                        f"product {p.product.name} reads `{rule.allowance_per}`, which is empty",
                        rule.allowance_per,
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
                # the amount paid includes VAT: extract the net, rounded per record
                paid = amount
                rounding = rule.record_rounding or rule.rate.line_rounding
                amount = round_money(CONTEXT.divide(paid, 1 + rule.vat), rounding)
            elif rule.record_rounding is not None:
                amount = round_money(amount, rule.record_rounding)
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
            raise RecordProblem(f"product {p.product.name} reads `{name}`, which is empty", name)
        value = field_number(name, text)
        if p.integers and name in p.integers and value != value.to_integral_value():
            raise RecordProblem(f"`{name}` is an integer field: {text!r} is not a whole number", name, text)
        return value

    def unit(
        self, p: _ProductRT, rule: _Rule, row: Row, quantity: Decimal, answered: bool
    ) -> tuple[rating.Unit, str]:
        row_plan = None
        first, nxt = rule.rate.first, rule.rate.next
        if rule.table is not None:
            key = self.value(row, rule.table.field)
            if not key:
                raise RecordProblem(
                    f"rate table {rule.table.name} reads `{rule.table.field}`, which is empty",
                    rule.table.field,
                )
            row_plan = rating.lookup(rule.table, rule.rows, rule.lengths, key)
            if row_plan is None:
                raise RecordProblem(
                    f"no rate in table {rule.table.name} for {rule.table.field} {key}",
                    rule.table.field,
                    key,
                )
            first, nxt = row_plan.first, row_plan.next
        billed = rating.bill_quantity(quantity, first, nxt) if answered else quantity
        group_by = rule.rate.group_by
        if group_by is None:
            group = ""
        elif group_by == "prefix":
            group = row_plan.key if row_plan else ""
        else:
            group = self.value(row, group_by) or ""
        return rating.Unit(billed, row_plan, answered, 0, p.period.days), group


_CACHE_LIMIT = 1 << 15  # entries of a memo or cache before it starts afresh (memory stays flat)
_OFFSET = re.compile(r"[+-][0-9][0-9]:[0-9][0-9]")
_NO_COLUMN = 1 << 62  # a column index past the end of every row


class _Unusual(Exception):
    """A record the fast path leaves to the reference path."""


def _text(moment: dt.datetime | None, tz: dt.timezone, offset: str) -> str:
    """A bound as timestamp text with `offset`; no bound is "" (before every text)."""
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    if local.microsecond:
        raise ValueError("bounds are whole seconds")
    return local.replace(tzinfo=None).isoformat() + offset


_SHORT_RUN = 64  # records: a run with an unusual record is halved down to this, then done one by one
_MAX_BACKOFF = 15  # batches
_UNKNOWN: Any = object()  # not in a cache yet
_FIRST = itemgetter(0)
_FORM = ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (22, ":"))  # in "YYYY-MM-DDTHH:MM:SS+hh:mm"
_OFFSET_DIGITS = (20, 21, 23, 24)
_OFFSET_OF = itemgetter(slice(19, None))
_FEW_LINES = 8  # a run's lines per rule summed a line at a time; more, record by record
_AMOUNT = attrgetter("amount")
_QUANTITY = attrgetter("quantity")
_PAID = attrgetter("paid")
_UNIT = attrgetter("unit")
_NET = attrgetter("net")
_GROSS = attrgetter("gross")
_LINE = attrgetter("line")
_RATED = attrgetter("rated")
_LINE_ID = attrgetter("line_id")
_GROUP = attrgetter("group")
_KEY = attrgetter("key")


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


class _FastProduct:
    """A product as the fast path of one file sees it."""

    def __init__(self, context: _FileContext, product: _ProductRT, match: RowPred) -> None:
        self.context = context
        self.product = product
        self.match = match
        self.run_match = compile_run_pred(product.product.matches, context.index)
        self.ok = product.fast  # else a record it matches goes by the reference path
        self.key = (product.ci, product.pi)
        self.wide = _wide(product.window)
        tz = product.period.start.tzinfo
        assert tz is not None
        self.tz = tz
        index = context.index
        plan = product.product
        self.i_qty = index.get("quantity", _NO_COLUMN) if plan.reads_quantity else None
        self.answered = context.answered[id(product)]
        # when `answered when ...` reads the quantity only, the quantity's text decides it
        self.answered_by_quantity = plan.reads_quantity and pred_fields(plan.answered) <= {"quantity"}
        never: RowPred = lambda r: False  # noqa: E731
        self.starts = context.starts.get(id(product), never)
        self.ends = context.ends.get(id(product), never)
        rules = product.charges + product.payouts
        # the rules that read a rate table, with the column of its key
        self.tabled = [(r, index.get(r.table.field, _NO_COLUMN)) for r in rules if r.table is not None]
        # per rule, the column of its `one line per FIELD`
        self.group_columns = [index.get(r.rate.group_by or "", _NO_COLUMN) for r in rules]
        self.columns = [c for _, c in self.tabled]
        self.columns += [
            c
            for r, c in zip(rules, self.group_columns, strict=True)
            if r.rate.group_by not in {None, "prefix"}
        ]
        if self.i_qty is not None:
            self.columns.append(self.i_qty)
        # the width of a row with all these columns; 0 if one is missing from the file
        self.width = 0 if _NO_COLUMN in self.columns else max(self.columns, default=0) + 1

    def prices(
        self, rows: Sequence[Row], stamps: list[dt.datetime], ids: list[str]
    ) -> list[tuple[_Priced, ...]] | None:
        """`price` for a run of records (of a usage product), or None if one is unusual."""
        product = self.product
        parts: list[list[Any]] = []
        if self.i_qty is not None:
            quantities = list(map(itemgetter(self.i_qty), rows))
            if not all(quantities):
                return None
            parts.append(quantities)
        else:
            parts.append([None] * len(rows))
        if not self.answered_by_quantity:
            parts.append(list(map(self.answered, rows)))
        for rule, column in self.tabled:
            values = list(map(itemgetter(column), rows))
            if not all(values):
                return None
            shorts = (
                values if rule.key_length is None else list(map(itemgetter(slice(rule.key_length)), values))
            )
            keys = list(map(rule.found_key.get, shorts, repeat(_UNKNOWN)))
            if _UNKNOWN in keys:  # str == object compares by identity, in C
                for short in set(compress(shorts, map(is_, keys, repeat(_UNKNOWN)))):
                    rule.find(short)
                keys = list(map(rule.found_key.get, shorts))
            if None in keys:
                return None
            parts.append(keys)
        memo_keys = list(zip(*parts, strict=True))
        memo = product.memo
        entries = list(map(memo.get, memo_keys))
        for i in compress(range(len(entries)), map(is_, entries, repeat(None))):
            entry = memo.get(memo_keys[i])
            if entry is None:
                rated = self.context.rate(product, rows[i], stamps[i], ids[i])
                assert not isinstance(rated, Event)
                entry = tuple(_Priced(k, r) for k, r in enumerate(rated))
                if len(memo) >= _CACHE_LIMIT:
                    memo.clear()
                memo[memo_keys[i]] = entry
            entries[i] = entry
        return cast(list[tuple[_Priced, ...]], entries)

    def price(self, row: Row, ts: dt.datetime, rid: str) -> tuple[_Priced, ...] | bool:
        """The record's prices (True/False: a subscription's start/end), from the memo.

        Raises _Unusual, RecordProblem or ArithmeticError for the reference path.
        """
        product = self.product
        if product.subscription:
            if self.starts(row):
                return True
            if self.ends(row):
                return False
            raise _Unusual
        # the memo key: what the rules read (see `_pure`)
        if self.i_qty is None:
            key: tuple[str | bool | None, ...] = (None, self.answered(row))
        else:
            quantity = row[self.i_qty] if self.i_qty < len(row) else None
            if not quantity:
                raise _Unusual
            key = (quantity,) if self.answered_by_quantity else (quantity, self.answered(row))
        for rule, column in self.tabled:
            value = row[column] if column < len(row) else None
            if not value:
                raise _Unusual
            short = value if rule.key_length is None else value[: rule.key_length]
            try:
                found = rule.found[short]
            except KeyError:
                found = rule.find(short)
            if found is None:
                raise _Unusual
            key += (found.key,)
        memo = product.memo
        entry = memo.get(key)
        if entry is None:
            rated = self.context.rate(product, row, ts, rid)
            assert not isinstance(rated, Event)
            entry = tuple(_Priced(k, r) for k, r in enumerate(rated))
            if len(memo) >= _CACHE_LIMIT:
                memo.clear()
            memo[key] = entry
        return entry


def _wide(window: tuple[dt.datetime | None, dt.datetime]) -> tuple[str, str]:
    """The window less a day at each end, as the first 19 characters of a
    timestamp: a local time inside it is inside the window at any UTC offset."""
    start, end = window
    day = dt.timedelta(days=1)  # in UTC: 24 hours, longer than any offset
    try:
        low = "" if start is None else _naive_utc(start, day)
        high = _naive_utc(end, -day)
    except (OverflowError, ValueError):
        return "~", ""  # nothing is inside
    return low, high


def _naive_utc(moment: dt.datetime, shift: dt.timedelta) -> str:
    utc = moment.astimezone(dt.UTC) + shift
    if utc.microsecond:
        raise ValueError("bounds are whole seconds")
    return utc.replace(tzinfo=None).isoformat()
