"""The duplicate check's pre-scan: the record ids of the usage files -> the
few ids the engine must remember (`duplicate_candidates`).

`scan_ids` reads only the record ids of a usage file, exactly as the batches
of `usage.read_usage` give them; `duplicate_candidates` finds from them
the ids that may occur twice, so memory for duplicates stays small.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from operator import lt
from typing import cast

from clearline.runtime.inputs.locations import Input, open_bytes, suffix_of
from clearline.runtime.inputs.readers import (
    _PLAIN_CHUNK,
    BATCH_SIZE,
    ID_COLUMN,
    MAX_LINE,
    PARQUET_SUFFIXES,
    InputError,
    header_line,
    regular_file,
)
from clearline.runtime.inputs.usage import read_usage

__all__ = ["count_lines", "duplicate_candidates", "scan_ids"]


def scan_ids(path: Input) -> Iterator[list[str]] | None:
    """The non-empty record ids of a usage file, in chunks; None for a file
    that is not CSV, JSON Lines or Parquet.

    The ids are those the batches of `read_usage` carry, column for column; an
    empty id is left out (the engine rejects it). Parquet's come from its
    record_id column alone, so a row that another column makes unreadable
    still gives its id (the engine rejects that row without remembering its
    id: the candidates stay a superset). A file that cannot be read raises
    what reading it raises (OSError, InputError, UnicodeDecodeError).
    """
    suffix = suffix_of(path)
    if suffix == ".csv":
        return _csv_ids(path)
    if suffix in {".jsonl", ".ndjson"}:
        return _batch_ids(path)
    if suffix in PARQUET_SUFFIXES:
        from clearline.runtime.inputs import parquet  # pyarrow is imported only for Parquet files

        return parquet.parquet_ids(path)
    return None


def count_lines(path: Input) -> int:
    """An upper bound of the records of a usage file (its line breaks, plus one;
    a Parquet file's row count, from its footer)."""
    if suffix_of(path) in PARQUET_SUFFIXES:
        from clearline.runtime.inputs import parquet

        return parquet.parquet_rows_count(path) + 1
    with open_bytes(path) as raw:
        lines = breaks = 0
        for block in iter(lambda: raw.read(_PLAIN_CHUNK), b""):
            lines += block.count(b"\n")
            breaks += block.count(b"\r")
    return max(lines, breaks) + 1


class _NotPlain(Exception):
    """A quote or a carriage return: csv.reader must split the text."""


def _csv_ids(path: Input) -> Iterator[list[str]]:
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


def _plain_csv_ids(path: Input) -> Iterator[list[str]]:
    """The ids of a file without quotes, split at line ends and commas; CRLF line ends
    too (every carriage return followed by its line feed: the reader makes the same of
    them). A quote or a lone carriage return raises _NotPlain before any id of its chunk."""
    with open_bytes(path) as raw:
        header_line(raw, path)  # at most 1 MiB, however long the first line
    with io.TextIOWrapper(open_bytes(path), encoding="utf-8-sig", newline="") as handle:
        head = handle.readline()
        if '"' in head or "\r" in head.removesuffix("\r\n"):
            raise _NotPlain
        if not head:
            return
        columns = [h.strip() for h in head.removesuffix("\n").removesuffix("\r").split(",")]
        index = {name: i for i, name in enumerate(columns)}.get(ID_COLUMN)  # the last one wins
        if index is None:
            return
        rest = ""
        skipping = False  # inside a line the reader skips unread (longer than MAX_LINE)
        while True:
            text = handle.read(_PLAIN_CHUNK)
            if not text:
                break
            if '"' in text:
                raise _NotPlain  # before any id of this chunk is given
            if "\r" in text or rest.endswith("\r"):
                rest, text = _crlf(rest, text)
            if skipping:
                end = text.find("\n")
                if end < 0:
                    continue
                text, skipping = text[end + 1 :], False
            lines = (rest + text).split("\n")
            rest = lines.pop()
            if len(rest) > MAX_LINE:  # characters: its bytes are more still
                rest, skipping = "", True
            yield _field(lines, index)
        if rest.endswith("\r"):
            raise _NotPlain  # a lone carriage return at the end
        if rest:
            yield _field([rest], index)


def _crlf(rest: str, text: str) -> tuple[str, str]:
    """The line left from the last chunk and a chunk, with CRLF line ends made line
    feeds; a carriage return at the chunk's very end stays (its line feed may start the
    next chunk). Any other carriage return raises _NotPlain.

    >>> _crlf("R-1,4", "8\\r\\nR-2,49\\r"), _crlf("R-2,49\\r", "\\nR-3,48\\n")
    (('R-1,4', '8\\nR-2,49\\r'), ('R-2,49', '\\nR-3,48\\n'))
    """
    if rest.endswith("\r"):  # the last chunk's held carriage return
        if not text.startswith("\n"):
            raise _NotPlain
        rest = rest[:-1]
    held = text.endswith("\r")
    body = text[:-1] if held else text
    if body.count("\r") != body.count("\r\n"):
        raise _NotPlain
    return rest, body.replace("\r\n", "\n") + ("\r" if held else "")


def _field(lines: list[str], index: int) -> list[str]:
    if index == 0:
        return [v for line in lines if (v := line.partition(",")[0])]
    return [v for line in lines if len(parts := line.split(",", index + 1)) > index and (v := parts[index])]


def _batch_ids(path: Input) -> Iterator[list[str]]:
    usage = read_usage(path, BATCH_SIZE)
    for batch in usage.batches:
        # JSON Lines columns grow as keys appear: look the column up per batch, as the engine does
        index = {name: i for i, name in enumerate(usage.columns)}.get(ID_COLUMN)
        if index is not None:
            yield [v for row in batch.rows if index < len(row) and (v := row[index])]


def duplicate_candidates(paths: Sequence[Input], exact_below: int = 20_000) -> set[str] | None:
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
    >>> from pathlib import Path
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
        for path in paths:
            regular_file(path)
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
