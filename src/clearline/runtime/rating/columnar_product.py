"""A columnar product of one file (what its price key reads, its memo), and a
subscription's events by columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clearline.runtime.inputs.readers import Row
from clearline.runtime.rating.closures import (
    pred_fields,
)
from clearline.runtime.rating.columnar_exprs import (
    _SMALL,
    _predicate,
)
from clearline.runtime.rating.products import _Priced

if TYPE_CHECKING:
    import polars as pl

    from clearline.runtime.rating.products import _ProductRT, _Rule
    from clearline.runtime.rating.reference import _FileContext


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
