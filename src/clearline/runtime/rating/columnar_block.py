"""The columnar rating of a block of one file: which records are ordinary, their
prices (each distinct key once), their lines' sums, their rated rows in file order.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

from clearline import codes
from clearline.runtime.inputs.readers import Batch, Row
from clearline.runtime.rating.accumulate import (
    SAMPLE_SIZE,
    Event,
    LineAcc,
    RatedRows,
    Reject,
)
from clearline.runtime.rating.closures import (
    RecordProblem,
)
from clearline.runtime.rating.columnar_exprs import (
    _is_date,
    _predicate,
)
from clearline.runtime.rating.columnar_plan import product_reason
from clearline.runtime.rating.columnar_product import _UNMATCHED, _UNSET, _event_columns, _found, _Product
from clearline.runtime.rating.columnar_rows import _Parts, _Segment, _segment, _Sink
from clearline.runtime.rating.columnar_vector import _vector_columns, add_vector
from clearline.runtime.rating.products import _CACHE_LIMIT, _Priced

if TYPE_CHECKING:
    import polars as pl

    from clearline.runtime.rating.products import _Rule
    from clearline.runtime.rating.reference import _FileContext

_ZERO = Decimal(0)


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
                rated_of[position] = add_vector(ctx, self.width, c, mine, c_id, c_cust)
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
                if len(line.samples) >= SAMPLE_SIZE and rids[0] >= line.samples[-1][0]:
                    continue  # its smallest id here is larger than its samples (ids in order)
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
