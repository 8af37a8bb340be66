"""The ledger's hash chain: each close records a digest of everything it wrote
and the hash of the close before it, so an edit of history is detected.

Input: the rows a close writes (dicts of column -> value), or an open
connection to walk. Output: `content_sha256`, `close_hash`, and `verify`'s
list of problems (empty when the chain and the numbering are intact).

>>> close_hash({"seq": 1, "run_id": "r", "run_path": "p", "period": "2026-03", "kind": "period",
...             "plan_sha256": "x", "closed_at": "t", "content_sha256": "c", "prev_hash": GENESIS})[:12]
'3be20d46fdde'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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

__all__ = ["GENESIS", "close_hash", "content_sha256", "verify"]

GENESIS = "0" * 64  # the hash before the first close

_HASHED = ("seq", "run_id", "run_path", "period", "kind", "plan_sha256", "closed_at", "content_sha256")


_LATER = {
    "close_contracts",
    "carried_adjustments",
}  # tables added by a later schema: hashed only when a close has rows


def _row_text(row: dict[str, Any]) -> str:
    if "record_id" in row:  # the many: a settled record's row, length-prefixed rather than JSON
        cells = [str(row["record_id"]), str(row["close_seq"]), row.get("period", ""), row.get("document", "")]
        if row.get("refunds"):  # set only since schema 0002
            cells.append(row["refunds"])
        return "".join(f"{len(c)}:{c}" for c in cells)
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def _rows_digest(digest: Any, name: str, rows: Iterable[dict[str, Any]]) -> None:
    # a column added by a later schema is hashed only when set: closes written before
    # it still verify (records.refunds, schema 0002)
    texts = sorted(map(_row_text, rows))
    if name in _LATER and not texts:
        return
    digest.update(f"{name}\n{len(texts)}\n".encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\n")


def content_sha256(
    documents: Iterable[dict[str, Any]],
    lines: Iterable[dict[str, Any]],
    records: Iterable[dict[str, Any]],
    partials: Iterable[dict[str, Any]],
    periods: Iterable[dict[str, Any]],
    contracts: Iterable[dict[str, Any]] = (),
    carried: Iterable[dict[str, Any]] = (),
) -> str:
    """The digest of a close's rows, whatever order they come in."""
    digest = hashlib.sha256()
    for name, rows in (
        ("documents", documents),
        ("lines", lines),
        ("records", records),
        ("partials", partials),
        ("periods", periods),
        ("close_contracts", contracts),
        ("carried_adjustments", carried),
    ):
        _rows_digest(digest, name, rows)
    return digest.hexdigest()


def close_hash(close: dict[str, Any]) -> str:
    """A close's hash: its own fields and the hash of the close before it."""
    fields = [close["prev_hash"], *(close[k] for k in _HASHED)]
    if close.get("issue_date"):  # schema 0007; hashed only when set, so earlier closes still verify
        fields.append(close["issue_date"])
    text = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _table_rows(conn: Connection, table: sa.Table, seq: int) -> list[dict[str, Any]]:
    query = sa.select(table).where(table.c.close_seq == seq)
    return [dict(row._mapping) for row in conn.execute(query)]


def verify(conn: Connection) -> list[str]:
    """Every close's rows against its digest, every hash against the next close's
    `prev_hash`, and every series numbered 1..n without a gap."""
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    for close in conn.execute(sa.select(CLOSES).order_by(CLOSES.c.seq)):
        row = dict(close._mapping)
        seq = row["seq"]
        if seq != expected_seq:
            problems.append(f"close {expected_seq} is missing (the next is {seq})")
        expected_seq = seq + 1
        if row["prev_hash"] != prev:
            problems.append(f"close {seq} does not follow the close before it (its prev_hash differs)")
        content = content_sha256(
            *(
                _table_rows(conn, t, seq)
                for t in (DOCUMENTS, LINES, RECORDS, PARTIALS, PERIODS, CLOSE_CONTRACTS, CARRIED)
            )
        )
        if content != row["content_sha256"]:
            problems.append(
                f"close {seq} ({row['period']}, run {row['run_path']}): its documents, lines, records, "
                "partial sums or carried adjustments were changed after it was written"
            )
        if close_hash(row) != row["hash"]:
            problems.append(
                f"close {seq} ({row['period']}): its own fields were changed after it was written"
            )
        prev = row["hash"]
    issued: dict[tuple[str, str], list[int]] = {}
    for issuer, series, number in conn.execute(
        sa.select(DOCUMENTS.c.issuer, DOCUMENTS.c.series, DOCUMENTS.c.seq)
    ):
        issued.setdefault((issuer, series), []).append(number)
    last = {(r.issuer, r.series): r.last_seq for r in conn.execute(sa.select(NUMBERING))}
    for key in sorted(set(issued) | set(last)):
        numbers = sorted(issued.get(key, []))
        if numbers != list(range(1, last.get(key, 0) + 1)):
            problems.append(
                f"the {key[1]} series of {key[0]} is not numbered 1..{last.get(key, 0)} without gaps"
            )
    return problems
