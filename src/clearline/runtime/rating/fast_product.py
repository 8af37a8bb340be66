"""A product as the engine's fast paths see it in one file (`FastProduct`): its
compiled predicates, the columns its rules read, and its prices memoised by what
pure rules read (`closures.pure`), filled by the reference `rate`.

Input: a product (`products._ProductRT`) and the file's context (`FastContext`,
which `reference._FileContext` is). Output: a record's prices (`price`) or a
run's (`prices`); anything unusual raises `Unusual` for the reference path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from itertools import compress, repeat
from operator import is_, itemgetter
from typing import Any, Protocol, cast

from clearline.runtime.inputs.readers import Row
from clearline.runtime.rating.accumulate import Event
from clearline.runtime.rating.closures import RowPred, compile_run_pred, pred_fields
from clearline.runtime.rating.products import _CACHE_LIMIT, Rated, _Priced, _ProductRT

__all__ = ["NO_COLUMN", "FastContext", "FastProduct", "Unusual"]

NO_COLUMN = 1 << 62  # a column index past the end of every row
_UNKNOWN: Any = object()  # not in a cache yet


class Unusual(Exception):
    """A record the fast path leaves to the reference path."""


class FastContext(Protocol):
    """What a fast product reads of its file's context (`reference._FileContext`)."""

    index: dict[str, int]
    answered: dict[int, RowPred]  # per product (by id): its compiled predicates
    starts: dict[int, RowPred]
    ends: dict[int, RowPred]

    def rate(self, p: _ProductRT, row: Row, ts: dt.datetime, rid: str) -> list[Rated] | Event: ...


