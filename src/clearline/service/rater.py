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

from clearline import codes
from clearline.compiler import ir
from clearline.money import CONTEXT
from clearline.periods import period_of
from clearline.runtime.inputs.readers import Batch
from clearline.runtime.inputs.refdata import Customer
from clearline.runtime.rating.engine import Engine

__all__ = [
    "RatedPart",
    "Rater",
    "RefundLedger",
    "Verdict",
    "feed_records",
    "intake_file",
    "lifecycle_events",
    "record_line",
]


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
    kind: str = ""  # invoice or payout
    product: str = ""
    party: str = ""  # the customer invoiced, or the partner paid


@dataclass(slots=True)
class Verdict:
    record_id: str
    status: str  # rated, rejected, unmatched
    period: str = ""
    accepted: bool = False
    reason: str = ""
    code: str = ""  # the reject's or unmatched record's codes.REJECT_* (E08xx); "" when rated
    field_name: str = ""
    value: str = ""
    rated: list[RatedPart] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RefundLedger:
    """What the ledger says of the records refunds name: those a close settled, and those a
    settled refund refunds already (-> that refund's id, period and document)."""

    settled: frozenset[str] = frozenset()
    refunded: dict[str, tuple[str, str, str]] = field(default_factory=dict)


class Rater:
    """Per-period engines over the accepted records; `rate` answers and accepts."""

    def __init__(self, plans: Sequence[ir.ContractPlan], customers: dict[str, Customer] | None) -> None:
        self.plans = list(plans)
        self.customers = customers
        self.engines: dict[str, Engine] = {}
        self.lines: dict[str, int] = {}  # period -> records accepted since its last close
        # products that `accepts refunds of FIELD`: the fields, and per period the record each
        # accepted refund refunded -> that refund (a second refund of it is refused)
        self.refund_fields = sorted(
            {p.refund_field for c in self.plans for p in c.products if p.refund_field}
        )
        self.first_refund: dict[str, dict[str, str]] = {}
        self.line_names: dict[str, tuple[str, str, str]] = {}  # line id -> kind, product, party
        # closed periods past a contract's late-usage window -> why: their close would be
        # refused (E0711), so their records are refused on arrival (set by the service)
        self.past_window: dict[str, str] = {}

    def engine(self, period: str) -> Engine:
        found = self.engines.get(period)
        if found is None:
            # with refund products, each refund's check is set (`_refund`) before it is fed
            refunds: dict[str, str] | None = {} if self.refund_fields else None
            found = self.engines[period] = Engine(self.plans, period, self.customers, None, refunds=refunds)
            self.lines[period] = 0
        return found

    def reset(self, period: str) -> None:
        """Forget a period's records: a close took them (late ones start afresh)."""
        self.engines.pop(period, None)
        self.lines.pop(period, None)
        self.first_refund.pop(period, None)

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
        return self.rate_many([record], {} if settled is None else {str(record.get("record_id")): settled})[0]

    def _line_of(self, engine: Engine, line_id: str) -> tuple[str, str, str]:
        """A line's kind, product and party, from the engine's line keys (read again only
        when a record opens a line not seen yet; a line id is a hash of its key)."""
        found = self.line_names.get(line_id)
        if found is None:
            for (
                acc
            ) in engine.acc.lines.values():  # kind, contract, version, product, clause, rule, party, group
                self.line_names[acc.line_id] = (_KINDS.get(acc.key[0], acc.key[0]), acc.key[3], acc.key[6])
            found = self.line_names.get(line_id, ("", "", ""))
        return found

    def refund_targets(self, records: Sequence[dict[str, str | None]]) -> set[str]:
        """The record ids the records' refund fields name (to look up in the ledger)."""
        return {t for r in records for _, t in self._refund_pairs(r)}

    def _refund_pairs(self, record: dict[str, str | None]) -> list[tuple[str, str]]:
        rid = record.get("record_id")
        if not rid:
            return []
        return [(rid, t) for name in self.refund_fields if (t := record.get(name))]

    def rate_many(
        self,
        records: Sequence[dict[str, str | None]],
        settled: dict[str, str],
        refunds: RefundLedger | None = None,
    ) -> list[Verdict]:
        """Rate records in order; `settled`: record id -> where the ledger settled it;
        `refunds`: the ledger's part in the refunds the records make. A record naming a
        refunded record is rated alone, its check made as `simulate --ledger` makes it over
        the period's intake file (`ledger.resettle.refunds_for`)."""
        if not self.refund_fields:
            return self._rate_many(records, settled)
        out: list[Verdict] = []
        run: list[dict[str, str | None]] = []
        for record in records:
            pairs = self._refund_pairs(record)
            if not pairs:
                run.append(record)
                continue
            if run:
                out += self._rate_many(run, settled)
                run = []
            out.append(self._refund(record, pairs, settled, refunds or RefundLedger()))
        if run:
            out += self._rate_many(run, settled)
        return out

    def _refund(
        self,
        record: dict[str, str | None],
        pairs: list[tuple[str, str]],
        settled: dict[str, str],
        ledger: RefundLedger,
    ) -> Verdict:
        period = self.period_of(record)
        first = self.first_refund.setdefault(period, {})
        taken: dict[str, str] = {}
        check = ""
        for rid, refunded in pairs:
            if refunded not in ledger.settled:
                check = f"refunds {refunded}, which no closed period settled"
            elif refunded in ledger.refunded:
                by, when, document = ledger.refunded[refunded]
                check = f"refunds {refunded}, already refunded by {by} in {when}, document {document}"
            elif first.get(refunded, taken.setdefault(refunded, rid)) != rid:
                check = f"refunds {refunded}, already refunded by {first[refunded]} in this run"
            else:
                check = ""
        refunds = self.engine(period).refunds
        assert refunds is not None  # made with refund products
        refunds[pairs[0][0]] = check
        verdict = self._rate_many([record], settled)[0]
        if verdict.accepted:  # in the period's intake file: the close counts it the same way
            for refunded, rid in taken.items():
                first.setdefault(refunded, rid)
        return verdict

    def _rate_many(self, records: Sequence[dict[str, str | None]], settled: dict[str, str]) -> list[Verdict]:
        """Rate records in order, the admitted ones of each period as one batch (the engine's
        fast paths); `settled`: record id -> where the ledger settled it."""
        verdicts: list[Verdict | None] = [None] * len(records)
        runs: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            rid = record.get("record_id") or ""
            if rid and rid in settled:
                verdicts[i] = Verdict(
                    rid,
                    "rejected",
                    reason=f"duplicate record id: {settled[rid]}",
                    code=codes.REJECT_DUPLICATE,
                    field_name="record_id",
                    value=rid,
                )
            elif any("\x00" in (v or "") for v in record.values()):
                verdicts[i] = Verdict(
                    rid, "rejected", reason="a field holds a NUL character", code=codes.REJECT_NUL_FIELD
                )
            elif (period := self.period_of(record)) in self.past_window and _has_offset(
                text := record.get("timestamp") or ""
            ):
                verdicts[i] = Verdict(
                    rid,
                    "rejected",
                    period,
                    reason=self.past_window[period],
                    code=codes.REJECT_PAST_LATE_WINDOW,
                    field_name="timestamp",
                    value=text,
                )
            else:
                runs.setdefault(period, []).append(i)
        for period, indexes in runs.items():
            engine = self.engine(period)
            admitted, chunk = self._screen(engine, period, [records[i] for i in indexes])
            for i, verdict in zip(indexes, chunk, strict=True):
                verdicts[i] = verdict
            if admitted:
                self._feed(engine, period, [(indexes[j], records[indexes[j]]) for j in admitted], verdicts)
        return [v for v in verdicts if v is not None]

    def _screen(
        self, engine: Engine, period: str, records: list[dict[str, str | None]]
    ) -> tuple[list[int], list[Verdict | None]]:
        """Which records the engine admits (by its own checks, one record at a time for
        those it refuses, whose traces are then undone), in order."""
        admitted: list[int] = []
        out: list[Verdict | None] = []
        batch: dict[str, int] = {}  # record id -> the line it will take
        for j, record in enumerate(records):
            rid = record.get("record_id") or ""
            text = record.get("timestamp") or ""
            ok = bool(rid) and rid not in batch and rid not in engine.seen
            if ok:
                try:
                    ok = dt.datetime.fromisoformat(text).tzinfo is not None
                except ValueError:
                    ok = False
            if ok:
                batch[rid] = self.lines[period] + 1 + len(admitted)
                admitted.append(j)
                out.append(None)
                continue
            if rid in batch and _has_offset(text):  # as the engine says it, once the first is fed
                where = f"first read at {intake_file(period)}:{batch[rid]}"
                out.append(
                    Verdict(
                        rid,
                        "rejected",
                        reason=f"duplicate record id: {where}",
                        code=codes.REJECT_DUPLICATE,
                        field_name="record_id",
                        value=rid,
                    )
                )
                continue
            out.append(self._probe(engine, period, record))
        return admitted, out

    def _probe(self, engine: Engine, period: str, record: dict[str, str | None]) -> Verdict:
        """The engine's reject of a record it refuses, undone (it never came)."""
        acc = engine.acc
        line = self.lines[period] + 1
        columns = list(record)
        before = len(acc.rejects)
        with localcontext(CONTEXT):
            engine.feed(intake_file(period), columns, Batch([line], [[record[c] for c in columns]]))
        rid = record.get("record_id") or ""
        if len(acc.rejects) != before + 1 or engine.seen.get(rid) == (intake_file(period), line):
            raise RuntimeError(f"record {rid!r}: the service's screen disagrees with the engine")
        reject = acc.rejects.pop()
        acc.read -= 1
        return Verdict(
            rid,
            "rejected",
            reason=reject.reason,
            code=reject.code,
            field_name=reject.field,
            value=reject.value,
        )

    def _feed(
        self,
        engine: Engine,
        period: str,
        items: list[tuple[int, dict[str, str | None]]],
        verdicts: list[Verdict | None],
    ) -> None:
        acc = engine.acc
        first = self.lines[period] + 1
        numbers = range(first, first + len(items))
        rejects, unmatched = len(acc.rejects), len(acc.unmatched)
        by_line: dict[int, Verdict] = {}
        by_id: dict[str, Verdict] = {}
        # runs of records with the same columns go together, in arrival order
        groups: list[tuple[tuple[str, ...], list[tuple[int, dict[str, str | None]]]]] = []
        for n, (_, record) in zip(numbers, items, strict=True):
            if not groups or groups[-1][0] != tuple(record):
                groups.append((tuple(record), []))
            groups[-1][1].append((n, record))
            verdict = Verdict(record.get("record_id") or "", "rated", period, True)
            by_line[n] = by_id[verdict.record_id] = verdict
        file = intake_file(period)
        for columns, members in groups:
            batch = Batch([n for n, _ in members], [[r[c] for c in columns] for _, r in members])
            with localcontext(CONTEXT):
                out = engine.feed(file, list(columns), batch)
            for rid, ln, price in zip(out.ids, out.lines, out.prices, strict=True):
                kind, product, party = self._line_of(engine, ln.line_id)
                by_id[rid].rated.append(
                    RatedPart(ln.line_id, ln.clause, price.quantity, price.amount, kind, product, party)
                )
        for reject in acc.rejects[rejects:]:
            v = by_line[reject.line]
            v.status, v.reason, v.code = "rejected", reject.reason, reject.code
            v.field_name, v.value = reject.field, reject.value
        for miss in acc.unmatched[unmatched:]:
            v = by_line[miss.line]
            v.status, v.reason, v.code = "unmatched", miss.reason, miss.code
        for n, (i, record) in zip(numbers, items, strict=True):
            rid = record.get("record_id") or ""
            if engine.seen.get(rid) != (file, n):
                raise RuntimeError(f"record {rid!r}: the service's screen disagrees with the engine")
            verdicts[i] = by_line[n]
        self.lines[period] = first + len(items) - 1


