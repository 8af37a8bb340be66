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

import datetime as dt
import weakref
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.money import SUMS
from clearline.runtime.inputs.readers import (
    MAX_LINE,
    Batch,
    ByteSpan,
    Row,
)
from clearline.runtime.inputs.usage import read_usage
from clearline.runtime.rating.accumulate import (
    SAMPLE_SIZE,
    Event,
    LineAcc,
    RatedLine,
    RatedPrice,
    RatedRows,
    Reject,
)
from clearline.runtime.rating.closures import (
    _PURE_OPS,
    _RATE_FIELDS,
    _RULE_FIELDS,
    PRODUCT_FIELDS,
    RecordProblem,
    at_defaults,
    pred_fields,
)
from clearline.runtime.rating.products import _CACHE_LIMIT, _Priced

if TYPE_CHECKING:
    import polars as pl

    from clearline.runtime.rating.engine import Engine, _FileContext
    from clearline.runtime.rating.products import _ProductRT, _Rule

__all__ = [
    "BLOCK_BYTES",
    "COLUMNAR",
    "columnar_reason",
    "duplicate_candidates",
    "format_columnar",
    "product_reason",
    "settle_file",
]

COLUMNAR = "columnar"
BLOCK_BYTES = 2 << 20  # a block of lines polars reads at once: about 28,000 CDRs (see docs/scale.md)
_COLUMNAR_OPS = _PURE_OPS | {"field", "agg"}  # `field`, `agg`: the key holds the fields' texts
_ZERO = Decimal(0)


# -- which rules run columnar ---------------------------------------------------------
def _ops(expr: ir.Expr) -> list[str]:
    found = [expr.op]
    for arg in expr.args:
        found += _ops(arg)
    return found


def columnar_reason(plan: ir.ChargePlan | ir.PayoutPlan) -> str | None:
    """None when the rule runs columnar, else why it is rated per record."""
    reasons = []
    if not at_defaults(plan, _RULE_FIELDS):
        reasons.append("the rule sets what the columnar engine does not know")
    if plan.rate.allowance_per is not None:
        reasons.append(f"an allowance for each {plan.rate.allowance_per} (kept per value)")
    elif not at_defaults(plan.rate, _RATE_FIELDS):
        reasons.append("its rate sets what the columnar engine does not know")
    other = sorted({op for op in _ops(plan.rate.expr) if op not in _COLUMNAR_OPS})
    if other:
        reasons.append("its amount uses " + ", ".join(f"`{op}`" for op in other))
    return "; ".join(reasons) or None


def product_reason(product: ir.ProductPlan) -> str | None:
    """None when the product's records can run columnar, else why not."""
    if not at_defaults(product, PRODUCT_FIELDS):
        return "the product sets what the columnar engine does not know (refunds, say)"
    if product.kind == "subscription":
        if product.starts is None or product.ends is None:
            return "a subscription without both a start and an end event"
        return None  # its events by columns; its rules price each subscriber at the close
    rules: list[ir.ChargePlan | ir.PayoutPlan] = [*product.charges, *product.payouts]
    slow = [r.clause.label for r in rules if columnar_reason(r) is not None]
    if slow:
        return "rated per record by " + ", ".join(f'"{c}"' for c in slow)
    return None


# -- reading --------------------------------------------------------------------------
def _blocks(path: Path, width: int) -> Iterator[tuple[int, int, int, bytes | None]]:
    """(start, end, first line, the block's bytes or None) of the lines after the
    header; None where polars may not read the block as the reader does."""
    with path.open("rb") as raw:
        head = raw.readline(MAX_LINE + 1)
        start, number, rest = len(head), 2, b""
        while True:
            data = raw.read(BLOCK_BYTES)
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
) -> None:
    """Rate one usage file into `engine`, as `Engine.feed` over its batches would; its
    rated rows go to `sink` (the run folder's writer) in file order."""
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
    usage = read_usage(path, batch_size)  # the reader's checks, errors and columns
    columns = usage.columns
    plain = path.suffix.lower() == ".csv" and columns and _quoteless_plain_header(path)
    if not plain:
        for batch in usage.batches:
            _feed(engine, label, columns, batch, rated, progress)
        return
    usage.close()  # its batches are not read: the blocks are
    ctx = engine.context(label, columns)
    width = len(columns)
    state = _state(ctx, width)
    for start, end, first, block in _blocks(path, width):
        frame = _frame(block, width) if block is not None and state is not None else None
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


