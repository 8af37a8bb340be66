"""Readers: usage files (CSV, JSON Lines, Parquet) -> batches of raw rows, and
the reference data (FX rates, customers).

Usage rows stay text here; the engine converts the fields a product reads
with the declared types, so a bad value becomes a reject naming the field.
JSON numbers are kept as their text (never float).

Parquet columns become the same text, exactly: integers and decimals their
digits ("61", "0.0150"), booleans "true"/"false", dates "2026-03-01",
timestamps with a time zone ISO 8601 with that zone's UTC offset at the
instant ("2026-03-01T10:00:00+01:00"; fractional seconds only when there
are any), timestamps without one the same text without an offset (which the
engine rejects, as it rejects such CSV text). Arrow writes a float, never a
Python float: the shortest text that reads back as the same float of its
width ("0.1" for a float64 or a float32 0.1; "61" for 61.0), the number the
writer meant when it was one (an amount of money belongs in a decimal
column); NaN and infinities become "nan" and "inf", which the engine
rejects as not finite. A value that cannot be text (binary that is not
UTF-8, a date past 9999) makes its row a reject; a column of lists,
structs, maps or durations refuses the whole file, since no record could be
read whole. A Parquet file has no header line: a reject's `line` is the row
number, from 1. pyarrow (the `parquet` extra) is imported only when a
Parquet file is read, and the file is read a batch at a time.

`scan_ids` reads only the record ids of a usage file, exactly as the batches
give them, and `duplicate_candidates` finds from them the few ids the engine
must remember to reject every duplicate: memory for duplicates stays small.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from operator import lt
from pathlib import Path
from typing import IO, Any, cast

from clearline.money import parse_decimal

__all__ = [
    "BATCH_SIZE",
    "Batch",
    "Customer",
    "FxTable",
    "InputError",
    "UsageFile",
    "count_lines",
    "duplicate_candidates",
    "fewer_collections",
    "read_customers",
    "read_fx",
    "read_usage",
    "scan_ids",
]

BATCH_SIZE = 10_000

Row = list[str | None]


class InputError(Exception):
    """An input file that cannot be read at all (not a per-record problem)."""

    def __init__(self, path: Path | str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.path = str(path)
        self.message = message
        self.hint = hint


@dataclass(slots=True)
class Batch:
    """Rows of a usage file and, side by side, the line number of each (of its
    last line, as csv.reader counts: a quoted field may span lines; for
    Parquet, the row number from 1)."""

    numbers: Sequence[int]  # a range when every row is one line
    rows: list[Row]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        return zip(self.numbers, self.rows, strict=True)

    def __getitem__(self, part: slice) -> Batch:
        return Batch(self.numbers[part], self.rows[part])


@dataclass(slots=True)
class UsageFile:
    path: Path
    columns: list[str]
    batches: Iterator[Batch]


def read_usage(path: Path, batch_size: int = BATCH_SIZE) -> UsageFile:
    """Open a usage file by its extension: .csv, .jsonl/.ndjson, .parquet/.parq."""
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return _read_jsonl(path, batch_size)
    if suffix == ".csv":
        return _read_csv(path, batch_size)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, batch_size)
    raise InputError(
        path,
        f"cannot read usage from a `{suffix or 'extensionless'}` file",
        "give a .csv, .jsonl or .parquet file",
    )


MAX_LINE = 1 << 20  # a usage line longer than this is rejected, never read whole
# A field may be as long as a line may (the csv module's own limit is 128 KiB).
csv.field_size_limit(max(csv.field_size_limit(), 4 * MAX_LINE))
_LINE_ENDS = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def marker(reason: str, width: int, record_id: str = "") -> Row:
    """A row that stands for an unreadable line: the engine rejects it with `reason`.

    Padded to the file's width so that every column lookup finds a cell; the
    record id, when the line showed one, rides after the last column.
    """
    return [f"\x00{reason}", *([""] * (width - 1)), record_id]


def _lines(raw: IO[bytes]) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text or None, reason) for each line, decoded one at a time.

    A line that is not UTF-8 or is longer than MAX_LINE comes out as None with
    the reason, so one bad line costs one reject, not the file; an over-long
    line is skipped in chunks and never held in memory.
    """
    number = 0
    while True:
        data = raw.readline(MAX_LINE + 1)
        if not data:
            return
        number += 1
        if len(data) > MAX_LINE and not data.endswith(b"\n"):
            while data and not data.endswith(b"\n"):
                data = raw.readline(MAX_LINE)
            yield number, None, "the line is longer than 1 MiB; it was skipped unread"
            continue
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            bad = f"byte 0x{data[err.start]:02x} at column {err.start + 1}"
            yield number, None, f"the line is not UTF-8 text ({bad})"
            continue
        if "\r" in text.removesuffix("\n").removesuffix("\r"):
            # a lone carriage return ends a line too (old Mac files), as in universal newlines
            pieces = _LINE_ENDS.findall(text)
            for piece in pieces[:-1]:
                yield number, piece, ""
                number += 1
            text = pieces[-1]
        yield number, text, ""


