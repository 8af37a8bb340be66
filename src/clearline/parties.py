"""The parties a run's documents are addressed to, as the run folder records them.

`Customer` is one row of the customers file. The run folder keeps the rows of
the customers it invoices in `customers.json` (sorted by id, every field as
read), so that its documents render from the folder alone, years later and on
another machine, whatever became of the customers file. Neutral ground: the
runtime writes it, the reports read it, neither imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "CUSTOMERS_FILE",
    "Customer",
    "customers_from_json",
    "customers_json",
    "unidentified_reverse_charge",
]

CUSTOMERS_FILE = "customers.json"


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    country: str
    language: str
    currency: str
    # optional columns: the particulars an invoice shows of its buyer (docs/reports.md)
    address: str = ""
    postcode: str = ""
    city: str = ""
    vat_id: str = ""  # without spaces, upper case
    registration: str = ""


def customers_json(table: Mapping[str, Customer], ids: Iterable[str]) -> str:
    """The rows of `table` for `ids` (those it has), as the run folder's customers.json."""
    rows = [asdict(table[i]) for i in sorted(set(ids)) if i in table]
    return json.dumps({"customers": rows}, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def customers_from_json(text: str) -> dict[str, Customer]:
    """customers.json back into rows; ValueError when it is not one.
    A field a later version added and this one lacks is left out; one this version
    has and the file lacks is empty."""
    data = json.loads(text)
    rows = data.get("customers") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("not a list of customers")
    out: dict[str, Customer] = {}
    for row in rows:
        values = {f.name: row.get(f.name, "") for f in fields(Customer)}
        if not all(isinstance(v, str) for v in values.values()) or not values["id"]:
            raise ValueError(f"a customer's fields are not text: {row!r}")
        out[values["id"]] = Customer(**values)
    return out


def unidentified_reverse_charge(lines: Iterable[Any], customers: Mapping[str, Customer]) -> list[str]:
    """The customers a reverse-charged invoice line would go to without their VAT id
    (art. 226(4) asks for it): what settling, closing and reporting each refuse (E0908)."""
    charged = {ln.party for ln in lines if ln.kind == "invoice" and ln.reverse_charge}
    return sorted(c for c in charged if c not in customers or not customers[c].vat_id)
