"""The ledger store: one small interface over SQLite and PostgreSQL (SQLAlchemy Core).

Input: an engine opened by `connect.open_ledger` and, to close, a `Close`
(built from a verified run folder by `closing.py`). Output: a `Ledger` that
closes a period in one explicit transaction, looks up settled record ids,
refunds and partial sums, tells the next document number, lists what was
issued, and verifies the hash chain.

Concurrency: a close takes the ledger's write lock first (SQLite:
`BEGIN IMMEDIATE` in WAL mode; PostgreSQL: `LOCK TABLE closes IN EXCLUSIVE
MODE`), so closes run one after another; the second of two closes of one
period finds it closed and is refused. A close that dies half-way (kill -9)
leaves nothing: its transaction was never committed.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from clearline import codes, numbering
from clearline.ledger import chain, issuing
from clearline.ledger.errors import LedgerError, first_line
from clearline.ledger.model import Carried, Close, ClosedPeriod, CloseOutcome, Pending, Settled
from clearline.ledger.schema import (
    CARRIED,
    CLOSE_CONTRACTS,
    CLOSES,
    DOCUMENTS,
    LINES,
    NUMBERING,
    PARTIALS,
    PERIODS,
    RECORDS,
)

__all__ = ["FAULT_PAUSE", "Ledger"]

_LOOKUP_CHUNK = 5000  # record ids per IN (...) query (SQLite takes 32,766 parameters)
# fault injection for the kill -9 test: pause inside a close's transaction (see tests/test_ledger_close.py)
FAULT_PAUSE = "CLEARLINE_LEDGER_PAUSE_IN_CLOSE"


class Ledger:
    """An open ledger. Use `open_ledger(url)`; close it with `dispose()` (or `with`)."""

    def __init__(self, engine: Engine, shown: str) -> None:
        self.engine = engine
        self.url = shown
        self.postgres = engine.dialect.name == "postgresql"

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.dispose()

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self, lock: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                if lock and self.postgres:
                    conn.execute(sa.text("LOCK TABLE closes IN EXCLUSIVE MODE"))
                yield conn
        except OperationalError as err:
            raise LedgerError(
                codes.LEDGER_UNREACHABLE,
                f"the ledger {self.url} cannot be used: {first_line(err)}",
                "check that the database is reachable and not locked for long by another process",
            ) from None

    # -- look-ups ---------------------------------------------------------------------
    def settled(self, record_ids: Iterable[str]) -> dict[str, Settled]:
        """The ids among `record_ids` that a close settled, with where."""
        ids = sorted(set(record_ids))
        found: dict[str, Settled] = {}
        query = sa.select(RECORDS.c.record_id, RECORDS.c.period, RECORDS.c.document, CLOSES.c.run_path).join(
            CLOSES, CLOSES.c.seq == RECORDS.c.close_seq
        )
        with self._transaction() as conn:
            for start in range(0, len(ids), _LOOKUP_CHUNK):
                chunk = ids[start : start + _LOOKUP_CHUNK]
                for rid, period, document, run_path in conn.execute(
                    query.where(RECORDS.c.record_id.in_(chunk))
                ):
                    found[rid] = Settled(rid, period, document, run_path)
        return found

    def refunded(self, record_ids: Iterable[str]) -> dict[str, Settled]:
        """The ids among `record_ids` that a settled refund refunds -> that refund."""
        ids = sorted(set(record_ids))
        found: dict[str, Settled] = {}
        query = sa.select(
            RECORDS.c.refunds, RECORDS.c.record_id, RECORDS.c.period, RECORDS.c.document, CLOSES.c.run_path
        ).join(CLOSES, CLOSES.c.seq == RECORDS.c.close_seq)
        with self._transaction() as conn:
            for start in range(0, len(ids), _LOOKUP_CHUNK):
                chunk = ids[start : start + _LOOKUP_CHUNK]
                for refunded, rid, period, document, run_path in conn.execute(
                    query.where(RECORDS.c.refunds.in_(chunk))
                ):
                    found[refunded] = Settled(rid, period, document, run_path)
        return found

    def closed_version(self, contract_id: str, period: str) -> int | None:
        """The newest version of the contract a close of the period settled under."""
        with self._transaction() as conn:
            return conn.execute(
                sa.select(sa.func.max(CLOSE_CONTRACTS.c.contract_version)).where(
                    CLOSE_CONTRACTS.c.contract_id == contract_id, CLOSE_CONTRACTS.c.period == period
                )
            ).scalar()

    def closed_period(self, contract_id: str, period: str) -> ClosedPeriod | None:
        query = (
            sa.select(PERIODS, CLOSES.c.run_id, CLOSES.c.run_path)
            .join(CLOSES, CLOSES.c.seq == PERIODS.c.close_seq)
            .where(PERIODS.c.contract_id == contract_id, PERIODS.c.period == period)
        )
        with self._transaction() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ClosedPeriod(
            row.contract_id,
            row.period,
            row.contract_version,
            row.contract_sha256,
            row.close_seq,
            row.run_id,
            row.run_path,
        )

    def partials(self, contract_id: str, period: str) -> list[tuple[str, str]]:
        """The exact partial sums of a closed period's lines: (line key, sums), JSON
        text, every close of the period (the first and its adjustments) in order; after a
        re-rating, from the re-rating on (it rated every record of the period again)."""
        with self._transaction() as conn:
            since = conn.execute(
                sa.select(sa.func.max(CLOSES.c.seq)).where(
                    CLOSES.c.period == period, CLOSES.c.kind.in_(("period", "rerate"))
                )
            ).scalar()
            query = (
                sa.select(PARTIALS.c.key, PARTIALS.c.data)
                .where(
                    PARTIALS.c.contract_id == contract_id,
                    PARTIALS.c.period == period,
                    PARTIALS.c.close_seq >= (since or 0),
                )
                .order_by(PARTIALS.c.close_seq, PARTIALS.c.key)
            )
            return [(k, d) for k, d in conn.execute(query)]

    def next_number(self, issuer: str, series: str) -> int:
        """The place in its series the next document of `issuer` would take (not reserved)."""
        query = sa.select(NUMBERING.c.last_seq).where(
            NUMBERING.c.issuer == issuer, NUMBERING.c.series == series
        )
        with self._transaction() as conn:
            last = conn.execute(query).scalar()
        return (last or 0) + 1

    def closes(self) -> list[sa.Row[Any]]:
        with self._transaction() as conn:
            return list(conn.execute(sa.select(CLOSES).order_by(CLOSES.c.seq)))

    def periods(self) -> list[sa.Row[Any]]:
        query = (
            sa.select(PERIODS, CLOSES.c.run_path)
            .join(CLOSES, CLOSES.c.seq == PERIODS.c.close_seq)
            .order_by(PERIODS.c.period, PERIODS.c.contract_id)
        )
        with self._transaction() as conn:
            return list(conn.execute(query))

    def lines(self, contract_id: str | None = None, period: str | None = None) -> list[sa.Row[Any]]:
        query = sa.select(LINES).order_by(LINES.c.close_seq, LINES.c.line_id)
        if contract_id is not None:
            query = query.where(LINES.c.contract_id == contract_id)
        if period is not None:
            query = query.where(LINES.c.period == period)
        with self._transaction() as conn:
            return list(conn.execute(query))

    def documents(self) -> list[sa.Row[Any]]:
        query = sa.select(DOCUMENTS).order_by(
            DOCUMENTS.c.close_seq, DOCUMENTS.c.issuer, DOCUMENTS.c.series, DOCUMENTS.c.seq
        )
        with self._transaction() as conn:
            return list(conn.execute(query))

    def document(self, number: str) -> tuple[sa.Row[Any], list[sa.Row[Any]]]:
        """A document and its lines, then the adjustments of earlier periods it carried;
        LedgerError if the ledger never issued it."""
        with self._transaction() as conn:
            doc = conn.execute(sa.select(DOCUMENTS).where(DOCUMENTS.c.number == number)).first()
            if doc is None:
                raise LedgerError(
                    codes.UNKNOWN_DOCUMENT,
                    f"the ledger {self.url} issued no document {number}",
                    "list them with `clearline ledger URL documents`",
                )
            lines = list(
                conn.execute(sa.select(LINES).where(LINES.c.document == number).order_by(LINES.c.line_id))
            )
            # pending adjustments of earlier periods this document carried
            lines += conn.execute(
                sa.select(LINES)
                .join(
                    CARRIED,
                    sa.and_(CARRIED.c.from_seq == LINES.c.close_seq, CARRIED.c.line_id == LINES.c.line_id),
                )
                .where(CARRIED.c.document == number)
                .order_by(LINES.c.period, LINES.c.line_id)
            )
        return doc, lines

    # -- closing ----------------------------------------------------------------------
    def close(self, close: Close, also: Callable[[Connection, int], None] | None = None) -> CloseOutcome:
        """Write a close in one transaction: numbers, documents, lines, record ids, partial
        sums, the periods it closes and the close itself, chained to the one before.
        `also(conn, seq)` writes more in the same transaction (the service's intake marks)."""
        with self._transaction(lock=True) as conn:
            return self._close(conn, close, also)

    def issue_pending(self, issue_date: str = "") -> CloseOutcome | None:
        """Issue every pending partner adjustment now, on self-billing adjustment statements
        of their own (one close); None when none is pending."""
        with self._transaction(lock=True) as conn:
            waiting = issuing.pending(conn)
            if not waiting:
                return None
            close, carried = issuing.standalone(waiting, issue_date)
            return self._close(conn, close, None, carried)

    def pending(self) -> list[Pending]:
        """The partner adjustments that wait for a statement (issuing.pending)."""
        with self._transaction() as conn:
            return issuing.pending(conn)

    def carried_on(self, numbers: Iterable[str]) -> list[tuple[str, str, Pending]]:
        """The adjustments of earlier periods the documents `numbers` carried (issuing.carried_on)."""
        with self._transaction() as conn:
            return issuing.carried_on(conn, numbers)

    def carried(self) -> list[sa.Row[Any]]:
        """Every pending adjustment a later document carried: close, line and document."""
        query = sa.select(CARRIED).order_by(CARRIED.c.close_seq, CARRIED.c.from_seq, CARRIED.c.line_id)
        with self._transaction() as conn:
            return list(conn.execute(query))

    def _close(
        self,
        conn: Connection,
        close: Close,
        also: Callable[[Connection, int], None] | None,
        carried: list[Carried] | None = None,
    ) -> CloseOutcome:
        for doc in close.documents:
            problem = numbering.problem(doc.number_format)
            if problem:
                raise LedgerError(
                    codes.INVALID_NUMBER_FORMAT,
                    f"document number format {doc.number_format!r} of {doc.issuer}: {problem}",
                )
        before = conn.execute(sa.select(CLOSES).where(CLOSES.c.run_id == close.run_id)).first()
        if before is not None:
            numbers = {
                r.number: r.number
                for r in conn.execute(sa.select(DOCUMENTS).where(DOCUMENTS.c.close_seq == before.seq))
            }
            return CloseOutcome(before.seq, before.hash, True, numbers)
        self._check_periods(conn, close)
        self._check_basis(conn, close)
        skip = self._check_records(conn, close)
        if close.kind == "period" and close.issuers:
            # the issuers' partners' adjustments of earlier periods go on their statements
            close, carried = issuing.carry(close, issuing.pending(conn, close.issuers, close.period))
        last = conn.execute(sa.select(CLOSES).order_by(CLOSES.c.seq.desc()).limit(1)).first()
        seq = (last.seq if last is not None else 0) + 1
        prev_hash = last.hash if last is not None else chain.GENESIS
        numbers, documents = issuing.number(conn, close, seq)
        carried_rows = issuing.carried_rows(carried or [], numbers, seq)

        def doc_of(key: str) -> str | None:
            return numbers[key] if key else None

        lines = [
            {
                "close_seq": seq,
                "line_id": ln.line_id,
                "kind": ln.kind,
                "party": ln.party,
                "contract_id": ln.contract_id,
                "period": ln.period,
                "amount": ln.amount,
                "currency": ln.currency,
                "document": doc_of(ln.document),
                "adjusts": ln.adjusts,
                "row": ln.row,
            }
            for ln in close.lines
        ]
        refunded = dict(close.refunds)
        records = [
            {
                "record_id": rid,
                "close_seq": seq,
                "period": close.period,
                "document": doc_of(key) or "",
                "refunds": refunded.get(rid, ""),
            }
            for rid, key in close.records
            if rid not in skip
        ]
        partials = [
            {"close_seq": seq, "contract_id": cid, "period": close.period, "key": key, "data": data}
            for cid, key, data in close.partials
        ]
        periods = [
            {
                "contract_id": cid,
                "period": close.period,
                "contract_version": version,
                "contract_sha256": sha,
                "close_seq": seq,
            }
            for cid, version, sha in close.contracts
        ]
        contracts = [
            {
                "close_seq": seq,
                "contract_id": cid,
                "period": close.period,
                "contract_version": version,
                "contract_sha256": sha,
            }
            for cid, version, sha in close.contracts
        ]
        if close.kind != "period":
            periods = []
        content = chain.content_sha256(documents, lines, records, partials, periods, contracts, carried_rows)
        row = {
            "seq": seq,
            "run_id": close.run_id,
            "run_path": close.run_path,
            "period": close.period,
            "kind": close.kind,
            "plan_sha256": close.plan_sha256,
            "closed_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "content_sha256": content,
            "prev_hash": prev_hash,
            "issue_date": close.issue_date,
        }
        row["hash"] = chain.close_hash(row)
        conn.execute(CLOSES.insert(), row)
        if periods:
            conn.execute(PERIODS.insert(), periods)
        if contracts:
            conn.execute(CLOSE_CONTRACTS.insert(), contracts)
        if documents:
            conn.execute(DOCUMENTS.insert(), documents)
        if lines:
            conn.execute(LINES.insert(), lines)
        _pause_if_asked()
        for start in range(0, len(records), 10_000):
            conn.execute(RECORDS.insert(), records[start : start + 10_000])
        if partials:
            conn.execute(PARTIALS.insert(), partials)
        if carried_rows:
            conn.execute(CARRIED.insert(), carried_rows)
        if also is not None:
            also(conn, seq)
        return CloseOutcome(seq, str(row["hash"]), False, numbers, close.documents, tuple(carried or ()))

    def _check_periods(self, conn: Connection, close: Close) -> None:
        for cid, version, sha in close.contracts:
            found = conn.execute(
                sa.select(PERIODS, CLOSES.c.run_path)
                .join(CLOSES, CLOSES.c.seq == PERIODS.c.close_seq)
                .where(PERIODS.c.contract_id == cid, PERIODS.c.period == close.period)
            ).first()
            if found is None:
                if close.kind != "period":
                    raise LedgerError(
                        codes.PERIOD_ALREADY_CLOSED,
                        f"the run adjusts {cid} {close.period}, which the ledger never closed",
                        "close the period's own run first",
                    )
                continue
            if found.contract_version == version and found.contract_sha256 != sha:
                raise LedgerError(
                    codes.CONTRACT_CHANGED_IN_PLACE,
                    f"contract {cid} version {version} was closed for {close.period} with another plan "
                    f"(sha256 {found.contract_sha256[:16]}..., this run's {sha[:16]}...)",
                    "restore the contract as closed; write the change as an amendment (a new version)",
                )
            if close.kind == "period":
                raise LedgerError(
                    codes.PERIOD_ALREADY_CLOSED,
                    f"{cid} {close.period} is already closed by the run {found.run_path} "
                    f"(close {found.close_seq})",
                    "issued documents are never replaced: settle new records with "
                    "`clearline simulate ... --ledger URL`, which re-settles the closed period into "
                    "adjustment lines, and close that run",
                )

    def _check_basis(self, conn: Connection, close: Close) -> None:
        if close.kind in {"period", "issue"}:
            return
        now = [
            (r.seq, r.hash)
            for r in conn.execute(
                sa.select(CLOSES.c.seq, CLOSES.c.hash)
                .where(CLOSES.c.period == close.period, CLOSES.c.kind != "issue")
                .order_by(CLOSES.c.seq)
            )
        ]
        if now != list(close.based_on):
            raise LedgerError(
                codes.PERIOD_ALREADY_CLOSED,
                f"{close.period} was closed again since this run settled it "
                f"(then {len(close.based_on)} close(s), now {len(now)})",
                "settle the late records again with `--ledger`, on the ledger as it is now",
            )

    def _check_records(self, conn: Connection, close: Close) -> set[str]:
        """Refuse records settled before; a re-rating's own period's records are not new
        (the ids to leave out)."""
        ids = sorted({rid for rid, _ in close.records})
        query = sa.select(RECORDS.c.record_id, RECORDS.c.period, RECORDS.c.document)
        again: set[str] = set()
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            for hit in conn.execute(query.where(RECORDS.c.record_id.in_(ids[start : start + _LOOKUP_CHUNK]))):
                if close.kind == "rerate" and hit.period == close.period:
                    again.add(hit.record_id)
                    continue
                raise LedgerError(
                    codes.RECORD_ALREADY_SETTLED,
                    f"record {hit.record_id} of this run is already settled in {hit.period}, "
                    f"document {hit.document}",
                    "settle the run again with `--ledger URL`, which rejects records already "
                    "settled, and close that run",
                )
        return again

    # -- verifying --------------------------------------------------------------------
    def verify(self) -> list[str]:
        """Walk the hash chain and the numbering; the problems found (none: intact)."""
        with self._transaction() as conn:
            return chain.verify(conn)


def _pause_if_asked() -> None:
    """Fault injection for the tests of concurrent and killed closes: with FAULT_PAUSE
    naming a file, the close writes its process id there, mid-transaction, and waits
    until the file is removed (or two minutes pass)."""
    marker = os.environ.get(FAULT_PAUSE)
    if marker:
        path = Path(marker)
        path.write_text(str(os.getpid()), encoding="utf-8")
        deadline = time.monotonic() + 120
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
