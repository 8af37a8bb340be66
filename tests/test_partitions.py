"""Partitions (runtime.inputs.partitions): the parts of a usage file, read
apart, give exactly the rows and line numbers of the whole file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.runtime.inputs.partitions import Partition, plan_partitions, read_partition
from clearline.runtime.inputs.readers import UsageFile
from clearline.runtime.inputs.usage import read_usage
from conftest import text_parquet

HEADER = b"record_id,timestamp,customer_id,service,destination,quantity,unit\n"


def rows_of_whole(path: Path, batch_size: int = 3) -> list[tuple[int, list[str | None]]]:
    usage = read_usage(path, batch_size)
    return [pair for batch in usage.batches for pair in batch]


def rows_of_parts(parts: list[Partition], batch_size: int = 3) -> list[tuple[int, list[str | None]]]:
    return [pair for part in parts for batch in read_partition(part, batch_size).batches for pair in batch]


def test_a_quoted_line_break_is_never_cut(tmp_path: Path) -> None:
    """Lines 2-3 hold one record (a quoted service with a line break); with a target
    of 10 bytes the cut after line 2's first 10 bytes must wait for the end of that
    record, after line 3. So the parts start at lines 2, 4 and 5 (one record each)."""
    usage = tmp_path / "usage.csv"
    usage.write_bytes(
        HEADER
        + b'A,2026-03-02T10:00:00+01:00,C-1001,"voice\nout",4860123456,61,s\n'
        + b"B,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\n"
        + b"C,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\n"
    )
    parts = plan_partitions(usage, 10)
    assert [(p.kind, p.first, p.quotes) for p in parts] == [
        ("bytes", 2, True),
        ("bytes", 4, True),
        ("bytes", 5, True),
    ]
    assert parts[0].start == len(HEADER) and parts[-1].end == usage.stat().st_size
    rows = rows_of_parts(parts)
    assert [(n, r[0], r[3]) for n, r in rows] == [
        (3, "A", "voice\nout"),
        (4, "B", "voice-out"),
        (5, "C", "voice-out"),
    ]
    assert rows == rows_of_whole(usage)


def test_plain_parts_number_their_lines_as_the_whole_file(tmp_path: Path) -> None:
    """CRLF line ends and a blank line: 1,000 records of 63 bytes, parts of about 6,400
    bytes: ten parts (about 100 records each), the line numbers running on."""
    usage = tmp_path / "usage.csv"
    body = b"".join(
        b"R%05d,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\r\n" % i for i in range(1000)
    )
    usage.write_bytes(HEADER.replace(b"\n", b"\r\n") + body[:640] + b"\r\n" + body[640:])
    parts = plan_partitions(usage, 6400)
    assert 9 <= len(parts) <= 11
    assert all(p.kind == "bytes" and not p.quotes for p in parts)
    assert [p.start for p in parts[1:]] == [p.end for p in parts[:-1]]
    assert rows_of_parts(parts) == rows_of_whole(usage)
    assert rows_of_whole(usage)[-1][0] == 1002  # 1,000 records, the header and a blank line


def test_a_lone_carriage_return_keeps_the_file_whole(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_bytes(HEADER + b"A,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860,61,s\r" * 50)
    assert [p.kind for p in plan_partitions(usage, 100)] == ["whole"]


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 20])
def test_one_pass_finds_quotes_and_lone_carriage_returns_across_blocks(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planner reads a CSV file once for its cuts, whether it has quotes and whether
    a carriage return stands alone; read in blocks of `chunk` bytes, a CRLF split
    between two blocks is a line end, a CR last in the file stands alone, and a quote
    in the last record (or only in the header) makes the file quoted."""
    from clearline.runtime.inputs import partitions

    monkeypatch.setattr(partitions, "_PLAIN_CHUNK", chunk)
    line = b"A,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860,61,s"
    usage = tmp_path / "usage.csv"
    usage.write_bytes(HEADER + (line + b"\r\n") * 20)
    parts = plan_partitions(usage, 100)
    assert len(parts) > 1 and not any(p.quotes for p in parts)
    assert rows_of_parts(parts) == rows_of_whole(usage)
    usage.write_bytes(HEADER + (line + b"\r\n") * 20 + line + b"\r")
    assert [p.kind for p in plan_partitions(usage, 100)] == ["whole"]
    usage.write_bytes(HEADER + (line + b"\n") * 20 + line.replace(b"A,", b'"A",') + b"\n")
    parts = plan_partitions(usage, 100)
    assert len(parts) > 1 and all(p.quotes for p in parts)
    assert rows_of_parts(parts) == rows_of_whole(usage)
    usage.write_bytes(HEADER.replace(b"unit", b'"unit"') + (line + b"\n") * 20)
    assert all(p.quotes for p in plan_partitions(usage, 100))


