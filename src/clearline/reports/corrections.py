"""The documents of a run that settles a closed period again: credit notes, supplementary
invoices and self-billing adjustments.

Input: `RunData` whose `adjustments` (adjustment_lines.csv) say, per line of the closed
period, the new total minus what was issued. Output: `Correction` documents, grouped as
the ledger numbers them (`ledger.closing.adjustment_documents`): per customer and
currency, a supplementary invoice when its net goes up, a credit note when it goes down
(each naming the invoices it corrects); per partner and currency, a self-billing
adjustment naming its statement. The operator's retained adjustments are on no
document. Every total is a `Decimal` sum of the adjustment lines.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal

from clearline.reports.doclines import issuers_of
from clearline.reports.documents import Document, InvoiceTotal, document_number, period_days
from clearline.reports.i18n import N_, language_for
from clearline.reports.rundata import ADJUSTMENTS, AdjustmentRow, LineRow, RunData

__all__ = ["Correction", "build_corrections"]

TITLES = {
    "credit-note": N_("Credit note"),
    "supplementary": N_("Supplementary invoice"),
    "invoice": N_("Invoice"),
    "self-billing adjustment": N_("Self-billing adjustment"),
}
PREFIXES = {"credit-note": "CN", "supplementary": "SUP", "invoice": "INV", "self-billing adjustment": "SBA"}
STEMS = {
    "credit-note": "credit-note",
    "supplementary": "supplementary",
    "invoice": "invoice",
    "self-billing adjustment": "self-billing-adjustment",
}


@dataclass(frozen=True, slots=True)
class Corrected:
    """An adjustment, and the line it corrects as this run settled it (for its title, VAT rate)."""

    adjustment: AdjustmentRow
    line: LineRow  # the corrected line with the adjustment's amounts and id
    title: str


@dataclass(slots=True)
class Correction(Document):
    # "credit-note", "supplementary", "invoice" (a customer new in the period), "self-billing adjustment"
    kind: str = ""
    refers_to: list[str] = field(default_factory=list)  # the documents it corrects
    rows: list[Corrected] = field(default_factory=list)
    totals: list[InvoiceTotal] = field(default_factory=list)

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    @property
    def statement(self) -> bool:
        return self.kind == "self-billing adjustment"

    @property
    def stem_kind(self) -> str:
        return STEMS[self.kind]


def _corrected(run: RunData, a: AdjustmentRow) -> Corrected:
    original = next((ln for ln in run.lines if ln.line_id == a.adjusts), None)
    if original is None:  # a line the run no longer has: only what the adjustment says
        original = LineRow(
            line_id=a.adjusts, kind=a.kind, party=a.party, party_name=a.party_name,
            contract_id=a.contract_id, contract_version="", product="", clause="", period=a.period,
            description="", quantity=None, unit="", unit_price=None, amount=a.amount, currency=a.currency,
            vat_rate=None, vat_rate_text="", vat_amount=a.vat_amount, gross_amount=a.gross_amount,
            paid_amount=None, paid_currency="", fx_rate=None, fx_date="", records=0, file=ADJUSTMENTS,
        )  # fmt: skip
    line = dataclasses.replace(
        original,
        line_id=a.line_id,
        amount=a.amount,
        vat_amount=a.vat_amount,
        gross_amount=a.gross_amount,
        quantity=None,
        unit_price=None,
        paid_amount=None,
        paid_currency="",
    )
    product = run.product(original.contract_id, original.product)
    title = product.title if product is not None and product.title else original.product
    return Corrected(a, line, title)


def build_corrections(run: RunData, lang: str | None = None) -> list[Correction]:
    """The corrections of a run's adjustments, by party and currency."""
    groups: dict[tuple[str, str, str], list[AdjustmentRow]] = {}
    for a in run.adjustments:
        series = (
            "invoice" if a.kind == "invoice" else "statement" if a.kind in {"payout", "withholding"} else ""
        )
        if series:
            groups.setdefault((series, a.party, a.currency), []).append(a)
    out = []
    for (series, party_id, _currency), members in sorted(groups.items()):
        net = sum((a.amount for a in members), Decimal(0))
        originals = sorted({a.document for a in members if a.document})
        if series == "statement":
            kind = "self-billing adjustment"
        elif not originals:
            kind = "invoice"
        else:
            kind = "credit-note" if net < 0 else "supplementary"
        role = "customer" if series == "invoice" else "partner"
        party = run.party(party_id, role, members[0].party_name)
        language, fallback = (lang, False) if lang is not None else language_for(party.language)
        period = members[0].period
        days = period_days(period)
        doc = Correction(
            number=document_number(
                PREFIXES[kind], period, party_id, run.plan_sha256, [a.line_id for a in members]
            ),
            period=period,
            period_first=days[0] if days else None,
            period_last=days[1] if days else None,
            party=party,
            language=language,
            fallback=fallback,
            issuers=issuers_of(run, (a.contract_id for a in members)),
            kind=kind,
            refers_to=originals,
            rows=[_corrected(run, a) for a in members],
        )
        vat = sum((a.vat_amount or Decimal(0) for a in members), Decimal(0))
        gross = sum((a.gross_amount if a.gross_amount is not None else a.amount for a in members), Decimal(0))
        doc.totals = [InvoiceTotal(members[0].currency, net, vat, gross)]
        out.append(doc)
    return out