def _read_csv(path: Path, batch_size: int) -> UsageFile:
    try:
        raw = path.open("rb")
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err.strerror or err}") from None
    lines = _lines(raw)
    first = next(lines, None)
    if first is None:
        raw.close()
        return UsageFile(path, [], iter(()))
    if first[1] is None:
        raw.close()
        raise InputError(
            path, f"{path}:1: the header cannot be read: {first[2]}", "the file must be UTF-8 CSV"
        )
    try:  # the header is one line: a quoted field it leaves open would swallow the next ones
        list(csv.reader([first[1]], strict=True))
        header_open = False
    except csv.Error:
        header_open = True
    if header_open or first[1].count('"') % 2:
        raw.close()
        raise InputError(
            path,
            f"{path}:1: the header has a quote that is never closed",
            "the first line names the columns: record_id,timestamp,customer_id,...",
        )
    columns = [h.strip() for h in next(csv.reader([first[1]]), [])]
    width = len(columns)
    i_id = columns.index(ID_COLUMN) if ID_COLUMN in columns else None
    # without a quote no row spans lines: each line is one row
    one_line_rows = not _has_quotes(path)

    def rows_of(chunk: list[tuple[int, str | None, str]]) -> Batch:
        """The rows of a file without quotes: each line is one row."""
        numbers: list[int] = []
        rows: list[Row] = []
        parsed = csv.reader(text for _, text, _ in chunk if text is not None)
        for number, text, reason in chunk:
            if text is None:
                numbers.append(number)
                rows.append(marker(reason, width))
                continue
            row = cast(Row, next(parsed))
            if row:
                numbers.append(number)
                rows.append(_whole(row, width, i_id))
        return Batch(numbers, rows)

    def quoted_rows() -> Iterator[tuple[int, Row]]:
        """One csv.reader over the whole file: a quoted field may span lines and batches.

        An unreadable line becomes its own reject and feeds an empty line on (a blank
        line between records, or a line break inside a broken quoted field).
        """
        held: list[tuple[int, Row]] = []
        last = [0]

        def feed() -> Iterator[str]:
            for number, text, reason in lines:
                last[0] = number
                if text is None:
                    held.append((number, marker(reason, width)))
                    yield "\n"
                else:
                    yield text

        for cells in csv.reader(feed()):
            while held:
                yield held.pop(0)
            if cells:
                yield last[0], _whole(cast(Row, cells), width, i_id)
        yield from held

    def batches() -> Iterator[Batch]:
        with raw:
            try:
                if not one_line_rows:
                    source = quoted_rows()
                    while pairs := list(islice(source, batch_size)):
                        yield Batch([n for n, _ in pairs], [row for _, row in pairs])
                    return
                while True:
                    chunk = list(islice(lines, batch_size))
                    if not chunk:
                        return
                    batch = rows_of(chunk)
                    if batch.rows:
                        yield batch
            except csv.Error as err:
                raise InputError(
                    path, f"{path}: cannot read on: {err}", "the file must be UTF-8 CSV"
                ) from None

    return UsageFile(path, columns, batches())