def test_small_files_and_json_lines_are_one_part(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_bytes(HEADER + b"A,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860,61,s\n")
    lines = tmp_path / "usage.jsonl"
    lines.write_text('{"record_id": "A"}\n' * 100, encoding="utf-8")
    assert plan_partitions(small) == [Partition(str(small), 0, "whole")]
    assert plan_partitions(lines, 10) == [Partition(str(lines), 0, "whole")]


def test_parquet_parts_are_row_groups_numbered_as_the_whole_file(tmp_path: Path) -> None:
    """1,000 rows in row groups of 100: every group is larger than a 1-byte target, so
    ten parts; the rows of the fourth part are rows 301 to 400."""
    pytest.importorskip("pyarrow.parquet", reason="pyarrow is in the `parquet` and `dev` extras")
    import pyarrow.parquet as pq

    csv_file = tmp_path / "usage.csv"
    csv_file.write_bytes(
        HEADER
        + b"".join(b"R%04d,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860,61,s\n" % i for i in range(1000))
    )
    table = pq.read_table(text_parquet(csv_file, tmp_path / "whole.parquet"))
    usage = tmp_path / "usage.parquet"
    pq.write_table(table, usage, row_group_size=100)
    parts = plan_partitions(usage, 1)
    assert [(p.kind, p.start, p.end) for p in parts] == [("row groups", g, g + 1) for g in range(10)]
    fourth = rows_of_parts(parts[3:4])
    assert (fourth[0][0], fourth[-1][0], fourth[0][1][0]) == (301, 400, "R0300")
    assert rows_of_parts(parts) == rows_of_whole(usage)


def test_a_partition_is_plain_data() -> None:
    """What a Dask worker receives: JSON, and back."""
    part = Partition("/data/usage.csv", 3, "bytes", 1024, 2048, 17, True)
    assert Partition.from_dict(json.loads(json.dumps(part.as_dict()))) == part


pieces = st.sampled_from(
    [
        b"A,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\n",
        b"B,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\r\n",
        b'C,2026-03-02T10:00:00+01:00,C-1001,"voice\nout",4860123456,61,s\n',
        b'D,2026-03-02T10:00:00+01:00,C-1001,"a ""b""",4860,61,s\n',
        b"E,2026-03-02T10:00:00+01:00,C-1001,voice-out,48\xff,61,s\n",  # not UTF-8
        b"F,2026-03-02,C-1001\n",  # cut short
        b"\n",
        b'G,x,"open\n',  # a quote left open: the rest of the file is one field
        b'H,2026-03-02T10:00:00+01:00,C-1001,in"side,4860,61,s\n',  # a quote inside a cell
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(pieces, max_size=25).map(b"".join), target=st.integers(1, 300), batch=st.integers(1, 5))
def test_parts_read_as_the_whole_file(body: bytes, target: int, batch: int, tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_bytes(HEADER + body)
    try:
        whole = rows_of_whole(usage, batch)
    except Exception as err:  # an error reading on: the parts must stop with the same
        with pytest.raises(type(err)):
            rows_of_parts(plan_partitions(usage, target), batch)
        return
    assert rows_of_parts(plan_partitions(usage, target), batch) == whole


# --- the id pre-scan of CRLF files (runtime.inputs.duplicates) ------------------------------

id_lines = st.lists(
    st.tuples(st.sampled_from(["R1", "R2", "R3", ""]), st.sampled_from(["\n", "\r\n", "\r\n", "\r"])),
    max_size=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=id_lines, chunk=st.integers(1, 40), last=st.booleans())
def test_the_id_scan_of_crlf_files_gives_the_ids_of_the_batches(
    lines: list[tuple[str, str]],
    chunk: int,
    last: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks of 1 to 40 characters, so a CRLF falls between two: the scan gives the
    ids the reader's rows carry, and only a lone carriage return sends it to csv.reader."""
    from clearline.runtime.inputs import duplicates

    monkeypatch.setattr(duplicates, "_PLAIN_CHUNK", chunk)
    usage = tmp_path / "usage.csv"
    head = "quantity,record_id" if last else "record_id,quantity"
    body = "".join((f"6,{rid}" if last else f"{rid},6") + end for rid, end in lines)
    usage.write_bytes((head + "\r\n" + body).encode())
    index = 1 if last else 0
    read = [r[index] for _, r in rows_of_whole(usage) if r[0] and r[0][0] != "\x00" and r[index]]
    assert [rid for ids in duplicates.scan_ids(usage) or [] for rid in ids] == read
    if "\r" not in body.replace("\r\n", ""):  # CRLF only: the split path, no csv.reader
        assert [rid for ids in duplicates._plain_csv_ids(usage) for rid in ids] == read


# --- JSON Lines parts ----------------------------------------------------------------------

json_pieces = st.sampled_from(
    [
        b'{"record_id": "A", "quantity": 61, "unit": "s"}\n',
        b'{"unit": "s", "record_id": "B", "destination": "4860"}\r\n',  # keys in another order
        b'{"record_id": "C", "extra": {"nested": [1, 2]}}\n',
        b'{"record_id": "D", "quantity": 6\n',  # cut short: not JSON
        b'{"record_id": "E\xff"}\n',  # not UTF-8
        b"\n",
        b"[1, 2]\n",  # not an object
    ]
)


def named(pairs: list[tuple[int, list[str | None]]], columns: list[str]) -> list[tuple[int, object]]:
    """Rows by column name (a part finds the keys in its own order), markers as they are."""
    out: list[tuple[int, object]] = []
    for number, row in pairs:
        if row and row[0] and row[0].startswith("\x00"):
            out.append((number, (row[0], row[-2], row[-1])))
        else:
            out.append((number, sorted((c, v) for c, v in zip(columns, row, strict=False) if v is not None)))
    return out


def named_rows(usage: UsageFile) -> list[tuple[int, object]]:
    return [pair for batch in usage.batches for pair in named(list(batch), usage.columns)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.lists(json_pieces, max_size=25).map(b"".join), target=st.integers(1, 300), batch=st.integers(1, 5)
)
def test_json_lines_parts_read_as_the_whole_file(
    body: bytes, target: int, batch: int, tmp_path: Path
) -> None:
    """Every record's cells by name and every reject row, on the same line numbers."""
    usage = tmp_path / "usage.jsonl"
    usage.write_bytes(b"\xef\xbb\xbf" + body)  # a byte order mark, read only at the file's start
    parts = plan_partitions(usage, target, json_lines=True)
    if len(body) + 3 > target:
        assert all(p.kind == "bytes" for p in parts)
    whole = named_rows(read_usage(usage, batch))
    assert [pair for part in parts for pair in named_rows(read_partition(part, batch))] == whole
