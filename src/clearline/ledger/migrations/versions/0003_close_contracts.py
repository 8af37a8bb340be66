"""The contract versions each close settled under (a re-rating's newer ones too).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "close_contracts",
        sa.Column("close_seq", sa.Integer, sa.ForeignKey("closes.seq"), nullable=False),
        sa.Column("contract_id", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("contract_version", sa.Integer, nullable=False),
        sa.Column("contract_sha256", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("close_seq", "contract_id"),
    )


def downgrade() -> None:
    op.drop_table("close_contracts")