def _encodable(value: object) -> bool:
    """Whether every text in a parsed JSON value is valid Unicode (no lone surrogates)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


def _whole(row: Row, width: int, i_id: int | None) -> Row:
    """A row with fewer cells than the header (a truncated line) becomes a reject, and so
    does one whose first cell starts with NUL (it would read as a marker)."""
    if row[0] and row[0][0] == "\x00":
        rid = row[i_id] if i_id is not None and i_id < len(row) and row[i_id] else ""
        return marker("the line starts with a NUL character", width, rid or "")
    if len(row) >= width:
        return row
    rid = row[i_id] if i_id is not None and i_id < len(row) and row[i_id] else ""
    return marker(f"the line has {len(row)} of {width} columns; it looks cut short", width, rid or "")


def _has_quotes(path: Path) -> bool:
    try:
        with path.open("rb") as raw:
            return any(b'"' in block for block in iter(lambda: raw.read(_PLAIN_CHUNK), b""))
    except OSError:
        return True  # the reader meets the problem itself


def _read_jsonl(path: Path, batch_size: int) -> UsageFile:
    # Columns are the union of keys of the first batch; later keys are read too.
    try:
        raw = path.open("rb")
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err.strerror or err}") from None
    columns: list[str] = []
    index: dict[str, int] = {}
    lines = _lines(raw)

    def parse(text: str | None, reason: str) -> dict[str, object] | str:
        if text is None:
            return reason
        try:
            obj = json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
        except json.JSONDecodeError as err:
            return f"not valid JSON: {err.msg} at column {err.colno}"
        except RecursionError:
            return "the JSON is nested too deeply to be a usage record"
        if "\\u" in text and not _encodable(obj):
            return "the JSON holds a \\u escape that is not a character (a lone surrogate)"
        if not isinstance(obj, dict):
            return "a JSON Lines record must be an object"
        for key in obj:
            if key not in index:
                index[key] = len(columns)
                columns.append(key)
        return obj

    def to_row(obj: dict[str, object] | str) -> Row:
        if isinstance(obj, str):
            return marker(obj, max(1, len(columns)))
        row: Row = [None] * len(columns)
        for key, value in obj.items():
            row[index[key]] = (
                None if value is None else (value if isinstance(value, str) else json.dumps(value))
            )
        return row

    def read(count: int) -> list[tuple[int, dict[str, object] | str]] | None:
        """The records of the next `count` lines (blank lines are not records); None at the end."""
        taken = list(islice(lines, count))
        if not taken:
            return None
        return [(n, parse(text, why)) for n, text, why in taken if text is None or text.strip()]

    first = read(batch_size)  # the first batch names the columns

    def batches() -> Iterator[Batch]:
        with raw:
            chunk = first
            while chunk is not None:  # a chunk of blank lines is empty, not the end
                if chunk:
                    yield Batch([n for n, _ in chunk], [to_row(o) for _, o in chunk])
                chunk = read(batch_size)

    return UsageFile(path, columns, batches())


ID_COLUMN = "record_id"
_PLAIN_CHUNK = 1 << 20


def scan_ids(path: Path) -> Iterator[list[str]] | None:
    """The non-empty record ids of a usage file, in chunks; None for a file
    that is not CSV, JSON Lines or Parquet.

    The ids are those the batches of `read_usage` carry, column for column; an
    empty id is left out (the engine rejects it). Parquet's come from its
    record_id column alone, so a row that another column makes unreadable
    still gives its id (the engine rejects that row without remembering its
    id: the candidates stay a superset). A file that cannot be read raises
    what reading it raises (OSError, InputError, UnicodeDecodeError).
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_ids(path)
    if suffix in {".jsonl", ".ndjson"}:
        return _batch_ids(path)
    if suffix in PARQUET_SUFFIXES:
        return _parquet_ids(path)
    return None


def count_lines(path: Path) -> int:
    """An upper bound of the records of a usage file (its line breaks, plus one;
    a Parquet file's row count, from its footer)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        _, parquet, handle = _open_parquet(path)
        with handle:
            return int(parquet.metadata.num_rows) + 1
    with path.open("rb") as raw:
        lines = breaks = 0
        for block in iter(lambda: raw.read(_PLAIN_CHUNK), b""):
            lines += block.count(b"\n")
            breaks += block.count(b"\r")
    return max(lines, breaks) + 1


class _NotPlain(Exception):
    """A quote or a carriage return: csv.reader must split the text."""


def _csv_ids(path: Path) -> Iterator[list[str]]:
    """Split at line breaks and commas while the text has neither quotes nor
    carriage returns (csv.reader makes the same of it); from the first chunk
    with one, csv.reader's rows, less the ids already given."""
    given = 0
    try:
        for chunk in _plain_csv_ids(path):
            given += len(chunk)
            yield chunk
        return
    except _NotPlain:
        pass
    for chunk in _batch_ids(path):
        if given >= len(chunk):
            given -= len(chunk)
            continue
        yield chunk[given:]
        given = 0


