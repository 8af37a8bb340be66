"""What makes a document one that can be sent: its issue, legal number and particulars.

Input: the invoices and statements of `documents.py`, an `Issue` (the date
given with `report --issue-date`, and the numbers a ledger issued for the
run's lines). Output: the same documents with their issue date, due date,
legal number and payment reference set, the particulars each lacks (as
notes), and the errors that stop them from being issued at all.

Council Directive 2006/112/EC art. 226 asks an invoice to show: its issue
date (1); a sequential number (2); the supplier's VAT id (3); the
customer's VAT id where the customer is liable for the tax, i.e. under the
reverse charge (4); the full names and addresses of both (5); the supply
period (7); the "Self-billing" mention on a self-billed invoice (10a); the
reverse-charge mention (11). A document without a ledger's number is a
draft and says so; a reverse-charged invoice to a customer without a VAT
id is not issued (`E0908`).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.particulars import REQUIRED
from clearline.reports.documents import Document, Invoice
from clearline.reports.i18n import N_
from clearline.reports.rundata import Party, RunData

__all__ = ["Issue", "LedgerNumbers", "apply_issue", "ledger_numbers", "missing", "reverse_charge_errors"]

# line id -> (the ledger's document number, the day its close issued it)
LedgerNumbers = dict[str, tuple[str, dt.date]]


@dataclass(frozen=True, slots=True)
class Issue:
    """How the documents are issued: on which day, under which of a ledger's numbers."""

    date: dt.date | None = None  # report --issue-date; else the ledger close's day
    numbers: LedgerNumbers = field(default_factory=dict)
    ledger: str = ""  # the ledger's URL as shown, when one was asked


def ledger_numbers(url: str, run: RunData, run_id: str = "") -> LedgerNumbers:
    """The document each line of the run was closed under, and the day of that close
    (in the time zone of the line's contract); with the pending adjustments of earlier
    periods that close carried (`run_id`: the SHA-256 of the run's manifest.json, which
    finds its close even when the run has no line). Raises `LedgerError`."""
    try:
        from clearline.ledger import open_ledger
    except ImportError:
        raise ClearlineError(
            [
                Diagnostic(
                    codes.LEDGER_UNREACHABLE,
                    "report --ledger needs the ledger's packages (SQLAlchemy, Alembic)",
                    None,
                    "pip install 'clearline[ledger]'",
                )
            ]
        ) from None

    zones = {p.id: p.time_zone for p in run.plans}
    found: LedgerNumbers = {}
    with open_ledger(url) as ledger:
        closes = ledger.closes()
        closed = {row.seq: str(row.closed_at) for row in closes}
        issued = {row.seq: str(getattr(row, "issue_date", "") or "") for row in closes}
        wanted = {ln.line_id for ln in run.lines} | {a.line_id for a in run.adjustments}
        keys = {(ln.contract_id, ln.period) for ln in run.lines}
        keys |= {(a.contract_id, a.period) for a in run.adjustments}
        for contract_id, period in sorted(keys):
            for row in ledger.lines(contract_id, period):
                if row.line_id in wanted and row.document and row.close_seq in closed:
                    day = _day(closed[row.close_seq], issued[row.close_seq], zones.get(contract_id))
                    found[str(row.line_id)] = (str(row.document), day)
        # pending partner adjustments carried onto a document: by this run's close (its
        # statements), or issued on statements of their own (`ledger issue-adjustments`)
        ours = {number for number, _ in found.values()}
        seqs = {row.close_seq for row in ledger.documents() if row.number in ours}
        seqs |= {row.seq for row in closes if run_id and row.run_id == run_id}
        kinds = {row.seq: str(row.kind) for row in closes}
        # a carried line is issued on its document's day: the day of its other lines (in
        # their contract's zone), else the day in the run's zone (the same day, by design:
        # a close near midnight UTC is another day in Warsaw, and one document has one day)
        days = {number: day for number, day in found.values()}
        run_zones = set(zones.values())
        zone = run_zones.pop() if len(run_zones) == 1 else None
        for c in ledger.carried():
            if c.close_seq in seqs or (kinds.get(c.close_seq) == "issue" and c.line_id in wanted):
                found[str(c.line_id)] = (
                    str(c.document),
                    days.get(str(c.document)) or _day(closed[c.close_seq], issued[c.close_seq], zone),
                )
    return found


