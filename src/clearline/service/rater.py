"""The service's rating: one usage record at a time, through the same engine as `simulate`.

Input: the plans in force, the customers table, and records as JSON objects of
strings (the usage file's columns). Output: a `Verdict` per record -- rated
(each line it fed, with clause, billed quantity and amount), rejected (the
engine's own reason and field) or unmatched -- and whether the record is
accepted into the intake. One `Engine` per period holds the records accepted
for it since the period's last close, fed in arrival order with the line
numbers they take in the intake file the close settles (`intake_file`), so the
engine has seen exactly what `simulate` over that file reads.

A record refused before the engine admits it (no id, no or a bad timestamp, a
duplicate id) is answered and not accepted: the engine forgets it again (its
reject and its count), as if it never came. Every other record -- rated,
unmatched, or rejected for a field -- is accepted: a close settles it as the
batch path would, rejects and all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import localcontext

from clearline.compiler import ir
from clearline.money import CONTEXT
from clearline.runtime.inputs.readers import Batch
from clearline.runtime.inputs.refdata import Customer
from clearline.runtime.rating.engine import Engine
from clearline.runtime.rating.periods import period_of

__all__ = ["RatedPart", "Rater", "Verdict", "intake_file", "record_line"]


def intake_file(period: str) -> str:
    """The name of the intake file of a period: the `file` of its rejects."""
    return f"intake-{period}.jsonl"


def record_line(record: dict[str, str | None]) -> str:
    """The record as one JSON Lines line, as the intake file holds it."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class RatedPart:
    line_id: str
    clause: str
    billed_quantity: str
    amount: str


@dataclass(slots=True)
class Verdict:
    record_id: str
    status: str  # rated, rejected, unmatched
    period: str = ""
    accepted: bool = False
    reason: str = ""
    field_name: str = ""
    value: str = ""
    rated: list[RatedPart] = field(default_factory=list)


class Rater:
    """Per-period engines over the accepted records; `rate` answers and accepts."""

    def __init__(self, plans: Sequence[ir.ContractPlan], customers: dict[str, Customer] | None) -> None:
        self.plans = list(plans)
        self.customers = customers
        self.engines: dict[str, Engine] = {}
        self.lines: dict[str, int] = {}  # period -> records accepted since its last close

    def engine(self, period: str) -> Engine:
        found = self.engines.get(period)
        if found is None:
            found = self.engines[period] = Engine(self.plans, period, self.customers, None)
            self.lines[period] = 0
        return found

    def reset(self, period: str) -> None:
        """Forget a period's records: a close took them (late ones start afresh)."""
        self.engines.pop(period, None)
        self.lines.pop(period, None)

    def period_of(self, record: dict[str, str | None]) -> str:
        """The period a record's timestamp falls in, by the first contract in force then
        (by the first contract when none is, or when the timestamp does not parse:
        the engine then gives the record its reason)."""
        text = record.get("timestamp") or ""
        first = self.plans[0]
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            return period_of(dt.datetime.now(dt.UTC), first.period, first.time_zone)
        day = moment.date().isoformat()
        for plan in self.plans:
            if plan.effective_from <= day < plan.effective_until:
                return period_of(moment, plan.period, plan.time_zone)
        return period_of(moment, first.period, first.time_zone)

    def rate(self, record: dict[str, str | None], settled: str | None = None) -> Verdict:
        """Rate one record; `settled`: where the ledger settled its id, if it did."""
        rid = record.get("record_id") or ""
        if settled is not None:
            return Verdict(
                rid, "rejected", reason=f"duplicate record id: {settled}", field_name="record_id", value=rid
            )
        period = self.period_of(record)
        engine = self.engine(period)
        acc = engine.acc
        line = self.lines[period] + 1
        columns = list(record)
        rejects, unmatched, rated = len(acc.rejects), len(acc.unmatched), acc.rated
        with localcontext(CONTEXT):
            out = engine.feed(intake_file(period), columns, Batch([line], [[record[c] for c in columns]]))
        admitted = bool(rid) and engine.seen.get(rid) == (intake_file(period), line)
        verdict = Verdict(rid, "rated", period if admitted else "", admitted)
        if len(acc.rejects) > rejects:
            reject = acc.rejects[-1]
            verdict.status, verdict.reason = "rejected", reject.reason
            verdict.field_name, verdict.value = reject.field, reject.value
            if not admitted:  # never accepted: the engine forgets it
                acc.rejects.pop()
                acc.read -= 1
        elif len(acc.unmatched) > unmatched:
            verdict.status, verdict.reason = "unmatched", acc.unmatched[-1].reason
        elif acc.rated == rated:
            verdict.status, verdict.reason = "rejected", "the record was not rated"  # not reached
        verdict.rated = [
            RatedPart(ln.line_id, ln.clause, price.quantity, price.amount)
            for ln, price in zip(out.lines, out.prices, strict=True)
        ]
        if admitted:
            self.lines[period] = line
        return verdict