def _plain_csv_ids(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        head = handle.readline()
        if '"' in head or "\r" in head:
            raise _NotPlain
        if not head:
            return
        columns = [h.strip() for h in head.removesuffix("\n").split(",")]
        index = {name: i for i, name in enumerate(columns)}.get(ID_COLUMN)  # the last one wins
        if index is None:
            return
        rest = ""
        while True:
            text = handle.read(_PLAIN_CHUNK)
            if not text:
                break
            if '"' in text or "\r" in text:
                raise _NotPlain  # before any id of this chunk is given
            lines = (rest + text).split("\n")
            rest = lines.pop()
            yield _field(lines, index)
        if rest:
            yield _field([rest], index)


def _field(lines: list[str], index: int) -> list[str]:
    if index == 0:
        return [v for line in lines if (v := line.partition(",")[0])]
    return [v for line in lines if len(parts := line.split(",", index + 1)) > index and (v := parts[index])]


def _batch_ids(path: Path) -> Iterator[list[str]]:
    usage = read_usage(path, BATCH_SIZE)
    for batch in usage.batches:
        # JSON Lines columns grow as keys appear: look the column up per batch, as the engine does
        index = {name: i for i, name in enumerate(usage.columns)}.get(ID_COLUMN)
        if index is not None:
            yield [v for row in batch.rows if index < len(row) and (v := row[index])]


# -- Parquet ----------------------------------------------------------------------------

PARQUET_SUFFIXES = frozenset({".parquet", ".parq"})
_UNIT_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_UNIT_OF_DIGITS = {digits: unit for unit, digits in _UNIT_DIGITS.items()}
_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DAY = dt.date(1970, 1, 1)
_FIXED_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")

# The text cells of one column of a record batch, and the rows (by index in the batch)
# that a value of it makes unreadable, each with its reason.
Cells = tuple[list[str | None], dict[int, str]]
Convert = Callable[[Any], Cells]


def _open_parquet(path: Path) -> tuple[Any, Any, IO[bytes]]:
    """(pyarrow, the ParquetFile, its open handle); pyarrow is imported here, only when
    a Parquet file is read, and a file that is not Parquet is an InputError."""
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.parquet
    except ImportError:
        raise InputError(
            path, f"reading Parquet needs pyarrow, which is not installed ({path})", _PYARROW_HINT
        ) from None
    try:
        handle = path.open("rb")
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err.strerror or err}") from None
    try:
        return pyarrow, pyarrow.parquet.ParquetFile(handle, pre_buffer=False, buffer_size=1 << 20), handle
    except (pyarrow.ArrowException, OSError) as err:
        problem = _not_parquet(path, handle, err)
        handle.close()
        raise problem from None


_PYARROW_HINT = "pip install 'clearline[parquet]'"
_DAMAGED_HINT = "the file is damaged, or uses a Parquet feature pyarrow cannot read: write it again"


def _not_parquet(path: Path, handle: IO[bytes], err: Exception) -> InputError:
    size = handle.seek(0, 2)
    if size == 0:
        return InputError(
            path,
            f"{path} is empty: a Parquet file holds at least its schema",
            "write the file again, or leave it out",
        )
    handle.seek(0)
    head = handle.read(4) == b"PAR1"
    handle.seek(max(0, size - 4))
    tail = handle.read(4) == b"PAR1"
    if head and not tail:
        return InputError(
            path,
            f"{path} is cut short: it starts as a Parquet file, but its footer is missing",
            "copy or write the file again",
        )
    if not (head and tail):
        return InputError(
            path,
            f"{path} is not a Parquet file: it does not start and end with the bytes PAR1",
            "give a Parquet file, or name the file for its format: .csv or .jsonl",
        )
    return InputError(path, f"{path}: the Parquet file cannot be read: {err}", _DAMAGED_HINT)


