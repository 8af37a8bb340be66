"""The service's intake: records `clearline serve` accepted and has not closed yet,
the contracts and reference files it rated them with, and which intake records
each `clearline close --period` took.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_records",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index("intake_by_period", "intake_records", ["period", "seq"])
    op.create_table(
        "intake_inputs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table(
        "intake_closes",
        sa.Column("close_seq", sa.Integer, sa.ForeignKey("closes.seq"), primary_key=True),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("upto", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intake_closes")
    op.drop_table("intake_inputs")
    op.drop_index("intake_by_period", "intake_records")
    op.drop_table("intake_records")
