"""Shared fixtures: the bundled example contracts and a settled March 2026."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import clearline

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
DATA = CONTRACTS / "data"
PERIOD = "2026-03"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def text_parquet(source: Path, target: Path, row_group_size: int | None = None) -> Path:
    """A usage CSV file as Parquet, every column text: the same cells (needs pyarrow)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    with source.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    table = pa.table({h: pa.array([r[i] for r in rows], pa.string()) for i, h in enumerate(header)})
    pq.write_table(table, target, row_group_size=row_group_size)
    return target


@pytest.fixture(scope="session")
def march_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """StreamPlus and NordCarrier settled for March 2026 into a run folder."""
    out = tmp_path_factory.mktemp("march")
    plans, _ = clearline.load_plans([CONTRACTS / "streamplus.contract", CONTRACTS / "nordcarrier.contract"])
    clearline.run(
        plans,
        [DATA / "streamplus-subscriptions.csv", DATA / "nordcarrier-cdrs.csv"],
        PERIOD,
        fx=DATA / "fx-rates.csv",
        customers=DATA / "customers.csv",
        out=out,
    )
    return out


# the ledger's back ends (tests/ledger_support.py): a SQLite file and a PostgreSQL database
from ledger_support import ledger_url, pg_database  # noqa: E402, F401
