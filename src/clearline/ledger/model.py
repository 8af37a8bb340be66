"""What a close writes and what look-ups return: plain frozen records of the ledger.

Input: built by `closing.py` (a run folder's close) or read back by `store.Ledger`.
Output: `Close` and its `DocumentDraft`s and `LineEntry`s; `CloseOutcome`,
`Settled` and `ClosedPeriod` as look-ups give them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Close", "CloseOutcome", "ClosedPeriod", "DocumentDraft", "LineEntry", "Settled"]


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
class Close:
    """Everything one close writes, ready for one transaction."""

    run_id: str
    run_path: str
    period: str
    kind: str  # "period", "adjustment" (late usage, refunds) or "rerate"
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


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    seq: int
    hash: str
    already: bool  # the same run was closed before: nothing written
    numbers: dict[str, str]  # DocumentDraft key -> number


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
