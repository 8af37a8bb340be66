"""Readers: usage files -> batches of raw rows (CSV and JSON Lines here,
Parquet in runtime.parquet).

Usage rows stay text here; the engine converts the fields a product reads
with the declared types, so a bad value becomes a reject naming the field.
JSON numbers are kept as their text (never float). A line that cannot be read
(not UTF-8, cut short, longer than MAX_LINE) becomes a `marker` row, which the
engine rejects with the reason, so one bad line costs one reject, not the file.

The reference data (customers, FX rates) is read by runtime.refdata; the ids
for the duplicate check by runtime.duplicates.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import stat
from collections.abc import Callable, Generator, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice, repeat
from pathlib import Path
from typing import IO, cast

__all__ = [
    "BATCH_SIZE",
    "ID_COLUMN",
    "PARQUET_SUFFIXES",
    "Batch",
    "ByteSpan",
    "InputError",
    "Row",
    "Skim",
    "UsageFile",
    "fewer_collections",
    "header_line",
    "marker",
    "read_csv",
    "read_jsonl",
    "regular_file",
]

PARQUET_SUFFIXES = frozenset({".parquet", ".parq"})

BATCH_SIZE = 10_000

Row = list[str | None]


class InputError(Exception):
    """An input file that cannot be read at all (not a per-record problem)."""

    def __init__(self, path: Path | str, message: str, hint: str | None = None, code: str = "") -> None:
        super().__init__(message)
        self.path = str(path)
        self.message = message
        self.hint = hint
        self.code = code  # a code more precise than "unreadable input" (E0501), when one fits


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
    # closes the file when the batches are not read (a CSV file's; the batches close it too)
    close: Callable[[], None] = lambda: None


@dataclass(frozen=True, slots=True)
class ByteSpan:
    """A part of a CSV or JSON Lines file to read (runtime.inputs.partitions): the
    bytes from `start` to `end` (a record starts at `start`, one ends at `end`),
    whose first line is line `first`, and whether the file has quotes (CSV: rows
    may span lines)."""

    start: int
    end: int
    first: int
    quotes: bool


# batch number (from 0, in the file) -> None to read the batch whole, or the only
# record ids its rows are wanted for (the others are left unparsed)
Skim = Callable[[int], AbstractSet[str] | None]


MAX_LINE = 1 << 20  # a usage line longer than this is rejected, never read whole


def regular_file(path: Path) -> None:
    """An input must be a regular file: a device (/dev/zero) or a pipe never ends, or
    cannot be read twice (the duplicate scan reads a usage file before the run does).
    A path that cannot be looked at is left to the reader to report."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) else "not a file"
        raise InputError(path, f"cannot read {path}: it is {kind}, not a regular file", "give a file")


def header_line(raw: IO[bytes], path: Path) -> bytes:
    """The first line of a file with a header, read at most 1 MiB far."""
    head = raw.readline(MAX_LINE + 1)
    if len(head) > MAX_LINE and not head.endswith(b"\n") and b"\r" not in head:  # a lone CR ends it too
        raise InputError(
            path,
            f"{path}:1: the header cannot be read: it is longer than 1 MiB (no line end within it)",
            "the first line names the columns: record_id,timestamp,customer_id,...",
        )
    return head


# A field may be as long as a line may (the csv module's own limit is 128 KiB).
csv.field_size_limit(max(csv.field_size_limit(), 4 * MAX_LINE))
_LINE_ENDS = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def marker(reason: str, width: int, record_id: str = "", field: str = "") -> Row:
    """A row that stands for an unreadable line: the engine rejects it with `reason`.

    Padded to the file's width so that every column lookup finds a cell; the
    record id, when the line showed one, and the field at fault, when one is,
    ride after the last column.
    """
    return [f"\x00{reason}", *([""] * (width - 1)), record_id, field]


_HEAD = 1 << 12  # bytes of an unreadable line kept to find its record id in


class Unread(str):
    """The reason a line could not be read, with the line's first bytes (`head`):
    enough to name its record id in the reject, never the whole line."""

    head: bytes

    def __new__(cls, reason: str, head: bytes) -> Unread:
        made = super().__new__(cls, reason)
        made.head = head[:_HEAD]
        return made


_JSON_ID = re.compile(r'"record_id"\s*:\s*("(?:[^"\\]|\\.)*")')


