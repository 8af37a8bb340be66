"""The columnar engine (`simulate --engine columnar`): usage read by polars in
blocks of columns, ordinary records rated a block at a time, every other
record through the engine's own paths.

Input: the engine (its plans, period, duplicate candidates) and a usage file.
Output: the same contributions to the engine's `Accumulated` state and the
same rated rows, in the same order, as `Engine.feed` over the reader's
batches: the run folder is byte for byte the reference engine's
(tests/test_differential.py holds it, over random contracts and records and
the bundled contracts).

How it stays exact and identical:

- **Reading.** A CSV file without quotes is cut into blocks of whole lines.
  polars reads a block as text columns only when it provably reads it as the
  engine's reader does: no NUL, no lone carriage return, no byte-order mark
  at its start, UTF-8 (polars refuses anything else), and every line exactly
  the header's cells (polars refuses longer lines; the block's commas number
  (cells - 1) times its lines, so none is shorter; so no line is blank either).
  Any other block, any quoted, JSON Lines or Parquet file, goes through the
  reader and `Engine.feed` unchanged.
- **Ordinary records.** A record is rated by columns when the checks of the
  reference path all pass in their common case, decided for the whole block
  by column expressions: an id, a timestamp of the form
  YYYY-MM-DDTHH:MM:SS+hh:mm with a valid date and time, an id not read before
  (nor twice in the block, when ids are remembered), exactly one product
  matching, inside its window, that product columnar (`columnar_reason`), a
  customer (in the customers file, when given), and a price the reference
  rating gives without a problem. Every other record goes through the
  engine's record paths (`FastPaths.records`, which hand anything unusual to
  the reference path), in file order between the ordinary ones, so rejects,
  their reasons and line numbers and "first read at" are the reference's.
- **Prices.** A columnar rule's price is a pure function of what it reads:
  the quantity's text, the answered flag, its table row and the texts of the
  fields its amount reads (`the value of FIELD`, `the maximum of FIELD`). Each
  distinct key is rated once, by the reference `rate` on one record of that
  key (a memo across blocks); the records share its result.
- **Sums.** A line adds each distinct price times the number of its records
  (exact in money.SUMS, as record by record: every partial sum is exact, so
  the sum and its exponent are those of the record-by-record sum); maxima and
  minima once per distinct value (`LineAcc.aggregate` does not depend on
  order); samples are the smallest ids of each line, wherever they are.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from decimal import localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from clearline import codes
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.money import SUMS
from clearline.runtime.inputs.readers import ID_COLUMN, MAX_LINE, Batch, ByteSpan
from clearline.runtime.inputs.usage import read_usage
from clearline.runtime.rating.accumulate import (
    RatedRows,
)
from clearline.runtime.rating.columnar_block import _Columns
from clearline.runtime.rating.columnar_plan import COLUMNAR, columnar_reason, format_columnar, product_reason
from clearline.runtime.rating.columnar_rows import _Segment, _Sink

if TYPE_CHECKING:
    import polars as pl

    from clearline.runtime.rating.engine import Engine
    from clearline.runtime.rating.reference import _FileContext

__all__ = [
    "BLOCK_BYTES",
    "COLUMNAR",
    "IdsOutOfOrder",
    "columnar_reason",
    "duplicate_candidates",
    "format_columnar",
    "product_reason",
    "settle_file",
    "settle_files",
]

BLOCK_BYTES = 4 << 20  # a block of lines polars reads at once: about 57,000 CDRs (see docs/scale.md)


# -- reading --------------------------------------------------------------------------
def _blocks(
    path: Path, width: int, span: ByteSpan | None = None
) -> Iterator[tuple[int, int, int, bytes | None]]:
    """(start, end, first line, the block's bytes or None) of the lines after the
    header (of `span` only: a partition); None where polars may not read the block
    as the reader does."""
    with path.open("rb") as raw:
        if span is None:
            head = raw.readline(MAX_LINE + 1)
            start, number, rest, left = len(head), 2, b"", -1
        else:
            raw.seek(span.start)
            start, number, rest, left = span.start, span.first, b"", span.end - span.start
        while True:
            data = raw.read(BLOCK_BYTES if left < 0 else min(BLOCK_BYTES, left))
            left -= len(data) if left >= 0 else 0
            data = rest + data if rest else data
            if not data:
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # the last line has no line end: the reader's own
                yield start, start + len(data), number, None
                return
            block, rest = data[:cut], data[cut:]
            lines = block.count(b"\n")
            yield start, start + cut, number, block if _plain(block, lines, width) else None
            start += cut
            number += lines


def _plain(block: bytes, lines: int, width: int) -> bool:
    if b"\x00" in block or block.startswith(b"\xef\xbb\xbf"):
        return False
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        return False
    return lines <= (len(block) // 2 or 1) and block.count(b",") == lines * (width - 1)


def _frame(block: bytes, width: int) -> pl.DataFrame | None:
    import polars as pl

    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
    names = [f"c{i}" for i in range(width)]
    try:
        frame = pl.read_csv(
            block,
            has_header=False,
            new_columns=names,
            schema=dict.fromkeys(names, pl.String),
            empty_string_is_null=False,
            quote_char=None,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):  # not UTF-8, a line too long
        return None
    if frame.height != block.count(b"\n"):
        return None
    if frame.height and frame.select(pl.sum_horizontal(pl.all().str.len_bytes())).max().item() + width > (
        MAX_LINE
    ):
        return None  # a line the reader skips as longer than 1 MiB
    return frame


# -- the run --------------------------------------------------------------------------
def settle_file(
    engine: Engine,
    path: Path,
    label: str,
    batch_size: int,
    sink: _Sink | None,
    progress: Callable[[int], None] | None,
    span: ByteSpan | None = None,
    order: _Order | None = None,
) -> None:
    """Rate one usage file (or the part `span` of it: a worker's partition) into
    `engine`, as `Engine.feed` over its batches would; its rated rows go to `sink`
    (the run folder's writer, or a worker's part files) in file order. With `order`,
    the ids are checked to increase as they are read (`settle_files`)."""
    rated = sink.rated if sink is not None else None
    try:
        import polars  # noqa: F401
    except ImportError:
        raise ClearlineError(
            [
                Diagnostic(
                    codes.COLUMNAR_UNAVAILABLE,
                    "--engine columnar needs polars, which is not installed",
                    None,
                    "pip install 'clearline[columnar]', or leave out --engine columnar",
                )
            ]
        ) from None
    usage = read_usage(path, batch_size, span=span)  # the reader's checks, errors and columns
    columns = usage.columns
    plain = path.suffix.lower() == ".csv" and columns and _quoteless_plain_header(path, span)
    if order is not None and (not plain or columns.count(ID_COLUMN) != 1):
        raise IdsOutOfOrder  # `settle_files` asked for files it can check
    if not plain:
        for batch in usage.batches:
            _feed(engine, label, columns, batch, rated, progress)
        return
    usage.close()  # its batches are not read: the blocks are
    ctx = engine.context(label, columns)
    width = len(columns)
    state = _state(ctx, width)
    for start, end, first, block in _blocks(path, width, span):
        frame = _frame(block, width) if block is not None and state is not None else None
        if order is not None:  # the ids increase so far, in blocks polars reads
            column = columns.index(ID_COLUMN)
            ids = frame[f"c{column}"] if frame is not None else _block_ids(block, width, column)
            order.check(ids)
        if frame is None or state is None:
            span = ByteSpan(start, end, first, quotes=False)
            for batch in read_usage(path, batch_size, span=span).batches:
                _feed(engine, label, columns, batch, rated, progress)
            continue
        out: list[_Segment] = []
        with localcontext(SUMS):
            state.block(frame, first, out, sink)
        for segment in out:
            if sink is None:
                break
            if isinstance(segment, RatedRows):
                sink.rated(segment)
            else:
                count, csv_text, json_text = segment
                sink.rated_text(count, csv_text.encode(), json_text.encode())
        if progress is not None:
            progress(engine.acc.read)


class IdsOutOfOrder(Exception):
    """The ids read do not strictly increase, or a block is not one polars reads: the
    run starts again, after the reader's pre-scan of the ids (`settle_files`)."""


class _Order:
    """The last id read through the files, while the ids strictly increase."""

    def __init__(self) -> None:
        self.last: str | None = None

    def check(self, ids: pl.Series | None) -> None:
        """Raise IdsOutOfOrder unless the block's non-empty ids (None: a block polars
        cannot read) strictly increase after the last."""
        if ids is None:
            raise IdsOutOfOrder
        ids = ids.filter(ids != "")
        if ids.is_empty():
            return
        last = self.last
        if (last is not None and not last < ids[0]) or not (ids.slice(1) > ids.slice(0, len(ids) - 1)).all():
            raise IdsOutOfOrder
        self.last = ids[-1]


class _Restartable(_Sink, Protocol):
    def restart_rated(self) -> None: ...


def settle_files(
    engine: Engine,
    again: Callable[[set[str] | None], Engine],
    paths: Sequence[Path],
    labels: Sequence[str],
    batch_size: int,
    sink: _Restartable | None,
    progress: Callable[[int], None] | None,
) -> Engine:
    """Rate the usage files in one process, with no pre-scan of the ids when they can
    be checked as they are read: `engine` has no duplicate candidates (the ids
    increase, so none is read twice), and the blocks' ids are checked to increase
    through the files. When they do not (or a block is not one polars reads), the
    rated rows so far are dropped and the run starts again with `again(candidates)`,
    the engine of the reader's pre-scan (`duplicates.duplicate_candidates`). The
    engine that rated the files is returned."""
    from clearline.runtime.inputs import duplicates

    if _checkable(paths):
        try:
            order = _Order()
            for path, label in zip(paths, labels, strict=True):
                settle_file(engine, path, label, batch_size, sink, progress, order=order)
            return engine
        except IdsOutOfOrder:
            if sink is not None:
                sink.restart_rated()
    engine = again(duplicates.duplicate_candidates(paths))
    for path, label in zip(paths, labels, strict=True):
        settle_file(engine, path, label, batch_size, sink, progress)
    return engine


def _checkable(paths: Sequence[Path]) -> bool:
    """Every file a plain CSV file without quotes and with one id column."""
    from clearline.runtime.inputs.readers import InputError, regular_file

    try:
        for path in paths:
            regular_file(path)
            if path.suffix.lower() != ".csv":
                return False
            usage = read_usage(path)
            usage.close()
            if usage.columns.count(ID_COLUMN) != 1 or not _quoteless_plain_header(path):
                return False
    except (OSError, InputError):
        return False
    return True


def _block_ids(block: bytes | None, width: int, column: int) -> pl.Series | None:
    """The id column of a plain block, read by polars; None if it cannot be."""
    import polars as pl

    if block is None:
        return None
    names = [f"c{i}" for i in range(width)]
    try:
        return pl.read_csv(
            block.replace(b"\r\n", b"\n") if b"\r" in block else block,
            has_header=False,
            new_columns=names,
            schema=dict.fromkeys(names, pl.String),
            columns=[column],
            empty_string_is_null=False,
            quote_char=None,
        ).to_series()
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
        return None


def duplicate_candidates(paths: Sequence[Path]) -> set[str] | None:
    """`duplicates.duplicate_candidates`, its common case by columns: when every file is
    a plain CSV file whose blocks polars reads (`_blocks`), the id column alone is read
    and, when the ids strictly increase through the files, none can be read twice (no
    candidate). Anything else: the reader's own scan (the Bloom filter's candidates)."""
    from clearline.runtime.inputs import duplicates
    from clearline.runtime.inputs.readers import InputError, regular_file

    try:
        last: str | None = None
        for path in paths:
            regular_file(path)
            columns = []
            if path.suffix.lower() == ".csv":
                usage = read_usage(path)
                usage.close()
                columns = usage.columns
            if columns.count(ID_COLUMN) != 1 or not _quoteless_plain_header(path):
                return duplicates.duplicate_candidates(paths)
            last = _increasing_ids(path, len(columns), columns.index(ID_COLUMN), last)
            if last is None:
                return duplicates.duplicate_candidates(paths)
    except (OSError, InputError):
        return duplicates.duplicate_candidates(paths)  # which gives up, and the run reports it
    return set()


def _increasing_ids(path: Path, width: int, column: int, last: str | None) -> str | None:
    """The last id of the file when its non-empty ids, after `last`, strictly increase;
    None when they do not, or a block is not plain."""
    found = last or ""
    for _, _, _, block in _blocks(path, width):
        ids = _block_ids(block, width, column)
        if ids is None:
            return None
        ids = ids.filter(ids != "")
        if ids.is_empty():
            continue
        if (last is not None and not last < ids[0]) or not (ids.slice(1) > ids.slice(0, len(ids) - 1)).all():
            return None
        last = found = ids[-1]
    return found if last is not None else ""


def _feed(
    engine: Engine,
    label: str,
    columns: list[str],
    batch: Batch,
    rated: Callable[[RatedRows], None] | None,
    progress: Callable[[int], None] | None,
) -> None:
    rows = engine.feed(label, columns, batch)
    if rated is not None:
        rated(rows)
    if progress is not None:
        progress(engine.acc.read)


def _quoteless_plain_header(path: Path, span: ByteSpan | None = None) -> bool:
    """A CSV file without quotes whose header is one line ending in a line feed (the
    reader reads the rest in blocks, a line a row). Of a partition, the planner has
    looked for quotes (`span.quotes`)."""
    from clearline.runtime.inputs.readers import _has_quotes

    if span.quotes if span is not None else _has_quotes(path):
        return False
    with path.open("rb") as raw:
        head = raw.readline(MAX_LINE + 1)
    return head.endswith(b"\n") and b"\r" not in head.removesuffix(b"\n").removesuffix(b"\r")


_STATES: weakref.WeakKeyDictionary[_FileContext, _Columns | None] = weakref.WeakKeyDictionary()


def _state(ctx: _FileContext, width: int) -> _Columns | None:
    """The columnar state of a file context; None when no record of it can run columnar
    (no id, timestamp or customer column, or no columnar product)."""
    if ctx in _STATES:
        return _STATES[ctx]
    state = None
    if ctx.engine.fast and None not in (ctx.i_id, ctx.i_ts, ctx.i_cust) and ctx.fast:
        state = _Columns(ctx, width)
        if not any(c.ok for c in state.products):
            state = None
    _STATES[ctx] = state
    return state
