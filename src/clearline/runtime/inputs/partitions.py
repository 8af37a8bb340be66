"""Partitions: a usage file -> parts that separate readers read apart, together
giving exactly the batches' rows of the whole file, with its line numbers.

Input: a usage file's path and a target size. Output: `Partition`s, plain
data (a frozen dataclass of strings, numbers and a flag; `as_dict` and
`from_dict` make it JSON) that a worker process, or a Dask worker (issue 13),
reads with `read_partition` alone, without the planner's state.

- CSV without quotes: byte ranges cut just after a line feed near each
  multiple of the target size; the line number of each part's first line is
  the count of line feeds before it. A file with a lone carriage return (old
  Mac line ends count as line ends the line feed count misses) is one part.
- CSV with quotes: a quoted field may hold a line break, so a cut must fall
  between records as csv.reader reads them: the planner reads the file once
  with csv.reader (through the same line reader the engine's reading uses) and
  cuts after the first record that ends past each multiple of the target.
- Parquet: runs of whole row groups, cut where their bytes pass the target.
- JSON Lines, with `json_lines=True`: byte ranges cut just after a line feed,
  as CSV without quotes (a JSON text holds no raw line feed). A part's columns
  are the keys in the order the part first shows them, not the file: the
  same rows by name, but the one output that follows the columns' order, a
  routed record's fields, could differ. So the caller cuts JSON Lines only
  when no record is routed (runtime.parallel); else a file is one part.
- A file smaller than the target, or one the planner cannot read (the reader
  reports what is wrong with it), is one part: `kind` "whole".
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any, cast

from clearline.runtime.inputs.lines import read_lines
from clearline.runtime.inputs.locations import Input, as_input, open_bytes, size_of, suffix_of
from clearline.runtime.inputs.readers import (
    _PLAIN_CHUNK,
    BATCH_SIZE,
    MAX_LINE,
    PARQUET_SUFFIXES,
    ByteSpan,
    InputError,
    Skim,
    UsageFile,
)
from clearline.runtime.inputs.usage import read_usage

__all__ = ["PARTITION_BYTES", "Partition", "plan_partitions", "read_partition"]

PARTITION_BYTES = 64 << 20  # the default target size of a part


@dataclass(frozen=True, slots=True)
class Partition:
    """A part of a usage file.

    kind "bytes": the CSV bytes `start` to `end`, whose first line is line
    `first` (`quotes`: the file has quotes, so a row may span lines); kind
    "row groups": the Parquet row groups `start` up to `end`; kind "whole": the
    file. `number` counts the parts of a file from 0.
    """

    path: str
    number: int
    kind: str
    start: int = 0
    end: int = 0
    first: int = 0
    quotes: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Partition:
        return Partition(**data)


def read_partition(part: Partition, batch_size: int = BATCH_SIZE, skim: Skim | None = None) -> UsageFile:
    """The batches of one part, as `read_usage` reads them of the whole file."""
    path = as_input(part.path)
    if part.kind == "bytes":
        return read_usage(path, batch_size, skim, ByteSpan(part.start, part.end, part.first, part.quotes))
    if part.kind == "row groups":
        from clearline.runtime.inputs import parquet  # pyarrow is imported only for Parquet files

        return parquet.read_parquet(path, batch_size, (part.start, part.end))
    return read_usage(path, batch_size, skim)


def plan_partitions(path: Input, target: int = PARTITION_BYTES, json_lines: bool = False) -> list[Partition]:
    """The parts of a usage file, in order, each about `target` bytes (JSON Lines
    files whole unless `json_lines`: see the module)."""
    whole = [Partition(str(path), 0, "whole")]
    suffix = suffix_of(path)
    try:
        if suffix in PARQUET_SUFFIXES:
            return _row_groups(path, target) or whole
        if size_of(path) <= target:
            return whole
        if suffix in {".jsonl", ".ndjson"}:
            return (_json_lines_parts(path, target) if json_lines else None) or whole
        if suffix != ".csv":
            return whole
        return _csv_parts(path, target) or whole
    except (OSError, ValueError, InputError):
        return whole  # the reader meets the problem and reports it


def _csv_parts(path: Input, target: int) -> list[Partition] | None:
    with open_bytes(path) as raw:
        header = raw.readline(MAX_LINE + 1)
        if not header.endswith(b"\n") or b"\r" in header.removesuffix(b"\r\n").removesuffix(b"\n"):
            return None  # no whole header line, or a lone carriage return in it
        scan = _Scan(raw)  # one pass: the cuts of a file without quotes, and whether it is one
        cuts = _plain_cuts(cast(IO[bytes], scan), target)
        if scan.lone_cr:
            return None
        quotes = scan.quotes or b'"' in header
        if quotes:
            raw.seek(len(header))
            cuts = _quoted_cuts(raw, target)
    size = size_of(path)
    parts: list[Partition] = []
    start, first = len(header), 2
    for end, next_first in [*cuts, (size, 0)]:
        if end <= start:
            continue
        parts.append(Partition(str(path), len(parts), "bytes", start, end, first, quotes))
        start, first = end, next_first
    return parts


def _json_lines_parts(path: Input, target: int) -> list[Partition] | None:
    with open_bytes(path) as raw:
        scan = _Scan(raw)
        cuts = _plain_cuts(cast(IO[bytes], scan), target, first=1)
        if scan.lone_cr:
            return None
    size = size_of(path)
    parts: list[Partition] = []
    start, first = 0, 1
    for end, next_first in [*cuts, (size, 0)]:
        if end > start:
            parts.append(Partition(str(path), len(parts), "bytes", start, end, first))
            start, first = end, next_first
    return parts


class _Scan:
    """A binary file read through to its end (by `_plain_cuts`), noting on the way
    whether it holds a quote, and a carriage return that does not end a line with
    its line feed (an old Mac line end: the line feed count misses it)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.quotes = False
        self.lone_cr = False
        self._cr = False  # the last byte read was a carriage return

    def _note(self, data: bytes) -> bytes:
        if self._cr and not data.startswith(b"\n"):  # at the end of the file too
            self.lone_cr = True
        body = data[:-1] if data.endswith(b"\r") else data
        if body.count(b"\r") != body.count(b"\r\n"):
            self.lone_cr = True
        self._cr = data.endswith(b"\r")
        if not self.quotes and b'"' in data:
            self.quotes = True
        return data

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        return self._note(self.raw.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._note(self.raw.readline(size))


def _plain_cuts(raw: IO[bytes], target: int, first: int = 2) -> list[tuple[int, int]]:
    """(offset just after a line feed, the number of the line that starts there), one
    near each multiple of `target` bytes: every line is a row. Read a chunk at a time;
    the line at the start is line `first`."""
    cuts: list[tuple[int, int]] = []
    offset = raw.tell()
    line = first  # the number of the line at `offset`
    goal = offset + target
    while True:
        block = raw.read(min(_PLAIN_CHUNK, goal - offset))
        if not block:
            return cuts
        line += block.count(b"\n")
        offset += len(block)
        if offset < goal or block.endswith(b"\n"):
            if offset >= goal:
                cuts.append((offset, line))
                goal = offset + target
            continue
        while True:  # on to the end of the line the block stopped in
            rest = raw.readline(_PLAIN_CHUNK)
            offset += len(rest)
            if not rest.endswith(b"\n"):
                if not rest:
                    return cuts
                continue
            line += 1
            cuts.append((offset, line))
            goal = offset + target
            break


class _Counting:
    """A binary file that counts the bytes read through it (for `read_lines`)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.read_so_far = raw.tell()

    def readline(self, size: int = -1) -> bytes:
        data = self.raw.readline(size)
        self.read_so_far += len(data)
        return data


def _quoted_cuts(raw: IO[bytes], target: int) -> list[tuple[int, int]]:
    """Cuts between records as the reader's csv.reader reads them: after the line that
    ends the first record past each multiple of `target` bytes."""
    counting = _Counting(raw)
    ends: list[tuple[int, int]] = []  # (offset, number) of the last line fed

    def feed() -> Iterator[str]:
        for number, text, _ in read_lines(cast(IO[bytes], counting), 1):
            ends.append((counting.read_so_far, number))
            yield "\n" if text is None else text  # as the reader feeds an unreadable line

    cuts: list[tuple[int, int]] = []
    goal = raw.tell() + target
    try:
        for _ in csv.reader(feed()):
            offset, number = ends[-1]
            ends.clear()
            if offset >= goal:
                cuts.append((offset, number + 1))
                goal = offset + target
    except csv.Error:
        return cuts[:0]  # the reader stops at this error: one part reads to it as the file does
    return cuts


def _row_groups(path: Input, target: int) -> list[Partition] | None:
    try:
        import pyarrow.parquet
    except ImportError:
        return None
    try:
        with open_bytes(path) as handle:
            metadata = pyarrow.parquet.ParquetFile(handle).metadata
        sizes = [metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups)]
    except Exception:
        return None
    parts: list[Partition] = []
    start = taken = 0
    for g, size in enumerate(sizes):
        taken += size
        if taken >= target or g == len(sizes) - 1:
            parts.append(Partition(str(path), len(parts), "row groups", start, g + 1))
            start, taken = g + 1, 0
    return parts or None