def _day(closed_at: str, issue_date: str, zone: str | None) -> dt.date:
    """The day a close issued its documents: `close --issue-date`, else the day it ran."""
    if issue_date:
        return dt.date.fromisoformat(issue_date)
    when = dt.datetime.fromisoformat(closed_at.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(zoneinfo.ZoneInfo(zone)).date() if zone else when.date()


def apply_issue(d: Document, kind: str, line_ids: Sequence[str], issue: Issue, notes: list[str]) -> None:
    """Set `doc`'s issue date, legal number, due date, payment reference and payee.

    `kind`: "invoice" (the customer pays the operator) or "statement" (the
    operator pays the partner). A document is issued under a ledger number
    only when every one of its lines was closed under that one number.
    """
    numbers = {issue.numbers[i] for i in line_ids if i in issue.numbers}
    closed = {i for i in line_ids if i in issue.numbers}
    if len(numbers) == 1 and len(closed) == len(line_ids):
        number, day = numbers.pop()
        d.legal_number = number
        d.issue_date = issue.date or day
    else:
        d.issue_date = issue.date
        if issue.ledger and closed:
            notes.append(
                f"{kind} {d.number} for {d.party.id}: its lines are in "
                f"{len(numbers)} document(s) of the ledger and {len(line_ids) - len(closed)} in none: "
                "rendered as a draft"
            )
        elif issue.ledger:
            notes.append(
                f"{kind} {d.number} for {d.party.id}: the ledger has not closed it: rendered as a draft"
            )
    operator = d.issuers[0] if d.issuers else None
    terms = operator.details.payment_days if operator and operator.details else None
    d.payment_days = terms
    if d.issue_date is not None and terms is not None:
        d.due_date = d.issue_date + dt.timedelta(days=terms)
    d.payment_reference = d.legal_number or d.number
    d.payee = operator if kind == "invoice" else d.party
    d.missing = missing(kind, d.party, d.issuers)


def missing(kind: str, party: Party, issuers: Sequence[Party]) -> list[tuple[str, tuple[str, ...]]]:
    """What a document lacks of art. 226's particulars: (party, the particulars), e.g.
    ("telcopl", ("vat id",)); the particulars are message ids the documents translate."""
    out = []
    for issuer in issuers:
        lacks = _lacks(issuer, REQUIRED["operator"])
        if lacks:
            out.append((issuer.id, lacks))
    # a customer's VAT id is needed only under the reverse charge (E0908); a partner's IBAN
    # is how it is paid
    wanted = REQUIRED["partner"] if kind == "statement" else ("legal name", "address", "city", "country")
    lacks = _lacks(party, wanted)
    if lacks:
        out.append((party.id, lacks))
    return out


# The particulars' names, as the documents translate them.
PARTICULARS = (N_("legal name"), N_("address"), N_("city"), N_("country"), N_("vat id"), N_("iban"))


def _lacks(party: Party, wanted: Iterable[str]) -> tuple[str, ...]:
    d = party.details or ir.PartyDetails()
    have = {
        "legal name": d.legal_name,
        "address": "".join(d.address),
        "city": d.city,
        "country": d.country or party.country,
        "vat id": d.vat_id,
        "iban": d.iban,
    }
    return tuple(k for k in wanted if not have.get(k))


def reverse_charge_errors(invoices: Iterable[Invoice]) -> list[Diagnostic]:
    """A reverse-charged invoice must show its customer's VAT id (art. 226(4)): E0908 each."""
    return [
        Diagnostic(
            codes.REVERSE_CHARGE_WITHOUT_VAT_ID,
            f"the invoice {inv.number} to {inv.party.id} ({inv.party.name}) is reverse-charged, "
            "and the customers file gives no VAT id for it",
            None,
            f"add {inv.party.id}'s VAT id in the customers file's `vat_id` column and settle again",
        )
        for inv in invoices
        if inv.reverse_charge and not (inv.party.details and inv.party.details.vat_id)
    ]
