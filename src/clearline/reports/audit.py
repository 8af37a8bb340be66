"""The audit report of a run: every line, the totals per party, the conservation
check recomputed from the line files, the traces, rejects and notes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clearline.reports.doclines import doc_line, issuers_of, same_amount
from clearline.reports.documents import DocLine, Money, document_number, period_days, sum_by_currency
from clearline.reports.i18n import language_for
from clearline.reports.rundata import LineRow, Party, RejectRow, RunData
from clearline.reports.traces import Node, trace_tree

__all__ = ["LISTED_REJECTS", "Audit", "DocumentEntry", "PartyTotal", "build_audit"]

# How many rejected or unmatched records the audit report lists; the rest are
# counted, and the CSV files hold them all.
LISTED_REJECTS = 1000


@dataclass(frozen=True, slots=True)
class PartyTotal:
    party: str
    name: str
    kind: str
    currency: str
    amount: Decimal
    lines: int
    paid: tuple[Money, ...]


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    kind: str  # "invoice" or "statement"
    number: str
    party: Party
    language: str
    fallback: bool
    file: str


@dataclass(slots=True)
class Audit:
    number: str
    period: str
    period_first: dt.date | None
    period_last: dt.date | None
    language: str
    fallback: bool
    manifest: dict[str, Any]
    lines: list[DocLine]
    totals: list[PartyTotal]
    conservation: list[dict[str, Any]]
    traces: dict[str, Node]
    rejects: list[RejectRow]
    unmatched: list[RejectRow]
    rejects_count: int
    unmatched_count: int
    notes: list[str]
    output_checks: dict[str, bool]
    issuers: list[Party]
    documents: list[DocumentEntry] = field(default_factory=list)

    @property
    def conservation_ok(self) -> bool:
        return all(c["ok"] for c in self.conservation)


def _conservation(lines: list[LineRow]) -> list[dict[str, Any]]:
    """Recomputed from the line files, so the report checks the manifest's claim."""
    totals: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for ln in lines:
        if ln.kind not in {"invoice", "payout", "retained"}:
            continue
        t = totals.setdefault(
            (ln.contract_id, ln.period, ln.currency),
            {"invoice": Decimal(0), "payout": Decimal(0), "retained": Decimal(0)},
        )
        t[ln.kind] += ln.amount
    return [
        {
            "contract_id": cid,
            "period": period,
            "currency": currency,
            "net_revenue": t["invoice"],
            "payouts": t["payout"],
            "retained": t["retained"],
            "ok": t["invoice"] == t["payout"] + t["retained"],
        }
        for (cid, period, currency), t in sorted(totals.items())
    ]


def build_audit(run: RunData, run_dir: str, lang: str | None = None) -> Audit:
    """The run's audit report, in the operator's language (English if operators differ)."""
    issuers = issuers_of(run, (ln.contract_id for ln in run.lines))
    issuers = issuers or issuers_of(run, (p.id for p in run.plans))
    languages = {language_for(p.language) for p in issuers}
    language, fallback = languages.pop() if len(languages) == 1 else ("en", True)
    if lang is not None:
        language, fallback = lang, False
    groups: dict[tuple[str, str, str], list[LineRow]] = {}
    for ln in run.lines:
        groups.setdefault((ln.party, ln.kind, ln.currency), []).append(ln)
    totals = [
        PartyTotal(
            party,
            lines[0].party_name,
            kind,
            currency,
            sum((ln.amount for ln in lines), Decimal(0)),
            len(lines),
            tuple(sum_by_currency((ln.paid_currency, ln.paid_amount) for ln in lines if ln.paid_amount)),
        )
        for (party, kind, currency), lines in sorted(groups.items())
    ]
    days = period_days(run.period)
    return Audit(
        number=document_number("AUD", run.period, "run", run.plan_sha256, [ln.line_id for ln in run.lines]),
        period=run.period,
        period_first=days[0] if days else None,
        period_last=days[1] if days else None,
        language=language,
        fallback=fallback,
        manifest=run.manifest,
        lines=[dataclasses.replace(doc_line(run, ln), step=_step_label(run, ln)) for ln in run.lines],
        totals=totals,
        conservation=_conservation(run.lines),
        traces={lid: trace_tree(t, run_dir) for lid, t in sorted(run.traces.items())},
        rejects=run.rejects[:LISTED_REJECTS],
        unmatched=run.unmatched[:LISTED_REJECTS],
        rejects_count=len(run.rejects),
        unmatched_count=len(run.unmatched),
        notes=list(run.notes),
        output_checks=dict(run.output_checks),
        issuers=issuers,
    )


def _step_label(run: RunData, line: LineRow) -> str:
    """The waterfall step a payout or retained line is for ("" for other lines)."""
    entries = (run.traces.get(line.line_id) or {}).get("waterfall") or []
    return next(
        (
            str(e.get("step", ""))
            for e in entries
            if isinstance(e, dict)
            and e.get("party") == line.party
            and same_amount(e.get("amount"), line.amount)
        ),
        "",
    )