def csv_id(text: str, i_id: int | None) -> str:
    r"""The record id the start of a CSV line shows: its cell, whole (a comma or the
    line's end after it), with no quote before it.

    >>> csv_id("R-1,2026-03-01,\xff", 0), csv_id("x,R-2\n", 1), csv_id("x,R-2", 1), csv_id('"R,3",x', 0)
    ('R-1', 'R-2', '', '')
    """
    if i_id is None:
        return ""
    line, end, _ = text.partition("\n")
    cells = line.removesuffix("\r").split(",", i_id + 1)
    if len(cells) <= i_id or (len(cells) == i_id + 1 and not end):
        return ""
    if '"' in ",".join(cells[: i_id + 1]):
        return ""
    return _plain(cells[i_id])


def json_id(text: str) -> str:
    r"""The record id the start of a JSON line shows, as a string value.

    >>> json_id('{"quantity": 6, "record_id": "R\\u002d1", "x": '), json_id('{"record_id": 7}')
    ('R-1', '')
    """
    match = _JSON_ID.search(text)
    if match is None:
        return ""
    try:
        found = json.loads(match[1])
    except ValueError:
        return ""
    return _plain(found) if isinstance(found, str) else ""


def _plain(found: str) -> str:
    """An id to show: printable, and whole (no byte was replaced in decoding it)."""
    return found if found.isprintable() and "\ufffd" not in found else ""


def unread_id(reason: str, find: Callable[[str], str]) -> str:
    """The record id of an unreadable line, from its head (see `Unread`)."""
    if not isinstance(reason, Unread):
        return ""
    return find(reason.head.decode("utf-8", "replace"))


