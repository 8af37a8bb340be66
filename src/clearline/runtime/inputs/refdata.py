"""Reference data: the customers file and the FX rates file -> tables the
engine and the settlement look up. A row that cannot be read refuses the file
(an `InputError` naming its line): reference data has no rejects.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from clearline.money import parse_decimal
from clearline.runtime.inputs.readers import InputError, header_line, regular_file

__all__ = ["Customer", "FxTable", "read_customers", "read_fx"]


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    country: str
    language: str
    currency: str


def _dict_rows(path: Path, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    regular_file(path)
    try:
        with path.open("rb") as raw:
            header_line(raw, path)  # at most 1 MiB, however long the first line
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    path,
                    f"{path} lacks the column(s) {', '.join(missing)}",
                    f"the header must name: {', '.join(required)}",
                )
            for row in reader:
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(path, f"cannot read {path}: {err}") from None


def read_customers(path: Path) -> dict[str, Customer]:
    out: dict[str, Customer] = {}
    for _, r in _dict_rows(path, ["customer_id", "name", "country", "language", "currency"]):
        out[r["customer_id"]] = Customer(
            r["customer_id"], r["name"], r["country"], r["language"], r["currency"]
        )
    return out


@dataclass(frozen=True, slots=True)
class FxTable:
    """Rates as published: 1 unit of `from` = `rate` units of `to` on `date`."""

    name: str
    rates: dict[tuple[dt.date, str, str], Decimal]

    def find(self, date: dt.date, source: str, target: str) -> tuple[Decimal, bool] | None:
        """(published rate, whether to divide by it) to turn `source` into `target`.

        A table that publishes EUR->PLN 4.25 converts PLN to EUR by dividing
        by 4.25 (exact), never by multiplying with a rounded 1/4.25.
        """
        direct = self.rates.get((date, source, target))
        if direct is not None:
            return direct, False
        inverse = self.rates.get((date, target, source))
        if inverse is not None:
            return inverse, True
        return None


def read_fx(path: Path) -> FxTable:
    rates: dict[tuple[dt.date, str, str], Decimal] = {}
    for number, r in _dict_rows(path, ["date", "from", "to", "rate"]):
        try:
            day = dt.date.fromisoformat(r["date"])
            rate = parse_decimal(r["rate"])
        except ValueError as err:
            raise InputError(path, f"{path}:{number}: {err}", "each row is date,from,to,rate") from None
        if rate <= 0:
            raise InputError(path, f"{path}:{number}: rate {rate} is not positive")
        rates[(day, r["from"], r["to"])] = rate
    return FxTable(path.name, rates)
