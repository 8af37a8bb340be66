"""Invoices: one per end customer and period, every product and partner on it."""

from __future__ import annotations

from decimal import Decimal

from clearline.reports.doclines import by_party, detail, document_fields, gross_of
from clearline.reports.documents import Invoice, InvoiceTotal, VatGroup, sum_by_currency
from clearline.reports.rundata import LineRow, RunData

__all__ = ["build_invoices"]


def build_invoices(run: RunData, lang: str | None = None) -> list[Invoice]:
    """One invoice per end customer and period, every product and partner on it."""
    invoices = []
    for (customer, period), lines in by_party(ln for ln in run.lines if ln.kind == "invoice").items():
        party = run.party(customer, "customer", lines[0].party_name)
        invoice = Invoice(**document_fields(run, "INV", period, party, lines, lang))
        invoice.lines = [detail(run, ln) for ln in lines]
        groups: dict[tuple[str, bool, str], list[LineRow]] = {}
        for ln in lines:
            groups.setdefault((ln.currency, ln.reverse_charge, ln.vat_rate_text), []).append(ln)
        invoice.vat_groups = [
            VatGroup(
                currency,
                group[0].vat_rate,
                rate_text,
                reverse,
                sum((ln.amount for ln in group), Decimal(0)),
                sum((ln.vat_amount or Decimal(0) for ln in group), Decimal(0)),
            )
            for (currency, reverse, rate_text), group in sorted(
                groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[1][0].vat_rate or Decimal(0))
            )
        ]
        invoice.totals = [
            InvoiceTotal(
                m.currency,
                m.amount,
                sum((ln.vat_amount or Decimal(0) for ln in lines if ln.currency == m.currency), Decimal(0)),
                sum(
                    (gross_of(ln) for ln in lines if ln.currency == m.currency),
                    Decimal(0),
                ),
            )
            for m in sum_by_currency((ln.currency, ln.amount) for ln in lines)
        ]
        invoices.append(invoice)
    return invoices
