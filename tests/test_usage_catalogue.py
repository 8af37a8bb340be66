"""Bad usage data, one fixture file per case (tests/usage_catalogue/): every good
record is settled, every bad one is rejected with its line, field and a reason a
person understands (or held as unmatched), the counts reconcile, and nothing
crashes. In CSV, JSON Lines and Parquet (whose fixtures make_parquet.py writes;
a Parquet reject's `line` is its row number, from 1)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import zoneinfo
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.compiler import ir
from clearline.runtime.inputs import duplicates, parquet, readers
from clearline.runtime.inputs import usage as usage_files
from conftest import CONTRACTS, DATA, ROOT, read_csv, text_parquet

FIXTURES = Path(__file__).resolve().parent / "usage_catalogue"

# file: (rated, [(record id, line, field, reason prefix)], [unmatched ids])
CASES: dict[str, tuple[int, list[tuple[str, str, str, str]], list[str]]] = {
    "non_numeric_quantity.csv": (1, [("BAD-1", "3", "quantity", "`quantity`: 'abc' is not a number")], []),
    "non_numeric_quantity.jsonl": (1, [("BAD-1", "2", "quantity", "`quantity`: 'abc' is not a number")], []),
    "empty_quantity.csv": (
        1,
        [("BAD-1", "3", "quantity", "product voice reads `quantity`, which is empty")],
        [],
    ),
    "huge_exponent.csv": (
        1,
        [("BAD-1", "3", "quantity", "`quantity`: '1e999999' is outside the supported range")],
        [],
    ),
    "huge_exponent.jsonl": (
        0,
        [("CDR-0001", "1", "quantity", "`quantity`: '61e400' is outside the supported range")],
        [],
    ),
    "nan_quantity.csv": (1, [("BAD-1", "3", "quantity", "`quantity`: 'NaN' is not a finite number")], []),
    "nan_quantity.jsonl": (1, [("BAD-1", "2", "quantity", "`quantity`: 'NaN' is not a finite number")], []),
    "negative_quantity.csv": (1, [("BAD-1", "3", "quantity", "`quantity` is negative: -5")], []),
    "timestamp_without_offset.csv": (
        1,
        [("BAD-1", "3", "timestamp", "`timestamp` 2026-03-02T10:00:00 has no UTC offset")],
        [],
    ),
    "impossible_date.csv": (
        1,
        [("BAD-1", "3", "timestamp", "`timestamp` is not a date and time: '2026-02-30")],
        [],
    ),
    "out_of_period.csv": (1, [("BAD-1", "3", "timestamp", "outside the settled period 2026-03")], []),
    "unknown_product.csv": (1, [], ["BAD-1"]),
    "duplicate_id.csv": (1, [("CDR-0001", "3", "record_id", "duplicate record id: first read at ")], []),
    "missing_column.csv": (
        0,
        [("CDR-0001", "2", "destination", "rate table termination reads `destination`, which is empty")],
        [],
    ),
    "extra_columns.csv": (1, [], []),
    "reordered_header.csv": (1, [], []),
    "utf8_bom.csv": (1, [], []),
    "crlf.csv": (1, [], []),
    "empty_file.csv": (0, [], []),
    "header_only.csv": (0, [], []),
    "not_utf8.csv": (1, [("BAD-1", "3", "", "the line is not UTF-8 text")], []),
    "truncated_last_line.csv": (1, [("BAD-1", "3", "", "the line has 3 of 7 columns")], []),
    "truncated_last_line.jsonl": (1, [("BAD-1", "2", "", "not valid JSON")], []),
    "not_an_object.jsonl": (1, [("", "2", "", "a JSON Lines record must be an object")], []),
    # JSON Lines: the same cases, lines numbered from 1 (there is no header)
    "empty_quantity.jsonl": (
        1,
        [("BAD-1", "2", "quantity", "product voice reads `quantity`, which is empty")],
        [],
    ),
    "null_quantity.jsonl": (
        1,
        [("BAD-1", "2", "quantity", "product voice reads `quantity`, which is empty")],
        [],
    ),
    "negative_quantity.jsonl": (1, [("BAD-1", "2", "quantity", "`quantity` is negative: -5")], []),
    "timestamp_without_offset.jsonl": (
        1,
        [("BAD-1", "2", "timestamp", "`timestamp` 2026-03-02T10:00:00 has no UTC offset")],
        [],
    ),
    "impossible_date.jsonl": (
        1,
        [("BAD-1", "2", "timestamp", "`timestamp` is not a date and time: '2026-02-30")],
        [],
    ),
    "out_of_period.jsonl": (1, [("BAD-1", "2", "timestamp", "outside the settled period 2026-03")], []),
    "unknown_product.jsonl": (1, [], ["BAD-1"]),
    "duplicate_id.jsonl": (1, [("CDR-0001", "2", "record_id", "duplicate record id: first read at ")], []),
    "missing_column.jsonl": (
        0,
        [("CDR-0001", "1", "destination", "rate table termination reads `destination`, which is empty")],
        [],
    ),
    "extra_columns.jsonl": (1, [], []),
    "reordered_header.jsonl": (1, [], []),
    "utf8_bom.jsonl": (1, [], []),
    "crlf.jsonl": (1, [], []),
    "empty_file.jsonl": (0, [], []),
    "blank_lines_only.jsonl": (0, [], []),
    "not_utf8.jsonl": (1, [("BAD-1", "2", "", "the line is not UTF-8 text (byte 0xff at column 105)")], []),
    # Parquet: the same records as typed or text columns, rows numbered from 1
    "non_numeric_quantity.parquet": (
        1,
        [("BAD-1", "2", "quantity", "`quantity`: 'abc' is not a number")],
        [],
    ),
    "empty_quantity.parquet": (
        1,
        [("BAD-1", "2", "quantity", "product voice reads `quantity`, which is empty")],
        [],
    ),
    "huge_exponent.parquet": (
        1,
        [("BAD-1", "2", "quantity", "`quantity`: '1e999999' is outside the supported range")],
        [],
    ),
    "nan_quantity.parquet": (1, [("BAD-1", "2", "quantity", "`quantity`: 'nan' is not a finite number")], []),
    "negative_quantity.parquet": (1, [("BAD-1", "2", "quantity", "`quantity` is negative: -5")], []),
    "decimal_quantity.parquet": (1, [("BAD-1", "2", "quantity", "`quantity` is negative: -5.000")], []),
    "timestamp_without_zone.parquet": (
        0,
        [
            ("CDR-0001", "1", "timestamp", "`timestamp` 2026-03-01T10:00:00 has no UTC offset"),
            ("BAD-1", "2", "timestamp", "`timestamp` 2026-03-02T10:00:00 has no UTC offset"),
        ],
        [],
    ),
    "timestamp_without_offset.parquet": (
        1,
        [("BAD-1", "2", "timestamp", "`timestamp` 2026-03-02T10:00:00 has no UTC offset")],
        [],
    ),
    "impossible_date.parquet": (
        1,
        [("BAD-1", "2", "timestamp", "`timestamp` is not a date and time: '2026-02-30")],
        [],
    ),
    "out_of_period.parquet": (
        1,
        [("BAD-1", "2", "timestamp", "outside the settled period 2026-03 (2026-03-01T00:00:00+01:00 to ")],
        [],
    ),
    "unknown_product.parquet": (1, [], ["BAD-1"]),
    "duplicate_id.parquet": (
        1,
        [("CDR-0001", "2", "record_id", "duplicate record id: first read at ")],
        [],
    ),
    "missing_column.parquet": (
        0,
        [("CDR-0001", "1", "destination", "rate table termination reads `destination`, which is empty")],
        [],
    ),
    "extra_columns.parquet": (1, [], []),
    "reordered_columns.parquet": (1, [], []),
    "zero_rows.parquet": (0, [], []),
    "not_utf8.parquet": (
        1,
        [("BAD-1", "2", "unit", "the value of `unit` is not UTF-8 text (byte 0xff at position 2)")],
        [],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_usage_is_rejected_with_a_reason(name: str, tmp_path: Path) -> None:
    rated, rejects, unmatched = CASES[name]
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    out = tmp_path / "out"
    result = clearline.run(plans, [FIXTURES / name], "2026-03", out=out)
    got = [(r["record_id"], r["line"], r["field"], r["reason"]) for r in read_csv(out / "rejects.csv")]
    assert [(rid, line, field) for rid, line, field, _ in got] == [(r, ln, f) for r, ln, f, _ in rejects]
    for (*_, reason), (*_, prefix) in zip(got, rejects, strict=True):
        assert reason.startswith(prefix), reason
    assert [r["record_id"] for r in read_csv(out / "unmatched.csv")] == unmatched
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["rated"] == rated == result.rated
    assert counts["read"] == rated + len(rejects) + len(unmatched)
    assert counts["reconciled"] is True


def test_duplicates_across_files_name_where_the_first_was_read(tmp_path: Path) -> None:
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    out = tmp_path / "out"
    clearline.run(plans, [FIXTURES / "crlf.csv", FIXTURES / "utf8_bom.csv"], "2026-03", out=out)
    (reject,) = read_csv(out / "rejects.csv")
    assert reject["file"].endswith("utf8_bom.csv")
    assert reject["reason"].startswith("duplicate record id: first read at ")
    assert "crlf.csv:2" in reject["reason"]


def test_an_over_long_line_is_rejected_without_being_held(tmp_path: Path) -> None:
    header = "record_id,timestamp,customer_id,service,destination,quantity,unit\n"
    good = "CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\n"
    usage = tmp_path / "long.csv"
    with usage.open("w", encoding="utf-8") as handle:
        handle.write(header)
        handle.write("CDR-LONG,2026-03-01T10:00:00+01:00,C-1001,voice-out," + "9" * (3 << 20) + ",61,s\n")
        handle.write(good)
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    out = tmp_path / "out"
    clearline.run(plans, [usage], "2026-03", out=out)
    (reject,) = read_csv(out / "rejects.csv")
    assert (reject["line"], reject["reason"]) == ("2", "the line is longer than 1 MiB; it was skipped unread")
    assert [r["record_id"] for r in read_csv(out / "rated_records.csv")] == ["CDR-0001"]


_MEASURE = """
import os, subprocess, sys, time
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.monotonic() + 600  # a guard against a hang (reading it takes seconds)
while (waited := os.wait4(child.pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
    time.sleep(0.2)
if waited[0] == 0:
    child.kill()
    sys.exit(2)
print(os.waitstatus_to_exitcode(waited[1]), waited[2].ru_maxrss)
"""


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_one_gigabyte_line_is_rejected_in_bounded_memory(suffix: str, tmp_path: Path) -> None:
    """A sparse file (no disk used) with a 1 GiB line of NULs between two records'
    fields: the run rejects it and settles the next record, and its peak memory
    stays far below the line's size (measured in the child, with wait4)."""
    usage = tmp_path / f"huge{suffix}"
    good = "CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\n"
    head, start = "record_id,timestamp,customer_id,service,destination,quantity,unit\n", "CDR-HUGE,"
    if suffix == ".jsonl":
        good = (
            '{"record_id":"CDR-0001","timestamp":"2026-03-01T10:00:00+01:00","customer_id":"C-1001",'
            '"service":"voice-out","destination":"4860123456","quantity":61,"unit":"s"}\n'
        )
        head, start = "", '{"record_id":"CDR-HUGE","destination":"'
    with usage.open("wb") as handle:
        handle.write((head + start).encode())
        handle.seek(handle.tell() + (1 << 30))  # a hole: reads as a gigabyte of NULs
        handle.write(b'"}\n' if suffix == ".jsonl" else b",61,s\n")
        handle.write(good.encode())
    out = tmp_path / "out"
    command = [sys.executable, "-m", "clearline.cli", "simulate", str(CONTRACTS / "nordcarrier.contract")]
    # a small launcher starts the run and measures it: a child forked from this (large)
    # pytest process would count this process's memory in its own peak
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command, "-u", str(usage), "-p", "2026-03", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 2:
        pytest.fail("reading a 1 GiB line did not end within 10 minutes")
    status, maxrss = map(int, done.stdout.split())
    assert status == 3  # completed with rejects
    assert maxrss < 300 * 1024  # kilobytes: the line is 1,048,576 KiB
    (reject,) = read_csv(out / "rejects.csv")
    assert (reject["line"], reject["record_id"], reject["reason"]) == (
        "2" if suffix == ".csv" else "1",
        "CDR-HUGE",  # from the line's first bytes
        "the line is longer than 1 MiB; it was skipped unread",
    )
    assert [r["record_id"] for r in read_csv(out / "rated_records.csv")] == ["CDR-0001"]


def test_an_over_long_json_line_is_rejected_without_being_held(tmp_path: Path) -> None:
    good = '{"record_id":"CDR-0001","timestamp":"2026-03-01T10:00:00+01:00","customer_id":"C-1001",'
    good += '"service":"voice-out","destination":"4860123456","quantity":61,"unit":"s"}\n'
    usage = tmp_path / "long.jsonl"
    with usage.open("w", encoding="utf-8") as handle:
        handle.write('{"record_id":"CDR-LONG","destination":"' + "9" * (3 << 20) + '"}\n')
        handle.write(good)
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    out = tmp_path / "out"
    clearline.run(plans, [usage], "2026-03", out=out)
    (reject,) = read_csv(out / "rejects.csv")
    assert (reject["line"], reject["reason"]) == ("1", "the line is longer than 1 MiB; it was skipped unread")
    assert [r["record_id"] for r in read_csv(out / "rated_records.csv")] == ["CDR-0001"]


# --- Parquet ----------------------------------------------------------------------------

# file: the `value` of its reject, as the reader wrote the typed cell
PARQUET_VALUES = {
    "nan_quantity.parquet": "nan",
    "negative_quantity.parquet": "-5",
    "decimal_quantity.parquet": "-5.000",
    "out_of_period.parquet": "2026-04-02T10:00:00+02:00",
    "timestamp_without_zone.parquet": "2026-03-02T10:00:00",
}


def make_parquet() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_parquet", FIXTURES / "make_parquet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nordcarrier() -> list[ir.ContractPlan]:
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    return plans


@pytest.mark.parametrize("name", sorted(PARQUET_VALUES))
def test_a_typed_parquet_cell_is_rejected_with_its_text(name: str, tmp_path: Path) -> None:
    clearline.run(nordcarrier(), [FIXTURES / name], "2026-03", out=tmp_path)
    assert read_csv(tmp_path / "rejects.csv")[-1]["value"] == PARQUET_VALUES[name]


def test_the_parquet_fixtures_are_what_their_generator_writes(tmp_path: Path) -> None:
    generator = make_parquet()
    generator.write(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert sorted(p.name for p in FIXTURES.glob("*.parquet")) == written
    for name in generator.tables():
        committed, fresh = pq.read_table(FIXTURES / name), pq.read_table(tmp_path / name)
        assert committed.schema.equals(fresh.schema, check_metadata=True), name
        assert repr(committed.to_pylist()) == repr(fresh.to_pylist()), name  # NaN is not NaN
    for name in ("empty_file.parquet", "not_parquet.parquet"):
        assert (FIXTURES / name).read_bytes() == (tmp_path / name).read_bytes()
    whole = (FIXTURES / "duplicate_id.parquet").read_bytes()
    assert (FIXTURES / "truncated.parquet").read_bytes() == whole[: len(whole) // 2]


BROKEN = {
    "empty_file.parquet": "is empty: a Parquet file holds at least its schema",
    "not_parquet.parquet": "is not a Parquet file: it does not start and end with the bytes PAR1",
    "truncated.parquet": "is cut short: it starts as a Parquet file, but its footer is missing",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_file_that_is_not_parquet_is_an_input_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(clearline.ClearlineError) as caught:
        clearline.run(nordcarrier(), [FIXTURES / name], "2026-03", out=tmp_path / "out")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E0501"
    assert diagnostic.message == f"{FIXTURES / name} {BROKEN[name]}"
    assert diagnostic.hint
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_simulate_on_a_broken_parquet_file_prints_a_diagnostic(name: str, tmp_path: Path) -> None:
    args = ["simulate", str(CONTRACTS / "nordcarrier.contract"), "--usage", str(FIXTURES / name)]
    result = CliRunner().invoke(app, [*args, "--period", "2026-03", "--out", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert "error[E0501]" in result.output
    assert BROKEN[name].split(":")[0] in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_parquet_file_damaged_inside_stops_the_run_with_an_input_error(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / "duplicate_id.parquet").read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    data[4 : len(data) - footer] = b"\xff" * (len(data) - footer - 4)  # every page, not the footer
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(data))
    with pytest.raises(clearline.ClearlineError) as caught:
        clearline.run(nordcarrier(), [damaged], "2026-03")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E0501"
    assert diagnostic.message.startswith(f"{damaged}: the Parquet file cannot be read from row 1 on: ")


def write_parquet(path: Path, columns: dict[str, pa.Array], **options: int) -> Path:
    pq.write_table(pa.table(columns), path, **options)
    return path


@pytest.mark.parametrize(
    ("array", "shown"),
    [
        (pa.array([["voice"]], pa.list_(pa.string())), "list<element: string>"),
        (pa.array([{"a": 1}], pa.struct([("a", pa.int64())])), "struct<a: int64>"),
        (pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int64())), "map<string, int64 ('tags')>"),
        (pa.array([61], pa.duration("s")), "duration[s]"),
        (pa.array([dt.time(10)], pa.time32("s")), "time32[ms]"),  # Parquet has no seconds
    ],
)
def test_a_column_no_cell_can_hold_refuses_the_file(array: pa.Array, shown: str, tmp_path: Path) -> None:
    usage = write_parquet(tmp_path / "nested.parquet", {"record_id": pa.array(["CDR-1"]), "tags": array})
    with pytest.raises(clearline.ClearlineError) as caught:
        clearline.run(nordcarrier(), [usage], "2026-03")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.code, diagnostic.message) == (
        "E0501",
        f"{usage}: the column `tags` holds values of type {shown}, which a usage field cannot hold",
    )
    assert (
        diagnostic.hint == "write it as text, numbers, booleans, dates or timestamps, or leave the column out"
    )


def test_an_unknown_time_zone_refuses_the_file(tmp_path: Path) -> None:
    stamps = pa.array([0], pa.timestamp("s", tz="Mars/Olympus"))
    usage = write_parquet(tmp_path / "mars.parquet", {"timestamp": stamps})
    with pytest.raises(readers.InputError, match="time zone 'Mars/Olympus', which is not known"):
        usage_files.read_usage(usage)


def cells(path: Path, batch_size: int = readers.BATCH_SIZE) -> list[tuple[int, dict[str, str | None]]]:
    usage = usage_files.read_usage(path, batch_size)
    return [(n, dict(zip(usage.columns, row, strict=False))) for b in usage.batches for n, row in b]


def test_every_parquet_type_becomes_exact_text(tmp_path: Path) -> None:
    warsaw = zoneinfo.ZoneInfo("Europe/Warsaw")
    winter, summer = dt.datetime(2026, 3, 1, 10, tzinfo=warsaw), dt.datetime(2026, 7, 1, 10, tzinfo=warsaw)
    columns = {
        "text": pa.array(["zażółć", None], pa.string()),
        "large_text": pa.array(["a", ""], pa.large_string()),
        "binary": pa.array([b"s", None], pa.binary()),
        "category": pa.array(["s", "s"]).dictionary_encode(),
        "nothing": pa.array([None, None], pa.null()),
        "int8": pa.array([-128, 127], pa.int8()),
        "uint64": pa.array([0, 2**64 - 1], pa.uint64()),
        "flag": pa.array([True, False]),
        "decimal": pa.array([Decimal("0.0150"), Decimal("-12345678901234567890.1234")], pa.decimal128(30, 4)),
        "decimal256": pa.array([Decimal("1000"), None], pa.decimal256(40, 0)),
        "double": pa.array([0.1, 1e16], pa.float64()),
        "float": pa.array([0.1, 61.0], pa.float32()),
        "odd": pa.array([float("inf"), -0.0], pa.float64()),
        "day": pa.array([dt.date(2026, 3, 1), None], pa.date32()),
        "day64": pa.array([dt.date(2026, 3, 1), dt.date(1, 1, 1)], pa.date64()),
        "zoned": pa.array([winter, summer], pa.timestamp("s", tz="Europe/Warsaw")),
        "zoned_us": pa.array(
            [winter, winter + dt.timedelta(microseconds=5)], pa.timestamp("us", tz="Europe/Warsaw")
        ),
        "zoned_ms": pa.array(
            [winter + dt.timedelta(milliseconds=500), None], pa.timestamp("ms", tz="Europe/Warsaw")
        ),
        "utc": pa.array([winter, summer], pa.timestamp("ms", tz="UTC")),
        "india": pa.array([winter, summer], pa.timestamp("us", tz="+05:30")),
        "nanos": pa.array([1_772_355_600_000_000_001, None], pa.timestamp("ns", tz="Europe/Warsaw")),
        "naive": pa.array([dt.datetime(2026, 3, 1, 10), None], pa.timestamp("ms")),
    }
    usage = write_parquet(tmp_path / "types.parquet", columns)
    assert cells(usage) == [
        (
            1,
            {
                "text": "zażółć",
                "large_text": "a",
                "binary": "s",
                "category": "s",
                "nothing": None,
                "int8": "-128",
                "uint64": "0",
                "flag": "true",
                "decimal": "0.0150",
                "decimal256": "1000",
                "double": "0.1",
                "float": "0.1",
                "odd": "inf",
                "day": "2026-03-01",
                "day64": "2026-03-01",
                "zoned": "2026-03-01T10:00:00+01:00",
                "zoned_us": "2026-03-01T10:00:00+01:00",
                "zoned_ms": "2026-03-01T10:00:00.500+01:00",
                "utc": "2026-03-01T09:00:00+00:00",
                "india": "2026-03-01T14:30:00+05:30",
                "nanos": "2026-03-01T10:00:00.000000001+01:00",
                "naive": "2026-03-01T10:00:00",
            },
        ),
        (
            2,
            {
                "text": None,
                "large_text": "",
                "binary": None,
                "category": "s",
                "nothing": None,
                "int8": "127",
                "uint64": "18446744073709551615",
                "flag": "false",
                "decimal": "-12345678901234567890.1234",
                "decimal256": None,
                "double": "1e+16",
                "float": "61",
                "odd": "-0",
                "day": None,
                "day64": "0001-01-01",
                "zoned": "2026-07-01T10:00:00+02:00",
                "zoned_us": "2026-03-01T10:00:00.000005+01:00",
                "zoned_ms": None,
                "utc": "2026-07-01T08:00:00+00:00",
                "india": "2026-07-01T13:30:00+05:30",
                "nanos": None,
                "naive": None,
            },
        ),
    ]


def test_parquet_timestamps_take_the_offset_of_their_instant_across_a_dst_change(tmp_path: Path) -> None:
    # Warsaw moves from +01:00 to +02:00 at 2026-03-29T01:00:00Z
    instants = [
        dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 1, tzinfo=dt.UTC),
    ]
    usage = write_parquet(
        tmp_path / "dst.parquet", {"t": pa.array(instants, pa.timestamp("s", tz="Europe/Warsaw"))}
    )
    assert [row["t"] for _, row in cells(usage)] == ["2026-03-29T01:59:59+01:00", "2026-03-29T03:00:00+02:00"]


ZONES = [None, "Europe/Warsaw", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC", "-03:30"]


@settings(max_examples=300, deadline=None)
@given(
    digits=st.sampled_from([0, 3, 6, 9]),
    zone=st.sampled_from(ZONES),
    start=st.integers(-3_000_000_000, 4_000_000_000) | st.sampled_from([1_774_746_000, 1_792_890_000]),
    steps=st.lists(st.integers(-100_000, 100_000) | st.none(), min_size=1, max_size=20),
    fractions=st.integers(0, 10**9 - 1),
)
def test_timestamps_in_arrow_read_as_value_by_value(
    digits: int, zone: str | None, start: int, steps: list[int | None], fractions: int
) -> None:
    """The vectorised timestamp text is the reference text (around DST changes too)."""
    per = 10**digits
    counts = [None if s is None else (start + s) * per + fractions % per for s in steps]
    tz = None if zone is None else parquet._zone(Path("t.parquet"), "t", zone)
    fast = parquet._timestamp_texts(pa, "t", digits, tz, pa.array(counts, pa.int64()))
    assert fast == parquet._timestamp_cells("t", counts, digits, tz)


def test_a_parquet_value_that_cannot_be_text_rejects_its_row_with_its_record_id(tmp_path: Path) -> None:
    usage = write_parquet(
        tmp_path / "odd.parquet",
        {
            "record_id": pa.array(["\x00A", "B-1", "C-1"]),
            "timestamp": pa.array([0, 0, 10**18], pa.timestamp("ms", tz="UTC")),
            "unit": pa.array([b"s", b"\xc3", b"s"], pa.binary()),
        },
    )
    rows = [(n, row) for batch in usage_files.read_usage(usage).batches for n, row in batch]
    # the record id and the field at fault ride after the columns
    assert [(n, row[0], row[-2], row[-1]) for n, row in rows] == [
        (1, "\x00the value of `record_id` starts with a NUL character", "\x00A", "record_id"),
        (2, "\x00the value of `unit` is not UTF-8 text (byte 0xc3 at position 1)", "B-1", "unit"),
        (3, "\x00the value of `timestamp` is outside the years 1 to 9999", "C-1", "timestamp"),
    ]


def test_parquet_row_numbers_run_on_across_row_groups_and_batches(tmp_path: Path) -> None:
    ids = [f"CDR-{i:04d}" for i in range(1, 11)]
    ids[8] = "CDR-0002"  # row 9 repeats row 2
    quantities = ["61"] * 10
    quantities[6] = "abc"  # row 7
    source = {
        "record_id": pa.array(ids),
        "timestamp": pa.array(["2026-03-01T10:00:00+01:00"] * 10),
        "customer_id": pa.array(["C-1001"] * 10),
        "service": pa.array(["voice-out"] * 10),
        "destination": pa.array(["4860123456"] * 10),
        "quantity": pa.array(quantities),
        "unit": pa.array(["s"] * 10),
    }
    usage = write_parquet(tmp_path / "groups.parquet", source, row_group_size=3)
    assert pq.ParquetFile(usage).metadata.num_row_groups == 4
    outputs = []
    for batch_size in (1, 2, 4, 10_000):
        out = tmp_path / f"out-{batch_size}"
        clearline.run(nordcarrier(), [usage], "2026-03", out=out, batch_size=batch_size)
        rejects = [(r["line"], r["record_id"], r["reason"]) for r in read_csv(out / "rejects.csv")]
        assert rejects == [
            ("7", "CDR-0007", "`quantity`: 'abc' is not a number"),
            ("9", "CDR-0002", f"duplicate record id: first read at {usage}:2"),
        ]
        outputs.append({p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"})
    assert all(o == outputs[0] for o in outputs)


def test_scan_ids_of_parquet_are_the_ids_of_its_batches(tmp_path: Path) -> None:
    usage = write_parquet(
        tmp_path / "ids.parquet",
        {
            "record_id": pa.array([3, None, 1, 3], pa.int64()),
            "unit": pa.array(["s", "s", "s", "s"]),
        },
        row_group_size=2,
    )
    from_batches = [row[0] for _, row in cells(usage, 3) for row in [list(row.values())] if row[0]]
    scanned = [rid for chunk in duplicates.scan_ids(usage) or [] for rid in chunk]
    assert scanned == from_batches == ["3", "1", "3"]
    assert duplicates.count_lines(usage) == 5
    assert duplicates.duplicate_candidates([usage], exact_below=0) == {"3"}


def test_duplicates_across_csv_and_parquet_name_where_the_first_was_read(tmp_path: Path) -> None:
    parquet = FIXTURES / "reordered_columns.parquet"  # CDR-0001 in row 1
    for files, where, first in (
        ([FIXTURES / "crlf.csv", parquet], (str(parquet), "1"), f"{FIXTURES / 'crlf.csv'}:2"),
        ([parquet, FIXTURES / "utf8_bom.csv"], (str(FIXTURES / "utf8_bom.csv"), "2"), f"{parquet}:1"),
    ):
        out = tmp_path / files[0].suffix.lstrip(".")
        clearline.run(nordcarrier(), files, "2026-03", out=out)
        (reject,) = read_csv(out / "rejects.csv")
        assert (reject["file"], reject["line"]) == where
        assert reject["reason"] == f"duplicate record id: first read at {first}"


def test_reading_parquet_without_pyarrow_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("pyarrow", "pyarrow.compute", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(clearline.ClearlineError) as caught:
        clearline.run(nordcarrier(), [FIXTURES / "duplicate_id.parquet"], "2026-03")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E0501"
    assert diagnostic.message.startswith("reading Parquet needs pyarrow, which is not installed")
    assert diagnostic.hint == "pip install 'clearline[parquet]'"


def test_settling_csv_never_imports_pyarrow() -> None:
    script = (
        "import sys, clearline\n"
        f"plans, _ = clearline.load_plans([{str(CONTRACTS / 'nordcarrier.contract')!r}])\n"
        f"clearline.run(plans, [{str(DATA / 'nordcarrier-cdrs.csv')!r}], '2026-03')\n"
        "assert not any(m.startswith('pyarrow') for m in sys.modules), 'pyarrow was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)


def typed_parquet(source: Path, folder: Path) -> Path:
    """The NordCarrier CDRs with a zoned timestamp and an integer quantity column."""
    rows = read_csv(source)
    columns = {name: pa.array([r[name] for r in rows], pa.string()) for name in rows[0]}
    stamps = [dt.datetime.fromisoformat(r["timestamp"]) for r in rows]
    columns["timestamp"] = pa.array(stamps, pa.timestamp("s", tz="Europe/Warsaw"))
    columns["quantity"] = pa.array([int(r["quantity"]) for r in rows], pa.int64())
    target = folder / f"{source.stem}-typed.parquet"
    pq.write_table(pa.table(columns), target)
    return target


def run_files(folder: Path) -> dict[str, object]:
    """Every file of a run but the manifest (it hashes the inputs); in the lists of
    records, without the file name, and with the row number a Parquet file gives
    (a CSV line number less its header)."""
    files: dict[str, object] = {}
    for path in sorted(folder.iterdir()):
        if path.name == "manifest.json":
            continue
        if path.stem not in {"rejects", "unmatched", "routed"}:
            files[path.name] = path.read_bytes()
            continue
        if path.suffix == ".csv":
            records: list[dict[str, object]] = list(read_csv(path))
        else:
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        files[path.name] = [{k: v for k, v in r.items() if k != "file"} for r in records]
    return files


def shift_lines(files: dict[str, object]) -> dict[str, object]:
    shifted: dict[str, object] = {}
    for name, content in files.items():
        if isinstance(content, list):
            content = [{**r, "line": type(r["line"])(int(r["line"]) - 1)} for r in content]
        shifted[name] = content
    return shifted


def test_parquet_with_the_records_of_csv_settles_to_the_same_bytes(tmp_path: Path) -> None:
    plans, _ = clearline.load_plans(sorted(CONTRACTS.glob("*.contract")))
    names = [
        "streamplus-subscriptions.csv",
        "nordcarrier-cdrs.csv",
        "fleetiot-usage.csv",
        "dcb-purchases.csv",
    ]
    reference = {"fx": DATA / "fx-rates.csv", "customers": DATA / "customers.csv"}
    clearline.run(plans, [DATA / n for n in names], "2026-03", out=tmp_path / "csv", **reference)
    parquet = [text_parquet(DATA / n, tmp_path / f"{Path(n).stem}.parquet") for n in names]
    clearline.run(plans, parquet, "2026-03", out=tmp_path / "parquet", **reference)
    assert read_csv(tmp_path / "parquet" / "rejects.csv")  # the demo has rejects: their lines count
    assert run_files(tmp_path / "parquet") == shift_lines(run_files(tmp_path / "csv"))


def test_typed_parquet_columns_settle_to_the_same_bytes_as_csv(tmp_path: Path) -> None:
    source = DATA / "nordcarrier-cdrs.csv"
    clearline.run(nordcarrier(), [source], "2026-03", out=tmp_path / "csv")
    clearline.run(nordcarrier(), [typed_parquet(source, tmp_path)], "2026-03", out=tmp_path / "parquet")
    assert run_files(tmp_path / "parquet") == shift_lines(run_files(tmp_path / "csv"))


def test_parquet_in_workers_settles_to_the_same_bytes(tmp_path: Path) -> None:
    files = [
        FIXTURES / "duplicate_id.parquet",
        FIXTURES / "not_utf8.parquet",
        FIXTURES / "out_of_period.parquet",
    ]
    folders = []
    for workers in (1, 2):
        out = tmp_path / f"workers-{workers}"
        clearline.run(nordcarrier(), files, "2026-03", out=out, batch_size=1, workers=workers)
        folders.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert folders[0] == folders[1]
    assert len(read_csv(tmp_path / "workers-2" / "rejects.csv")) == 5  # 3 bad, CDR-0001 in 2 more files


def test_the_id_scan_skips_an_over_long_line_as_the_reader_does(tmp_path: Path) -> None:
    """The pre-scan once kept the unfinished line and added each chunk to it:
    a 1 GiB line took quadratic time and its whole size in memory."""
    usage = tmp_path / "long.csv"
    with usage.open("w", encoding="utf-8") as handle:
        handle.write("record_id,destination\nR-1,48\nR-LONG," + "9" * (3 << 20) + "\nR-2,48\n")
    scanned = [rid for chunk in duplicates.scan_ids(usage) or [] for rid in chunk]
    batches = usage_files.read_usage(usage).batches
    read = [row[0] for batch in batches for _, row in batch if row[0][:1] != "\x00"]
    assert scanned == read == ["R-1", "R-2"]


def test_a_string_column_holding_bytes_that_are_not_utf8_rejects_the_row(tmp_path: Path) -> None:
    """Found by mutating Parquet files (tests/test_robustness.py): Parquet's string type
    promises UTF-8, but a writer need not check; reading such a value raised
    UnicodeDecodeError out of the run (exit 70)."""
    raw = pa.array([b"voice-out", b"voice-\xc3(", b"voice-out"], pa.binary())
    service = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # unchecked
    usage = write_parquet(
        tmp_path / "usage.parquet",
        {
            "record_id": pa.array(["CDR-1", "BAD-1", "CDR-2"]),
            "timestamp": pa.array(["2026-03-01T10:00:00+01:00"] * 3),
            "customer_id": pa.array(["C-1001"] * 3),
            "service": service,
            "destination": pa.array(["4860123456"] * 3),
            "quantity": pa.array([61, 61, 61]),
            "unit": pa.array(["s"] * 3),
        },
    )
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    result = clearline.run(plans, [usage], "2026-03", out=tmp_path / "out")
    (reject,) = read_csv(tmp_path / "out" / "rejects.csv")
    assert (reject["line"], reject["record_id"], reject["field"]) == ("2", "BAD-1", "service")
    assert reject["reason"] == "the value of `service` is not UTF-8 text (byte 0xc3 at position 7)"
    assert result.rated == 2


def test_a_column_name_that_is_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    """Found by mutating Parquet files: pyarrow raised UnicodeDecodeError while
    opening a file whose schema names a column in bytes that are not UTF-8."""
    columns = {"record_id": pa.array(["CDR-1"]), "service": pa.array(["x"])}
    data = write_parquet(tmp_path / "good.parquet", columns).read_bytes()
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(data.replace(b"service", b"serv\xe9ce"))  # the names in the footer
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    with pytest.raises(clearline.ClearlineError) as caught:
        clearline.run(plans, [damaged], "2026-03")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E0501"
    assert diagnostic.message.startswith(f"{damaged}: the Parquet file cannot be read: ")
