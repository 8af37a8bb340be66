"""Parquet usage files -> batches of text rows, as the CSV reader gives them.

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
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Iterator
from typing import IO, Any

from clearline.runtime.inputs.locations import Input, open_bytes
from clearline.runtime.inputs.readers import BATCH_SIZE, ID_COLUMN, Batch, InputError, Row, UsageFile, marker

__all__ = ["parquet_ids", "parquet_rows_count", "read_parquet"]

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


def _open_parquet(path: Input) -> tuple[Any, Any, IO[bytes]]:
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
        handle = open_bytes(path)
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err.strerror or err}") from None
    try:
        parquet = pyarrow.parquet.ParquetFile(handle, pre_buffer=False, buffer_size=1 << 20)
        parquet.schema_arrow  # noqa: B018  (a damaged schema fails here, not later)
        return pyarrow, parquet, handle
    except (pyarrow.ArrowException, OSError, ValueError) as err:  # ValueError: names not UTF-8
        problem = _not_parquet(path, handle, err)
        handle.close()
        raise problem from None


_PYARROW_HINT = "pip install 'clearline[parquet]'"
_DAMAGED_HINT = "the file is damaged, or uses a Parquet feature pyarrow cannot read: write it again"


def _not_parquet(path: Input, handle: IO[bytes], err: Exception) -> InputError:
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
    return InputError(path, f"{path}: the Parquet file cannot be read: {_said(err)}", _DAMAGED_HINT)


def read_parquet(path: Input, batch_size: int, groups: tuple[int, int] | None = None) -> UsageFile:
    """The rows of a Parquet file, or of its row groups from `groups[0]` up to
    `groups[1]` (runtime.inputs.partitions), numbered as in the whole file."""
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
            if groups is None:
                source = parquet.iter_batches(batch_size=batch_size)
            else:
                metadata = parquet.metadata
                number += sum(metadata.row_group(g).num_rows for g in range(groups[0]))
                source = parquet.iter_batches(batch_size=batch_size, row_groups=range(*groups))
            while True:
                try:
                    record_batch = next(source, None)
                    count = 0 if record_batch is None else record_batch.num_rows
                    rows = _parquet_rows(record_batch, converts, columns, i_id) if count else []
                except (pa.ArrowException, OSError, ValueError) as err:  # a damaged page
                    message = f"{path}: the Parquet file cannot be read from row {number} on: {_said(err)}"
                    raise InputError(path, message, _DAMAGED_HINT) from None
                if record_batch is None:
                    return
                if count:
                    yield Batch(range(number, number + count), rows)
                    number += count

    return UsageFile(path, columns, batches())


def _parquet_rows(
    record_batch: Any, converts: list[Convert], columns: list[str], i_id: int | None
) -> list[Row]:
    """The rows of a record batch, as text; a row with a value that cannot be text is a marker."""
    cells: list[list[str | None]] = []
    problems: dict[int, tuple[str, str]] = {}  # row -> (column, reason)
    for name, convert, array in zip(columns, converts, record_batch.columns, strict=True):
        column, bad = convert(array)
        cells.append(column)
        for i, reason in bad.items():
            problems.setdefault(i, (name, reason))  # the first column's reason
    if cells and "\x00" in "".join(c[:1] for c in cells[0] if c):
        for i, text in enumerate(cells[0]):
            if text and text[0] == "\x00":  # it would read as a marker
                reason = f"the value of `{columns[0]}` starts with a NUL character"
                problems.setdefault(i, (columns[0], reason))
    if not cells:
        return [[] for _ in range(record_batch.num_rows)]
    rows: list[Row] = list(map(list, zip(*cells, strict=True)))
    for i, (name, reason) in sorted(problems.items()):
        rid = cells[i_id][i] if i_id is not None else None
        rows[i] = marker(reason, len(columns), rid or "", name)
    return rows


def _converter(path: Input, name: str, kind: Any, pa: Any) -> Convert:
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
        return lambda array: _string_texts(pa, name, array)
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


def _string_texts(pa: Any, name: str, array: Any) -> Cells:
    """A string column's cells; a value that is not UTF-8 after all (a writer that did
    not check, a damaged page) rejects its row, as binary that is not UTF-8 does."""
    try:
        return array.to_pylist(), {}
    except UnicodeDecodeError:
        return _utf8_cells(name, array.cast(pa.large_binary()).to_pylist())


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


def _zone(path: Input, name: str, tz: str) -> dt.tzinfo:
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


def parquet_ids(path: Input) -> Iterator[list[str]]:
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
                if record_batch is None:
                    return
                # every column named record_id comes: the last is the engine's
                cells, _ = convert(record_batch.column(record_batch.num_columns - 1))
            except (pa.ArrowException, OSError, ValueError) as err:
                raise InputError(path, f"{path}: the Parquet file cannot be read on: {_said(err)}") from None
            yield [rid for rid in cells if rid]


def parquet_rows_count(path: Input) -> int:
    """The rows of a Parquet file, from its footer."""
    _, parquet, handle = _open_parquet(path)
    with handle:
        return int(parquet.metadata.num_rows)


def _said(err: Exception) -> str:
    """pyarrow's message on one line (some end with a line break, some hold one)."""
    return " ".join(str(err).split())
