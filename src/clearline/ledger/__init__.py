"""The settlement ledger: closed periods, legal document numbers, settled record
ids and the exact partial sums that re-settle a closed period.

Stage: after the runtime (a verified run folder) and before the documents.
Input: a ledger URL and run folders. Output: the store (`store.Ledger`,
opened by `open_ledger`), which `closing.close_run` writes a run into in one
transaction. SQLite (embedded, WAL mode) and PostgreSQL are two back ends of
one schema through SQLAlchemy Core; the schema changes only by the Alembic
migrations in `migrations/`. Needs the `ledger` extra
(`pip install 'clearline[ledger]'`).
"""

from __future__ import annotations

from clearline.ledger import intake
from clearline.ledger.connect import open_ledger
from clearline.ledger.errors import LedgerError
from clearline.ledger.model import Close, CloseOutcome, Settled
from clearline.ledger.store import Ledger

__all__ = ["Close", "CloseOutcome", "Ledger", "LedgerError", "Settled", "intake", "open_ledger"]