class FastProduct:
    """A product as the fast path of one file sees it."""

    def __init__(self, context: FastContext, product: _ProductRT, match: RowPred) -> None:
        self.context = context
        self.product = product
        self.match = match
        self.run_match = compile_run_pred(product.product.matches, context.index)
        self.ok = product.fast  # else a record it matches goes by the reference path
        self.clock = product.clock  # time bands: the record's band is part of the memo key
        # each rule's place among the product's rules (a banded entry holds some of them only)
        self.places = {id(r): k for k, r in enumerate(product.charges + product.payouts)}
        self.key = (product.ci, product.pi)
        self.wide = _wide(product.window)
        tz = product.period.start.tzinfo
        assert tz is not None
        self.tz = tz
        index = context.index
        plan = product.product
        self.i_qty = index.get("quantity", NO_COLUMN) if plan.reads_quantity else None
        self.answered = context.answered[id(product)]
        # when `answered when ...` reads the quantity only, the quantity's text decides it
        self.answered_by_quantity = plan.reads_quantity and pred_fields(plan.answered) <= {"quantity"}
        never: RowPred = lambda r: False  # noqa: E731
        self.starts = context.starts.get(id(product), never)
        self.ends = context.ends.get(id(product), never)
        rules = product.charges + product.payouts
        # the rules that read a rate table, with the column of its key
        self.tabled = [(r, index.get(r.table.field, NO_COLUMN)) for r in rules if r.table is not None]
        # per rule, the column of its `one line per FIELD`
        self.group_columns = [index.get(r.rate.group_by or "", NO_COLUMN) for r in rules]
        self.columns = [c for _, c in self.tabled]
        self.columns += [
            c
            for r, c in zip(rules, self.group_columns, strict=True)
            if r.rate.group_by not in {None, "prefix"}
        ]
        if self.i_qty is not None:
            self.columns.append(self.i_qty)
        # the width of a row with all these columns; 0 if one is missing from the file
        self.width = 0 if NO_COLUMN in self.columns else max(self.columns, default=0) + 1

    def prices(
        self, rows: Sequence[Row], stamps: list[dt.datetime], ids: list[str]
    ) -> list[tuple[_Priced, ...]] | None:
        """`price` for a run of records (of a usage product), or None if one is unusual."""
        product = self.product
        if self.clock is not None:
            return None  # a run's records in several bands have different rules: record by record
        parts: list[list[Any]] = []
        if self.i_qty is not None:
            quantities = list(map(itemgetter(self.i_qty), rows))
            if not all(quantities):
                return None
            parts.append(quantities)
        else:
            parts.append([None] * len(rows))
        if not self.answered_by_quantity:
            parts.append(list(map(self.answered, rows)))
        for rule, column in self.tabled:
            values = list(map(itemgetter(column), rows))
            if not all(values):
                return None
            shorts = (
                values if rule.key_length is None else list(map(itemgetter(slice(rule.key_length)), values))
            )
            keys = list(map(rule.found_key.get, shorts, repeat(_UNKNOWN)))
            if _UNKNOWN in keys:  # str == object compares by identity, in C
                for short in set(compress(shorts, map(is_, keys, repeat(_UNKNOWN)))):
                    rule.find(short)
                keys = list(map(rule.found_key.get, shorts))
            if None in keys:
                return None
            parts.append(keys)
        memo_keys = list(zip(*parts, strict=True))
        memo = product.memo
        entries = list(map(memo.get, memo_keys))
        for i in compress(range(len(entries)), map(is_, entries, repeat(None))):
            entry = memo.get(memo_keys[i])
            if entry is None:
                rated = self.context.rate(product, rows[i], stamps[i], ids[i])
                assert not isinstance(rated, Event)
                entry = tuple(_Priced(self.places[id(r[0])], r) for r in rated)
                if len(memo) >= _CACHE_LIMIT:
                    memo.clear()
                memo[memo_keys[i]] = entry
            entries[i] = entry
        return cast(list[tuple[_Priced, ...]], entries)

    def price(self, row: Row, ts: dt.datetime, rid: str) -> tuple[_Priced, ...] | bool:
        """The record's prices (True/False: a subscription's start/end), from the memo.

        Raises _Unusual, RecordProblem or ArithmeticError for the reference path.
        """
        product = self.product
        if product.subscription:
            if self.starts(row):
                return True
            if self.ends(row):
                return False
            raise Unusual
        # the memo key: what the rules read (see `_pure`)
        if self.i_qty is None:
            key: tuple[str | bool | None, ...] = (None, self.answered(row))
        else:
            quantity = row[self.i_qty] if self.i_qty < len(row) else None
            if not quantity:
                raise Unusual
            key = (quantity,) if self.answered_by_quantity else (quantity, self.answered(row))
        for rule, column in self.tabled:
            value = row[column] if column < len(row) else None
            if not value:
                raise Unusual
            short = value if rule.key_length is None else value[: rule.key_length]
            try:
                found = rule.found[short]
            except KeyError:
                found = rule.find(short)
            if found is None:
                raise Unusual
            key += (found.key,)
        if self.clock is not None:
            key += (self.clock.band_of(ts),)
        memo = product.memo
        entry = memo.get(key)
        if entry is None:
            rated = self.context.rate(product, row, ts, rid)
            assert not isinstance(rated, Event)
            entry = tuple(_Priced(self.places[id(r[0])], r) for r in rated)
            if len(memo) >= _CACHE_LIMIT:
                memo.clear()
            memo[key] = entry
        return entry


def _wide(window: tuple[dt.datetime | None, dt.datetime]) -> tuple[str, str]:
    """The window less a day at each end, as the first 19 characters of a
    timestamp: a local time inside it is inside the window at any UTC offset."""
    start, end = window
    day = dt.timedelta(days=1)  # in UTC: 24 hours, longer than any offset
    try:
        low = "" if start is None else _naive_utc(start, day)
        high = _naive_utc(end, -day)
    except (OverflowError, ValueError):
        return "~", ""  # nothing is inside
    return low, high


def _naive_utc(moment: dt.datetime, shift: dt.timedelta) -> str:
    utc = moment.astimezone(dt.UTC) + shift
    if utc.microsecond:
        raise ValueError("bounds are whole seconds")
    return utc.replace(tzinfo=None).isoformat()
