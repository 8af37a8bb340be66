"""The service's state: plans in force, the per-period engines, and group commit.

Input: contract files, optional FX and customers files, and an open `Ledger`.
Output: verdicts for batches of records, each acknowledged only after the
records it accepted are committed to the ledger's intake; previews of a
period (the run a close would settle now) for bills, payouts and traces.

One writer thread takes every batch waiting, rates the records in arrival
order, commits all it accepted in one transaction (group commit: concurrent
requests share a commit) and only then answers each request. If the commit
fails the engines are rebuilt from the ledger, which is the truth: what was
not committed was never acknowledged. At start the engines are rebuilt the
same way, so a killed server comes back with exactly what it acknowledged.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import hashlib
import json
import logging
import queue
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import localcontext
from pathlib import Path
from typing import Any

import clearline
from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.ledger import intake
from clearline.ledger.store import Ledger
from clearline.money import CONTEXT
from clearline.runtime.inputs.refdata import read_customers, read_fx
from clearline.runtime.rating.accumulate import Accumulated
from clearline.runtime.rating.engine import Engine
from clearline.runtime.settlement.prior import Prior
from clearline.runtime.settlement.settle import Settlement, finish
from clearline.service.rater import Rater, RefundLedger, Verdict, feed_records, lifecycle_events, record_line
from clearline.service.scratch import scratch_folder
from clearline.source import SourceFile

__all__ = ["PeriodUsage", "Preview", "Service", "materialise", "period_usage", "without"]

log = logging.getLogger("clearline.serve")

GROUP_LIMIT = 5_000  # records per group commit at most


def units_of_account_refused(plans: Sequence[ir.ContractPlan]) -> list[Diagnostic]:
    """The service rates records as they come, before the period's end rate is known:
    a contract pricing in a unit of account (converted at the period end) is refused
    here rather than rated unconverted; `simulate` settles it."""
    return [
        Diagnostic(
            codes.UNIT_OF_ACCOUNT,
            f"{p.id} prices in the unit of account {p.units_of_account[0].code}, converted at the rate "
            "of the period end; the rating service cannot rate it before the period ends",
            p.units_of_account[0].span,
            "settle this contract with `clearline simulate ... --fx FILE` once the period's rates are known",
        )
        for p in plans
        if p.units_of_account
    ]


def materialise(ledger: Ledger, folder: Path | None = None) -> dict[str, list[Path]]:
    """The inputs the service rated with, as files at their recorded paths: a file that
    is there must hold the recorded text (ClearlineError if it was changed), one that
    is not is written (into `folder` if given, else at its path)."""
    found: dict[str, list[Path]] = {"contract": [], "fx": [], "customers": []}
    for item in intake.inputs(ledger):
        path = Path(item.path)
        if path.is_file():
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if sha != item.sha256:
                raise ClearlineError(
                    [
                        Diagnostic(
                            codes.INPUT_CHANGED,
                            f"{path} changed since the service rated records with it",
                            None,
                            "restore the file as it was, or load the change as an amendment",
                        )
                    ]
                )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.text.encode("utf-8"))
        found[item.kind].append(path)
    return found


@dataclass(frozen=True, slots=True)
class PeriodUsage:
    """What settling a period reads: its accepted records not closed yet and, at its first
    close, the lifecycle events of subscriptions accepted for earlier periods, merged in
    arrival order (`lines`); `carried`: the ids of those events (settled, or to be, in
    their own period's close); `upto`: the last intake seq of the period's own records."""

    lines: list[str]
    carried: frozenset[str]
    upto: int


def period_usage(
    ledger: Ledger,
    plans: Sequence[ir.ContractPlan],
    customers: dict[str, Any] | None,
    period: str,
) -> PeriodUsage:
    """The usage a close (or a preview) of `period` settles, as `simulate` would read it."""
    pending = intake.pending(ledger, period)
    upto = pending[-1].seq if pending else 0
    carried: list[intake.Accepted] = []
    if not any(c.period == period for c in ledger.closes()):  # a re-close adjusts: no events again
        carried = carried_events(ledger, plans, customers, period)
    merged = sorted([*carried, *pending], key=lambda a: a.seq)
    return PeriodUsage([a.line for a in merged], frozenset(a.record_id for a in carried), upto)


def carried_events(
    ledger: Ledger,
    plans: Sequence[ir.ContractPlan],
    customers: dict[str, Any] | None,
    period: str,
) -> list[intake.Accepted]:
    """The records accepted for earlier periods that settling `period` reads as lifecycle
    events of subscriptions, in arrival order."""
    if not any(p.kind == "subscription" for plan in plans for p in plan.products):
        return []
    earlier = intake.earlier(ledger, period)
    if not earlier:
        return []
    ids = lifecycle_events(plans, customers, period, [json.loads(a.line) for a in earlier])
    return [a for a in earlier if a.record_id in ids]


def without(prior: Prior, carried: frozenset[str]) -> Prior:
    """The ledger's prior less the carried events' settlement: they are read again as the
    lifecycle of subscriptions still open, not as duplicates."""
    if not carried:
        return prior
    return dataclasses.replace(prior, settled={k: v for k, v in prior.settled.items() if k not in carried})


@dataclass(slots=True)
class Preview:
    """A period settled now over what the service accepted, with its traces (trace.jsonl as
    the run folder held it; the folder itself is removed once read)."""

    state: tuple[int, int]  # intake.state_of when it was settled
    traces: list[dict[str, Any]]
    result: Settlement


class _Checkpointer:
    """SQLite's WAL checkpoints off the commit path. By default the connection that commits
    past 1,000 WAL pages copies them into the database file and syncs it, inside that
    commit: a group's acknowledgement waited for it (a commit of one record took about 4 ms
    here, 0.7 ms without). The service's connections do not checkpoint; this thread does, a
    passive checkpoint every half second on a connection of its own, which waits for no
    reader or writer. Durability is the same: every commit still syncs the WAL, and a WAL
    left by a kill is replayed by the next connection that opens the file."""

    def __init__(self, ledger: Ledger, every: float = 0.5) -> None:
        from sqlalchemy import event

        @event.listens_for(ledger.engine, "connect")
        def _no_auto(dbapi: Any, _record: Any) -> None:
            dbapi.execute("PRAGMA wal_autocheckpoint=0")

        ledger.engine.dispose()  # the pooled connections made before the listener go
        self.raw = ledger.engine.raw_connection()  # its own, for as long as the service runs
        self.every = every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="clearline-checkpoints", daemon=True)
        self.thread.start()

    def _checkpoint(self) -> None:
        self.raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")  # no BEGIN: autocommit

    def _run(self) -> None:
        failing = False
        while not self.done.wait(self.every):
            try:
                self._checkpoint()
                failing = False
            except Exception as err:  # the next one tries again; commits do not depend on it
                if not failing:  # said once per run of failures: the WAL grows meanwhile
                    log.warning("the ledger's WAL checkpoint failed (the WAL grows until one works): %s", err)
                failing = True

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=10)
        try:
            self._checkpoint()
            self.raw.close()
        except Exception:
            pass


def _copy_engine(engine: Engine) -> Engine:
    """An engine that settles as `engine` would now, and that the original does not see:
    its sums copied, its ids seen copied, its file contexts its own."""
    acc = engine.acc
    clone = copy.copy(engine)
    clone.acc = Accumulated(
        read=acc.read,
        rated=acc.rated,
        rejects=list(acc.rejects),
        unmatched=list(acc.unmatched),
        routed=list(acc.routed),
        lines=copy.deepcopy(acc.lines),
        events={p: {c: list(es) for c, es in by.items()} for p, by in acc.events.items()},
    )
    clone.seen = dict(engine.seen)
    clone.contexts = {}
    clone.cumulative = dict(engine.cumulative)
    return clone


@dataclass(slots=True)
class _Job:
    records: list[dict[str, str | None]] | None
    future: concurrent.futures.Future[list[Verdict]]
    action: Callable[[], None] | None = None


class Service:
    def __init__(self, ledger: Ledger, contracts: Sequence[Path], fx: Path | None, customers: Path | None):
        self.ledger = ledger
        for path in contracts:
            intake.add_input(ledger, "contract", str(path), path.read_bytes().decode("utf-8"))
        if fx is not None:
            intake.add_input(ledger, "fx", str(fx), fx.read_bytes().decode("utf-8"))
        if customers is not None:
            intake.add_input(ledger, "customers", str(customers), customers.read_bytes().decode("utf-8"))
        files = materialise(ledger)
        self.contract_files = files["contract"]
        self.fx = files["fx"][-1] if files["fx"] else None
        self.customers_file = files["customers"][-1] if files["customers"] else None
        self.customers = read_customers(self.customers_file) if self.customers_file else None
        self.plans, self.warnings = clearline.load_plans(self.contract_files)
        refused = units_of_account_refused(self.plans)
        if refused:
            raise ClearlineError(refused)
        self.rater = Rater(self.plans, self.customers)
        self.closes = -1
        self.previews: dict[str, Preview] = {}
        self.preview_lock = threading.Lock()
        self.tmp = scratch_folder()
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.rebuild()
        self.checkpoints = _Checkpointer(ledger) if ledger.engine.dialect.name == "sqlite" else None
        self.thread = threading.Thread(target=self._writer, name="clearline-writer", daemon=True)
        self.thread.start()

    # -- state ------------------------------------------------------------------------
    def _closes_now(self) -> int:
        return len(self.ledger.closes())

    def rebuild(self) -> None:
        """The engines from the ledger's intake: every accepted record not closed, in order."""
        from clearline.ledger.resettle import too_late

        self.rater = Rater(self.plans, self.customers)
        self.closes = self._closes_now()
        pending = intake.pending(self.ledger)
        for start in range(0, len(pending), GROUP_LIMIT):
            chunk = pending[start : start + GROUP_LIMIT]
            records = [json.loads(item.line) for item in chunk]
            with self.ledger._transaction() as conn:
                refunds = self._refund_ledger(conn, records)
            verdicts = self.rater.rate_many(records, {}, refunds)
            for item, verdict in zip(chunk, verdicts, strict=True):
                if not verdict.accepted or verdict.period != item.period:  # a bug: say so, loudly
                    raise RuntimeError(f"intake record {item.seq} does not replay as accepted")
        # after the replay: a record accepted before its period fell out of the window stays
        # accepted (its period's close is then refused, E0711, as `simulate --ledger` is)
        if self.closes:
            for key, why in too_late(self.ledger, self.plans, "").items():
                self.rater.past_window.setdefault(key.partition(" ")[2], why)

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=10)
        if self.checkpoints is not None:
            self.checkpoints.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- writing ----------------------------------------------------------------------
    def submit(self, records: list[dict[str, str | None]]) -> concurrent.futures.Future[list[Verdict]]:
        job = _Job(records, concurrent.futures.Future())
        self.jobs.put(job)
        return job.future

    def run_in_writer(self, action: Callable[[], None]) -> concurrent.futures.Future[list[Verdict]]:
        """Run `action` on the writer thread, between two group commits."""
        job = _Job(None, concurrent.futures.Future(), action)
        self.jobs.put(job)
        return job.future

    def _writer(self) -> None:
        while True:
            first = self.jobs.get()
            if first is None:
                return
            group = [first]
            count = len(first.records or ())
            while count < GROUP_LIMIT and first.action is None:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.jobs.put(None)
                    break
                if more.action is not None:
                    self.jobs.put(more)  # after this group: order kept enough for a reload
                    break
                group.append(more)
                count += len(more.records or ())
            try:
                self._commit(group)
            except Exception as err:  # the ledger failed: nothing of the group was acknowledged
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(err)
                try:
                    self.rebuild()
                except Exception:  # the next group tries again
                    self.closes = -1

    def _refund_ledger(self, conn: Any, records: list[dict[str, str | None]]) -> RefundLedger | None:
        """The ledger's part in the refunds among `records`, in the caller's transaction."""
        targets = self.rater.refund_targets(records) if self.rater.refund_fields else set()
        if not targets or not self.closes:  # nothing closed: nothing settled, nothing refunded
            return None
        refunded = intake.refunded_in(conn, targets)
        return RefundLedger(
            frozenset(intake.settled_in(conn, targets)),
            {t: (s.record_id, s.period, s.document) for t, s in refunded.items()},
        )

    def _commit(self, group: list[_Job]) -> None:
        if group[0].action is not None:
            group[0].action()
            group[0].future.set_result([])
            return
        flat = [record for job in group for record in job.records or ()]
        ids = {str(r.get("record_id")) for r in flat if r.get("record_id")}
        rows: list[tuple[str, str, str]] = []
        # one transaction: what the ledger closed and settled, then the records it accepts
        for _ in range(3):
            fresh = True
            with self.ledger._transaction() as conn:
                if intake.closes_count(conn) != self.closes:  # a close took records
                    fresh = False
                else:
                    # no close yet: nothing settled (this transaction saw the count)
                    settled = intake.settled_in(conn, ids) if self.closes else {}
                    verdicts = self.rater.rate_many(flat, settled, self._refund_ledger(conn, flat))
                    for record, verdict in zip(flat, verdicts, strict=True):
                        if verdict.accepted:
                            rows.append((verdict.period, verdict.record_id, record_line(record)))
                    intake.insert(conn, rows)
            if fresh:
                break
            self.rebuild()  # the engines start afresh from the intake, outside the transaction
        else:
            raise RuntimeError("the ledger's closes keep changing; try again")
        # committed: only now are the records acknowledged
        answers: list[list[Verdict]] = []
        at = 0
        for job in group:
            answers.append(verdicts[at : at + len(job.records or ())])
            at += len(job.records or ())
        for job, verdicts in zip(group, answers, strict=True):
            job.future.set_result(verdicts)

    # -- contracts --------------------------------------------------------------------
    def load_contract(self, name: str, text: str, folder: Path) -> list[Diagnostic]:
        """Validate a contract or amendment with those in force; if it has no errors, save
        it, remember it in the ledger and rate with it from now on (on the writer
        thread: the engines are rebuilt over the accepted records). Returns the
        diagnostics (errors: nothing loaded)."""
        path = folder / Path(name).name
        sources = {str(path): SourceFile(str(path), text)}
        files = [p for p in self.contract_files if p != path] + [path]
        try:
            plans, warnings = clearline.load_plans(files, sources=sources)
        except ClearlineError as error:
            return error.diagnostics
        refused = units_of_account_refused(plans)
        if refused:
            return refused

        def apply() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            intake.add_input(self.ledger, "contract", str(path), text)
            self.contract_files, self.plans = files, plans
            self.rebuild()
            with self.preview_lock:
                self.previews.clear()

        self.run_in_writer(apply).result(timeout=600)
        return warnings

    # -- reading ----------------------------------------------------------------------
    def preview(self, period: str) -> Preview:
        """The period settled now over its accepted records (what a close would issue)."""
        with self.preview_lock:
            state = intake.state_of(self.ledger, period)
            found = self.previews.get(period)
            if found is not None and found.state == state:
                return found
            found = self.live(period) or self.from_file(period, state)
            self.previews[period] = found
            return found

    def from_file(self, period: str, state: tuple[int, int]) -> Preview:
        """The period settled as its close would settle it: a run over its intake file with
        the ledger's prior (its run folder read and removed)."""
        from clearline.ledger.resettle import prior_for

        taken = period_usage(self.ledger, self.plans, self.customers, period)
        folder = self.tmp / f"{period}-{state[0]}-{state[1]}"
        usage = folder.with_name(folder.name + ".jsonl")
        usage.write_text("".join(line + "\n" for line in taken.lines), encoding="utf-8")
        try:
            prior = without(prior_for(self.ledger, self.plans, [usage], period), taken.carried)
            result = clearline.run(
                self.plans,
                [usage],
                period,
                fx=self.fx,
                customers=self.customers_file,
                out=folder,
                prior=prior,
            )
            with (folder / "trace.jsonl").open(encoding="utf-8") as handle:
                traces = [json.loads(line) for line in handle]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            usage.unlink(missing_ok=True)
        return Preview(state, traces, result)

    def live(self, period: str) -> Preview | None:
        """The period settled from the rater's own engine, without rating its records again:
        a copy of the engine's sums (taken on the writer thread, between two commits, with
        the intake's state then), fed the lifecycle events of earlier periods, closed as
        `simulate` closes a run. None where only a run over the intake file with the
        ledger's prior says it as the close will: a closed period (adjustments), refunds
        (the ledger's checks at the close), tiers over the year (earlier periods' sums)."""
        if self.rater.refund_fields or any(
            tier.over for plan in self.plans for p in plan.products for tier in p.tiers
        ):
            return None
        if any(c.period == period for c in self.ledger.closes()):
            return None
        taken: list[tuple[Engine, tuple[int, int]]] = []

        def snapshot() -> None:
            engine = self.rater.engines.get(period)
            if engine is not None:
                taken.append((_copy_engine(engine), intake.state_of(self.ledger, period)))

        self.run_in_writer(snapshot).result(timeout=600)
        if not taken:
            return None
        engine, state = taken[0]
        carried = [
            json.loads(a.line) for a in carried_events(self.ledger, self.plans, self.customers, period)
        ]
        if carried:
            feed_records(engine, "earlier-periods.jsonl", carried)
        fx = read_fx(self.fx) if self.fx is not None else None
        if fx is not None and self.fx is not None:
            fx = dataclasses.replace(fx, name=self.fx.name)
        with localcontext(CONTEXT):
            result = finish(engine, fx)
        traces = [json.loads(json.dumps(t, ensure_ascii=False, sort_keys=True)) for t in result.traces]
        return Preview(state, traces, result)

    def periods(self) -> list[str]:
        """The periods with accepted records not closed yet."""
        return sorted({p.period for p in intake.pending(self.ledger)})

    def versions(self) -> list[dict[str, Any]]:
        return [
            {
                "contract_id": p.id,
                "version": p.version,
                "effective_from": p.effective_from,
                "effective_until": p.effective_until,
                "file": p.file,
                "sha256": ir.plan_hash(p),
            }
            for p in self.plans
        ]
