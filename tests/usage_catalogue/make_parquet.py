"""Write the Parquet files of the bad-usage catalogue (tests/test_usage_catalogue.py).

    .venv/bin/python tests/usage_catalogue/make_parquet.py [FOLDER]

Writes into this folder by default. The tests regenerate the files into a
temporary folder and check that the committed ones hold the same tables, so
this script and the fixtures cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import sys
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")
COLUMNS = ["record_id", "timestamp", "customer_id", "service", "destination", "quantity", "unit"]
GOOD = ["CDR-0001", "2026-03-01T10:00:00+01:00", "C-1001", "voice-out", "4860123456", "61", "s"]
BAD = ["BAD-1", "2026-03-02T10:00:00+01:00", "C-1001", "voice-out", "4860123456", "61", "s"]


def text_table(*rows: list[str | None], columns: list[str] = COLUMNS) -> pa.Table:
    """Every column a string column, as a CSV file's cells."""
    return pa.table({name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(columns)})


def bad(**change: str | None) -> list[str | None]:
    return [change.get(name, value) for name, value in zip(COLUMNS, BAD, strict=True)]


def with_column(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, array)


def warsaw(*stamps: str) -> pa.Array:
    return pa.array([dt.datetime.fromisoformat(s) for s in stamps], pa.timestamp("s", tz="Europe/Warsaw"))


def tables() -> dict[str, pa.Table]:
    two = text_table(GOOD, BAD)
    return {
        "non_numeric_quantity.parquet": text_table(GOOD, bad(quantity="abc")),
        "empty_quantity.parquet": text_table(GOOD, bad(quantity=None)),
        "huge_exponent.parquet": text_table(GOOD, bad(quantity="1e999999")),
        "nan_quantity.parquet": with_column(two, "quantity", pa.array([61.0, float("nan")], pa.float64())),
        "negative_quantity.parquet": with_column(two, "quantity", pa.array([61, -5], pa.int64())),
        "decimal_quantity.parquet": with_column(
            two, "quantity", pa.array([Decimal("61.000"), Decimal("-5.000")], pa.decimal128(12, 3))
        ),
        # a timestamp column without a time zone: no record of it has a UTC offset
        "timestamp_without_zone.parquet": with_column(
            two,
            "timestamp",
            pa.array([dt.datetime(2026, 3, 1, 10), dt.datetime(2026, 3, 2, 10)], pa.timestamp("s")),
        ),
        "timestamp_without_offset.parquet": text_table(GOOD, bad(timestamp="2026-03-02T10:00:00")),
        "impossible_date.parquet": text_table(GOOD, bad(timestamp="2026-02-30T10:00:00+01:00")),
        "out_of_period.parquet": with_column(
            two, "timestamp", warsaw("2026-03-01T10:00:00+01:00", "2026-04-02T10:00:00+02:00")
        ),
        "unknown_product.parquet": text_table(GOOD, bad(service="sms-out", quantity="1")),
        "duplicate_id.parquet": text_table(GOOD, bad(record_id="CDR-0001")),
        "missing_column.parquet": text_table(GOOD).drop_columns(["destination"]),
        "extra_columns.parquet": text_table(GOOD)
        .append_column("cell_id", pa.array(["WAW-17"]))
        .append_column("imsi", pa.array([260011234567890], pa.int64()))
        .append_column("signal", pa.array([-71.5], pa.float32())),
        "reordered_columns.parquet": text_table(GOOD).select(list(reversed(COLUMNS))),
        "zero_rows.parquet": text_table(),
        "not_utf8.parquet": with_column(two, "unit", pa.array([b"s", b"s\xff"], pa.binary())),
    }


def broken(folder: Path) -> dict[str, bytes]:
    """Files that a Parquet reader refuses; `duplicate_id.parquet` must be written first."""
    whole = (folder / "duplicate_id.parquet").read_bytes()
    return {
        "empty_file.parquet": b"",
        "not_parquet.parquet": b"record_id,timestamp,customer_id,service,destination,quantity,unit\n",
        "truncated.parquet": whole[: len(whole) // 2],  # its footer is lost
    }


def write(folder: Path, announce: Callable[[Path], None] = lambda _: None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables().items():
        pq.write_table(table, folder / name)
        announce(folder / name)
    for name, data in broken(folder).items():
        (folder / name).write_bytes(data)
        announce(folder / name)


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE, print)