def _read_parquet(path: Path, batch_size: int) -> UsageFile:
    pa, parquet, handle = _open_parquet(path)
    try:
        schema = parquet.schema_arrow
        columns = [str(name) for name in schema.names]
        converts = [_converter(path, name, schema.field(i).type, pa) for i, name in enumerate(columns)]
    except BaseException:
        handle.close()
        raise
    # the last record_id column is the one the engine reads, as in a CSV header
    i_id = max((i for i, name in enumerate(columns) if name == ID_COLUMN), default=None)

    def batches() -> Iterator[Batch]:
        number = 1  # a Parquet file has no header line: its first record is row 1
        with handle:
            source = parquet.iter_batches(batch_size=batch_size)
            while True:
                try:
                    record_batch = next(source, None)
                except (pa.ArrowException, OSError) as err:
                    message = f"{path}: the Parquet file cannot be read on from row {number}: {err}"
                    raise InputError(path, message, _DAMAGED_HINT) from None
                if record_batch is None:
                    return
                count = record_batch.num_rows
                if count:
                    rows = _parquet_rows(record_batch, converts, columns, i_id)
                    yield Batch(range(number, number + count), rows)
                    number += count

    return UsageFile(path, columns, batches())


def _parquet_rows(
    record_batch: Any, converts: list[Convert], columns: list[str], i_id: int | None
) -> list[Row]:
    """The rows of a record batch, as text; a row with a value that cannot be text is a marker."""
    cells: list[list[str | None]] = []
    problems: dict[int, str] = {}
    for convert, array in zip(converts, record_batch.columns, strict=True):
        column, bad = convert(array)
        cells.append(column)
        for i, reason in bad.items():
            problems.setdefault(i, reason)  # the first column's reason
    if cells and "\x00" in "".join(c[:1] for c in cells[0] if c):
        for i, text in enumerate(cells[0]):
            if text and text[0] == "\x00":  # it would read as a marker
                problems.setdefault(i, f"the value of `{columns[0]}` starts with a NUL character")
    if not cells:
        return [[] for _ in range(record_batch.num_rows)]
    rows: list[Row] = list(map(list, zip(*cells, strict=True)))
    for i, reason in sorted(problems.items()):
        rid = cells[i_id][i] if i_id is not None else None
        rows[i] = marker(reason, len(columns), rid or "")
    return rows


def _converter(path: Path, name: str, kind: Any, pa: Any) -> Convert:
    """How to turn the values of a column of type `kind` into text cells, exactly.

    A type no cell can hold (lists, structs, maps, durations, ...) refuses the
    whole file: every record would lose the column's values.
    """
    types = pa.types
    if types.is_dictionary(kind):  # e.g. a pandas categorical column
        values = _converter(path, name, kind.value_type, pa)
        return lambda array: values(array.dictionary_decode())
    if types.is_null(kind):  # a column with no value at all
        return lambda array: ([None] * len(array), {})
    if types.is_string(kind) or types.is_large_string(kind) or str(kind) == "string_view":
        return lambda array: (array.to_pylist(), {})
    if (
        types.is_binary(kind)
        or types.is_large_binary(kind)
        or types.is_fixed_size_binary(kind)
        or str(kind) == "binary_view"
    ):
        return lambda array: _utf8_texts(pa, name, array)
    if types.is_integer(kind) or types.is_boolean(kind) or types.is_floating(kind):
        text = pa.string()  # "61", "true"; a float its shortest text that reads back the same
        return lambda array: (array.cast(text).to_pylist(), {})
    if types.is_decimal(kind):
        return lambda array: ([None if v is None else format(v, "f") for v in array.to_pylist()], {})
    if types.is_timestamp(kind):
        zone = None if kind.tz is None else _zone(path, name, kind.tz)
        digits, int64 = _UNIT_DIGITS[kind.unit], pa.int64()
        return lambda array: _timestamp_texts(pa, name, digits, zone, array.cast(int64))
    if types.is_date32(kind) or types.is_date64(kind):
        per_day, raw = (1, pa.int32()) if types.is_date32(kind) else (86_400_000, pa.int64())
        return lambda array: _date_cells(name, array.cast(raw).to_pylist(), per_day)
    raise InputError(
        path,
        f"{path}: the column `{name}` holds values of type {kind}, which a usage field cannot hold",
        "write it as text, numbers, booleans, dates or timestamps, or leave the column out",
    )


