"""Partner adjustments carried onto a later self-billing statement.

Revision ID: 0008

A re-settlement's close writes a partner's adjustment lines with no document
(pending); the next close of a later period of the same issuer puts them on the
partner's statement and records it here (or `clearline ledger URL issue-adjustments`
issues them on a statement of their own). The earlier close's rows are never
rewritten: its hash still verifies, and the carrying close hashes these rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carried_adjustments",
        sa.Column("close_seq", sa.Integer, sa.ForeignKey("closes.seq"), nullable=False),
        sa.Column("from_seq", sa.Integer, sa.ForeignKey("closes.seq"), nullable=False),
        sa.Column("line_id", sa.Text, nullable=False),
        sa.Column("document", sa.Text, sa.ForeignKey("documents.number"), nullable=False),
        sa.PrimaryKeyConstraint("from_seq", "line_id"),
    )
    op.create_index("carried_by_close", "carried_adjustments", ["close_seq"])


def downgrade() -> None:
    op.drop_index("carried_by_close", "carried_adjustments")
    op.drop_table("carried_adjustments")
