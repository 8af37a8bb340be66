"""Opening a ledger: a URL -> an engine on SQLite (WAL mode) or PostgreSQL, its schema
checked and migrated.

Input: a ledger URL (`sqlite:///path`, a bare file path, or `postgresql://...`).
Output: a `store.Ledger`. A file that is not SQLite, a database holding other
tables, a schema newer than this Clearline's migrations, or a server that
cannot be reached is a `LedgerError`; nothing is written to such a database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from clearline import codes
from clearline.ledger.errors import LedgerError, first_line
from clearline.ledger.schema import META
from clearline.ledger.store import Ledger

__all__ = ["MIGRATIONS", "PRODUCT", "open_ledger"]

PRODUCT = "clearline-ledger"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SQLITE_HEADER = b"SQLite format 3\x00"


def _url(text: str) -> sa.URL:
    """A ledger URL: `sqlite:///path`, a bare path (SQLite), `postgresql://...`."""
    if "://" not in text:
        text = f"sqlite:///{text}"
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError:
        raise LedgerError(
            codes.LEDGER_UNREACHABLE,
            f"{text!r} is not a ledger URL",
            "write sqlite:///PATH, a file path, or postgresql://USER@HOST:PORT/DATABASE",
        ) from None
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        return url.set(drivername="sqlite+pysqlite")
    raise LedgerError(
        codes.LEDGER_UNREACHABLE,
        f"{url.drivername}:// is not a database the ledger runs on",
        "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE",
    )


def _shown(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True).replace("+psycopg", "").replace("+pysqlite", "")


def _sqlite_engine(url: sa.URL) -> Engine:
    path = url.database or ""
    if path and path != ":memory:":
        file = Path(path)
        if file.is_dir():
            raise LedgerError(codes.NOT_A_LEDGER, f"{path} is a folder, not a ledger file")
        if file.exists() and file.stat().st_size > 0:
            with file.open("rb") as handle:
                if handle.read(16) != _SQLITE_HEADER:
                    raise LedgerError(
                        codes.NOT_A_LEDGER,
                        f"{path} is not a Clearline ledger (not a SQLite database)",
                        "name the ledger's own file, or a new file to start a ledger in",
                    )
        file.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # the driver's own transactions off: we say BEGIN
        cursor = dbapi.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # every transaction takes the write lock at its start: a close never upgrades a
        # read lock mid-way (which SQLite refuses as busy), and two closes queue
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def open_ledger(url: str) -> Ledger:
    """Open (or start) the ledger at `url`, migrating its schema to this version's.

    Raises LedgerError: not a Clearline ledger (a foreign file or database),
    a schema newer than this Clearline knows, or a database that cannot be
    reached.
    """
    parsed = _url(url)
    shown = _shown(parsed)
    if parsed.drivername.startswith("sqlite"):
        engine = _sqlite_engine(parsed)
    else:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    ledger = Ledger(engine, shown)
    try:
        _prepare(ledger)
    except LedgerError:
        engine.dispose()
        raise
    except (OperationalError, DBAPIError) as err:
        engine.dispose()
        if "file is not a database" in str(err) or "malformed" in str(err):
            raise LedgerError(
                codes.NOT_A_LEDGER, f"{shown} is not a Clearline ledger: {first_line(err)}"
            ) from None
        raise LedgerError(
            codes.LEDGER_UNREACHABLE,
            f"cannot open the ledger {shown}: {first_line(err)}",
            "check the URL, that the server runs and accepts the user, or the file's permissions",
        ) from None
    return ledger


def _prepare(ledger: Ledger) -> None:
    """Check that the database is a ledger (or empty) and bring its schema to head."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    heads = set(script.get_heads())
    with ledger.engine.begin() as conn:
        if ledger.postgres:  # two first opens at once: one creates the schema
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(727274)"))
        tables = set(sa.inspect(conn).get_table_names())
        if tables and META.name not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise LedgerError(
                codes.NOT_A_LEDGER,
                f"{ledger.url} is not a Clearline ledger: it holds other tables ({shown})",
                "name the ledger's own database, or a new (empty) one to start a ledger in",
            )
        current = set(MigrationContext.configure(conn).get_current_heads())
        known = {rev.revision for rev in script.walk_revisions()}
        if current - known:
            raise LedgerError(
                codes.LEDGER_TOO_NEW,
                f"the ledger {ledger.url} has schema {', '.join(sorted(current))}, newer than this "
                f"Clearline knows (up to {', '.join(sorted(heads))})",
                "upgrade Clearline to the version that wrote the ledger",
            )
        if META.name in tables:
            product = conn.execute(sa.select(META.c.value).where(META.c.key == "product")).scalar()
            if product != PRODUCT:
                raise LedgerError(codes.NOT_A_LEDGER, f"{ledger.url} is not a Clearline ledger")
        if current != heads:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            from alembic import command

            command.upgrade(config, "head")
            if not tables:
                conn.execute(META.insert(), [{"key": "product", "value": PRODUCT}])
