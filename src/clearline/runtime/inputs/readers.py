"""Readers: what reading a usage file gives -- batches of raw rows -- and what
every reader shares (the rows, the errors, the reject markers).

The readers themselves: CSV in runtime.inputs.csv_files, JSON Lines in
runtime.inputs.json_lines, Parquet in runtime.inputs.parquet, opened by kind by
runtime.inputs.usage; their lines come from runtime.inputs.lines.

Usage rows stay text here; the engine converts the fields a product reads
with the declared types, so a bad value becomes a reject naming the field.
JSON numbers are kept as their text (never float). A line that cannot be read
(not UTF-8, cut short, longer than MAX_LINE) becomes a `marker` row, which the
engine rejects with the reason, so one bad line costs one reject, not the file.

The reference data (customers, FX rates) is read by runtime.inputs.refdata; the
ids for the duplicate check by runtime.inputs.duplicates.
"""

from __future__ import annotations

import csv
import gc
import stat
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from clearline.runtime.inputs.lines import MAX_LINE

__all__ = [
    "BATCH_SIZE",
    "ID_COLUMN",
    "MAX_LINE",
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
    path: Path | str  # a URL as given (runtime.inputs.locations)
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


def regular_file(path: Path | str) -> None:
    """An input must be a regular file: a device (/dev/zero) or a pipe never ends, or
    cannot be read twice (the duplicate scan reads a usage file before the run does).
    A path that cannot be looked at is left to the reader to report, and so is a URL
    (runtime.inputs.locations: object stores hold no devices)."""
    if not isinstance(path, Path):
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) else "not a file"
        raise InputError(path, f"cannot read {path}: it is {kind}, not a regular file", "give a file")


def header_line(raw: IO[bytes], path: Path | str) -> bytes:
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


def marker(reason: str, width: int, record_id: str = "", field: str = "") -> Row:
    """A row that stands for an unreadable line: the engine rejects it with `reason`.

    Padded to the file's width so that every column lookup finds a cell; the
    record id, when the line showed one, and the field at fault, when one is,
    ride after the last column.
    """
    return [f"\x00{reason}", *([""] * (width - 1)), record_id, field]


def _has_quotes(path: Path) -> bool:
    """Whether a file has a quote anywhere (a CSV row may then span lines)."""
    try:
        with path.open("rb") as raw:
            return any(b'"' in block for block in iter(lambda: raw.read(_PLAIN_CHUNK), b""))
    except OSError:
        return True  # the reader meets the problem itself


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
