"""Closing a period: a verified run folder -> one close written to the ledger.

Input: a run folder written by `clearline simulate` and an open `Ledger`.
Output: the `CloseOutcome` (the close's number, hash and the documents'
legal numbers). The run is verified first (`clearline.verify`: its inputs
re-hashed, the run settled again and every output compared byte for byte);
the settlement that verification produced gives the lines and the exact
partial sums, and the folder's rated records give the record ids.

Documents, in the order they are numbered: per issuer (the contract's
operator), one invoice per customer and currency, then one self-billing
statement per partner and currency, sorted by party. The operator's
retained lines belong to no document.

A re-settlement of a closed period issues its customers' corrections at once;
its partners' adjustment lines are written with no document (pending) and go on
the partner's next self-billing statement (`issuing.carry`), unless the close is
asked to issue them at once (`issue_adjustments`: a self-billing adjustment
statement per partner, as before).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from clearline import codes, numbering
from clearline.compiler import ir
from clearline.ledger.errors import LedgerError
from clearline.ledger.model import Close, CloseOutcome, DocumentDraft, LineEntry
from clearline.ledger.resettle import in_force
from clearline.ledger.store import Ledger
from clearline.money import minor_unit
from clearline.parties import CUSTOMERS_FILE, customers_from_json, unidentified_reverse_charge
from clearline.runtime.settlement.prior import Adjustment, Prior, read_prior
from clearline.runtime.settlement.settle import Line, Settlement
from clearline.runtime.store import partials

__all__ = ["ClosedRun", "build_close", "close_run", "refuse_unidentified_reverse_charge"]

_SERIES_OF_KIND = {"invoice": "invoice", "payout": "self-billing", "withholding": "self-billing"}
_PARTNER_KINDS = {"payout", "withholding"}
_DOCUMENT_KIND = {"invoice": "invoice", "self-billing": "self-billing", "credit-note": "credit-note"}


@dataclass(frozen=True, slots=True)
class ClosedRun:
    outcome: CloseOutcome
    close: Close


def _run_id(run: Path) -> str:
    try:
        return hashlib.sha256((run / "manifest.json").read_bytes()).hexdigest()
    except OSError as err:
        raise LedgerError(
            codes.RUN_NOT_VERIFIED,
            f"{run} is not a complete run folder: {err.strerror or err}",
            "close the folder that `clearline simulate --out` wrote",
        ) from None


def _contracts(plans: Sequence[ir.ContractPlan], period: str) -> tuple[tuple[str, int, str], ...]:
    """The contracts whose period this run settles: id, highest version in force in the
    period, and one hash over the plans of every such version."""
    ids = set(in_force(plans, period))
    by_id: dict[str, list[ir.ContractPlan]] = {}
    for plan in plans:
        if plan.id in ids:
            by_id.setdefault(plan.id, []).append(plan)
    out = []
    for cid, versions in sorted(by_id.items()):
        versions.sort(key=lambda p: p.version)
        joined = "".join(ir.plan_hash(p) for p in versions)
        out.append((cid, versions[-1].version, hashlib.sha256(joined.encode()).hexdigest()))
    return tuple(out)


def _issuers(plans: Sequence[ir.ContractPlan]) -> dict[str, str]:
    return {p.id: p.operator.name for p in plans}


def number_formats(plans: Sequence[ir.ContractPlan]) -> dict[tuple[str, str], str]:
    """(issuer, series) -> the number format its contracts declare (else the default);
    LedgerError when two contracts of one operator declare different ones."""
    declared: dict[tuple[str, str], tuple[str, str]] = {}
    for plan in sorted(plans, key=lambda p: (p.id, p.version)):
        for series, fmt in plan.number_formats:
            key = (plan.operator.name, series)
            had = declared.setdefault(key, (fmt, plan.id))
            if had[0] != fmt:
                raise LedgerError(
                    codes.INVALID_NUMBER_FORMAT,
                    f"contracts {had[1]} and {plan.id} declare different {series} number formats for "
                    f"{plan.operator.name}: {had[0]!r} and {fmt!r}",
                    "an issuer numbers each series one way: declare the same format in each contract",
                )
    formats = {key: fmt for key, (fmt, _) in declared.items()}
    for issuer in {p.operator.name for p in plans}:
        for series, fmt in numbering.DEFAULT_FORMATS.items():
            formats.setdefault((issuer, series), fmt)
    return formats


def _sum(values: Iterable[Decimal | None], currency: str = "") -> Decimal:
    """The sum, from the currency's zero (0.00 PLN, not 0)."""
    zero = minor_unit(currency) * 0 if currency else Decimal(0)
    return sum((v for v in values if v is not None), zero)