def _lines(raw: IO[bytes], number: int = 0) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text or None, reason) for each line after line `number`,
    decoded one at a time.

    A line that is not UTF-8 or is longer than MAX_LINE comes out as None with
    the reason, so one bad line costs one reject, not the file; an over-long
    line is skipped in chunks and never held in memory.
    """
    while True:
        data = raw.readline(MAX_LINE + 1)
        if not data:
            return
        number += 1
        if len(data) > MAX_LINE and not data.endswith(b"\n"):
            head = data[:_HEAD]
            while data and not data.endswith(b"\n"):
                data = raw.readline(MAX_LINE)
            yield number, None, Unread("the line is longer than 1 MiB; it was skipped unread", head)
            continue
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            bad = f"byte 0x{data[err.start]:02x} at column {err.start + 1}"
            yield number, None, Unread(f"the line is not UTF-8 text ({bad})", data)
            continue
        if "\r" in text.removesuffix("\n").removesuffix("\r"):
            # a lone carriage return ends a line too (old Mac files), as in universal newlines
            pieces = _LINE_ENDS.findall(text)
            for piece in pieces[:-1]:
                yield number, piece, ""
                number += 1
            text = pieces[-1]
        yield number, text, ""


_BLOCK = 1 << 20  # bytes read at a time by `_line_runs`
# a line of `_line_runs`: a run of readable lines (the number of the first, their texts
# without line ends), or one unreadable line (its number, None, the reason)
LineRun = tuple[int, list[str], str] | tuple[int, None, str]


def _line_runs(raw: IO[bytes], number: int) -> Iterator[LineRun]:
    """The lines after line `number`, as `_lines` makes them, a block at a time.

    A block of whole lines that decodes as UTF-8, has no carriage return and
    no line longer than MAX_LINE is split in C and comes out as one run; any
    other block goes through `_lines` line by line. A line with no end within
    MAX_LINE bytes is skipped in chunks, never held.
    """
    rest = b""
    while True:
        block = raw.read(_BLOCK)
        if not block:
            break
        data = rest + block if rest else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no line ends here yet
            if len(data) <= MAX_LINE:
                rest = data
                continue
            line = data
            while line and not line.endswith(b"\n"):
                line = raw.readline(MAX_LINE)
            number += 1
            rest = b""
            yield number, None, Unread("the line is longer than 1 MiB; it was skipped unread", data)
            continue
        whole, rest = data[:cut], data[cut:]
        text = None
        # only the first line may be long; a NUL at a line's start would read as a marker
        crlf = b"\r" in whole
        if (
            (not crlf or whole.count(b"\r") == whole.count(b"\r\n"))
            and whole.find(b"\n") <= MAX_LINE
            and b"\x00" not in whole
        ):
            try:
                text = whole.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if text is None:
            number = yield from _slow_runs(whole, number)
            continue
        if crlf:  # every carriage return ends a line with its line feed
            text = text.replace("\r\n", "\n")
        texts = text.split("\n")
        texts.pop()  # after the last line end
        yield number + 1, texts, ""
        number += len(texts)
    if rest:
        yield from _slow_runs(rest, number)


def _slow_runs(data: bytes, number: int) -> Generator[LineRun, None, int]:
    """The lines of `data`, after line `number`, one by one through `_lines`;
    returns the number of the last."""
    for number, text, reason in _lines(io.BytesIO(data), number):  # noqa: B020  (the count runs on)
        if text is None:
            yield number, None, reason
        else:  # without its line end, as csv.reader reads it
            yield number, [text.removesuffix("\n").removesuffix("\r")], ""
    return number


class _Bounded:
    """The bytes of a binary file up to an offset: what `_lines` and `_line_runs` read
    of a `ByteSpan`."""

    def __init__(self, raw: IO[bytes], left: int) -> None:
        self.raw = raw
        self.left = left

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.raw.read(size) if size else b""
        self.left -= len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.raw.readline(size) if size else b""
        self.left -= len(data)
        return data


def read_csv(
    path: Path, batch_size: int, skim: Skim | None = None, span: ByteSpan | None = None
) -> UsageFile:
    try:
        raw = path.open("rb")
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err.strerror or err}") from None
    try:
        header_line(raw, path)
    except InputError:
        raw.close()
        raise
    raw.seek(0)
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
    header = first[1]
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
    i_record = {name: i for i, name in enumerate(columns)}.get(ID_COLUMN)  # the engine's: the last

    def unreadable(reason: str) -> Row:
        """The reject row of a line that cannot be read, with the id its start shows."""
        return marker(reason, width, unread_id(reason, lambda head: csv_id(head, i_record)))

    # without a quote no row spans lines: each line is one row
    one_line_rows = not (span.quotes if span is not None else _has_quotes(path))
    source: IO[bytes] = raw  # what the rows are read from: the rest of the file, or the span
    after = 1  # the line the rows come after
    if span is not None:
        raw.seek(span.start)
        source = cast(IO[bytes], _Bounded(raw, span.end - span.start))
        after = span.first - 1
        lines = _lines(source, after)

    def add_run(start: int, texts: list[str], numbers: list[int], rows: list[Row]) -> None:
        """The rows of a run of lines of a file without quotes: each line is one row,
        its cells split at commas, as csv.reader splits a line without quotes."""
        parsed = cast(list[Row], list(map(str.split, texts, repeat(","))))
        # a run of many lines came through a block without NUL; a line alone, maybe not
        lengths = set(map(len, parsed))
        if len(texts) > 1 and "" not in texts and lengths == {width}:
            numbers.extend(range(start, start + len(parsed)))
            rows.extend(parsed)
            return
        for k, (text, row) in enumerate(zip(texts, parsed, strict=True)):
            if text:  # a blank line is no row, as csv.reader reads it
                numbers.append(start + k)
                rows.append(_whole(row, width, i_id))

    def add_kept(
        start: int, texts: list[str], keep: AbstractSet[str], numbers: list[int], rows: list[Row]
    ) -> None:
        """The rows of the lines whose record id is one of `keep`; the others stay text."""
        if i_record is None or not keep:
            return
        if i_record == 0:
            ids = [text.partition(",")[0] for text in texts]
        else:
            ids = [p[i_record] if len(p := t.split(",", i_record + 1)) > i_record else "" for t in texts]
        if keep.isdisjoint(ids):
            return
        for k, rid in enumerate(ids):
            if rid in keep and texts[k]:
                numbers.append(start + k)
                rows.append(_whole(cast(Row, texts[k].split(",")), width, i_id))

    def plain_batches() -> Iterator[Batch]:
        """Batches of `batch_size` rows (a line but a blank one is a row, read or a reject)."""
        numbers: list[int] = []
        rows: list[Row] = []
        count = batch_no = 0  # rows of the batch being filled, kept or skimmed; its number
        keep = skim(0) if skim else None
        for start, texts, reason in _line_runs(source, after):
            if texts is None:
                texts, reason_row = [], unreadable(reason)
                if keep is None:
                    numbers.append(start)
                    rows.append(reason_row)
                count += 1
            i = 0
            while True:
                if count == batch_size:  # filled by the lines so far, or by a reject row
                    yield _batch(numbers, rows)
                    numbers, rows, count, batch_no = [], [], 0, batch_no + 1
                    keep = skim(batch_no) if skim else None
                if i == len(texts):
                    break
                need = batch_size - count
                part = texts[i : i + need]
                got = len(part)
                if "" in part:  # blank lines are no rows: take lines until `need` rows
                    j = i
                    got = 0
                    while j < len(texts) and got < need:
                        got += texts[j] != ""
                        j += 1
                    part = texts[i:j]
                if keep is None:
                    add_run(start + i, part, numbers, rows)
                else:
                    add_kept(start + i, part, keep, numbers, rows)
                count += got
                i += len(part)
        if count:
            yield _batch(numbers, rows)

    def rows_of(chunk: list[tuple[int, str | None, str]]) -> Batch:
        """The rows of a file without quotes: each line is one row."""
        numbers: list[int] = []
        rows: list[Row] = []
        parsed = csv.reader(text for _, text, _ in chunk if text is not None)
        for number, text, reason in chunk:
            if text is None:
                numbers.append(number)
                rows.append(unreadable(reason))
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
                    held.append((number, unreadable(reason)))
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
                if header.endswith("\n") and "\r" not in header.removesuffix("\n").removesuffix("\r"):
                    # the header was a whole line (`_lines` holds no piece of it after a
                    # lone carriage return): the rest is read a block at a time
                    yield from plain_batches()
                    return
                while True:  # lines that end with a lone carriage return (old Mac files)
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

    return UsageFile(path, columns, batches(), raw.close)


def _batch(numbers: list[int], rows: list[Row]) -> Batch:
    """A batch, its line numbers a range when they run on (a blank line breaks them)."""
    if not numbers or numbers[-1] - numbers[0] == len(numbers) - 1:
        if not numbers:
            return Batch(range(0), rows)
        return Batch(range(numbers[0], numbers[-1] + 1), rows)
    return Batch(numbers, rows)


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
    does one with more (an unquoted comma shifts every later field: rated, it would pay on
    the wrong columns) and one whose first cell starts with NUL (it would read as a marker)."""
    if row[0] and row[0][0] == "\x00":
        rid = row[i_id] if i_id is not None and i_id < len(row) and row[i_id] else ""
        return marker("the line starts with a NUL character", width, rid or "")
    if len(row) == width:
        return row
    rid = row[i_id] if i_id is not None and i_id < len(row) and row[i_id] else ""
    if len(row) > width:
        return marker(
            f"the line has {len(row)} cells, the header {width}: a field may hold an unquoted comma",
            width,
            rid or "",
        )
    return marker(f"the line has {len(row)} of {width} columns; it looks cut short", width, rid or "")