def duplicate_candidates(paths: Sequence[Path]) -> set[str] | None:
    """`duplicates.duplicate_candidates`, its common case by columns: when every file is
    a plain CSV file whose blocks polars reads (`_blocks`), the id column alone is read
    and, when the ids strictly increase through the files, none can be read twice (no
    candidate). Anything else: the reader's own scan (the Bloom filter's candidates)."""
    from clearline.runtime.inputs import duplicates
    from clearline.runtime.inputs.readers import ID_COLUMN, InputError, regular_file

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
    import polars as pl

    names = [f"c{i}" for i in range(width)]
    found = last or ""
    for _, _, _, block in _blocks(path, width):
        if block is None:
            return None
        try:
            ids = pl.read_csv(
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


def _quoteless_plain_header(path: Path) -> bool:
    """A CSV file without quotes whose header is one line ending in a line feed (the
    reader reads the rest in blocks, a line a row)."""
    from clearline.runtime.inputs.readers import _has_quotes

    if _has_quotes(path):
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


_UNSET: Any = object()


class _Product:
    """A columnar product of one file: what its price key reads, and its memo."""

    def __init__(self, ctx: _FileContext, position: int, p: _ProductRT) -> None:
        self.position = position  # in ctx.fast
        self.p = p
        index = ctx.index
        plan = p.product
        self.rules: list[_Rule] = p.charges + p.payouts
        self.match_fields = sorted(f for f in pred_fields(plan.matches) if f in index)
        self.answered_fields = sorted(f for f in pred_fields(plan.answered) if f in index)
        self.i_qty = index.get("quantity") if plan.reads_quantity else None
        self.tabled = [(k, r, index.get(r.table.field)) for k, r in enumerate(self.rules) if r.table]
        read = set()
        for r in self.rules:
            read |= set(r.values) | {name for _, name in r.aggregates}
        self.fields = sorted(read)
        needed = [self.i_qty] if plan.reads_quantity else []
        needed += [c for _, _, c in self.tabled]
        needed += [index.get(f) for f in self.fields]
        needed += [index.get(r.rate.group_by) for r in self.rules if r.rate.group_by not in (None, "prefix")]
        # else every record of it goes by the record paths (a subscription's events read
        # no rule's fields: its rules price each subscriber at the close)
        self.ok = p.subscription or None not in needed
        # every rule priced once per line from its totals, with no table: a record adds its
        # billed quantity and field values, computed here in scaled integers (`_Vector`)
        self.vector = all(
            r.line_level
            and r.table is None
            and r.rate.group_by != "prefix"
            and all(0 < v <= _SMALL for v in (r.rate.first, r.rate.next) if v is not None)
            for r in self.rules
        )
        self.integers = p.integers
        self.memo: dict[tuple[object, ...], tuple[tuple[_Priced, ...], list[list[Any]]] | None] = {}


class _Sink(Protocol):
    """Where rated rows go (runtime.store.run_folder.RunWriter)."""

    def rated(self, rows: RatedRows) -> None: ...

    def rated_text(self, count: int, csv_text: bytes, json_text: bytes) -> None: ...

    def rated_parts(
        self, lines: Sequence[RatedLine], prices: Sequence[RatedPrice]
    ) -> tuple[list[str], list[str], list[str], list[str]]: ...


# a block's rated rows in order: rows, or (rows, CSV text, JSON Lines text) rendered here
_Segment = RatedRows | tuple[int, str, str]


def _segment(out: list[_Segment], rows: RatedRows) -> RatedRows:
    out.append(rows)
    return rows


class _Parts:
    """A product's ordinary records of a block, for their rated rows: their ids and per
    rule the lines' and prices' parts with each record's code of each; rendered as
    text by polars (`render`) when every id is written plainly."""

    def __init__(self, ids: pl.Series) -> None:
        self.ids = ids
        self.rules: list[tuple[list[RatedLine], pl.Series, list[RatedPrice | None], pl.Series]] = []
        self.csv: pl.Series | None = None  # per record, its rows' text
        self.json: pl.Series | None = None
        self.lists: tuple[list[str], list[RatedLine], list[RatedPrice]] | None = None

    def render(self, sink: _Sink | None) -> None:
        """The records' rows as CSV and JSON Lines text, as the writer renders them (its
        own renderings of the parts, joined after each id)."""
        import polars as pl

        if sink is None or not self.rules or self.ids.is_empty():
            return
        if self.ids.str.contains(_NOT_PLAIN_ID).any():
            return  # quoted or escaped: the writer renders them
        csv_cols: list[pl.Expr] = []
        json_cols: list[pl.Expr] = []
        ids = pl.col("i")
        for lines, line_codes, prices, price_codes in self.rules:
            used = [p if p is not None else _NO_PRICE for p in prices]
            csv_l, csv_p, json_l, json_p = sink.rated_parts(lines, used)
            csv_cols += [ids, pl.lit(pl.Series(csv_l).gather(line_codes))]
            json_cols += [pl.lit(_JSON_HEAD), ids, pl.lit(pl.Series(json_l).gather(line_codes))]
            if price_codes.dtype == pl.String:  # a billed quantity written plainly, no amount
                csv_cols += [pl.lit(price_codes), pl.lit(",\n")]
                json_cols += [pl.lit(price_codes), pl.lit('","amount":""}\n')]
            else:
                csv_cols.append(pl.lit(pl.Series(csv_p).gather(price_codes)))
                json_cols.append(pl.lit(pl.Series(json_p).gather(price_codes)))
        frame = pl.DataFrame({"i": self.ids})
        self.csv = frame.select(pl.concat_str(csv_cols))[:, 0]
        self.json = frame.select(pl.concat_str(json_cols))[:, 0]

    def rows(self, lo: int, length: int, out: RatedRows) -> None:
        """The rows of records lo to lo + length, as objects (the writer renders them)."""
        k = len(self.rules)
        if self.lists is None:
            ids = self.ids.to_list()
            per_rule = [
                (list(map(lines.__getitem__, lc.to_list())), _prices(prices, pc))
                for lines, lc, prices, pc in self.rules
            ]
            if k == 1:
                self.lists = (ids, per_rule[0][0], cast(list[RatedPrice], per_rule[0][1]))
            else:
                self.lists = (
                    [rid for rid in ids for _ in range(k)],
                    [x for row in zip(*(r[0] for r in per_rule), strict=True) for x in row],
                    [x for row in zip(*(r[1] for r in per_rule), strict=True) for x in row],
                )
        ids, lines, prices = self.lists
        out.ids += ids[lo * k : (lo + length) * k]
        out.lines += lines[lo * k : (lo + length) * k]
        out.prices += prices[lo * k : (lo + length) * k]


def _prices(prices: list[RatedPrice | None], codes: pl.Series) -> list[RatedPrice | None]:
    """Each record's price part: by its code, or from its billed quantity's text."""
    import polars as pl

    if codes.dtype != pl.String:
        return list(map(prices.__getitem__, codes.to_list()))
    texts = codes.to_list()
    made = {text: RatedPrice(text, "") for text in set(texts)}
    return list(map(made.__getitem__, texts))


# a record id the writer writes as it is (see run_folder.RatedText.render): printable
# ASCII but space, no comma, quote or backslash, not starting like a formula
_NOT_PLAIN_ID = r'[^\x21-\x7e]|[,"\\]|^[=+\-@]|^$'
_JSON_HEAD = '{"record_id":"'
_NO_PRICE = RatedPrice("", "")  # a price no ordinary record has (its key was unusual)


class _Columns:
    """The columnar rating of one file context (its products, its memos)."""

    def __init__(self, ctx: _FileContext, width: int) -> None:
        self.ctx = ctx
        self.width = width  # the file's columns (c0, c1, ... in the blocks' frames)
        self.by_columns = 0  # records rated by columns (the tests look)
        self.candidates: pl.Series | None = None  # the engine's duplicate candidates
        self.products: list[_Product] = []
        for position, fast in enumerate(ctx.fast):
            p = fast.product
            if product_reason(p.product) is None:
                self.products.append(_Product(ctx, position, p))
        self.by_position = {c.position: c for c in self.products}

    def unmatched(self, frame: pl.DataFrame, first: int, c_id: str, remembered: pl.Expr) -> None:
        """Records read that no product matches: unmatched, their ids remembered, as the
        reference path (`settle_record`) does."""
        if frame.height == 0:
            return
        ctx = self.ctx
        engine = ctx.engine
        file, reason = ctx.file, "no product of any contract matches this record"
        code = codes.UNMATCHED_NO_PRODUCT
        ids, numbers = frame[c_id].to_list(), [first + i for i in frame["_i"].to_list()]
        engine.acc.unmatched += [
            Reject(file, n, rid, "", "", reason, code) for rid, n in zip(ids, numbers, strict=True)
        ]
        kept = frame.filter(remembered)
        engine.seen.update((rid, (file, first + i)) for rid, i in zip(kept[c_id], kept["_i"], strict=True))

    def block(self, frame: pl.DataFrame, first: int, out: list[_Segment], sink: _Sink | None) -> None:
        """Rate a block: `out` gets its rated rows in file order, as rows or as text
        rendered with `sink`'s parts (when every id of a product is written plainly)."""
        import polars as pl

        ctx = self.ctx
        engine = ctx.engine
        n = frame.height
        engine.acc.read += n
        if n == 0:
            return
        assert ctx.i_id is not None and ctx.i_ts is not None and ctx.i_cust is not None
        c_id, c_ts, c_cust = f"c{ctx.i_id}", f"c{ctx.i_ts}", f"c{ctx.i_cust}"
        ts = pl.col(c_ts)
        # the timestamp's form, then a valid date (distinct days, by Python) and time
        form = (
            (pl.col(c_id) != "")
            & (ts.str.len_bytes() == 25)
            & ts.str.contains(
                r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9][+-][0-9]{2}:[0-9]{2}$"
            )
        )
        frame = frame.with_row_index("_i").with_columns(
            form.alias("_ok"), ts.str.slice(0, 10).alias("_day"), ts.str.slice(19).alias("_off")
        )
        days = frame.filter(pl.col("_ok"))["_day"].unique().to_list()
        bad_days = [d for d in days if not _is_date(d)]
        offsets = frame.filter(pl.col("_ok"))["_off"].unique().to_list()
        windows = {o: ctx.windows.get(o) or ctx.add_windows(o) for o in offsets}
        good_offsets = [o for o, w in windows.items() if w]
        ok = pl.col("_ok") & ~pl.col("_day").is_in(bad_days) & pl.col("_off").is_in(good_offsets)
        # duplicates: an id remembered is ordinary only when read once here and never before
        candidates, seen = engine.candidates, engine.seen
        if candidates is None:
            remembered = pl.lit(True)
        elif not candidates:  # the ids increase: none is read twice, none is remembered
            remembered = pl.lit(False)
        else:
            if self.candidates is None or len(self.candidates) != len(candidates):
                self.candidates = pl.Series(list(candidates), dtype=pl.String)
            remembered = pl.col(c_id).is_in(self.candidates.implode())
        if candidates is None or candidates:
            kept = frame.filter(remembered)[c_id]
            twice = kept.filter(kept.is_duplicated()).unique().to_list()
            twice += [rid for rid in kept.to_list() if rid in seen] if seen else []
            ok = ok & ~(remembered & pl.col(c_id).is_in(twice))
        # the product: exactly one matches, a columnar one, with the time inside its window
        matched = [
            _predicate(frame, fast.product.product.matches, ctx.index, fast.match) for fast in ctx.fast
        ]
        count = (
            pl.sum_horizontal([m.fill_null(True).cast(pl.Int32) for m in matched]) if matched else pl.lit(0)
        )
        if matched:  # a predicate that raised (null): the reference path rejects the record
            ok = ok & ~pl.any_horizontal([m.is_null() for m in matched])
        unmatched = ok & (count == 0)  # read, and no product matches it
        ok = ok & (count == 1)
        customers = engine.customers
        ok = ok & (pl.col(c_cust) != "")
        if customers is not None:
            named = frame[c_cust].unique().to_list()
            ok = ok & pl.col(c_cust).is_in([c for c in named if c in customers])
        which = pl.lit(-1, dtype=pl.Int32)
        for c in self.products:
            if not c.ok:
                continue
            start = {o: w[c.position][1] for o, w in windows.items() if w}
            end = {o: w[c.position][2] for o, w in windows.items() if w}
            inside = (ts >= pl.col("_off").replace_strict(start, default="~", return_dtype=pl.String)) & (
                ts < pl.col("_off").replace_strict(end, default="", return_dtype=pl.String)
            )
            which = (
                pl.when(matched[c.position] & inside)
                .then(pl.lit(c.position, dtype=pl.Int32))
                .otherwise(which)
            )
        frame = frame.with_columns(
            pl.when(ok)
            .then(which)
            .when(unmatched)
            .then(pl.lit(_UNMATCHED, dtype=pl.Int32))
            .otherwise(-1)
            .alias("_p")
        )
        self.unmatched(frame.filter(pl.col("_p") == _UNMATCHED), first, c_id, remembered)
        # prices: a key per record; each distinct key rated once (the memo), None if unusual
        parts: dict[int, tuple[_Product, pl.DataFrame, list[Any]]] = {}
        for c in self.products:
            mine = frame.filter(pl.col("_p") == c.position)
            if mine.height == 0:
                continue
            entries: list[Any] = []
            if c.p.subscription:
                mine = _event_columns(ctx, c, mine)
                good = pl.col("_valid")
            elif c.vector:
                mine = _vector_columns(ctx, c, mine)
                good = pl.col("_valid")
            else:
                codes, entries = self.price(c, mine)
                mine = mine.with_columns(pl.Series("_e", codes, dtype=pl.Int64))
                good = (
                    pl.col("_e").is_in([i for i, e in enumerate(entries) if e is not None]).fill_null(False)
                )
            bad = mine.filter(~good)["_i"]
            if len(bad):  # a key the reference rating rejects: its records go by the record paths
                frame = frame.with_columns(
                    pl.when(pl.col("_i").is_in(bad.implode())).then(-1).otherwise(pl.col("_p")).alias("_p")
                )
                mine = mine.filter(good)
            if mine.height:
                parts[c.position] = (c, mine, entries)
        # the ordinary records are read: their ids remembered, their sums added
        for _, mine, _ in parts.values():
            if candidates is None:
                rids, lines_no = mine[c_id].to_list(), [first + i for i in mine["_i"].to_list()]
                seen.update(zip(rids, ((ctx.file, n) for n in lines_no), strict=True))
            elif candidates:
                keep = mine.filter(remembered)
                for rid, i in zip(keep[c_id].to_list(), keep["_i"].to_list(), strict=True):
                    seen[rid] = (ctx.file, first + i)
            engine.acc.rated += mine.height
            self.by_columns += mine.height
        rated_of: dict[int, _Parts] = {}
        for position, (c, mine, entries) in parts.items():
            if c.p.subscription:
                self.add_events(c, mine, c_id, c_cust)
                rated_of[position] = _Parts(mine[c_id])
            elif c.vector:
                rated_of[position] = self.add_vector(c, mine, c_id, c_cust)
            else:
                rated_of[position] = self.add(c, mine, entries, c_id, c_cust)
        # the rated rows in file order: runs of one product's ordinary records, and the rest
        # records with no rated row now (unmatched, subscription events) do not cut the runs
        silent = [_UNMATCHED, *(p for p, found in rated_of.items() if not found.rules)]
        runs = frame.filter(~pl.col("_p").is_in(silent))["_p"].rle()
        others = frame.filter(pl.col("_p") == -1)
        numbers_of = [first + i for i in others["_i"].to_list()]
        rows = cast(
            list[Row], list(map(list, others.select([f"c{i}" for i in range(self.width)]).iter_rows()))
        )
        done = 0
        cursor = dict.fromkeys(rated_of, 0)
        for found in rated_of.values():
            found.render(sink)
        rows_out: RatedRows | None = None
        for length, position in runs.struct.unnest().iter_rows():
            if position == -1:  # the record paths, which reject or rate each as the reference
                numbers = numbers_of[done : done + length]
                rows_out = rows_out if rows_out is not None else _segment(out, RatedRows())
                self.ctx.records(Batch(numbers, rows[done : done + length]), rows_out)
                done += length
            elif position >= 0:
                found = rated_of[position]
                lo = cursor[position]
                cursor[position] = lo + length
                if not found.rules:
                    pass  # subscription events: no rated rows until the close
                elif found.csv is not None and found.json is not None:
                    csv_text = found.csv.slice(lo, length).str.join("").item()
                    json_text = found.json.slice(lo, length).str.join("").item()
                    out.append((length * len(found.rules), csv_text, json_text))
                    rows_out = None
                else:
                    rows_out = rows_out if rows_out is not None else _segment(out, RatedRows())
                    found.rows(lo, length, rows_out)

    def price(self, c: _Product, mine: pl.DataFrame) -> tuple[list[int], list[Any]]:
        """Per record of `mine`, the code of its entry in the returned list (None: the
        reference rating found a problem with that key)."""
        import polars as pl

        ctx = self.ctx
        key_cols: list[str] = [f"c{c.i_qty}"] if c.i_qty is not None else []
        answered = _predicate(mine, c.p.product.answered, ctx.index, ctx.answered[id(c.p)])
        mine = mine.with_columns(answered.alias("_ans"))
        key_cols.append("_ans")
        for k, rule, col in c.tabled:
            assert col is not None
            short = pl.col(f"c{col}")
            if rule.key_length is not None:
                short = short.str.slice(0, rule.key_length)
            mine = mine.with_columns(short.alias(f"_s{k}"))
            shorts = mine.select(f"_s{k}").unique()
            found = [_found(rule, text) for text in shorts[f"_s{k}"].to_list()]
            shorts = shorts.with_columns(pl.Series(f"_t{k}", found, dtype=pl.String))
            mine = mine.join(shorts, on=f"_s{k}", how="left", maintain_order="left", nulls_equal=True)
            key_cols.append(f"_t{k}")  # the table row's key; null: the reference rejects it
        key_cols += [f"c{ctx.index[f]}" for f in c.fields]
        reps = mine.with_row_index("_j").unique(subset=key_cols, keep="first", maintain_order=True)
        reps = reps.select(["_j", *key_cols])
        entries: list[Any] = []
        codes_of: dict[tuple[object, ...] | None, int] = {}
        code_list: list[int] = []
        missing: list[tuple[int, int, tuple[object, ...]]] = []  # (entry, record, key) to rate
        for values in reps.iter_rows():
            key = self.key(c, values[1:])
            code = codes_of.get(key)
            if code is None:
                code = codes_of[key] = len(entries)
                entry = None if key is None else c.memo.get(key, _UNSET)
                if entry is _UNSET:
                    missing.append((code, values[0], cast(tuple[object, ...], key)))
                entries.append(entry)
            code_list.append(code)
        if missing:
            columns = [f"c{i}" for i in range(self.width)]
            picked = mine.select(columns)[[j for _, j, _ in missing]]
            for (code, _, key), row in zip(missing, picked.iter_rows(), strict=True):
                entries[code] = self.entry(c, key, cast(Row, list(row)))
        reps = reps.with_columns(pl.Series("_e", code_list, dtype=pl.Int64))
        joined = mine.select(key_cols).join(
            reps.drop("_j"), on=key_cols, how="left", maintain_order="left", nulls_equal=True
        )
        return joined["_e"].to_list(), entries

    def key(self, c: _Product, values: tuple[object, ...]) -> tuple[object, ...] | None:
        """The memo key of a record from its key columns (the table keys as the rows
        found); None when a table key is empty or has no row (the reference rejects it)."""
        i = 2 if c.i_qty is not None else 1
        if values[i - 1] is None:  # `answered when` raised: the reference path rejects it
            return None
        if None in values[i : i + len(c.tabled)]:  # a table key empty, or with no row
            return None
        return tuple(values)

    def entry(
        self, c: _Product, key: tuple[object, ...], row: Row
    ) -> tuple[tuple[_Priced, ...], list[list[Any]]] | None:
        """The memo's entry for a key, rated on one of its records: the prices (as the
        fast paths keep them) and per rule the aggregate values; None when the
        reference rating raises a problem (every record of the key goes by the record
        paths, which reject it)."""
        ctx = self.ctx
        assert ctx.i_ts is not None and ctx.i_id is not None
        text = row[ctx.i_ts]
        assert text is not None
        entry: tuple[tuple[_Priced, ...], list[list[Any]]] | None
        try:
            rated = ctx.rate(c.p, row, dt.datetime.fromisoformat(text), row[ctx.i_id] or "")
        except (RecordProblem, ArithmeticError, InvalidOperation):
            entry = None
        else:
            assert not isinstance(rated, Event)
            entry = (tuple(_Priced(k, r) for k, r in enumerate(rated)), [r[5] for r in rated])
        if len(c.memo) >= _CACHE_LIMIT:
            c.memo.clear()
        c.memo[key] = entry
        return entry

    def add(self, c: _Product, mine: pl.DataFrame, entries: list[Any], c_id: str, c_cust: str) -> _Parts:
        """Add a product's ordinary records to their lines; their rated rows' parts."""
        import polars as pl

        ctx = self.ctx
        codes = mine["_e"]
        parts = _Parts(mine[c_id])
        for k, rule in enumerate(c.rules):
            prices = [e[0][k] if e is not None else None for e in entries]
            if rule.kind == "I":
                party = mine[c_cust]
            else:
                party = pl.Series([rule.party] * mine.height, dtype=pl.String)
            group_by = rule.rate.group_by
            if group_by is None:
                group = pl.Series([""] * mine.height, dtype=pl.String)
            elif group_by == "prefix":
                groups = [p.group if p is not None else "" for p in prices]
                group = pl.Series(groups, dtype=pl.String).gather(codes)
            else:
                group = mine[f"c{ctx.index[group_by]}"]
            keyed = pl.DataFrame({"party": party, "group": group, "_e": codes, "id": mine[c_id]})
            distinct = keyed.select("party", "group").unique(maintain_order=True)
            lines: list[LineAcc] = []
            for party_name, group_name in distinct.iter_rows():
                lines.append(
                    rule.lines.get((party_name, group_name)) or ctx.line_of(rule, party_name, group_name)
                )
            distinct = distinct.with_columns(pl.Series("_l", range(len(lines)), dtype=pl.Int64))
            keyed = keyed.join(
                distinct, on=["party", "group"], how="left", maintain_order="left", nulls_equal=True
            )
            pairs = keyed.group_by("_l", "_e").len()
            for li, ei, count in pairs.iter_rows():
                line, price = lines[li], prices[ei]
                line.amount += price.amount * count
                line.quantity += price.quantity * count
                line.units += count
                line.records += count
                if price.paid is not None:
                    line.gross += price.paid * count
                if price.level:
                    line.net_base += price.unit.net * count
                    line.gross_base += price.unit.gross * count
                for func, name, value in entries[ei][1][k]:
                    line.aggregate(func, name, value if func in ("maximum", "minimum") else value * count)
            # samples: the smallest ids of each line
            smallest = keyed.group_by("_l").agg(
                pl.col("id").sort().head(5), pl.col("_e").sort_by("id").head(5)
            )
            for li, rids, eis in smallest.iter_rows():
                line = lines[li]
                for rid, ei in zip(rids, eis, strict=True):
                    price = prices[ei]
                    line.sample(rid, price.unit, price.amount)
            if rule.by_day:
                self.by_day(c, rule, mine, keyed, lines, prices)
            rated = [line.rated or ctx.rated_line(line, rule) for line in lines]
            parts.rules.append(
                (rated, keyed["_l"], [p.rated if p is not None else None for p in prices], codes)
            )
        return parts

    def add_events(self, c: _Product, mine: pl.DataFrame, c_id: str, c_cust: str) -> None:
        """A subscription's start and end events, per customer in file order (priced per
        subscriber when the period closes, as `settle_record` keeps them)."""
        import polars as pl

        assert self.ctx.i_ts is not None
        by_customer = self.ctx.engine.acc.events.setdefault((c.p.ci, c.p.pi), {})
        parse = dt.datetime.fromisoformat
        grouped = mine.group_by(c_cust, maintain_order=True).agg(
            pl.col(f"c{self.ctx.i_ts}"), pl.col(c_id), pl.col("_start")
        )
        for customer, texts, rids, starts in grouped.iter_rows():
            events = by_customer.get(customer)
            if events is None:
                events = by_customer[customer] = []
            events += map(Event, map(parse, texts), rids, starts)

    def lines_of(self, rule: _Rule, mine: pl.DataFrame, c_cust: str) -> tuple[list[LineAcc], pl.Series]:
        """The lines of a rule's records (by party and group), and each record's line code."""
        import polars as pl

        ctx = self.ctx
        n = mine.height
        party = mine[c_cust] if rule.kind == "I" else pl.Series([rule.party] * n, dtype=pl.String)
        group_by = rule.rate.group_by
        group = pl.Series([""] * n, dtype=pl.String) if group_by is None else mine[f"c{ctx.index[group_by]}"]
        keyed = pl.DataFrame({"party": party, "group": group})
        distinct = keyed.unique(maintain_order=True)
        lines = [
            rule.lines.get((party_name, group_name)) or ctx.line_of(rule, party_name, group_name)
            for party_name, group_name in distinct.iter_rows()
        ]
        distinct = distinct.with_columns(pl.Series("_l", range(len(lines)), dtype=pl.Int64))
        joined = keyed.join(
            distinct, on=["party", "group"], how="left", maintain_order="left", nulls_equal=True
        )
        return lines, joined["_l"]

    def add_vector(self, c: _Product, mine: pl.DataFrame, c_id: str, c_cust: str) -> _Parts:
        """Add a product of line-level rules' records to their lines (`_vector_columns`):
        per line the billed quantities' exact sum, the records, the aggregates; samples
        rated by the reference on their records. Their rated rows' parts."""
        import polars as pl

        ctx = self.ctx
        parts = _Parts(mine[c_id])
        units: dict[str, list[Any]] = {}  # record id -> its rules' units (the reference's)
        for k, rule in enumerate(c.rules):
            lines, codes = self.lines_of(rule, mine, c_cust)
            frame = mine.select(
                codes.alias("_l"),
                pl.col(f"_b{k}").cast(pl.Int128),
                pl.col(f"_bd{k}"),
                pl.col(c_id).alias("id"),
                pl.col("_i"),
                *[pl.col(f"_v{name}").cast(pl.Int128) for _, name in rule.aggregates],
                *[pl.col(f"_vd{name}") for _, name in rule.aggregates],
                *[pl.col(f"c{ctx.index[name]}").alias(f"_t{name}") for _, name in rule.aggregates],
            )
            scale = c_scale(mine, k)
            sums = frame.group_by("_l").agg(
                pl.col(f"_b{k}").sum(), pl.col(f"_bd{k}").max(), pl.len(), pl.col("id").sort().head(5)
            )
            sampled: list[tuple[LineAcc, str]] = []
            for li, total, places, count, smallest in sums.iter_rows():
                line = lines[li]
                line.amount += _ZERO
                line.quantity += _decimal(total, scale, places)
                line.units += count
                line.records += count
                line.net_base += _ZERO
                line.gross_base += _ZERO
                sampled += [(line, rid) for rid in smallest]
            self.units_of(c, mine, c_id, [rid for _, rid in sampled if rid not in units], units)
            for line, rid in sampled:
                if len(line.samples) < SAMPLE_SIZE or rid < line.samples[-1][0]:
                    line.sample(rid, units[rid][k], _ZERO)
            for func, name in rule.aggregates:
                self.aggregate(frame, lines, func, name, c_scale(mine, name))
            rated = [line.rated or ctx.rated_line(line, rule) for line in lines]
            parts.rules.append((rated, codes, [], mine[f"_bt{k}"]))  # the billed quantity's text
        return parts

    @staticmethod
    def aggregate(frame: pl.DataFrame, lines: list[LineAcc], func: str, name: str, scale: int) -> None:
        """A line-level rule's aggregate of a field over each line's records."""
        import polars as pl

        value, places, text = f"_v{name}", f"_vd{name}", f"_t{name}"
        if func in ("maximum", "minimum"):
            best = pl.col(value).max() if func == "maximum" else pl.col(value).min()
            top = frame.filter(pl.col(value) == best.over("_l")).select("_l", text).unique()
            for li, written in top.iter_rows():  # equal values written differently: aggregate's rule
                lines[li].aggregate(func, name, Decimal(written))
            return
        sums = frame.group_by("_l").agg(pl.col(value).sum(), pl.col(places).max())
        for li, total, most in sums.iter_rows():
            lines[li].aggregate(func, name, _decimal(total, scale, most))

    def units_of(
        self, c: _Product, mine: pl.DataFrame, c_id: str, rids: list[str], units: dict[str, list[Any]]
    ) -> None:
        """The units the reference rating gives each rule for these records (the samples
        of their lines' traces), into `units`."""
        import polars as pl

        if not rids:
            return
        ctx = self.ctx
        assert ctx.i_ts is not None
        rows = mine.filter(pl.col(c_id).is_in(rids)).select([f"c{i}" for i in range(self.width)])
        for values in rows.iter_rows():
            row = cast(Row, list(values))
            text, rid = row[ctx.i_ts], row[ctx.i_id or 0]
            assert text is not None and rid is not None
            rated = ctx.rate(c.p, row, dt.datetime.fromisoformat(text), rid)
            assert not isinstance(rated, Event)
            units[rid] = [r[2] for r in rated]

    def by_day(
        self,
        c: _Product,
        rule: _Rule,
        mine: pl.DataFrame,
        keyed: pl.DataFrame,
        lines: list[LineAcc],
        prices: list[Any],
    ) -> None:
        """Amounts per local day, for payouts converted at each record's date."""
        import polars as pl

        ctx = self.ctx
        tz = c.p.period.start.tzinfo
        texts = mine[f"c{ctx.i_ts}"]
        distinct = texts.unique().to_list()
        day_of = {t: dt.datetime.fromisoformat(t).astimezone(tz).date().toordinal() for t in distinct}
        days = texts.replace_strict(day_of, return_dtype=pl.Int64)
        grouped = keyed.with_columns(days.alias("_d")).group_by("_l", "_d", "_e").len()
        for li, day, ei, count in grouped.iter_rows():
            if prices[ei].by_day:
                when = dt.date.fromordinal(day)
                line = lines[li]
                line.by_day[when] = line.by_day.get(when, _ZERO) + prices[ei].amount * count


