"""The CSV reader: a CSV usage file (or a byte range of one) -> its header's
columns and batches of raw rows, with the line number of each.

A file without quotes is read a block at a time, its lines split at commas in
C (`lines.line_runs`); a file with quotes goes through one csv.reader, since a
quoted field may span lines (and batches). A line that cannot be read, a row
with more or fewer cells than the header, or one that starts with NUL becomes
a `marker` row, which the engine rejects with the reason.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from itertools import islice, repeat
from typing import IO, cast

from clearline.runtime.inputs.lines import Bounded, csv_id, line_runs, read_lines, unread_id
from clearline.runtime.inputs.locations import Input, has_quotes, open_bytes
from clearline.runtime.inputs.readers import (
    ID_COLUMN,
    Batch,
    ByteSpan,
    InputError,
    Row,
    Skim,
    UsageFile,
    header_line,
    marker,
)

__all__ = ["read_csv"]


def read_csv(
    path: Input, batch_size: int, skim: Skim | None = None, span: ByteSpan | None = None
) -> UsageFile:
    try:
        raw = open_bytes(path)
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err.strerror or err}") from None
    try:
        header_line(raw, path)
    except InputError:
        raw.close()
        raise
    raw.seek(0)
    lines = read_lines(raw)
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
    one_line_rows = not (span.quotes if span is not None else has_quotes(path))
    source: IO[bytes] = raw  # what the rows are read from: the rest of the file, or the span
    after = 1  # the line the rows come after
    if span is not None:
        raw.seek(span.start)
        source = cast(IO[bytes], Bounded(raw, span.end - span.start))
        after = span.first - 1
        lines = read_lines(source, after)

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
        for start, texts, reason in line_runs(source, after):
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
                    # the header was a whole line (`read_lines` holds no piece of it after a
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
