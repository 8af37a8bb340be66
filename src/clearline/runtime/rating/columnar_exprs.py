"""Column expressions of the columnar engine: numbers written plainly as scaled
integers, and a product's predicates by columns (or once per distinct value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from clearline.compiler import ir
from clearline.runtime.inputs.readers import Row
from clearline.runtime.rating.closures import (
    RecordProblem,
    pred_fields,
)

if TYPE_CHECKING:
    import polars as pl


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


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


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