_SMALL = 1_000_000  # increments up to this are billed in Int64 (with at most 17 digits a value)
_DIGITS = 17  # a scaled value's digits at most: Int64 holds it, and its billing


def c_scale(mine: pl.DataFrame, what: int | str) -> int:
    """The scale (decimal places) of a block's scaled column: the quantity's (rule k's
    billed, an int) or a field's (a name)."""
    return int(mine.get_column("_qs" if isinstance(what, int) else f"_vs{what}")[0])


def _decimal(total: int, scale: int, places: int) -> Decimal:
    """The exact sum of values scaled by 10^scale, written with `places` decimals: the
    exponent of their record-by-record Decimal sum (the least of theirs)."""
    return Decimal(total).scaleb(-scale).quantize(Decimal(1).scaleb(-places))


def _number(text: pl.Expr, integer: bool) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(valid, integer part, decimals) of a field's text: a non-negative number written
    plainly (as format(Decimal(text), "f") writes it back); anything else is left to the
    record paths (which parse, or reject, it as the reference does)."""
    pattern = r"^(0|[1-9][0-9]*)$" if integer else r"^(0|[1-9][0-9]*)(\.[0-9]+)?$"
    parts = text.str.split_exact(".", 1)
    whole = parts.struct.field("field_0")
    frac = parts.struct.field("field_1").fill_null("")
    return text.str.contains(pattern), whole, frac


def _scaled(whole: pl.Expr, frac: pl.Expr, scale: int) -> pl.Expr:
    import polars as pl

    value = whole.cast(pl.Int64, strict=False) * (10**scale)
    if scale:
        value = value + frac.str.pad_end(scale, "0").cast(pl.Int64, strict=False)
    return cast("pl.Expr", value)


def _event_columns(ctx: _FileContext, c: _Product, mine: pl.DataFrame) -> pl.DataFrame:
    """A subscription's records: `_start` true for a start event, false for an end, and
    `_valid` false where neither (or a predicate raised): the record paths reject it."""
    import polars as pl

    plan = c.p.product
    assert plan.starts is not None and plan.ends is not None
    never: Callable[[Row], bool] = lambda r: False  # noqa: E731
    starts = _predicate(mine, plan.starts, ctx.index, ctx.starts.get(id(c.p), never))
    ends = _predicate(mine, plan.ends, ctx.index, ctx.ends.get(id(c.p), never))
    mine = mine.with_columns(starts.alias("_s"), ends.alias("_n"))
    start, end = pl.col("_s"), pl.col("_n")
    valid = start.is_not_null() & (start | (end.is_not_null() & end))  # ends asked only if not a start
    return mine.with_columns(start.fill_null(False).alias("_start"), valid.fill_null(False).alias("_valid"))


def _vector_columns(ctx: _FileContext, c: _Product, mine: pl.DataFrame) -> pl.DataFrame:
    """A product of line-level rules (`_Product.vector`): per record the checks of the
    reference rating (`_rate`) on its quantity and fields, and per rule the billed
    quantity (`closures.bill_quantity` in scaled integers), its text and decimals;
    `_valid` false where a check does not pass plainly (the record paths decide)."""
    import polars as pl

    mine = mine.with_columns(
        _predicate(mine, c.p.product.answered, ctx.index, ctx.answered[id(c.p)]).alias("_ans")
    )
    valid = pl.col("_ans").is_not_null()
    text = pl.col(f"c{c.i_qty}") if c.i_qty is not None else pl.lit("1")  # no quantity: 1
    ok, whole, frac = _number(text, False)
    mine = mine.with_columns(text.alias("_qt"), ok.alias("_qok"), whole.alias("_qw"), frac.alias("_qf"))
    scale = int(mine.filter(pl.col("_qok")).select(pl.col("_qf").str.len_bytes().max()).item() or 0)
    valid = valid & pl.col("_qok") & (pl.col("_qw").str.len_bytes() + scale <= _DIGITS)
    q = _scaled(pl.col("_qw"), pl.col("_qf"), scale)
    mine = mine.with_columns(
        q.alias("_q"), pl.col("_qf").str.len_bytes().alias("_qd"), pl.lit(scale).alias("_qs")
    )
    # the fields the rules read (values, aggregates): their checks, and scaled for aggregates
    for name in c.fields:
        field = pl.col(f"c{ctx.index[name]}")
        ok, whole, frac = _number(field, name in c.integers)
        mine = mine.with_columns(ok.alias("_fok"), whole.alias("_fw"), frac.alias("_ff"))
        fscale = int(mine.filter(pl.col("_fok")).select(pl.col("_ff").str.len_bytes().max()).item() or 0)
        valid = valid & pl.col("_fok") & (pl.col("_fw").str.len_bytes() + fscale <= _DIGITS)
        mine = mine.with_columns(
            _scaled(pl.col("_fw"), pl.col("_ff"), fscale).alias(f"_v{name}"),
            pl.col("_ff").str.len_bytes().alias(f"_vd{name}"),
            pl.lit(fscale).alias(f"_vs{name}"),
        )
    one = 10**scale
    for k, rule in enumerate(c.rules):
        first, nxt = rule.rate.first, rule.rate.next
        if first is None or nxt is None:
            billed, places, written = pl.col("_q"), pl.col("_qd"), pl.col("_qt")
        else:
            blocks = (pl.col("_q") - first * one + nxt * one - 1) // (nxt * one)
            whole_billed = (
                pl.when(pl.col("_q") <= first * one)
                .then(pl.lit(first, dtype=pl.Int64))
                .otherwise(first + blocks * nxt)
            )
            plain = ~pl.col("_ans") | (pl.col("_q") <= 0)  # billed as used
            billed = pl.when(plain).then(pl.col("_q")).otherwise(whole_billed * one)
            places = pl.when(plain).then(pl.col("_qd")).otherwise(0)
            written = pl.when(plain).then(pl.col("_qt")).otherwise(whole_billed.cast(pl.String))
        mine = mine.with_columns(billed.alias(f"_b{k}"), places.alias(f"_bd{k}"), written.alias(f"_bt{k}"))
    return mine.with_columns(valid.fill_null(False).alias("_valid"))


def _found(rule: _Rule, short: str) -> str | None:
    """The key of the table row a record's key finds (by its first `key_length`
    characters), None when it is empty or finds none (the reference rejects it)."""
    if not short:
        return None
    try:
        return rule.found_key[short]
    except KeyError:
        rule.find(short)
        return rule.found_key[short]


_UNMATCHED = -2  # a block's record no product matches (-1: by the record paths; N: product N)
_EMPTY: Any = object()  # a table key's field is empty: the reference path rejects the record


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _fields(pred: ir.Pred, ctx: _FileContext) -> list[str]:
    return sorted(f for f in pred_fields(pred) if f in ctx.index)


def _numeric(pred: ir.Pred) -> bool:
    return pred.numeric or any(_numeric(a) for a in pred.args)


def _predicate(
    frame: pl.DataFrame, pred: ir.Pred, index: dict[str, int], fn: Callable[[Row], bool]
) -> pl.Series:
    """The predicate of each record, null where it raises (the record paths decide): by
    column expressions when it compares numbers (a quantity's values are many), else once
    per distinct combination of the fields it reads (`_distinct`)."""
    if not _numeric(pred):
        return _distinct(frame, [f"c{index[f]}" for f in sorted(pred_fields(pred)) if f in index], fn)
    import polars as pl

    value, error = _pred_columns(frame, pred, index)
    return frame.with_columns(pl.when(error).then(None).otherwise(value).alias("_v"))["_v"]


def _pred_columns(frame: pl.DataFrame, pred: ir.Pred, index: dict[str, int]) -> tuple[pl.Expr, pl.Expr]:
    """(value, raised) of `compile_pred(pred)` as column expressions. `and` and `or` look
    at the right side only as Python does (short-circuit); a number that is not written
    plainly (or a long one) counts as raised: the record paths parse, or reject, it."""
    import polars as pl

    false = pl.lit(False)
    op = pred.op
    if op in ("and", "or"):
        (lv, le), (rv, re_) = (_pred_columns(frame, a, index) for a in pred.args)
        if op == "and":
            return lv & rv, le | (~le & lv & re_)
        return lv | rv, le | (~le & ~lv & re_)
    if op == "not":
        value, error = _pred_columns(frame, pred.args[0], index)
        return ~value, error
    assert pred.field is not None
    col = index.get(pred.field)
    if col is None:
        return false, false
    cell = pl.col(f"c{col}")
    if op == "prefix":
        return cell.str.starts_with(pred.values[0]), false
    if not pred.numeric:
        inside = cell.is_in(list(pred.values))
        return (inside if op in ("eq", "in") else ~inside), false
    numbers = [Decimal(v) for v in pred.values]
    ok, whole, frac = _number(cell, False)
    places = [-e for n in numbers if isinstance(e := n.as_tuple().exponent, int)]
    longest = frame.select(pl.when(ok).then(frac.str.len_bytes()).max()).item() or 0
    scale = max([0, longest, *places])
    if any(not n.is_finite() or abs(n) >= 10**_DIGITS for n in numbers) or scale > _DIGITS:
        return false, cell != ""  # leave every non-empty value to the record paths
    value = _scaled(whole, frac, scale)
    targets = [int(n.scaleb(scale)) for n in numbers]
    if any(abs(t) >= 1 << 62 for t in targets):
        return false, cell != ""
    target = pl.lit(targets[0], dtype=pl.Int64)
    compared = {
        "eq": lambda: value == target,
        "ne": lambda: value != target,
        "lt": lambda: value < target,
        "le": lambda: value <= target,
        "gt": lambda: value > target,
        "ge": lambda: value >= target,
        "in": lambda: value.is_in(targets),
    }[op]()
    plain = ok & (whole.str.len_bytes() + scale <= _DIGITS)
    return (plain & compared).fill_null(False), (cell != "") & ~plain.fill_null(False)


def _distinct(frame: pl.DataFrame, cols: Sequence[str], fn: Callable[[Row], bool]) -> pl.Series:
    """fn of each row, evaluated once per distinct combination of `cols` (all fn reads:
    the other cells of the row it sees are empty); null where fn raises (a number
    that is not one: the reference path rejects the record)."""
    import polars as pl

    width = sum(1 for name in frame.columns if name.startswith("c") and name[1:].isdigit())

    def answer(row: Row) -> bool | None:
        try:
            return bool(fn(row))
        except (RecordProblem, ArithmeticError, ValueError):
            return None

    if not cols:
        return pl.Series([answer([""] * width)] * frame.height, dtype=pl.Boolean)
    reps = frame.select(list(cols)).unique(maintain_order=True)
    answers = []
    for values in reps.iter_rows():
        row: Row = [""] * width
        for name, value in zip(cols, values, strict=True):
            row[int(name[1:])] = value
        answers.append(answer(row))
    reps = reps.with_columns(pl.Series("_v", answers, dtype=pl.Boolean))
    return frame.select(list(cols)).join(
        reps, on=list(cols), how="left", maintain_order="left", nulls_equal=True
    )["_v"]


def format_columnar(plan: ir.ContractPlan) -> str:
    """Per product and rule of the plan, whether `--engine columnar` rates its records
    by columns, or per record and why (`clearline compile --paths`)."""
    lines = [f"columnar engine of {plan.id} (--engine columnar; per record: the engine's record paths)"]
    for product in plan.products:
        why = product_reason(product)
        events = product.kind == "subscription"
        state = COLUMNAR + (" (its start and end events)" if events else "")
        lines.append(f"  product {product.name}: " + (state if why is None else f"per record: {why}"))
        for kind, rules in (("charge", product.charges), ("payout", product.payouts)):
            for rule in rules:
                if events:  # read no record: each subscriber's period, when the period closes
                    lines.append(f"    {kind} [{rule.clause.label}]: priced per subscriber at the close")
                    continue
                reason = columnar_reason(rule)
                state = COLUMNAR if reason is None else f"per record: {reason}"
                lines.append(f"    {kind} [{rule.clause.label}]: {state}")
    return "\n".join(lines) + "\n"
