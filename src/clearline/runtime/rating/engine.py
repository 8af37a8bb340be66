"""The engine: usage rows -> rated contributions accumulated per line.

Input: contract plans, a period and batches of raw rows. Output: an
`Accumulated` state (exact decimal sums per line key, subscription events,
counts, rejects, unmatched; runtime.accumulate) that `settle.finish` turns
into lines and traces.
A batch's effect is a sum, so batches can be fed in any order and merged.

Every record read ends in exactly one of: rated, rejected (with the reason),
unmatched (no product of any contract matched it).

Three paths, one result. `_FileContext.record` (runtime.rating.reference) is
the reference: every check in order, each failure a reject; a record's prices
come from `pricing.Pricing.rate`. The fast paths (runtime.rating.fast): `records`
takes the ordinary record -- well formed, inside the period, priced by pure
rules (`closures.pure`) -- through the same checks on the common case only, and
hands anything else to the reference path. `columns` does what `records` does
for a whole run of ordinary records at once, with maps and set operations.
Prices come from a per-product memo (`fast_product.FastProduct`) keyed by what
pure rules read (the quantity's text, the answered flag, the table rows) and
filled by the reference `rate`, so the records that rate alike share one
computation, one `Unit` and one rated-row part. A line adds its records'
amounts in record order on every path. Each input file gets one
`_FileContext`: column positions, compiled predicates, and per product its
window as timestamp text for each UTC offset met (timestamps with one offset
compare as strings).

Duplicates: record ids are remembered exactly only for the `candidates`, a
superset of the ids that occur more than once, found by a pre-scan of the
input (`duplicates.duplicate_candidates`); without it every id is remembered.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, localcontext

from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.money import SUMS
from clearline.runtime.inputs.readers import Batch
from clearline.runtime.inputs.refdata import Customer
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
from clearline.runtime.rating.closures import RecordProblem
from clearline.runtime.rating.products import _ProductRT
from clearline.runtime.rating.reference import _FileContext

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

    def restart(self) -> None:
        """Start again with nothing read, as a new Engine of the same arguments would,
        keeping only what is pure: the memo of prices, the rate tables' look-ups and
        the files' compiled contexts. A Dask worker rates partition after partition
        with one engine, each partition's sums apart (runtime.cluster_tasks); a new
        engine per partition would price every memo key again.

        What rating leaves behind is the sums (`acc`), the ids read (`seen`) and each
        rule's lines into those sums (its `lines`, and the memo entries' `line`):
        all go. (`cumulative` is the ledger's, read when the period settles.)"""
        self.acc = Accumulated()
        self.seen = {}
        if self.settled:
            self.seen.update((rid, ("", 0)) for rid in self.settled)
        for p in self.products:
            for rule in (*p.charges, *p.payouts):
                rule.lines.clear()
            for entry in p.memo.values():
                for price in entry:
                    price.line = None

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
