"""Readers: usage files (CSV, JSON Lines) -> batches of raw rows, and the
reference data (FX rates, customers).

Usage rows stay text here; the engine converts the fields a product reads
with the declared types, so a bad value becomes a reject naming the field.
JSON numbers are kept as their text (never float).

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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from operator import lt
from pathlib import Path
from typing import IO, cast

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
    last line, as csv.reader counts: a quoted field may span lines)."""

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
    """Open a usage file by its extension: .csv, .jsonl/.ndjson."""
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return _read_jsonl(path, batch_size)
    if suffix == ".csv":
        return _read_csv(path, batch_size)
    raise InputError(
        path,
        f"cannot read usage from a `{suffix or 'extensionless'}` file",
        "give a .csv or .jsonl file",
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
    that is not CSV or JSON Lines.

    The ids are those the batches of `read_usage` carry, column for column; an
    empty id is left out (the engine rejects it). A file that cannot be read
    raises what reading it raises (OSError, InputError, UnicodeDecodeError).
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_ids(path)
    if suffix in {".jsonl", ".ndjson"}:
        return _batch_ids(path)
    return None


def count_lines(path: Path) -> int:
    """An upper bound of the records of a usage file (its line breaks, plus one)."""
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
