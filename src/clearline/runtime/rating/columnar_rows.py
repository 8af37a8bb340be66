"""A block's rated rows: as rows, or rendered as CSV and JSON Lines text by polars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, cast

from clearline.runtime.rating.accumulate import (
    RatedLine,
    RatedPrice,
    RatedRows,
)

if TYPE_CHECKING:
    import polars as pl


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
