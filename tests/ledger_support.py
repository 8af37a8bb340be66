"""Fixtures for the ledger tests: a ledger URL on each back end, and small runs.

`ledger_url` is parametrised: a SQLite file in the test's folder, and a
PostgreSQL database on 127.0.0.1:5432 (user postgres, trust auth) that this
test session creates and drops; each test starts on an empty schema. Where
no server answers, the PostgreSQL cases skip saying so.
"""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import clearline

PG_SERVER = os.environ.get("CLEARLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432")

# graduated shares: 60% of the period's net up to 30,000.00, 70% above (the example)
SHARE_CONTRACT = """\
contract RS-2026 "Revenue share" {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in PLN, time zone Europe/Warsaw

  operator telcopl "TelcoPL S.A." currency PLN  country PL  language pl
  partner  studio  "Studio Sp. z o.o." currency PLN  country PL  language pl

  usage fields {
    service text
    amount  decimal
  }

  tiers studio_share graduated {
    from 0.00 PLN      to 30000.00 PLN  at 60%
    from 30000.00 PLN                   at 70%
  }

  product sales "Sales" {
    matches service = "sale"
    clause "1 Price" {
      charge customer the value of amount in PLN
      round each line half up to 0.01
    }
    clause "2 Share" {
      pay studio tiers studio_share of net
      round each line half up to 0.01
    }
  }
}
"""

HEADER = "record_id,timestamp,customer_id,service,amount\n"


def sales(prefix: str, month: str, amounts: list[str], customers: int = 2) -> str:
    """Usage rows `prefix-1`, ... in `month` (YYYY-MM), one per amount, customers C1, C2, ..."""
    rows = [
        f"{prefix}-{i},{month}-{(i % 27) + 1:02d}T10:00:00+01:00,C{(i % customers) + 1},sale,{amount}"
        for i, amount in enumerate(amounts, start=1)
    ]
    return HEADER + "".join(f"{r}\n" for r in rows)


def settle_share(folder: Path, name: str, month: str, usage: dict[str, str], **options: object) -> Path:
    """Write the share contract and usage files into `folder`, settle `month`, return the run."""
    contract = folder / "share.contract"
    if not contract.exists():
        contract.write_text(SHARE_CONTRACT, encoding="utf-8")
    files = []
    for file, text in usage.items():
        path = folder / file
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        files.append(path)
    plans, _ = clearline.load_plans([contract])
    out = folder / name
    clearline.run(plans, files, month, out=out, **options)  # type: ignore[arg-type]
    return out


def _pg_admin() -> object | None:
    try:
        import psycopg

        return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3)
    except Exception:  # no driver, no server: the PostgreSQL cases skip
        return None


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A database of this test session on the PostgreSQL server, dropped at its end."""
    admin = _pg_admin()
    if admin is None:
        yield None
        return
    name = f"clearline_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


def _empty_schema(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path, pg_database: str | None) -> str:
    """An empty ledger's URL, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    if pg_database is None:
        pytest.skip(f"no PostgreSQL server answers at {PG_SERVER} (user postgres): start one to run these")
    _empty_schema(pg_database)
    return pg_database
