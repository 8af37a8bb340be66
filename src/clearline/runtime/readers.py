"""Readers: usage files (CSV, JSON Lines) -> batches of raw rows, and the
reference data (FX rates, customers).

Usage rows stay text here; the engine converts the fields a product reads
with the declared types, so a bad value becomes a reject naming the field.
JSON numbers are kept as their text (never float).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from clearline.money import parse_decimal

__all__ = [
    "BATCH_SIZE",
    "Customer",
    "FxTable",
    "InputError",
    "UsageFile",
    "read_customers",
    "read_fx",
    "read_usage",
]

BATCH_SIZE = 10_000

Row = list[str | None]


class InputError(Exception):
    """An input file that cannot be read at all (not a per-record problem)."""

    def __init__(self, path: Path | str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.path = str(path)
        self.message = message
        self.hint = hint


@dataclass(slots=True)
class UsageFile:
    path: Path
    columns: list[str]
    batches: Iterator[list[tuple[int, Row]]]


def read_usage(path: Path, batch_size: int = BATCH_SIZE) -> UsageFile:
    """Open a usage file by its extension: .csv, .jsonl/.ndjson."""
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return _read_jsonl(path, batch_size)
    if suffix == ".csv":
        return _read_csv(path, batch_size)
    raise InputError(
        path,
        f"cannot read usage from a `{suffix or 'extensionless'}` file",
        "give a .csv or .jsonl file",
    )


def _read_csv(path: Path, batch_size: int) -> UsageFile:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
        reader = csv.reader(handle)
        header = next(reader, None)
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read {path}: {err}") from None
    if header is None:
        handle.close()
        return UsageFile(path, [], iter(()))
    columns = [h.strip() for h in header]

    def batches() -> Iterator[list[tuple[int, Row]]]:
        batch: list[tuple[int, Row]] = []
        with handle:
            try:
                for row in reader:
                    if not row:
                        continue
                    batch.append((reader.line_num, row))  # type: ignore[arg-type]  # list[str] is a Row
                    if len(batch) >= batch_size:
                        yield batch
                        batch = []
            except (UnicodeDecodeError, csv.Error) as err:
                raise InputError(
                    path,
                    f"{path}:{reader.line_num + 1}: cannot read on: {err}",
                    "the file must be UTF-8 CSV",
                ) from None
            if batch:
                yield batch

    return UsageFile(path, columns, batches())


def _read_jsonl(path: Path, batch_size: int) -> UsageFile:
    # Columns are the union of keys of the first batch; later keys are read too.
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as err:
        raise InputError(path, f"cannot read {path}: {err}") from None
    columns: list[str] = []
    index: dict[str, int] = {}
    objects: list[tuple[int, dict[str, object] | str]] = []

    def parse(number: int, text: str) -> dict[str, object] | str:
        try:
            obj = json.loads(text, parse_float=str, parse_int=str)
        except json.JSONDecodeError as err:
            return f"not valid JSON: {err.msg} at column {err.colno}"
        if not isinstance(obj, dict):
            return "a JSON Lines record must be an object"
        for key in obj:
            if key not in index:
                index[key] = len(columns)
                columns.append(key)
        return obj

    def to_row(obj: dict[str, object] | str) -> Row:
        if isinstance(obj, str):
            return [f"\x00{obj}"]  # the engine rejects rows marked as unparsable
        row: Row = [None] * len(columns)
        for key, value in obj.items():
            row[index[key]] = (
                None if value is None else (value if isinstance(value, str) else json.dumps(value))
            )
        return row

    lines = enumerate(handle, start=1)
    try:
        for number, text in lines:
            if text.strip():
                objects.append((number, parse(number, text)))
            if len(objects) >= batch_size:
                break
    except UnicodeDecodeError as err:
        raise InputError(path, f"cannot read {path}: {err}", "the file must be UTF-8") from None

    def batches() -> Iterator[list[tuple[int, Row]]]:
        with handle:
            yield [(n, to_row(o)) for n, o in objects]
            batch: list[tuple[int, Row]] = []
            try:
                for number, text in lines:
                    if text.strip():
                        batch.append((number, to_row(parse(number, text))))
                    if len(batch) >= batch_size:
                        yield batch
                        batch = []
            except UnicodeDecodeError as err:
                raise InputError(path, f"cannot read {path}: {err}", "the file must be UTF-8") from None
            if batch:
                yield batch

    return UsageFile(path, columns, batches())


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    country: str
    language: str
    currency: str


def _dict_rows(path: Path, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
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
