"""Products of line-level rules (`_Product.vector`): billed quantities and field
values in scaled integers, summed per line in Int128.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from clearline.runtime.inputs.readers import Row
from clearline.runtime.rating.accumulate import (
    SAMPLE_SIZE,
    Event,
    LineAcc,
)
from clearline.runtime.rating.columnar_exprs import (
    _DIGITS,
    _decimal,
    _number,
    _predicate,
    _scaled,
    c_scale,
)
from clearline.runtime.rating.columnar_product import _Product
from clearline.runtime.rating.columnar_rows import _Parts

if TYPE_CHECKING:
    import polars as pl

    from clearline.runtime.rating.products import _Rule
    from clearline.runtime.rating.reference import _FileContext

_ZERO = Decimal(0)


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


def lines_of(
    ctx: _FileContext, rule: _Rule, mine: pl.DataFrame, c_cust: str
) -> tuple[list[LineAcc], pl.Series]:
    """The lines of a rule's records (by party and group), and each record's line code."""
    import polars as pl

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
    joined = keyed.join(distinct, on=["party", "group"], how="left", maintain_order="left", nulls_equal=True)
    return lines, joined["_l"]


def add_vector(
    ctx: _FileContext, width: int, c: _Product, mine: pl.DataFrame, c_id: str, c_cust: str
) -> _Parts:
    """Add a product of line-level rules' records to their lines (`_vector_columns`):
    per line the billed quantities' exact sum, the records, the aggregates; samples
    rated by the reference on their records. Their rated rows' parts."""
    import polars as pl

    parts = _Parts(mine[c_id])
    units: dict[str, list[Any]] = {}  # record id -> its rules' units (the reference's)
    for k, rule in enumerate(c.rules):
        lines, codes = lines_of(ctx, rule, mine, c_cust)
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
            full = len(line.samples) >= SAMPLE_SIZE
            # only ids that may become samples are rated (ids smaller than the line's largest
            # sample; a superset of those that do, as its samples only get smaller)
            sampled += [(line, rid) for rid in smallest if not full or rid < line.samples[-1][0]]
        units_of(ctx, width, c, mine, c_id, [rid for _, rid in sampled if rid not in units], units)
        for line, rid in sampled:
            if len(line.samples) < SAMPLE_SIZE or rid < line.samples[-1][0]:
                line.sample(rid, units[rid][k], _ZERO)
        for func, name in rule.aggregates:
            aggregate(frame, lines, func, name, c_scale(mine, name))
        rated = [line.rated or ctx.rated_line(line, rule) for line in lines]
        parts.rules.append((rated, codes, [], mine[f"_bt{k}"]))  # the billed quantity's text
    return parts


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
    ctx: _FileContext,
    width: int,
    c: _Product,
    mine: pl.DataFrame,
    c_id: str,
    rids: list[str],
    units: dict[str, list[Any]],
) -> None:
    """The units the reference rating gives each rule for these records (the samples
    of their lines' traces), into `units`."""
    import polars as pl

    if not rids:
        return
    assert ctx.i_ts is not None
    rows = mine.filter(pl.col(c_id).is_in(rids)).select([f"c{i}" for i in range(width)])
    for values in rows.iter_rows():
        row = cast(Row, list(values))
        text, rid = row[ctx.i_ts], row[ctx.i_id or 0]
        assert text is not None and rid is not None
        rated = ctx.rate(c.p, row, dt.datetime.fromisoformat(text), rid)
        assert not isinstance(rated, Event)
        units[rid] = [r[2] for r in rated]
