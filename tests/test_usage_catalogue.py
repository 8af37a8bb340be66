"""Bad usage data, one fixture file per case (tests/usage_catalogue/): every good
record is settled, every bad one is rejected with its line, field and a reason a
person understands (or held as unmatched), the counts reconcile, and nothing
crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clearline
from conftest import CONTRACTS, read_csv

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
    "not_utf8.csv": (1, [("", "3", "", "the line is not UTF-8 text")], []),
    "truncated_last_line.csv": (1, [("BAD-1", "3", "", "the line has 3 of 7 columns")], []),
    "truncated_last_line.jsonl": (1, [("", "2", "", "not valid JSON")], []),
    "not_an_object.jsonl": (1, [("", "2", "", "a JSON Lines record must be an object")], []),
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
