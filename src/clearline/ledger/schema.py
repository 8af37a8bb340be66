"""The ledger's tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Input: nothing. Output: `METADATA` and its tables, which the migrations in
`migrations/versions/` create and the store (`store.py`) reads and writes.
Money is exact decimal text (`Money`, a TEXT column), never a float: the
same digits in both back ends, summed in Python with `decimal.Decimal`.

- `clearline_meta`: what marks a database as a Clearline ledger.
- `closes`: one row per close, numbered 1, 2, ... without gaps, each with the
  hash of the close before it (the hash chain `verify` walks).
- `periods`: which close settled each contract's period.
- `close_contracts`: the contract versions each close settled under.
- `numbering`: the last number issued per issuer and series (locked by a close).
- `documents`, `lines`: what each close issued, lines referencing their document.
- `records`: every record id settled, with the close, period and document.
- `partials`: each closed line's exact partial sums, for re-settling a period.
- `carried_adjustments`: which later document a pending partner adjustment went on
  (its line stays as its close wrote it, with no document).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "CARRIED",
    "CLOSES",
    "CLOSE_CONTRACTS",
    "DOCUMENTS",
    "LINES",
    "META",
    "METADATA",
    "NUMBERING",
    "PARTIALS",
    "PERIODS",
    "RECORDS",
]

METADATA = MetaData()

META = Table(
    "clearline_meta",
    METADATA,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

CLOSES = Table(
    "closes",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("run_id", Text, nullable=False),  # SHA-256 of the run's manifest.json
    Column("run_path", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("kind", Text, nullable=False),  # "period", "adjustment", "rerate" or "issue"
    Column("plan_sha256", Text, nullable=False),
    Column("closed_at", Text, nullable=False),  # UTC, ISO 8601
    Column("content_sha256", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False, unique=True),
    # the documents' issue date, YYYY-MM-DD (`close --issue-date`); "": the day of closed_at (0007)
    Column("issue_date", Text, nullable=False, server_default=""),
)

PERIODS = Table(
    "periods",
    METADATA,
    Column("contract_id", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("contract_version", Integer, nullable=False),
    Column("contract_sha256", Text, nullable=False),
    Column("close_seq", Integer, ForeignKey("closes.seq"), nullable=False),
    PrimaryKeyConstraint("contract_id", "period"),
)

CLOSE_CONTRACTS = Table(
    "close_contracts",
    METADATA,
    Column("close_seq", Integer, ForeignKey("closes.seq"), nullable=False),
    Column("contract_id", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("contract_version", Integer, nullable=False),
    Column("contract_sha256", Text, nullable=False),
    PrimaryKeyConstraint("close_seq", "contract_id"),
)

NUMBERING = Table(
    "numbering",
    METADATA,
    Column("issuer", Text, nullable=False),
    Column("series", Text, nullable=False),
    Column("last_seq", Integer, nullable=False),
    PrimaryKeyConstraint("issuer", "series"),
)

DOCUMENTS = Table(
    "documents",
    METADATA,
    Column("number", Text, primary_key=True),
    Column("close_seq", Integer, ForeignKey("closes.seq"), nullable=False),
    Column("issuer", Text, nullable=False),
    Column("series", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", Text, nullable=False),  # invoice, self-billing, credit-note, supplementary
    Column("party", Text, nullable=False),
    Column("party_name", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("net", Text, nullable=False),
    Column("vat", Text, nullable=False),
    Column("gross", Text, nullable=False),
    Column("refers_to", Text, nullable=False),  # the corrected document's number, or ""
    UniqueConstraint("issuer", "series", "seq"),
)

LINES = Table(
    "lines",
    METADATA,
    Column("close_seq", Integer, ForeignKey("closes.seq"), nullable=False),
    Column("line_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("party", Text, nullable=False),
    Column("contract_id", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("amount", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("document", Text, ForeignKey("documents.number"), nullable=True),
    Column("adjusts", Text, nullable=False),  # the line id an adjustment corrects, or ""
    Column("row", Text, nullable=False),  # the line as the run folder wrote it (JSON)
    PrimaryKeyConstraint("close_seq", "line_id"),
    Index("lines_by_period", "contract_id", "period"),
)

RECORDS = Table(
    "records",
    METADATA,
    Column("record_id", Text, primary_key=True),
    Column("close_seq", Integer, ForeignKey("closes.seq"), nullable=False),
    Column("period", Text, nullable=False),
    Column("document", Text, nullable=False),
    Column("refunds", Text, nullable=False, server_default=""),  # the record it refunds, or ""
    Index("records_by_refunded", "refunds"),
)

PARTIALS = Table(
    "partials",
    METADATA,
    Column("close_seq", Integer, ForeignKey("closes.seq"), nullable=False),
    Column("contract_id", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("key", Text, nullable=False),  # the line key (JSON)
    Column("data", Text, nullable=False),  # the exact sums (JSON, decimals as text)
    PrimaryKeyConstraint("close_seq", "key"),
    Index("partials_by_period", "contract_id", "period"),
)

CARRIED = Table(
    "carried_adjustments",
    METADATA,
    Column("close_seq", Integer, ForeignKey("closes.seq"), nullable=False),  # the carrying close
    Column("from_seq", Integer, ForeignKey("closes.seq"), nullable=False),  # the close of the line
    Column("line_id", Text, nullable=False),
    Column("document", Text, ForeignKey("documents.number"), nullable=False),
    PrimaryKeyConstraint("from_seq", "line_id"),
    Index("carried_by_close", "close_seq"),
)
