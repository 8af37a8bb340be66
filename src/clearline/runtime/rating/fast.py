"""The engine's fast paths: ordinary records rated record by record with the
common checks only (`records`), or a run of them a column at a time
(`columns`), with prices memoised per product (`FastProduct`).

Input: batches of rows of one file, through `_FileContext.feed`. Output: the
same contributions to the `Accumulated` state as the reference path
(`_FileContext.record`), which decides every record these paths do not: a
reject, an unmatched record, an unusual value. tests/test_engine_paths.py
holds the two to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from itertools import chain, compress, repeat
from operator import attrgetter, eq, is_, itemgetter
from typing import TYPE_CHECKING, Any, Protocol, cast

from clearline.runtime.inputs.readers import Batch, Row
from clearline.runtime.rating.accumulate import SAMPLE_SIZE, Event, LineAcc, RatedLine, RatedPrice, RatedRows
from clearline.runtime.rating.closures import RecordProblem, RowPred
from clearline.runtime.rating.fast_product import NO_COLUMN, FastProduct, Unusual
from clearline.runtime.rating.products import _CACHE_LIMIT, Rated, _Priced, _ProductRT, _Rule

if TYPE_CHECKING:
    from clearline.runtime.inputs.refdata import Customer
    from clearline.runtime.rating.accumulate import Accumulated

__all__ = ["EngineState", "FastPaths"]


class EngineState(Protocol):
    """What the fast paths read of the engine (`engine.Engine`), without importing it."""

    acc: Accumulated
    candidates: set[str] | frozenset[str] | None
    customers: dict[str, Customer] | None
    seen: dict[str, tuple[str, int]]


_ZERO = Decimal(0)


class FastPaths:
    """The fast paths of `_FileContext`, which sets the attributes below and
    gives the reference path (`record`, `settle_record`) and its lines."""

    engine: EngineState
    file: str
    index: dict[str, int]
    i_id: int | None
    i_ts: int | None
    i_cust: int | None
    min_width: int
    columnar: int
    fast_ok: bool
    fast: list[FastProduct]
    prepared: list[tuple[_ProductRT, RowPred]]
    windows: dict[str, tuple[tuple[FastProduct, str, str], ...]]
    backoff: int
    skipping: int
    get_id: itemgetter[Any]
    get_ts: itemgetter[Any]
    get_cust: itemgetter[Any]
    answered: dict[int, RowPred]  # per product (by id): its compiled predicates
    starts: dict[int, RowPred]
    ends: dict[int, RowPred]

    def record(
        self, line_no: int, row: Row, prepared: list[tuple[_ProductRT, RowPred]], out: RatedRows
    ) -> None:
        raise NotImplementedError

    def settle_record(
        self,
        line_no: int,
        row: Row,
        rid: str,
        ts: dt.datetime,
        prepared: list[tuple[_ProductRT, RowPred]],
        out: RatedRows,
    ) -> None:
        raise NotImplementedError

    def line_of(self, rule: _Rule, party: str, group: str) -> LineAcc:
        raise NotImplementedError

    def rate(self, p: _ProductRT, row: Row, ts: dt.datetime, rid: str) -> list[Rated] | Event:
        raise NotImplementedError

    @staticmethod
    def rated_line(acc: LineAcc, rule: _Rule) -> RatedLine:
        raise NotImplementedError

    def feed(self, batch: Batch, out: RatedRows) -> None:
        """Rate a batch: in runs of ordinary records a column at a time
        (`columns`), a run with an unusual record halved until it is small,
        then record by record (`records`).

        When most of a batch went record by record (records of several
        products mixed, say), the next batches skip the columns, for longer
        each time it happens again."""
        self.engine.acc.read += len(batch)
        if not self.fast_ok:
            for line_no, row in batch:
                self.record(line_no, row, self.prepared, out)
            return
        if not self.columnar or self.skipping > 0:
            self.skipping -= 1
            self.records(batch, out)
            return
        by_record = 0
        runs = [batch]
        while runs:
            run = runs.pop()
            if len(run) >= _SHORT_RUN and self.columns(run, out):
                continue
            if len(run) < 2 * _SHORT_RUN:
                by_record += len(run)
                self.records(run, out)
            else:  # the halves in order: the last pushed is taken first
                half = len(run) // 2
                runs += [run[half:], run[:half]]
        if 2 * by_record > len(batch):
            self.backoff = min(2 * self.backoff + 1, _MAX_BACKOFF)
            self.skipping = self.backoff
        else:
            self.backoff = 0

    def records(self, batch: Batch, out: RatedRows) -> None:
        """Rate record by record: ordinary records here, the others through `record`.

        The checks below are the reference path's, in its order, on the
        common case only; whatever they do not settle -- a reject, an
        unmatched record, an unusual value -- goes to `record` (before the
        duplicate check) or `settle_record` (after it), which decide it.
        """
        engine = self.engine
        acc = engine.acc
        record, settle_record, prepared = self.record, self.settle_record, self.prepared
        file, i_id, i_ts, i_cust, width = self.file, self.i_id, self.i_ts, self.i_cust, self.min_width
        assert i_id is not None and i_ts is not None
        if i_cust is None:
            i_cust = NO_COLUMN
        candidates, seen, customers, events = engine.candidates, engine.seen, engine.customers, acc.events
        windows_of = self.windows
        parse = dt.datetime.fromisoformat
        add_id, add_line, add_price = out.ids.append, out.lines.append, out.prices.append
        for line_no, row in batch:
            if len(row) < width:
                record(line_no, row, prepared, out)
                continue
            rid = row[i_id]
            text = row[i_ts]
            first = row[0]
            # "YYYY-MM-DDTHH:MM:SS+hh:mm", the form whose order as text is its order in time
            if (
                not rid
                or not text
                or (first and first[0] == "\x00")
                or len(text) != 25
                or text[4:17:3] != "--T::"
            ):
                record(line_no, row, prepared, out)
                continue
            windows = windows_of.get(text[19:]) or self.add_windows(text[19:])
            if not windows:
                record(line_no, row, prepared, out)
                continue
            try:
                ts = parse(text)
            except ValueError:
                record(line_no, row, prepared, out)
                continue
            if candidates is None or rid in candidates:
                if rid in seen:
                    record(line_no, row, prepared, out)  # rejects it as a duplicate
                    continue
                seen[rid] = (file, line_no)
            staged: list[tuple[FastProduct, tuple[_Priced, ...] | bool]] = []
            try:
                for fast, start, end in windows:
                    if fast.match(row):
                        if not (fast.ok and start <= text < end):
                            raise Unusual
                        staged.append((fast, fast.price(row, ts, rid)))
                if not staged:
                    raise Unusual  # unmatched
                customer = row[i_cust] if i_cust < len(row) else None
                if not customer or (customers is not None and customer not in customers):
                    raise Unusual
            except (Unusual, RecordProblem, ArithmeticError):
                settle_record(line_no, row, rid, ts, prepared, out)
                continue
            acc.rated += 1
            for fast, priced in staged:
                if priced is True or priced is False:
                    by_customer = events.get(fast.key) or events.setdefault(fast.key, {})
                    by_customer.setdefault(customer, []).append(Event(ts, rid, priced))
                    continue
                for price in priced:
                    line = price.line
                    if line is None:  # the line depends on the record: its customer or a field
                        rule = price.rule
                        column = price.column
                        if column < 0:
                            group = price.group
                        else:  # `one line per FIELD`: the column of this file
                            column = fast.group_columns[column]
                            group = (row[column] if column < len(row) else None) or ""
                        party = customer if price.charge else rule.party
                        line = rule.lines.get((party, group)) or self.line_of(rule, party, group)
                        if price.fixed:
                            price.line = line
                    amount = price.amount
                    line.amount += amount
                    line.quantity += price.quantity
                    line.units += 1
                    line.records += 1
                    samples = line.samples
                    if len(samples) < SAMPLE_SIZE or rid < samples[-1][0]:
                        line.sample(rid, price.unit, amount)
                    if price.paid is not None:
                        line.gross += price.paid
                    if price.level:
                        line.net_base += price.unit.net
                        line.gross_base += price.unit.gross
                    if price.by_day:
                        day = ts.astimezone(fast.tz).date()
                        line.by_day[day] = line.by_day.get(day, Decimal(0)) + amount
                    add_id(rid)
                    add_line(line.rated or self.rated_line(line, price.rule))
                    add_price(price.rated)

    def columns(self, run: Batch, out: RatedRows) -> bool:
        """Rate a run of ordinary records a column at a time; False, having
        changed nothing, when any record of the run is not ordinary.

        The checks are those of `records`, each made for the whole run by maps
        and set operations; a run is ordinary when one usage product matches
        every record. A line then adds each distinct price times its count,
        which is the sum record by record when every partial sum is exact
        (`_add_exactly` checks it; else the run goes record by record).
        """
        engine = self.engine
        numbers, rows = run.numbers, run.rows
        n = len(rows)
        try:
            width = min(map(len, rows))
            if width < self.columnar:
                return False
            ids = list(map(self.get_id, rows))
            texts = list(map(self.get_ts, rows))
            firsts = ids if self.i_id == 0 else list(map(_FIRST, rows))
            if not all(ids) or "\x00" in "".join(firsts):
                return False
            # every timestamp "YYYY-MM-DDTHH:MM:SS+hh:mm": the fixed characters of all of them
            # at once, the offsets' digits, then the parse for the rest
            joined = "".join(texts)
            if set(map(len, texts)) != {25} or any(joined[i::25] != c * n for i, c in _FORM):
                return False
            digits = "".join(joined[i::25] for i in _OFFSET_DIGITS)
            if not set(joined[19::25]) <= {"+", "-"} or not (digits.isascii() and digits.isdigit()):
                return False
            stamps = list(map(dt.datetime.fromisoformat, texts))
            fast: FastProduct | None = None
            for candidate in self.fast:
                matches = candidate.run_match(rows, width)
                if matches is None or (matches and fast is not None):
                    return False
                if matches:
                    fast = candidate
            if fast is None or not fast.ok or fast.product.subscription or not 0 < fast.width <= width:
                return False
            if fast.clock is not None:  # time bands: each record's band picks its rules
                return False
            # inside the product's window: at once when a day away from its ends, whatever
            # the offset; else per offset, as `records` does
            low, high = min(texts)[:19], max(texts)[:19]
            if not (fast.wide[0] <= low and high < fast.wide[1]) and not self.within(fast, texts, joined):
                return False
            customers = list(map(self.get_cust, rows))
            named = set(customers)
            if "" in named or None in named:
                return False
            if engine.customers is not None and not named <= engine.customers.keys():
                return False
            entries = fast.prices(rows, stamps, ids)
            if entries is None:
                return False
        except (ValueError, TypeError, AttributeError, RecordProblem, ArithmeticError):
            return False
        # duplicates last: the run is ordinary unless an id was read before
        candidates, seen = engine.candidates, engine.seen
        if candidates is None:
            admitted = list(zip(ids, numbers, strict=True))
        else:
            hits = candidates.intersection(ids) if candidates else ()
            admitted = [(rid, n) for rid, n in zip(ids, numbers, strict=True) if rid in hits] if hits else []
        if admitted and (
            len({rid for rid, _ in admitted}) != len(admitted)
            or not seen.keys().isdisjoint(r for r, _ in admitted)
        ):
            return False
        file = self.file
        seen.update((rid, (file, n)) for rid, n in admitted)
        engine.acc.rated += len(rows)
        parts = [
            self.add_rule(fast, k, entries, ids, customers, rows, stamps) for k in range(len(entries[0]))
        ]
        if len(parts) == 1:
            out.ids += ids
            out.lines += parts[0][0]
            out.prices += parts[0][1]
        else:  # each record's rows together, in the rules' order
            out.ids += chain.from_iterable(zip(*[ids] * len(parts), strict=True))
            out.lines += chain.from_iterable(zip(*(p[0] for p in parts), strict=True))
            out.prices += chain.from_iterable(zip(*(p[1] for p in parts), strict=True))
        return True

    def within(self, fast: FastProduct, texts: list[str], joined: str) -> bool:
        """Whether every timestamp is inside the product's window for its own
        UTC offset (the timestamps of each offset compare as text)."""
        varying = [i for i in (19, 20, 21, 23, 24) if len(set(joined[i::25])) > 1]
        groups: dict[str, list[str]] = {}
        if not varying:
            groups[texts[0][19:]] = texts
        elif len(varying) == 1:  # e.g. +01:00 and +02:00: one character tells them apart
            i = varying[0]
            flags = joined[i::25]
            for c in set(flags):
                members = list(compress(texts, map(eq, flags, repeat(c))))
                groups[members[0][19:]] = members
        else:
            offsets = list(map(_OFFSET_OF, texts))
            for offset in set(offsets):
                groups[offset] = [t for t, o in zip(texts, offsets, strict=True) if o == offset]
        position = self.fast.index(fast)
        for offset, members in groups.items():
            window = self.windows.get(offset) or self.add_windows(offset)
            if not window:
                return False
            _, start, end = window[position]
            if min(members) < start or not max(members) < end:
                return False
        return True

    def add_rule(
        self,
        fast: FastProduct,
        k: int,
        entries: list[tuple[_Priced, ...]],
        ids: list[str],
        customers: list[str],
        rows: Sequence[Row],
        stamps: list[dt.datetime],
    ) -> tuple[list[RatedLine], list[RatedPrice]]:
        """Add a run's prices of the product's k-th rule to their lines; the
        line and price parts of their rated rows."""
        prices = list(map(itemgetter(k), entries))
        first = prices[0]
        rule = first.rule
        if first.fixed:
            for price in set(prices) if any(map(is_, map(_LINE, prices), repeat(None))) else ():
                if price.line is None:
                    line = rule.lines.get((rule.party, price.group)) or self.line_of(
                        rule, rule.party, price.group
                    )
                    price.line = line
            lines: list[LineAcc] = list(map(_LINE, prices))
        else:
            parties = customers if first.charge else [rule.party] * len(prices)
            if first.column < 0:
                groups = list(map(_GROUP, prices))
            else:
                column = fast.group_columns[first.column]
                groups = [(row[column] if column < len(row) else None) or "" for row in rows]
            keys = list(zip(parties, groups, strict=True))
            found = list(map(rule.lines.get, keys))
            lines = [line or self.line_of(rule, *key) for line, key in zip(found, keys, strict=True)]
        # each line adds its records' prices in their order, as record by record
        if first.fixed and len(rule.lines) <= _FEW_LINES:  # all the rule's lines: a few
            distinct = {id(line): line for line in rule.lines.values()}
        elif first.fixed:
            distinct = {id(line): line for line in map(_LINE, set(prices))}
        else:
            distinct = {id(line): line for line in lines}
        present = list(distinct.values())
        if len(distinct) > _FEW_LINES:  # a line per customer, say: one pass over the records
            for price, line in zip(prices, lines, strict=True):
                line.amount += price.amount
                line.quantity += price.quantity
                if price.paid is not None:
                    line.gross += price.paid
                if price.level:
                    line.net_base += price.unit.net
                    line.gross_base += price.unit.gross
                line.units += 1
                line.records += 1
        else:
            present = []
            for line in distinct.values():
                own = prices if len(distinct) == 1 else list(compress(prices, map(is_, lines, repeat(line))))
                if own:
                    present.append(line)
                line.amount = sum(map(_AMOUNT, own), line.amount)
                line.quantity = sum(map(_QUANTITY, own), line.quantity)
                if first.paid is not None:  # a rule's prices all have one, or none
                    line.gross = sum(map(_PAID, own), line.gross)
                if first.level:  # a line-level rule: the units' net and gross (see settle_record)
                    line.net_base = sum(map(_NET, map(_UNIT, own)), line.net_base)
                    line.gross_base = sum(map(_GROSS, map(_UNIT, own)), line.gross_base)
                line.units += len(own)
                line.records += len(own)
        # samples: the records whose id is below the largest kept of their line
        limits = [line.samples[-1][0] if len(line.samples) >= SAMPLE_SIZE else None for line in present]
        limit = None if None in limits else max(cast(list[str], limits))
        if limit is None or min(ids) < limit:
            for price, line, rid in zip(prices, lines, ids, strict=True):
                samples = line.samples
                if len(samples) < SAMPLE_SIZE or rid < samples[-1][0]:
                    line.sample(rid, price.unit, price.amount)
        if first.by_day:
            for price, line, ts in zip(prices, lines, stamps, strict=True):
                day = ts.astimezone(fast.tz).date()
                line.by_day[day] = line.by_day.get(day, Decimal(0)) + price.amount
        return cast(list[RatedLine], list(map(_RATED, lines))), list(map(_RATED, prices))

    def add_windows(self, offset: str) -> tuple[tuple[FastProduct, str, str], ...]:
        """Per product, its (from, until) as timestamp text with this UTC offset,
        or () when the offset is not of the form +hh:mm."""
        found: tuple[tuple[FastProduct, str, str], ...] = ()
        if _OFFSET.fullmatch(offset) and int(offset[1:3]) < 24 and int(offset[4:]) < 60:
            sign = -1 if offset[0] == "-" else 1
            tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:])))
            try:
                found = tuple(
                    (
                        fast,
                        _text(fast.product.window[0], tz, offset),
                        _text(fast.product.window[1], tz, offset),
                    )
                    for fast in self.fast
                )
            except (OverflowError, ValueError):
                found = ()
        if len(self.windows) >= _CACHE_LIMIT:
            self.windows.clear()
        self.windows[offset] = found
        return found


_OFFSET = re.compile(r"[+-][0-9][0-9]:[0-9][0-9]")


def _text(moment: dt.datetime | None, tz: dt.timezone, offset: str) -> str:
    """A bound as timestamp text with `offset`; no bound is "" (before every text)."""
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    if local.microsecond:
        raise ValueError("bounds are whole seconds")
    return local.replace(tzinfo=None).isoformat() + offset


_SHORT_RUN = 64  # records: a run with an unusual record is halved down to this, then done one by one
_MAX_BACKOFF = 15  # batches
_FIRST = itemgetter(0)
_FORM = ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (22, ":"))  # in "YYYY-MM-DDTHH:MM:SS+hh:mm"
_OFFSET_DIGITS = (20, 21, 23, 24)
_OFFSET_OF = itemgetter(slice(19, None))
_FEW_LINES = 8  # a run's lines per rule summed a line at a time; more, record by record
_AMOUNT = attrgetter("amount")
_QUANTITY = attrgetter("quantity")
_PAID = attrgetter("paid")
_UNIT = attrgetter("unit")
_NET = attrgetter("net")
_GROSS = attrgetter("gross")
_LINE = attrgetter("line")
_RATED = attrgetter("rated")
_LINE_ID = attrgetter("line_id")
_GROUP = attrgetter("group")
_KEY = attrgetter("key")
