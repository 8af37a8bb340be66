"""An adjustment line: a closed period's line, new total minus issued total.

Made by `prior.adjustments` when a run re-settles a closed period; held by
`settle.Settlement` and written to `adjustment_lines.csv` / `.jsonl`. Its own
module so that `settle` and `prior` import one way (prior -> settle -> here).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

__all__ = ["ADJUSTMENT_COLUMNS", "Adjustment"]


def _s(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


@dataclass(frozen=True, slots=True)
class Adjustment:
    """New total minus issued total of one line of a closed period."""

    line_id: str  # its own id: "A-" + a hash of the line it adjusts and the closes before
    adjusts: str  # the line id it corrects (a line new in the period: that line's id)
    document: str  # the number of the document that line is on
    kind: str
    party: str
    party_name: str
    contract_id: str
    period: str  # the period it corrects
    currency: str
    amount: Decimal
    vat_amount: Decimal | None
    gross_amount: Decimal | None
    paid_amount: Decimal | None
    paid_currency: str
    issued: Decimal  # what was issued for the line before
    total: Decimal  # the line's new total
    reason: str

    def row(self) -> dict[str, str]:
        return {
            "line_id": self.line_id,
            "adjusts": self.adjusts,
            "document": self.document,
            "kind": self.kind,
            "party": self.party,
            "party_name": self.party_name,
            "contract_id": self.contract_id,
            "period": self.period,
            "currency": self.currency,
            "amount": _s(self.amount),
            "vat_amount": _s(self.vat_amount),
            "gross_amount": _s(self.gross_amount),
            "paid_amount": _s(self.paid_amount),
            "paid_currency": self.paid_currency,
            "issued": _s(self.issued),
            "total": _s(self.total),
            "reason": self.reason,
        }


ADJUSTMENT_COLUMNS = [f.name for f in fields(Adjustment)]
