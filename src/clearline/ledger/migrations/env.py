"""Alembic's environment for the ledger: migrations run on the connection the
store passes in `config.attributes["connection"]` (never from a URL in a file)."""

from __future__ import annotations

from alembic import context

from clearline.ledger.schema import METADATA


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "config", None) is not None:  # run by Alembic, not imported (doctests)
    run_migrations()