def _text(value: Decimal) -> str:
    return format(value, "f")


def documents_of(
    lines: Sequence[Line], plans: Sequence[ir.ContractPlan], period: str
) -> tuple[list[DocumentDraft], dict[str, str]]:
    """The documents the lines go on (in numbering order) and each line id's document key."""
    issuer_of = _issuers(plans)
    formats = number_formats(plans)
    groups: dict[tuple[int, str, str, str], list[Line]] = {}
    for ln in lines:
        series = _SERIES_OF_KIND.get(ln.kind)
        if series is None:
            continue  # retained: the operator's own, on no document
        place = numbering.SERIES.index(series)
        groups.setdefault((place, issuer_of[ln.contract_id], ln.party, ln.currency), []).append(ln)
    drafts: list[DocumentDraft] = []
    doc_of: dict[str, str] = {}
    for (place, issuer, party, currency), members in sorted(groups.items()):
        series = numbering.SERIES[place]
        key = f"{series}:{issuer}:{party}:{currency}"
        net = _sum(ln.amount for ln in members)
        vat = _sum((ln.vat_amount for ln in members), currency)
        gross = _sum(ln.gross_amount if ln.gross_amount is not None else ln.amount for ln in members)
        drafts.append(
            DocumentDraft(
                key=key,
                issuer=issuer,
                series=series,
                kind=_DOCUMENT_KIND[series],
                party=party,
                party_name=members[0].party_name,
                period=period,
                currency=currency,
                net=_text(net),
                vat=_text(vat),
                gross=_text(gross),
                number_format=formats[(issuer, series)],
            )
        )
        for ln in members:
            doc_of[ln.line_id] = key
    return drafts, doc_of


def _records(run: Path, doc_of: dict[str, str]) -> list[tuple[str, str]]:
    """Each settled record id once, with the document of the first line it fed that is on
    one (a customer's invoice before a partner's statement: invoice lines come first)."""
    found: dict[str, tuple[int, str]] = {}
    with (run / "rated_records.csv").open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, [])
        i_id, i_line = header.index("record_id"), header.index("line_id")
        for row in rows:
            rid = row[i_id]
            doc = doc_of.get(row[i_line], "")
            rank = 0 if doc.startswith("invoice:") else 1 if doc else 2
            current = found.get(rid)
            if current is None or rank < current[0]:
                found[rid] = (rank, doc)
    return sorted((rid, doc) for rid, (_, doc) in found.items())