def _utf8_texts(pa: Any, name: str, array: Any) -> Cells:
    try:  # Arrow checks the whole column at once
        return array.cast(pa.string()).to_pylist(), {}
    except pa.ArrowException:  # some value is not UTF-8 (or the type does not cast): one by one
        return _utf8_cells(name, array.to_pylist())


def _utf8_cells(name: str, values: list[bytes | None]) -> Cells:
    cells: list[str | None] = []
    problems: dict[int, str] = {}
    for i, value in enumerate(values):
        if value is None:
            cells.append(None)
            continue
        try:
            cells.append(value.decode("utf-8"))
        except UnicodeDecodeError as err:
            cells.append(None)
            bad = f"byte 0x{value[err.start]:02x} at position {err.start + 1}"
            problems[i] = f"the value of `{name}` is not UTF-8 text ({bad})"
    return cells, problems


def _zone(path: Path, name: str, tz: str) -> dt.tzinfo:
    fixed = _FIXED_OFFSET.fullmatch(tz)
    if fixed:
        sign, hours, minutes = fixed.groups()
        offset = dt.timedelta(hours=int(hours), minutes=int(minutes))
        return dt.timezone(-offset if sign == "-" else offset)
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InputError(
            path,
            f"{path}: the column `{name}` holds timestamps in the time zone {tz!r}, which is not known",
            "write the timestamps in UTC or with an IANA time zone name such as Europe/Warsaw",
        ) from None


# Seconds from 1900-01-01 to 9999-12-30 UTC: Arrow writes these as Python does.
_ARROW_SECONDS = (-2_208_988_800, 253_402_128_000)


