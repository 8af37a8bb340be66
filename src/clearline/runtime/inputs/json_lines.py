"""The JSON Lines reader: a JSON Lines usage file (or a byte range of one) -> its
columns (the keys, in the order first seen) and batches of raw rows.

Numbers are kept as their text (never float); a line that is not a JSON object,
or holds a lone surrogate, becomes a `marker` row, which the engine rejects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from typing import IO, cast

from clearline.runtime.inputs.lines import HEAD, Bounded, Unread, json_id, read_lines, unread_id
from clearline.runtime.inputs.locations import Input, open_bytes
from clearline.runtime.inputs.readers import Batch, ByteSpan, InputError, Row, UsageFile, marker

__all__ = ["read_jsonl"]


def read_jsonl(path: Input, batch_size: int, span: ByteSpan | None = None) -> UsageFile:
    # Columns are the union of keys of the first batch; later keys are read too. Of a
    # span, in the order the span shows them (see runtime.inputs.partitions).
    try:
        raw = open_bytes(path)
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err.strerror or err}") from None
    columns: list[str] = []
    index: dict[str, int] = {}
    if span is None:
        lines = read_lines(raw)
    else:
        raw.seek(span.start)
        lines = read_lines(cast(IO[bytes], Bounded(raw, span.end - span.start)), span.first - 1)

    def parse(text: str | None, reason: str) -> dict[str, object] | str:
        if text is None:
            return reason
        head = text[:HEAD].encode("utf-8", "replace")
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
