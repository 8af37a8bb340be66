"""The issue date a close gives its documents (`clearline close --issue-date`).

Revision ID: 0007

Closes written before it have "" (their documents were issued on the close's day, as
`closed_at` records); the close's hash covers the column only where it is set, so they
still verify.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("closes") as batch:
        batch.add_column(sa.Column("issue_date", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("closes") as batch:
        batch.drop_column("issue_date")