def _has_quotes(path: Path) -> bool:
    try:
        with path.open("rb") as raw:
            return any(b'"' in block for block in iter(lambda: raw.read(_PLAIN_CHUNK), b""))
    except OSError:
        return True  # the reader meets the problem itself


def read_jsonl(path: Path, batch_size: int, span: ByteSpan | None = None) -> UsageFile:
    # Columns are the union of keys of the first batch; later keys are read too. Of a
    # span, in the order the span shows them (see runtime.inputs.partitions).
    try:
        raw = path.open("rb")
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err.strerror or err}") from None
    columns: list[str] = []
    index: dict[str, int] = {}
    if span is None:
        lines = _lines(raw)
    else:
        raw.seek(span.start)
        lines = _lines(cast(IO[bytes], _Bounded(raw, span.end - span.start)), span.first - 1)

    def parse(text: str | None, reason: str) -> dict[str, object] | str:
        if text is None:
            return reason
        head = text[:_HEAD].encode("utf-8", "replace")
        try:
            obj = json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
        except json.JSONDecodeError as err:
            return Unread(f"not valid JSON: {err.msg} at column {err.colno}", head)
        except RecursionError:
            return Unread("the JSON is nested too deeply to be a usage record", head)
        if "\\u" in text and not _encodable(obj):
            return Unread("the JSON holds a \\u escape that is not a character (a lone surrogate)", head)
        if not isinstance(obj, dict):
            return "a JSON Lines record must be an object"
        for key in obj:
            if key not in index:
                index[key] = len(columns)
                columns.append(key)
        return obj

    def to_row(obj: dict[str, object] | str) -> Row:
        if isinstance(obj, str):
            return marker(obj, max(1, len(columns)), unread_id(obj, json_id))
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
