"""Lines: the bytes of a usage file -> its lines, decoded one at a time or a block
at a time, with the line numbers of the whole file.

A line that cannot be read (not UTF-8, longer than MAX_LINE) comes out as None
with the reason (an `Unread`, which keeps the line's first bytes to name its
record id in the reject); an over-long line is skipped in chunks, never held.
`Bounded` stops the lines at the end of a byte range (runtime.inputs.partitions).
The CSV and JSON Lines readers (csv_files, json_lines) and the partition planner
read through these; this module imports no other of clearline's.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Generator, Iterator
from typing import IO

__all__ = [
    "HEAD",
    "MAX_LINE",
    "Bounded",
    "LineRun",
    "Unread",
    "csv_id",
    "json_id",
    "line_runs",
    "read_lines",
    "unread_id",
]

MAX_LINE = 1 << 20  # a usage line longer than this is rejected, never read whole

_LINE_ENDS = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


HEAD = 1 << 12  # bytes of an unreadable line kept to find its record id in


class Unread(str):
    """The reason a line could not be read, with the line's first bytes (`head`):
    enough to name its record id in the reject, never the whole line."""

    head: bytes

    def __new__(cls, reason: str, head: bytes) -> Unread:
        made = super().__new__(cls, reason)
        made.head = head[:HEAD]
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


def read_lines(raw: IO[bytes], number: int = 0) -> Iterator[tuple[int, str | None, str]]:
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
            head = data[:HEAD]
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


_BLOCK = 1 << 20  # bytes read at a time by `line_runs`
# a line of `line_runs`: a run of readable lines (the number of the first, their texts
# without line ends), or one unreadable line (its number, None, the reason)
LineRun = tuple[int, list[str], str] | tuple[int, None, str]


def line_runs(raw: IO[bytes], number: int) -> Iterator[LineRun]:
    """The lines after line `number`, as `read_lines` makes them, a block at a time.

    A block of whole lines that decodes as UTF-8, has no carriage return and
    no line longer than MAX_LINE is split in C and comes out as one run; any
    other block goes through `read_lines` line by line. A line with no end within
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
    """The lines of `data`, after line `number`, one by one through `read_lines`;
    returns the number of the last."""
    for number, text, reason in read_lines(io.BytesIO(data), number):  # noqa: B020  (the count runs on)
        if text is None:
            yield number, None, reason
        else:  # without its line end, as csv.reader reads it
            yield number, [text.removesuffix("\n").removesuffix("\r")], ""
    return number


class Bounded:
    """The bytes of a binary file up to an offset: what `read_lines` and `line_runs` read
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
