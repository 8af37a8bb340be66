"""The service's intake in the ledger: what `clearline serve` accepted, not yet closed.

Input: an open `Ledger` and records the service rated (each its period, record
id and the JSON Lines text it is settled from), or the contracts and reference
files the service rates with. Output: the intake in arrival order, and the
marks (`intake_closes`) that tell which records a `clearline close --period`
took, written in the close's own transaction, so that a record is closed
exactly once. The tables come from migration 0004 (additive: the closing
tables of 0001 are untouched).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Column, ForeignKey, Index, Integer, Table, Text
from sqlalchemy.engine import Connection

from clearline.ledger.model import Settled
from clearline.ledger.schema import CLOSES, METADATA, RECORDS
from clearline.ledger.store import Ledger

__all__ = [
    "INPUTS",
    "INTAKE",
    "INTAKE_CLOSES",
    "Accepted",
    "Input",
    "accept",
    "add_input",
    "earlier",
    "inputs",
    "pending",
    "refunded_in",
    "state_of",
]

INTAKE = Table(
    "intake_records",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("period", Text, nullable=False),
    Column("record_id", Text, nullable=False),
    Column("line", Text, nullable=False),  # the record as one JSON Lines line (no newline)
    Index("intake_by_period", "period", "seq"),
)

INPUTS = Table(
    "intake_inputs",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),  # contract, fx, customers
    Column("path", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("text", Text, nullable=False),
)

INTAKE_CLOSES = Table(
    "intake_closes",
    METADATA,
    Column("close_seq", Integer, ForeignKey("closes.seq"), primary_key=True),
    Column("period", Text, nullable=False),
    Column("upto", Integer, nullable=False),  # the last intake seq the close took
)


@dataclass(frozen=True, slots=True)
class Accepted:
    seq: int
    period: str
    record_id: str
    line: str


@dataclass(frozen=True, slots=True)
class Input:
    kind: str
    path: str
    sha256: str
    text: str


def accept(ledger: Ledger, rows: Sequence[tuple[str, str, str]]) -> None:
    """Commit records (period, record id, JSON line) in one transaction, in order."""
    if not rows:
        return
    with ledger._transaction() as conn:
        insert(conn, rows)


def insert(conn: Connection, rows: Sequence[tuple[str, str, str]]) -> None:
    """Add records (period, record id, JSON line), in order, in the caller's transaction."""
    if rows:
        conn.execute(INTAKE.insert(), [{"period": p, "record_id": r, "line": t} for p, r, t in rows])


def closes_count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(CLOSES)).scalar() or 0)


def settled_in(conn: Connection, record_ids: Iterable[str]) -> dict[str, str]:
    """Record id -> where a close settled it (`Settled.describe`), in the caller's transaction."""
    ids = sorted(set(record_ids))
    found: dict[str, str] = {}
    query = sa.select(RECORDS.c.record_id, RECORDS.c.period, RECORDS.c.document, CLOSES.c.run_path).join(
        CLOSES, CLOSES.c.seq == RECORDS.c.close_seq
    )
    for start in range(0, len(ids), 500):
        for rid, period, document, run_path in conn.execute(
            query.where(RECORDS.c.record_id.in_(ids[start : start + 500]))
        ):
            found[rid] = Settled(rid, period, document, run_path).describe()
    return found


def refunded_in(conn: Connection, record_ids: Iterable[str]) -> dict[str, Settled]:
    """Refunded record id -> the settled refund that refunds it (`Ledger.refunded` in the
    caller's transaction)."""
    ids = sorted(set(record_ids))
    found: dict[str, Settled] = {}
    query = sa.select(
        RECORDS.c.refunds, RECORDS.c.record_id, RECORDS.c.period, RECORDS.c.document, CLOSES.c.run_path
    ).join(CLOSES, CLOSES.c.seq == RECORDS.c.close_seq)
    for start in range(0, len(ids), 500):
        for refunded, rid, period, document, run_path in conn.execute(
            query.where(RECORDS.c.refunds.in_(ids[start : start + 500]))
        ):
            found[refunded] = Settled(rid, period, document, run_path)
    return found


def _closed_upto(conn: Connection) -> dict[str, int]:
    query = sa.select(INTAKE_CLOSES.c.period, sa.func.max(INTAKE_CLOSES.c.upto)).group_by(
        INTAKE_CLOSES.c.period
    )
    return {p: int(u) for p, u in conn.execute(query)}


def pending(ledger: Ledger, period: str | None = None) -> list[Accepted]:
    """The accepted records no close took yet, in arrival order (of one period, or all)."""
    with ledger._transaction() as conn:
        upto = _closed_upto(conn)
        query = sa.select(INTAKE).order_by(INTAKE.c.seq)
        if period is not None:
            query = query.where(INTAKE.c.period == period, INTAKE.c.seq > upto.get(period, 0))
        rows = list(conn.execute(query))
    return [Accepted(r.seq, r.period, r.record_id, r.line) for r in rows if r.seq > upto.get(r.period, 0)]


def earlier(ledger: Ledger, period: str) -> list[Accepted]:
    """Every accepted record of the periods before `period` (closed or not), in arrival
    order: where a period's close finds the lifecycle events of subscriptions still open."""
    with ledger._transaction() as conn:
        rows = list(conn.execute(sa.select(INTAKE).where(INTAKE.c.period < period).order_by(INTAKE.c.seq)))
    return [Accepted(r.seq, r.period, r.record_id, r.line) for r in rows]


def state_of(ledger: Ledger, period: str) -> tuple[int, int]:
    """What a period's settlement over the intake depends on, cheaply: the last seq of the
    records of it and of the periods before it (whose subscription events it reads), and
    the number of closes. Equal states: the same settlement."""
    with ledger._transaction() as conn:
        last = conn.execute(sa.select(sa.func.max(INTAKE.c.seq)).where(INTAKE.c.period <= period)).scalar()
        return int(last or 0), closes_count(conn)


def mark_closed(conn: Connection, close_seq: int, period: str, upto: int) -> None:
    conn.execute(INTAKE_CLOSES.insert(), {"close_seq": close_seq, "period": period, "upto": upto})


def add_input(ledger: Ledger, kind: str, path: str, text: str) -> None:
    """Remember a contract or reference file the service rates with (once per content)."""
    sha = hashlib.sha256(text.encode()).hexdigest()
    with ledger._transaction() as conn:
        found = conn.execute(
            sa.select(INPUTS.c.seq).where(
                INPUTS.c.kind == kind, INPUTS.c.path == path, INPUTS.c.sha256 == sha
            )
        ).first()
        if found is None:
            conn.execute(INPUTS.insert(), {"kind": kind, "path": path, "sha256": sha, "text": text})


def inputs(ledger: Ledger) -> list[Input]:
    """The inputs the service rated with, the latest content of each path, in the order
    first loaded."""
    with ledger._transaction() as conn:
        rows = list(conn.execute(sa.select(INPUTS).order_by(INPUTS.c.seq)))
    latest: dict[tuple[str, str], Input] = {}
    for r in rows:
        latest.pop((r.kind, r.path), None)
        latest[(r.kind, r.path)] = Input(r.kind, r.path, r.sha256, r.text)
    return list(latest.values())