def lifecycle_events(
    plans: Sequence[ir.ContractPlan],
    customers: dict[str, Customer] | None,
    period: str,
    records: Sequence[dict[str, str | None]],
) -> set[str]:
    """The ids of the records, accepted for earlier periods, that settling `period` counts as
    subscription lifecycle events (a start in February keeps a subscriber active in March):
    the engine of `period` itself decides, reading them as `simulate` would read them in
    its usage file; every other record of theirs it rejects as out of period."""
    engine = Engine(list(plans), period, customers, None)
    feed_records(engine, "earlier-periods.jsonl", records)
    return {
        e.record_id for by_customer in engine.acc.events.values() for es in by_customer.values() for e in es
    }


def feed_records(engine: Engine, file: str, records: Sequence[dict[str, str | None]]) -> None:
    """Feed records to an engine as lines 1, 2, ... of `file`, runs of the same columns as
    one batch each."""
    at = 0
    while at < len(records):
        columns = list(records[at])
        end = at
        while end < len(records) and list(records[end]) == columns:
            end += 1
        batch = Batch(list(range(at + 1, end + 1)), [[r[c] for c in columns] for r in records[at:end]])
        with localcontext(CONTEXT):
            engine.feed(file, columns, batch)
        at = end


_KINDS = {"I": "invoice", "P": "payout"}


def _has_offset(text: str) -> bool:
    try:
        return dt.datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False
