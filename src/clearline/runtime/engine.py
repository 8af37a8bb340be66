"""The engine: usage rows -> rated contributions accumulated per line.

Input: contract plans, a period and batches of raw rows. Output: an
`Accumulated` state (exact decimal sums per line key, subscription events,
counts, rejects, unmatched) that `settle.finish` turns into lines and traces.
A batch's effect is a sum, so batches can be fed in any order and merged.

Every record read ends in exactly one of: rated, rejected (with the reason),
unmatched (no product of any contract matched it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from clearline.compiler import ir
from clearline.money import CONTEXT, parse_decimal, round_money
from clearline.runtime import rating
from clearline.runtime.periods import Period, period_bounds
from clearline.runtime.readers import Customer, Row

__all__ = ["SAMPLE_SIZE", "Accumulated", "Engine", "LineAcc", "Reject"]

SAMPLE_SIZE = 5  # record ids (the smallest) kept per line for traces

RowPred = Callable[[Row], bool]
_ZERO = Decimal(0)


class RecordProblem(Exception):
    """A record that cannot be rated; the message is the reject reason."""

    def __init__(self, reason: str, field: str = "", value: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.value = value


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
    # line-level shares: the sum of the units' net and gross
    net_base: Decimal = Decimal(0)
    gross_base: Decimal = Decimal(0)

    def aggregate(self, func: str, name: str, value: Decimal) -> None:
        key = (func, name)
        current = self.aggregates.get(key)
        if current is None:
            self.aggregates[key] = value
        elif func == "maximum":
            self.aggregates[key] = max(current, value)
        elif func == "minimum":
            self.aggregates[key] = min(current, value)
        else:  # sum, and average (divided by the record count when the line closes)
            self.aggregates[key] = current + value

    def add(self, record_id: str, unit: rating.Unit, amount: Decimal) -> None:
        self.amount += amount
        self.quantity += unit.quantity
        self.units += 1
        self.records += 1
        samples = self.samples
        if len(samples) < SAMPLE_SIZE:
            samples.append((record_id, unit, amount))
            samples.sort(key=lambda s: s[0])
        elif record_id < samples[-1][0]:
            samples[-1] = (record_id, unit, amount)
            samples.sort(key=lambda s: s[0])


@dataclass(slots=True)
class RatedRow:
    record_id: str
    line_id: str
    clause: str
    quantity: str
    amount: str


def line_id(kind: str, key: tuple[str, ...]) -> str:
    """A stable id from what the line is (not from when it was seen)."""
    digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:10]
    return f"{kind}-{digest}"


@dataclass(slots=True)
class Event:
    timestamp: dt.datetime
    record_id: str
    starts: bool


@dataclass(slots=True)
class Accumulated:
    read: int = 0
    rated: int = 0
    rejects: list[Reject] = field(default_factory=list)
    unmatched: list[Reject] = field(default_factory=list)
    lines: dict[tuple[str, ...], LineAcc] = field(default_factory=dict)
    # (contract index, product index) -> customer -> lifecycle events
    events: dict[tuple[int, int], dict[str, list[Event]]] = field(default_factory=dict)


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
        self.period: Period = period_bounds(period_label, contract.period, contract.time_zone)
        tz = self.period.start.tzinfo
        assert tz is not None
        self.effective_from = _local_midnight(contract.effective_from, tz)
        self.effective_until = _local_midnight(contract.effective_until, tz)
        self.subscription = product.kind == "subscription"
        self.charges = [_Rule(i, "I", c, product) for i, c in enumerate(product.charges)]
        self.payouts = [_Rule(i, "P", p, product) for i, p in enumerate(product.payouts)]


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
    return RecordProblem(reason, "timestamp", ts.isoformat())


def _number(field_name: str, text: str) -> Decimal:
    try:
        return parse_decimal(text)
    except ValueError:
        raise RecordProblem(f"`{field_name}` is not a number: {text!r}", field_name, text) from None


def compile_pred(pred: ir.Pred, index: dict[str, int]) -> RowPred:
    """A predicate over raw rows of one file (column positions known)."""
    op = pred.op
    if op in {"and", "or"}:
        left, right = (compile_pred(a, index) for a in pred.args)
        if op == "and":
            return lambda r: left(r) and right(r)
        return lambda r: left(r) or right(r)
    if op == "not":
        inner = compile_pred(pred.args[0], index)
        return lambda r: not inner(r)
    assert pred.field is not None
    name = pred.field
    col = index.get(name)
    if col is None:
        return lambda r: False  # the file has no such column: nothing matches on it

    def get(r: Row) -> str | None:
        return r[col] if col < len(r) else None

    if op == "prefix":
        prefix = pred.values[0]
        return lambda r: (v := get(r)) is not None and v.startswith(prefix)
    if not pred.numeric:
        values = frozenset(pred.values)
        if op == "eq" or op == "in":
            if len(values) == 1:
                only = pred.values[0]
                return lambda r: get(r) == only
            return lambda r: get(r) in values
        return lambda r: get(r) not in values  # ne
    numbers = tuple(Decimal(v) for v in pred.values)
    target = numbers[0]
    compare: Callable[[Decimal], bool] = {
        "eq": lambda x: x == target,
        "ne": lambda x: x != target,
        "lt": lambda x: x < target,
        "le": lambda x: x <= target,
        "gt": lambda x: x > target,
        "ge": lambda x: x >= target,
        "in": lambda x: x in numbers,
    }[op]

    def numeric(r: Row) -> bool:
        v = get(r)
        if v is None or v == "":
            return False
        return compare(_number(name, v))

    return numeric


class Engine:
    """Feeds batches of rows through every product of every contract."""

    def __init__(
        self,
        plans: list[ir.ContractPlan],
        period: str,
        customers: dict[str, Customer] | None = None,
    ) -> None:
        self.plans = plans
        self.period_label = period
        self.customers = customers
        self.products = [
            _ProductRT(ci, pi, c, p, period) for ci, c in enumerate(plans) for pi, p in enumerate(c.products)
        ]
        self.acc = Accumulated()
        self.seen: dict[str, tuple[str, int]] = {}
        self.rated_rows: list[RatedRow] = []

    # -- per file ------------------------------------------------------------------
    def feed(self, file: str, columns: list[str], batch: list[tuple[int, Row]]) -> list[RatedRow]:
        """Rate one batch; returns its rated rows (the caller streams them out)."""
        index = {name: i for i, name in enumerate(columns)}
        prepared = [(p, compile_pred(p.product.matches, index)) for p in self.products]
        out: list[RatedRow] = []
        with_ctx = _FileContext(self, file, index)
        for line_no, row in batch:
            self.acc.read += 1
            with_ctx.record(line_no, row, prepared, out)
        return out

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
        out: list[RatedRow],
    ) -> None:
        engine = self.engine
        first = row[0] if row else None
        if first is not None and first.startswith("\x00"):
            engine.reject(self.file, line_no, "", first[1:])
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
        seen = engine.seen.get(rid)
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
        engine.seen[rid] = (self.file, line_no)
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
            engine.reject(self.file, line_no, rid, problem.reason, problem.field, problem.value)
            return
        except (InvalidOperation, ArithmeticError) as err:
            engine.reject(self.file, line_no, rid, f"arithmetic outside the supported range ({err!r})")
            return
        engine.acc.rated += 1
        for p, result in staged:
            if isinstance(result, Event):
                by_customer = engine.acc.events.setdefault((p.ci, p.pi), {})
                by_customer.setdefault(customer, []).append(result)
                continue
            for rule, group, unit, amount, paid, aggs in result:
                party = customer if rule.kind == "I" else rule.party
                key = (
                    rule.kind,
                    p.contract.id,
                    str(p.contract.version),
                    p.product.name,
                    rule.plan.clause.label,
                    str(rule.index),
                    party,
                    group,
                )
                acc = engine.acc.lines.get(key)
                if acc is None:
                    acc = engine.acc.lines[key] = LineAcc(line_id(rule.kind, key), key)
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
                out.append(
                    RatedRow(
                        rid,
                        acc.line_id,
                        rule.plan.clause.label,
                        format(unit.quantity, "f"),
                        "" if amount is None else format(amount, "f"),
                    )
                )

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
            quantity = _number("quantity", text)
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
        return _number(name, text)

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
