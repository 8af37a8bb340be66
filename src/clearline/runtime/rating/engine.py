"""The engine: usage rows -> rated contributions accumulated per line.

Input: contract plans, a period and batches of raw rows. Output: an
`Accumulated` state (exact decimal sums per line key, subscription events,
counts, rejects, unmatched; runtime.accumulate) that `settle.finish` turns
into lines and traces.
A batch's effect is a sum, so batches can be fed in any order and merged.

Every record read ends in exactly one of: rated, rejected (with the reason),
unmatched (no product of any contract matched it).

Three paths, one result. `_FileContext.record` is the reference: every check
in order, each failure a reject. The fast paths (runtime.fast): `records` takes the ordinary record -- well
formed, inside the period, priced by pure rules (`closures.pure`) -- through
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
input (`duplicates.duplicate_candidates`); without it every id is remembered.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation, localcontext
from operator import itemgetter
from typing import cast

from clearline import codes
from clearline.compiler import ir, units
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.money import CONTEXT, SUMS, round_money
from clearline.periods import Period, period_of
from clearline.runtime.inputs.readers import Batch, Row
from clearline.runtime.inputs.refdata import Customer
from clearline.runtime.rating import closures
from clearline.runtime.rating.accounts import Conversion, key_of
from clearline.runtime.rating.accumulate import (
    SAMPLE_SIZE,
    Accumulated,
    Event,
    LineAcc,
    RatedLine,
    RatedPrice,
    RatedRow,
    RatedRows,
    Reject,
    Routed,
    line_id,
)
from clearline.runtime.rating.closures import (
    RecordProblem,
    RowPred,
    compile_pred,
    field_number,
)
from clearline.runtime.rating.fast import FastPaths, _FastProduct
from clearline.runtime.rating.products import Rated, _ProductRT, _Rule

__all__ = [  # with what it accumulates (runtime.accumulate), for the modules that read it
    "SAMPLE_SIZE",
    "Accumulated",
    "Engine",
    "Event",
    "LineAcc",
    "RatedLine",
    "RatedPrice",
    "RatedRow",
    "RatedRows",
    "Reject",
    "Routed",
    "line_id",
]

_ZERO = Decimal(0)


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
    return OutOfPeriod(reason, "timestamp", ts.isoformat(), code=codes.REJECT_OUT_OF_PERIOD)


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
        settled: dict[str, str] | None = None,
        refunds: dict[str, str] | None = None,
        too_late: dict[str, str] | None = None,
        conversions: dict[str, dict[str, Conversion]] | None = None,
    ) -> None:
        """`candidates`: the only ids that may occur twice (`duplicate_candidates`);
        None remembers every id. `fast=False` takes every record through the
        reference path (for checking that the fast paths agree with it).
        `route`: a record of another period is set aside for it (`Routed`)
        instead of rejected, when every product it matches puts it in the same
        other period.
        `settled`: record ids a closed period settled (the ledger's) -> where, each
        rejected as a duplicate that names it. `refunds`: refund record id -> "" when
        the record it refunds is settled and not refunded before, else why not (the
        ledger's; None without a ledger, when a refund cannot be checked).
        `too_late`: "CONTRACT PERIOD" of each closed period past its late-usage window
        -> why; a record of one is rejected, never routed (the ledger's).
        `conversions`: per contract version, the rates of its units of account
        (`accounts.conversions_for`); a plan that declares one and has none here is refused."""
        self.plans = plans
        self.period_label = period
        self.customers = customers
        self.conversions = conversions or {}
        missing = [c for c in plans if c.units_of_account and key_of(c) not in self.conversions]
        if missing:  # never rate a price in a unit of account as if it were the settlement currency
            raise ClearlineError(
                [
                    Diagnostic(
                        codes.MISSING_REFERENCE_DATA,
                        f"{c.id} prices in {', '.join(u.code for u in c.units_of_account)}, "
                        "and this run has no rates to convert them",
                        c.units_of_account[0].span,
                        "pass the FX rates file with --fx FILE",
                    )
                    for c in missing
                ]
            )
        self.products = [
            _ProductRT(ci, pi, c, p, period, self.conversions.get(key_of(c), {}))
            for ci, c in enumerate(plans)
            for pi, p in enumerate(c.products)
        ]
        self.acc = Accumulated()
        self.candidates = candidates
        self.fast = fast
        self.route = route
        self.seen: dict[str, tuple[str, int]] = {}  # record id -> where it was first read
        self.settled = settled or {}
        self.refunds = refunds
        self.too_late = too_late or {}
        # tiers over the year: a line's earlier periods' quantity, net and gross (the ledger's)
        self.cumulative: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        if self.settled:  # seen already: every path hands them to `record`, which rejects them
            self.seen.update((rid, ("", 0)) for rid in self.settled)
            if candidates is not None:
                self.candidates = frozenset(candidates).union(self.settled)
        self.contexts: dict[tuple[str, tuple[str, ...]], _FileContext] = {}

    def check_refund(self, p: _ProductRT, rid: str, refunded: str | None) -> None:
        """A record of a product that `accepts refunds of FIELD` naming a refunded record:
        the ledger must have settled that record, and no refund before this one."""
        if not refunded:
            return
        field = p.product.refund_field or ""
        if self.refunds is None:
            raise RecordProblem(
                f"refunds {refunded}, which only the ledger can check: settle with --ledger URL",
                field,
                refunded,
                code=codes.REJECT_REFUND,
            )
        problem = self.refunds.get(rid)
        if problem is None:
            problem = f"refunds {refunded}, which this run's ledger look-up did not see"
        if problem:
            raise RecordProblem(problem, field, refunded, code=codes.REJECT_REFUND)

    # -- per file ------------------------------------------------------------------
    def feed(self, file: str, columns: list[str], batch: Batch) -> RatedRows:
        """Rate one batch; returns its rated rows (the caller streams them out)."""
        context = self.context(file, columns)
        out = RatedRows()
        with localcontext(SUMS):  # exact sums (see money.SUMS); each record rates in CONTEXT
            context.feed(batch, out)
        return out

    def context(self, file: str, columns: list[str]) -> _FileContext:
        """The context of an input file read with these columns, made once."""
        key = (file, tuple(columns))  # JSON Lines columns grow as new keys appear
        context = self.contexts.get(key)
        if context is None:
            index = {name: i for i, name in enumerate(columns)}
            context = self.contexts[key] = _FileContext(self, file, index)
        return context

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
        *,
        code: str,
    ) -> None:
        self.acc.rejects.append(Reject(file, line, record_id, field_name, value[:200], reason, code))


class _FileContext(FastPaths):
    """Column positions and compiled predicates of one input file."""

    engine: Engine  # the whole engine; its fast paths read only `fast._EngineState`

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
                    staged.append((part, self.rate(part, part_row, part_ts, rid)))
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

    def rate(self, p: _ProductRT, row: Row, ts: dt.datetime, rid: str) -> list[Rated] | Event:
        """The record's amounts for product `p` (or its lifecycle event), computed in
        the run's decimal CONTEXT whatever the context of the caller."""
        with localcontext(CONTEXT):
            return self._rate(p, row, ts, rid)

    def _rate(self, p: _ProductRT, row: Row, ts: dt.datetime, rid: str) -> list[Rated] | Event:
        period = p.period
        if not ts < period.end:
            raise _out_of_period(period, ts)
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
            raise _out_of_period(period, ts)
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
        for rule in p.charges + p.payouts:
            unit, group = self.unit(p, rule, row, quantity, answered)
            unit.net, unit.gross = net, gross
            if rule.reads_payouts:
                unit.payouts = dict(paid_to)  # as it stands for this rule (its trace shows it)
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