def _timestamp_texts(pa: Any, name: str, digits: int, zone: dt.tzinfo | None, counts: Any) -> Cells:
    """`_timestamp_cells` for a whole array at once, in Arrow: the same text, in a
    third of the time. `counts` are the column's int64 values (UTC for a zoned column).

    The offset of `zone` is looked up in Python once per hour of UTC time that
    the values fall in, at its first and its last second; it holds for the whole
    hour, since no zone of the tz database changes its offset twice within a
    week. A batch with an hour in which it changes, or with values before 1900
    or after 9999, goes value by value.
    """
    pc = pa.compute
    per = 10**digits
    bounds = pc.min_max(counts).as_py()
    if bounds["min"] is None:  # every value is null
        return [None] * len(counts), {}
    low, high = _ARROW_SECONDS
    if not low * per <= bounds["min"] <= bounds["max"] < high * per:
        return _timestamp_cells(name, counts.to_pylist(), digits, zone)
    naive = counts.cast(pa.timestamp(_UNIT_OF_DIGITS[digits]))
    seconds = pc.floor_temporal(naive, unit="second").cast(pa.int64())
    seconds = pc.divide(seconds, per) if per > 1 else seconds  # exact: multiples of `per`
    parts = []
    if digits:
        fraction = pc.subtract(counts, pc.multiply(seconds, per))
        if pc.any(pc.not_equal(fraction, 0)).as_py():
            padded = pc.utf8_slice_codeunits(pc.add(fraction, per).cast(pa.string()), 1)  # "500"
            dotted = pc.binary_join_element_wise(".", padded, "")
            parts.append(pc.if_else(pc.equal(fraction, 0), "", dotted))
    if zone is not None:
        hours = pc.floor_temporal(naive, unit="hour").cast(pa.int64())
        keys = pc.unique(hours).drop_null()
        shifts: list[int] = []
        texts: list[str] = []
        for hour in keys.to_pylist():
            start = (_UTC_EPOCH + dt.timedelta(seconds=hour // per)).astimezone(zone)
            end = (_UTC_EPOCH + dt.timedelta(seconds=hour // per + 3599)).astimezone(zone)
            if start.utcoffset() != end.utcoffset():
                return _timestamp_cells(name, counts.to_pylist(), digits, zone)
            shifts.append((start.utcoffset() or dt.timedelta()) // dt.timedelta(seconds=1))
            texts.append(start.isoformat()[19:])
        which = pc.index_in(hours, value_set=keys)
        seconds = pc.add(seconds, pc.take(pa.array(shifts, pa.int64()), which))
        parts.append(pc.take(pa.array(texts, pa.string()), which))
    # "2026-03-01 10:00:00" -> "2026-03-01T10:00:00"
    wall = pc.replace_substring(
        seconds.cast(pa.timestamp("s")).cast(pa.string()), " ", "T", max_replacements=1
    )
    text = pc.binary_join_element_wise(wall, *parts, "") if parts else wall
    return text.to_pylist(), {}


def _timestamp_cells(name: str, values: list[int | None], digits: int, zone: dt.tzinfo | None) -> Cells:
    """ISO 8601 text: with the UTC offset of `zone` at that instant when the column has a
    time zone ("2026-03-01T10:00:00+01:00"), without one (which the engine rejects) when
    it has none; fractional seconds in the column's unit, only when there are any."""
    cells: list[str | None] = []
    problems: dict[int, str] = {}
    per_second = 10**digits
    for i, value in enumerate(values):
        if value is None:
            cells.append(None)
            continue
        seconds, fraction = divmod(value, per_second)
        try:
            if zone is None:
                text = (_NAIVE_EPOCH + dt.timedelta(seconds=seconds)).isoformat()
            else:
                text = (_UTC_EPOCH + dt.timedelta(seconds=seconds)).astimezone(zone).isoformat()
        except OverflowError:
            cells.append(None)
            problems[i] = f"the value of `{name}` is outside the years 1 to 9999"
            continue
        if fraction:
            text = f"{text[:19]}.{fraction:0{digits}d}{text[19:]}"
        cells.append(text)
    return cells, problems


def _date_cells(name: str, values: list[int | None], per_day: int) -> Cells:
    cells: list[str | None] = []
    problems: dict[int, str] = {}
    for i, value in enumerate(values):
        if value is None:
            cells.append(None)
            continue
        try:
            cells.append((_EPOCH_DAY + dt.timedelta(days=value // per_day)).isoformat())
        except OverflowError:
            cells.append(None)
            problems[i] = f"the value of `{name}` is outside the years 1 to 9999"
    return cells, problems


def _parquet_ids(path: Path) -> Iterator[list[str]]:
    """The record ids of a Parquet file, from its record_id column alone."""
    pa, parquet, handle = _open_parquet(path)
    with handle:
        names = [str(name) for name in parquet.schema_arrow.names]
        if ID_COLUMN not in names:
            return
        i_id = max(i for i, name in enumerate(names) if name == ID_COLUMN)
        convert = _converter(path, ID_COLUMN, parquet.schema_arrow.field(i_id).type, pa)
        source = parquet.iter_batches(batch_size=BATCH_SIZE, columns=[ID_COLUMN])
        while True:
            try:
                record_batch = next(source, None)
            except (pa.ArrowException, OSError) as err:
                raise InputError(path, f"{path}: the Parquet file cannot be read on: {err}") from None
            if record_batch is None:
                return
            # every column named record_id comes: the last is the engine's
            cells, _ = convert(record_batch.column(record_batch.num_columns - 1))
            yield [rid for rid in cells if rid]


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    country: str
    language: str
    currency: str


def _dict_rows(path: Path, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    path,
                    f"{path} lacks the column(s) {', '.join(missing)}",
                    f"the header must name: {', '.join(required)}",
                )
            for row in reader:
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(path, f"cannot read {path}: {err}") from None


def read_customers(path: Path) -> dict[str, Customer]:
    out: dict[str, Customer] = {}
    for _, r in _dict_rows(path, ["customer_id", "name", "country", "language", "currency"]):
        out[r["customer_id"]] = Customer(
            r["customer_id"], r["name"], r["country"], r["language"], r["currency"]
        )
    return out


@dataclass(frozen=True, slots=True)
class FxTable:
    """Rates as published: 1 unit of `from` = `rate` units of `to` on `date`."""

    name: str
    rates: dict[tuple[dt.date, str, str], Decimal]

    def find(self, date: dt.date, source: str, target: str) -> tuple[Decimal, bool] | None:
        """(published rate, whether to divide by it) to turn `source` into `target`.

        A table that publishes EUR->PLN 4.25 converts PLN to EUR by dividing
        by 4.25 (exact), never by multiplying with a rounded 1/4.25.
        """
        direct = self.rates.get((date, source, target))
        if direct is not None:
            return direct, False
        inverse = self.rates.get((date, target, source))
        if inverse is not None:
            return inverse, True
        return None


def read_fx(path: Path) -> FxTable:
    rates: dict[tuple[dt.date, str, str], Decimal] = {}
    for number, r in _dict_rows(path, ["date", "from", "to", "rate"]):
        try:
            day = dt.date.fromisoformat(r["date"])
            rate = parse_decimal(r["rate"])
        except ValueError as err:
            raise InputError(path, f"{path}:{number}: {err}", "each row is date,from,to,rate") from None
        if rate <= 0:
            raise InputError(path, f"{path}:{number}: rate {rate} is not positive")
        rates[(day, r["from"], r["to"])] = rate
    return FxTable(path.name, rates)


def duplicate_candidates(paths: Sequence[Path], exact_below: int = 20_000) -> set[str] | None:
    """The record ids that may occur more than once in these files: a superset
    of the duplicated ids, so an id outside it is certainly read once.

    A first pass reads the ids: in strictly increasing order through the
    files (as switches number their records) they are all distinct, and there
    is no candidate. Otherwise a second pass sets two bits per id in a Bloom
    filter of 16 to 32 bits per record; an id whose bits are all set already
    is a candidate. Memory: the filter (2 to 4 bytes per record) and the
    candidates (the duplicates and about one id in a thousand). None, to
    remember every id instead, for small inputs (fewer than `exact_below`
    records) and files the scan cannot read (the run then reports them).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     usage = Path(folder) / "usage.csv"
    ...     _ = usage.write_text("record_id,quantity\\n" + "".join(f"R{i % 9000},1\\n" for i in range(9001)))
    ...     in_order = Path(folder) / "in-order.csv"
    ...     _ = in_order.write_text("record_id\\n" + "".join(f"R{i:05d}\\n" for i in range(9001)))
    ...     found = duplicate_candidates([usage], exact_below=0)
    ...     found is not None and "R0" in found, duplicate_candidates([in_order], 0)
    (True, set())
    """
    try:
        scans = [scan_ids(path) for path in paths]
        if any(scan is None for scan in scans):
            return None
        if _increasing(cast(list[Iterator[list[str]]], scans)):
            return set()
        expected = sum(count_lines(path) for path in paths)
        if expected < exact_below:
            return None
        return _bloom_candidates(expected, [scan_ids(path) for path in paths])
    except (OSError, UnicodeDecodeError, ValueError, InputError):
        return None  # the run reads the file again and reports what is wrong with it


def _increasing(scans: Iterable[Iterator[list[str]]]) -> bool:
    last: str | None = None
    for chunks in scans:
        try:
            for chunk in chunks:
                if chunk:
                    if last is not None and not last < chunk[0]:
                        return False
                    if not all(map(lt, chunk, islice(chunk, 1, None))):
                        return False
                    last = chunk[-1]
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # the file of a scan left early
    return True


def _bloom_candidates(expected: int, scans: list[Iterator[list[str]] | None]) -> set[str] | None:
    size = 1 << max(16, min(32, (16 * expected - 1).bit_length()))
    mask = size - 1
    bits = bytearray(size >> 3)
    candidates: set[str] = set()
    for scan in scans:
        if scan is None:
            return None
        for chunk in scan:
            for rid in chunk:
                h = hash(rid)  # salted per process: no input can aim at collisions
                a = h & mask
                b = (h >> 32) & mask
                a_byte, a_bit, b_byte, b_bit = a >> 3, 1 << (a & 7), b >> 3, 1 << (b & 7)
                if bits[a_byte] & a_bit and bits[b_byte] & b_bit:
                    candidates.add(rid)
                else:
                    bits[a_byte] |= a_bit
                    bits[b_byte] |= b_bit
    return candidates


@contextmanager
def fewer_collections(allocations: int = 50_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often while records stream through.

    Every row is a list and every rated row a tuple: at the default threshold
    (700 allocations) the collector runs thousands of times per million
    records and moves whole batches into older generations, a third of the
    run's time. Rating makes no reference cycles, so collecting less often
    changes nothing but that time. The thresholds are restored on exit.
    """
    before = gc.get_threshold()
    gc.set_threshold(allocations, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
