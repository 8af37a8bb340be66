"""Alembic migrations of the ledger schema (run by `store.open_ledger`)."""
