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

from clearline import codes
from clearline.money import parse_decimal
from clearline.particulars import country_problem, normal_vat_id, vat_id_problem
from clearline.parties import Customer
from clearline.runtime.inputs.readers import InputError, header_line, regular_file

__all__ = ["Customer", "FxTable", "read_customers", "read_fx"]


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
    """The customers file: `customer_id,name,country,language,currency` and, optionally,
    `address,postcode,city,vat_id,registration`. A VAT id not of its country's form,
    or a country that is not an ISO 3166 code, refuses the file (naming its line)."""
    out: dict[str, Customer] = {}
    for number, r in _dict_rows(path, ["customer_id", "name", "country", "language", "currency"]):
        vat_id = normal_vat_id(r.get("vat_id", ""))
        for column, problem in (
            ("country", country_problem(r["country"]) if r["country"] else None),
            ("vat_id", vat_id_problem(vat_id) if vat_id else None),
        ):
            if problem:
                raise InputError(
                    path,
                    f"{path}:{number}: customer {r['customer_id']}'s {column} {r[column]!r}: {problem}",
                    "write the country as an ISO 3166 code (PL) and the VAT id with its prefix "
                    "(PL5260250274), or leave the cell empty",
                    codes.BAD_CUSTOMER_PARTICULAR,
                )
        out[r["customer_id"]] = Customer(
            r["customer_id"],
            r["name"],
            r["country"],
            r["language"],
            r["currency"],
            address=r.get("address", ""),
            postcode=r.get("postcode", ""),
            city=r.get("city", ""),
            vat_id=vat_id,
            registration=r.get("registration", ""),
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
