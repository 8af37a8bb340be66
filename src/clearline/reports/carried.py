"""Adjustments of earlier periods on a partner's self-billing statement.

Input: `RunData`, the ledger's URL and the numbers it issued for the run's lines
(`legal.ledger_numbers`). Output: each statement of the run with the pending partner
adjustments its close carried (or, for a run not closed yet, those its close would
carry: pending ones of the run's issuers, of earlier periods), each a line "adjustment
for 2026-03" with its reason, the statement and line it corrects; a partner with
adjustments and no payouts in the period gets a statement with only them. The
statement's totals include them; a total below zero is what the partner owes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from clearline.reports.doclines import document_fields
from clearline.reports.documents import CarriedLine, Statement, sum_by_currency
from clearline.reports.rundata import ADJUSTMENTS, LineRow, RunData

__all__ = ["Waiting", "attach", "load"]


@dataclass(frozen=True, slots=True)
class Waiting:
    """An adjustment the ledger carried onto a document (`document`), or pending ("")."""

    document: str
    line: CarriedLine


def _dec(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def load(url: str, run: RunData, numbers: Iterable[str]) -> list[Waiting]:
    """The adjustments the run's statements carry: those the ledger put on the documents
    `numbers` (the run is closed), else the pending ones its close would carry."""
    from clearline.ledger import open_ledger

    issued = sorted(set(numbers))
    issuers = {p.operator.name for p in run.plans}
    with open_ledger(url) as ledger:
        if issued:
            found = [(doc, p) for doc, kind, p in ledger.carried_on(issued) if kind == "period"]
        else:
            found = [("", p) for p in ledger.pending() if p.issuer in issuers and p.period < run.period]
    out = []
    for doc, p in found:
        amount = Decimal(p.amount)
        row = LineRow(
            line_id=p.line_id, kind=p.kind, party=p.party, party_name=p.party_name, contract_id=p.contract_id,
            contract_version="", product="", clause="", period=p.period, description="", quantity=None,
            unit="", unit_price=None, amount=amount, currency=p.currency, vat_rate=None, vat_rate_text="",
            vat_amount=_dec(p.vat) if p.vat not in {"", "0"} else None, gross_amount=None,
            paid_amount=_dec(p.paid), paid_currency=p.paid_currency, fx_rate=None, fx_date="", records=0,
            file=ADJUSTMENTS,
        )  # fmt: skip
        out.append(Waiting(doc, CarriedLine(row, p.period, p.reason, p.corrects, p.adjusts)))
    return out


def attach(run: RunData, statements: list[Statement], waiting: list[Waiting], lang: str | None) -> None:
    """Put each adjustment on its partner's statement (one of its own when the partner
    has none in the run), and add it to the statement's totals."""
    by_party: dict[str, list[CarriedLine]] = {}
    for w in waiting:
        by_party.setdefault(w.line.row.party, []).append(w.line)
    for party_id, lines in sorted(by_party.items()):
        statement = next((s for s in statements if s.party.id == party_id), None)
        if statement is None:
            party = run.party(party_id, "partner", lines[0].row.party_name)
            rows = [c.row for c in lines]
            statement = Statement(**document_fields(run, "SB", run.period, party, rows, lang))
            statement.currency = party.currency or lines[0].row.currency
            statements.append(statement)
        statement.adjustments = lines
        payouts = [c.row for c in lines if c.row.kind == "payout"]
        withheld = [(c.row.payable_currency, -c.row.payable_amount) for c in lines if c.row.kind != "payout"]
        statement.settled = sum_by_currency(
            [(m.currency, m.amount) for m in statement.settled] + [(r.currency, r.amount) for r in payouts]
        )
        statement.paid = sum_by_currency(
            [(m.currency, m.amount) for m in statement.paid]
            + [(r.payable_currency, r.payable_amount) for r in payouts]
        )
        statement.withheld = sum_by_currency([(m.currency, m.amount) for m in statement.withheld] + withheld)
        statement.payable = sum_by_currency(
            [(m.currency, m.amount) for m in statement.paid]
            + [(m.currency, -m.amount) for m in statement.withheld]
        )
    statements.sort(key=lambda s: (s.party.id, s.period))