def adjustment_documents(
    adjusted: Sequence[Adjustment], plans: Sequence[ir.ContractPlan], partners_now: bool = False
) -> tuple[list[DocumentDraft], dict[str, str]]:
    """The documents of a closed period's adjustments, in numbering order, and each
    adjustment's (and adjusted line's) document key: a customer whose net goes up gets
    a supplementary invoice, one whose net goes down a credit note, each referring to
    the invoice it corrects. A partner's adjustments wait for its next statement (no
    document here) unless `partners_now`: then an adjustment statement referring to
    its statement. The operator's retained adjustments belong to no document."""
    issuer_of = _issuers(plans)
    formats = number_formats(plans)
    groups: dict[tuple[str, str, str, str], list[Adjustment]] = {}
    for a in adjusted:
        series = _SERIES_OF_KIND.get(a.kind)
        if series is None or (series == "self-billing" and not partners_now):
            continue
        groups.setdefault((series, issuer_of[a.contract_id], a.party, a.currency), []).append(a)
    keyed: list[tuple[tuple[int, str, str, str], DocumentDraft, list[Adjustment]]] = []
    for (series, issuer, party, currency), members in groups.items():
        net = _sum(a.amount for a in members)
        kind = "self-billing adjustment"
        originals = sorted({a.document for a in members if a.document})
        if series == "invoice":
            series, kind = ("credit-note", "credit-note") if net < 0 else ("invoice", "supplementary")
            if not originals:  # a customer new in the period: its first invoice for it
                kind = "invoice"
        key = f"{series}:{issuer}:{party}:{currency}"
        draft = DocumentDraft(
            key=key,
            issuer=issuer,
            series=series,
            kind=kind,
            party=party,
            party_name=members[0].party_name,
            period=members[0].period,
            currency=currency,
            net=_text(net),
            vat=_text(_sum((a.vat_amount for a in members), currency)),
            gross=_text(_sum(a.gross_amount if a.gross_amount is not None else a.amount for a in members)),
            number_format=formats[(issuer, series)],
            refers_to=", ".join(originals),
        )
        keyed.append(((numbering.SERIES.index(series), issuer, party, currency), draft, members))
    drafts: list[DocumentDraft] = []
    doc_of: dict[str, str] = {}
    for _, draft, members in sorted(keyed, key=lambda k: k[0]):
        drafts.append(draft)
        for a in members:
            doc_of[a.line_id] = draft.key
            if a.adjusts:
                doc_of[a.adjusts] = draft.key  # the records of the adjusted line
    return drafts, doc_of


def build_close(run: Path, result: Settlement, issue_adjustments: bool = False) -> Close:
    """The close of a run folder's settlement: a period's, or a closed period's adjustments
    (`issue_adjustments`: the partners' on statements of their own now, not pending)."""
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    prior = read_prior(run, manifest)  # verify_run has read it already: it is sound
    if prior is not None and prior.resettles:
        return _adjustment_close(run, manifest, result, prior, issue_adjustments)
    drafts, doc_of = documents_of(result.lines, result.plans, result.period)
    entries = tuple(
        LineEntry(
            line_id=ln.line_id,
            kind=ln.kind,
            party=ln.party,
            contract_id=ln.contract_id,
            period=ln.period,
            amount=_text(ln.amount),
            currency=ln.currency,
            document=doc_of.get(ln.line_id, ""),
            row=json.dumps(ln.row(), ensure_ascii=False, sort_keys=True),
        )
        for ln in result.lines
    )
    rows = partials.dump(result.partials, result.plans) if result.partials is not None else []
    return Close(
        run_id=_run_id(run),
        run_path=str(run),
        period=result.period,
        kind="period",
        plan_sha256=str(manifest.get("plan_sha256", "")),
        contracts=_contracts(result.plans, result.period),
        documents=tuple(drafts),
        lines=entries,
        records=tuple(_records(run, doc_of)),
        partials=tuple(rows),
        refunds=_refunds(run, prior),
        issuers=tuple(sorted({p.operator.name for p in result.plans})),
    )


def _refunds(run: Path, prior: Prior | None) -> tuple[tuple[str, str], ...]:
    """The run's accepted refunds (refund record id, the record it refunds)."""
    if prior is None:
        return ()
    return tuple(sorted((rid, x) for rid, x in prior.refund_of.items() if prior.refund_check.get(rid) == ""))


def _pending_row(a: Adjustment, plans: Sequence[ir.ContractPlan]) -> dict[str, str]:
    """A pending partner adjustment's row: the adjustment, its issuer and the issuer's
    self-billing number format (for a statement of its own, `issuing.standalone`)."""
    issuer = _issuers(plans)[a.contract_id]
    fmt = number_formats(plans)[(issuer, "self-billing")]
    return {**a.row(), "issuer": issuer, "number_format": fmt}


