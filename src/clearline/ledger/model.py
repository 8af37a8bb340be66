"""What a close writes and what look-ups return: plain frozen records of the ledger.

Input: built by `closing.py` (a run folder's close) or read back by `store.Ledger`.
Output: `Close` and its `DocumentDraft`s and `LineEntry`s; `CloseOutcome`,
`Settled` and `ClosedPeriod` as look-ups give them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Carried",
    "Close",
    "CloseOutcome",
    "ClosedPeriod",
    "DocumentDraft",
    "LineEntry",
    "Pending",
    "Settled",
]


@dataclass(frozen=True, slots=True)
class DocumentDraft:
    """A document a close issues; `number` is assigned by the ledger."""

    key: str  # the close's own name for it, that lines and records refer to
    issuer: str
    series: str  # one of numbering.SERIES
    kind: str  # invoice, self-billing, credit-note, supplementary
    party: str
    party_name: str
    period: str
    currency: str
    net: str
    vat: str
    gross: str
    number_format: str
    refers_to: str = ""


@dataclass(frozen=True, slots=True)
class LineEntry:
    line_id: str
    kind: str
    party: str
    contract_id: str
    period: str
    amount: str
    currency: str
    document: str  # a DocumentDraft key
    row: str  # JSON
    adjusts: str = ""


@dataclass(frozen=True, slots=True)
class Pending:
    """A partner's adjustment line a re-settlement wrote with no document yet."""

    from_seq: int  # the close that wrote it
    line_id: str
    kind: str  # payout or withholding
    party: str
    party_name: str
    contract_id: str
    issuer: str
    period: str  # the period it corrects
    currency: str
    amount: str
    vat: str
    gross: str
    adjusts: str  # the line it corrects
    corrects: str  # the document that line is on ("" for a line new in the period)
    reason: str  # "late usage", "re-rated: RS-2026 version 2 from 2026-03-06"
    number_format: str  # the issuer's self-billing format, for a statement of its own
    paid: str = ""  # in the payment currency, where the partner is paid in another
    paid_currency: str = ""


@dataclass(frozen=True, slots=True)
class Carried:
    """A pending adjustment a close put on a document (a DocumentDraft key)."""

    pending: Pending
    document: str


@dataclass(frozen=True, slots=True)
class Close:
    """Everything one close writes, ready for one transaction."""

    run_id: str
    run_path: str
    period: str
    # "period", "adjustment" (late usage, refunds), "rerate", or "issue" (pending partner
    # adjustments issued on statements of their own: `ledger URL issue-adjustments`)
    kind: str
    plan_sha256: str
    contracts: tuple[tuple[str, int, str], ...]  # id, version, plan sha256
    documents: tuple[DocumentDraft, ...]
    lines: tuple[LineEntry, ...]
    records: tuple[tuple[str, str], ...]  # record id, DocumentDraft key
    partials: tuple[tuple[str, str, str], ...]  # contract id, line key (JSON), sums (JSON)
    refunds: tuple[tuple[str, str], ...] = ()  # refund record id, the record id it refunds
    # an adjustment's: the closes of the period the run settled on (seq, hash)
    based_on: tuple[tuple[int, str], ...] = ()
    issue_date: str = ""  # YYYY-MM-DD: the documents' issue date; "": the close's day
    # a period's: the operators of its contracts, whose partners' pending adjustments of
    # earlier periods the close carries onto their statements (issuing.carry)
    issuers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    seq: int
    hash: str
    already: bool  # the same run was closed before: nothing written
    numbers: dict[str, str]  # DocumentDraft key -> number
    # the documents as issued (with the pending adjustments the close carried), in order
    documents: tuple[DocumentDraft, ...] = ()
    carried: tuple[Carried, ...] = ()


@dataclass(frozen=True, slots=True)
class Settled:
    record_id: str
    period: str
    document: str
    run_path: str

    def describe(self) -> str:
        return f"already settled in {self.period}, document {self.document} (run {self.run_path})"


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    contract_id: str
    period: str
    contract_version: int
    contract_sha256: str
    close_seq: int
    run_id: str
    run_path: str
