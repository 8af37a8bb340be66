"""The settled result: lines (invoice, payout, retained, withholding), the
Settlement a run returns, and the conservation check of each contract's period.

Input: what `settle._Finisher` builds. Output: the rows the run folder writes
(`Line.row`, `Settlement.invoice_totals`, `lifecycle_rows`). Data only: no rating.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from clearline.compiler import ir
from clearline.money import minor_unit
from clearline.runtime.rating.accumulate import Accumulated
from clearline.runtime.rating.engine import (
    RatedLine,
    RatedPrice,
    RatedRows,
    Reject,
    Routed,
)

if TYPE_CHECKING:
    from clearline.runtime.settlement.adjustment import Adjustment

__all__ = ["KINDS", "LINE_COLUMNS", "Lifecycle", "Line", "Settlement", "conservation"]

KINDS = {"I": "invoice", "P": "payout", "R": "retained"}

LINE_COLUMNS = [
    "line_id",
    "kind",
    "party",
    "party_name",
    "contract_id",
    "contract_version",
    "product",
    "clause",
    "period",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "currency",
    "vat_rate",
    "vat_amount",
    "gross_amount",
    "paid_amount",
    "paid_currency",
    "fx_rate",
    "fx_date",
    "records",
    "reverse_charge",
    "trace_id",
]


def _s(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _pct(fraction: Decimal) -> str:
    """0.23 -> '23%'."""
    return format((fraction * 100).normalize(), "f") + "%"


@dataclass(frozen=True, slots=True)
class Line:
    line_id: str
    kind: str
    party: str
    party_name: str
    contract_id: str
    contract_version: int
    product: str
    clause: str
    period: str
    description: str
    quantity: Decimal | None
    unit: str
    unit_price: Decimal | None
    amount: Decimal
    currency: str
    vat_rate: Decimal | None = None
    vat_amount: Decimal | None = None
    gross_amount: Decimal | None = None
    paid_amount: Decimal | None = None
    paid_currency: str = ""
    fx_rate: Decimal | None = None
    fx_date: str = ""
    records: int = 0
    reverse_charge: bool = False

    def row(self) -> dict[str, str]:
        return {
            "line_id": self.line_id,
            "kind": self.kind,
            "party": self.party,
            "party_name": self.party_name,
            "contract_id": self.contract_id,
            "contract_version": str(self.contract_version),
            "product": self.product,
            "clause": self.clause,
            "period": self.period,
            "description": self.description,
            "quantity": _s(self.quantity),
            "unit": self.unit,
            "unit_price": _s(self.unit_price),
            "amount": _s(self.amount),
            "currency": self.currency,
            "vat_rate": _pct(self.vat_rate) if self.vat_rate is not None else "",
            "vat_amount": _s(self.vat_amount),
            "gross_amount": _s(self.gross_amount),
            "paid_amount": _s(self.paid_amount),
            "paid_currency": self.paid_currency,
            "fx_rate": _s(self.fx_rate),
            "fx_date": self.fx_date,
            "records": str(self.records),
            "reverse_charge": "yes" if self.reverse_charge else "",
            "trace_id": self.line_id,
        }


# a subscriber's events: their record ids, the (line id, clause) of each line they fed, days
Lifecycle = tuple[list[str], tuple[tuple[str, str], ...], str]


@dataclass(slots=True)
class Settlement:
    period: str
    plans: list[ir.ContractPlan]
    lines: list[Line]
    traces: list[dict[str, Any]]
    read: int
    rated: int
    rejects: list[Reject]
    unmatched: list[Reject]
    conservation: list[dict[str, Any]]
    # the rated-records rows of subscription events, made as they are written
    lifecycle: list[Lifecycle] = field(default_factory=list)
    # records of other periods set aside for them (`--out-of-period route`), in read order
    routed: list[Routed] = field(default_factory=list)
    # the engine's exact sums of usage lines and its subscription events, before the period
    # closed: what the ledger keeps to re-settle the period with late records (clearline.ledger)
    partials: Accumulated | None = None
    # with the ledger's prior (a closed period settled again): new total minus issued, per line
    adjustments: list[Adjustment] = field(default_factory=list)

    def lifecycle_rows(self, batch: int = 10_000) -> Iterator[RatedRows]:
        """The rated-records rows of the subscription events, a batch at a time: per
        subscriber, each event's id with each line it fed (or none, when inactive)."""
        lines: dict[tuple[str, str], RatedLine] = {}
        prices: dict[str, RatedPrice] = {}
        out = RatedRows()
        for ids, touched, days in self.lifecycle:
            price = prices.get(days) or prices.setdefault(days, RatedPrice(days, ""))
            parts = [lines.get(t) or lines.setdefault(t, RatedLine(*t)) for t in touched]
            # each id with each of its lines, in that order: three list extensions, not an
            # `add` per row (2M rows for 1M StreamPlus events)
            out.ids += [rid for rid in ids for _ in parts]
            out.lines += parts * len(ids)
            out.prices += [price] * (len(ids) * len(parts))
            if len(out) >= batch:
                yield out
                out = RatedRows()
        if len(out):
            yield out

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.conservation)

    def invoice_totals(self) -> list[dict[str, str]]:
        """One invoice per customer and period, every contract on it: totals per VAT rate."""
        totals: dict[tuple[str, str, str, str, str], list[Decimal]] = {}
        for ln in self.lines:
            if ln.kind != "invoice":
                continue
            rate = _pct(ln.vat_rate) if ln.vat_rate is not None else ""
            key = (ln.party, ln.period, ln.currency, rate, "yes" if ln.reverse_charge else "")
            t = totals.setdefault(key, [Decimal(0), Decimal(0), Decimal(0), Decimal(0)])
            t[0] += ln.amount
            t[1] += ln.vat_amount if ln.vat_amount is not None else Decimal(0)
            t[2] += ln.gross_amount if ln.gross_amount is not None else ln.amount
            t[3] += 1
        return [
            {
                "customer": c,
                "period": p,
                "currency": cur,
                "vat_rate": rate,
                "reverse_charge": rc,
                "net": _s(t[0]),
                "vat": _s(t[1]),
                "gross": _s(t[2]),
                "lines": str(t[3]),
            }
            for (c, p, cur, rate, rc), t in sorted(totals.items())
        ]


def conservation(lines: list[Line]) -> list[dict[str, Any]]:
    """Per contract, period and currency: net revenue == payouts + retained."""
    totals: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for ln in lines:
        if ln.kind == "withholding":
            continue  # a part of a payout held for the tax authority, not a separate use of revenue
        t = totals.setdefault(
            (ln.contract_id, ln.period, ln.currency),
            # zero in the currency's minor unit: a contract with no invoice shows 0.00, not 0
            dict.fromkeys(("invoice", "payout", "retained"), minor_unit(ln.currency) * 0),
        )
        t[ln.kind] += ln.amount
    out = []
    for (cid, period, currency), t in sorted(totals.items()):
        ok = t["invoice"] == t["payout"] + t["retained"]
        out.append(
            {
                "contract_id": cid,
                "period": period,
                "currency": currency,
                "net_revenue": _s(t["invoice"]),
                "payouts": _s(t["payout"]),
                "retained": _s(t["retained"]),
                "ok": ok,
            }
        )
    return out