def _adjustment_close(
    run: Path, manifest: dict[str, Any], result: Settlement, prior: Prior, partners_now: bool = False
) -> Close:
    drafts, doc_of = adjustment_documents(result.adjustments, result.plans, partners_now)

    def row(a: Adjustment) -> dict[str, str]:
        waits = a.kind in _PARTNER_KINDS and not doc_of.get(a.line_id)
        return _pending_row(a, result.plans) if waits else a.row()

    entries = tuple(
        LineEntry(
            line_id=a.line_id,
            kind=a.kind,
            party=a.party,
            contract_id=a.contract_id,
            period=a.period,
            amount=_text(a.amount),
            currency=a.currency,
            document=doc_of.get(a.line_id, ""),
            row=json.dumps(row(a), ensure_ascii=False, sort_keys=True),
            adjusts=a.adjusts,
        )
        for a in result.adjustments
    )
    rows = partials.dump(result.partials, result.plans) if result.partials is not None else []
    return Close(
        run_id=_run_id(run),
        run_path=str(run),
        period=result.period,
        kind="rerate" if prior.rerate else "adjustment",
        plan_sha256=str(manifest.get("plan_sha256", "")),
        contracts=_contracts(result.plans, result.period),
        documents=tuple(drafts),
        lines=entries,
        records=tuple(_records(run, doc_of)),
        partials=tuple(rows),
        based_on=tuple(prior.based_on),
        refunds=_refunds(run, prior),
    )


def close_run(
    run: str | Path, ledger: Ledger, workers: int = 1, issue_date: str = "", issue_adjustments: bool = False
) -> ClosedRun:
    """Verify the run folder and close its period in the ledger (one transaction).

    `issue_date` (YYYY-MM-DD) is the date the close issues its documents on; by
    default the day it is closed. `issue_adjustments`: a re-settlement issues its
    partners' adjustments at once, on statements of their own, instead of leaving
    them pending for the partners' next statements."""
    from clearline.verify import verify_run

    folder = Path(run)
    run_id = _run_id(folder)
    for done in ledger.closes():
        if done.run_id == run_id:  # closed before: no need to settle it again
            return ClosedRun(CloseOutcome(done.seq, done.hash, True, {}), _empty(folder, done.period))
    verification = verify_run(folder, workers)
    if not verification.ok or verification.settlement is None:
        problems = [*verification.changed_inputs, *verification.differing_outputs]
        raise LedgerError(
            codes.RUN_NOT_VERIFIED,
            f"{folder} does not verify, so it is not closed: {'; '.join(problems)}",
            f"run `clearline verify {folder}` to see what differs, then settle again",
        )
    refuse_unidentified_reverse_charge(folder, verification.settlement)
    built = build_close(folder, verification.settlement, issue_adjustments)
    close = dataclasses.replace(built, issue_date=issue_date)
    return ClosedRun(ledger.close(close), close)


def refuse_unidentified_reverse_charge(folder: Path, result: Settlement) -> None:
    """E0908 unless every reverse-charged invoice of the run has its customer's VAT id
    (art. 226(4)): the ledger never numbers an invoice the law does not allow."""
    unidentified = _reverse_charged_without_vat_id(folder, result)
    if unidentified:
        raise LedgerError(
            codes.REVERSE_CHARGE_WITHOUT_VAT_ID,
            f"{folder} is not closed: the invoices to {', '.join(unidentified)} are reverse-charged, and "
            "the customers file gives no VAT id for them (art. 226(4) of the VAT Directive asks for it)",
            "add the VAT ids in the customers file's `vat_id` column, settle again and close that run",
        )


def _reverse_charged_without_vat_id(folder: Path, result: Settlement) -> list[str]:
    """The customers a reverse-charged invoice would be issued to without their VAT id."""
    recorded = folder / CUSTOMERS_FILE
    table = customers_from_json(recorded.read_text(encoding="utf-8")) if recorded.is_file() else {}
    return unidentified_reverse_charge(result.lines, table)


def _empty(run: Path, period: str) -> Close:
    return Close(_run_id(run), str(run), period, "period", "", (), (), (), (), ())
