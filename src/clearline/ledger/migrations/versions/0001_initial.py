"""The first ledger schema: closes with their hash chain, periods, numbering,
documents, lines, settled record ids and partial sums.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clearline_meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "closes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("run_path", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("plan_sha256", sa.Text, nullable=False),
        sa.Column("closed_at", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False, unique=True),
    )
    op.create_table(
        "periods",
        sa.Column("contract_id", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("contract_version", sa.Integer, nullable=False),
        sa.Column("contract_sha256", sa.Text, nullable=False),
        sa.Column("close_seq", sa.Integer, sa.ForeignKey("closes.seq"), nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "period"),
    )
    op.create_table(
        "numbering",
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("series", sa.Text, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("issuer", "series"),
    )
    op.create_table(
        "documents",
        sa.Column("number", sa.Text, primary_key=True),
        sa.Column("close_seq", sa.Integer, sa.ForeignKey("closes.seq"), nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("series", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("party", sa.Text, nullable=False),
        sa.Column("party_name", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("net", sa.Text, nullable=False),
        sa.Column("vat", sa.Text, nullable=False),
        sa.Column("gross", sa.Text, nullable=False),
        sa.Column("refers_to", sa.Text, nullable=False),
        sa.UniqueConstraint("issuer", "series", "seq"),
    )
    op.create_table(
        "lines",
        sa.Column("close_seq", sa.Integer, sa.ForeignKey("closes.seq"), nullable=False),
        sa.Column("line_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("party", sa.Text, nullable=False),
        sa.Column("contract_id", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("amount", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("document", sa.Text, sa.ForeignKey("documents.number"), nullable=True),
        sa.Column("adjusts", sa.Text, nullable=False),
        sa.Column("row", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("close_seq", "line_id"),
    )
    op.create_index("lines_by_period", "lines", ["contract_id", "period"])
    op.create_table(
        "records",
        sa.Column("record_id", sa.Text, primary_key=True),
        sa.Column("close_seq", sa.Integer, sa.ForeignKey("closes.seq"), nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "partials",
        sa.Column("close_seq", sa.Integer, sa.ForeignKey("closes.seq"), nullable=False),
        sa.Column("contract_id", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("close_seq", "key"),
    )
    op.create_index("partials_by_period", "partials", ["contract_id", "period"])


def downgrade() -> None:
    for table in ("partials", "records", "lines", "documents", "numbering", "periods", "closes"):
        op.drop_table(table)
    op.drop_table("clearline_meta")
