"""Refunds: each settled record may name the record it refunds.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("refunds", sa.Text, nullable=False, server_default=""))
    op.create_index("records_by_refunded", "records", ["refunds"])


def downgrade() -> None:
    op.drop_index("records_by_refunded", "records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("refunds")
