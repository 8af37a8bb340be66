"""Closing a period from the service's intake (`clearline close --period P`).

Input: an open `Ledger` whose intake holds records `clearline serve` accepted,
a period, and a run folder to write. Output: the `ClosedRun`. The accepted
records of the period not closed yet are written, in arrival order, to a
JSON Lines file beside the run folder; the period is settled over that file
exactly as `simulate --ledger` settles it (a closed period's late records
into adjustments), with the contracts and reference files the service rated
with; the run is verified and closed, and the intake records it took are
marked in the close's own transaction -- each is closed exactly once.
"""

from __future__ import annotations

from pathlib import Path

import clearline
from clearline import codes
from clearline.ledger import intake
from clearline.ledger.closing import ClosedRun, build_close, refuse_unidentified_reverse_charge
from clearline.ledger.errors import LedgerError
from clearline.ledger.resettle import prior_for
from clearline.ledger.store import Ledger
from clearline.service.core import materialise, period_usage, without

__all__ = ["close_period", "intake_usage"]


def intake_usage(run: Path) -> Path:
    """The usage file a period's close settles: beside its run folder."""
    return run.with_name(run.name + ".usage.jsonl")


def close_period(ledger: Ledger, period: str, run: Path | None = None, issue_date: str = "") -> ClosedRun:
    import dataclasses

    from sqlalchemy.engine import Connection

    from clearline.runtime.inputs.refdata import read_customers
    from clearline.verify import verify_run

    pending = intake.pending(ledger, period)
    files = materialise(ledger)
    if not files["contract"]:
        raise LedgerError(
            codes.LEDGER_UNREACHABLE,
            f"the ledger {ledger.url} holds no records of `clearline serve`",
            "close a run folder instead: `clearline close RUN --ledger URL`",
        )
    closed_before = [c for c in ledger.closes() if c.period == period]
    if closed_before and not pending:
        raise LedgerError(
            codes.PERIOD_ALREADY_CLOSED,
            f"{period} is closed and the service accepted no record for it since",
            "nothing to close",
        )
    plans, _ = clearline.load_plans(files["contract"])
    fx = files["fx"][-1] if files["fx"] else None
    customers = files["customers"][-1] if files["customers"] else None
    taken = period_usage(ledger, plans, read_customers(customers) if customers else None, period)
    upto = taken.upto
    folder = run or Path("out") / f"{period}-intake-{upto}"
    usage = intake_usage(folder)
    usage.parent.mkdir(parents=True, exist_ok=True)
    usage.write_text("".join(line + "\n" for line in taken.lines), encoding="utf-8")
    prior = without(prior_for(ledger, plans, [usage], period), taken.carried)
    clearline.run(plans, [usage], period, fx=fx, customers=customers, out=folder, prior=prior)
    verification = verify_run(folder)
    if not verification.ok or verification.settlement is None:
        problems = [*verification.changed_inputs, *verification.differing_outputs]
        raise LedgerError(codes.RUN_NOT_VERIFIED, f"{folder} does not verify: {'; '.join(problems)}")
    refuse_unidentified_reverse_charge(folder, verification.settlement)
    close = dataclasses.replace(build_close(folder, verification.settlement), issue_date=issue_date)
    if taken.carried:  # an earlier period's close settles (or settled) its own events
        close = dataclasses.replace(
            close, records=tuple(r for r in close.records if r[0] not in taken.carried)
        )

    def mark(conn: Connection, seq: int) -> None:
        if pending:
            intake.mark_closed(conn, seq, period, upto)

    return ClosedRun(ledger.close(close, also=mark), close)
