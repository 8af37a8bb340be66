"""Numbering a close's documents, and the partner adjustments that wait for a statement.

Input: an open connection inside a close's transaction and the `Close` being written.
Output: the documents' numbers and rows (`number`), the pending partner adjustments
(`pending`), and the close with them carried onto its partners' statements (`carry`)
or issued on statements of their own (`standalone`).

A re-settlement of a closed period (late usage, refunds, `--rerate`) issues a
customer's supplementary invoice or credit note at once, but writes a partner's
adjustment lines with no document: they are **pending**. The next close of a later
period of the same issuer puts every pending adjustment of each of its partners on
that partner's self-billing statement in the same currency -- a partner with no
payouts in that period gets a statement with only its adjustments -- and records
which document carried which line in `carried_adjustments`, hashed with the
carrying close. The re-settlement's own rows are never rewritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from clearline import codes, numbering
from clearline.ledger.errors import LedgerError
from clearline.ledger.model import Carried, Close, DocumentDraft, Pending
from clearline.ledger.schema import CARRIED, CLOSES, DOCUMENTS, LINES, NUMBERING
from clearline.money import minor_unit

__all__ = ["PARTNER_KINDS", "carried_on", "carried_rows", "carry", "number", "pending", "standalone"]

PARTNER_KINDS = ("payout", "withholding")  # the lines a self-billing statement carries
_ADJUSTING = ("adjustment", "rerate")  # the closes that write adjustment lines


def pending(conn: Connection, issuers: Iterable[str] | None = None, before: str = "") -> list[Pending]:
    """The partner adjustments on no document yet, in the order they were written;
    only those of `issuers`, and of periods before `before`, when given."""
    query = (
        sa.select(LINES)
        .join(CLOSES, CLOSES.c.seq == LINES.c.close_seq)
        .outerjoin(
            CARRIED, sa.and_(CARRIED.c.from_seq == LINES.c.close_seq, CARRIED.c.line_id == LINES.c.line_id)
        )
        .where(
            LINES.c.document.is_(None),
            LINES.c.kind.in_(PARTNER_KINDS),
            CLOSES.c.kind.in_(_ADJUSTING),
            CARRIED.c.line_id.is_(None),
        )
        .order_by(LINES.c.close_seq, LINES.c.line_id)
    )
    wanted = set(issuers) if issuers is not None else None
    out = []
    for ln in conn.execute(query):
        p = _pending(ln)
        if (wanted is not None and p.issuer not in wanted) or (before and not ln.period < before):
            continue
        out.append(p)
    return out


def carried_on(conn: Connection, numbers: Iterable[str]) -> list[tuple[str, str, Pending]]:
    """The adjustments of earlier periods the documents `numbers` carried: (document,
    the carrying close's kind, the adjustment), by document, period and line."""
    query = (
        sa.select(LINES, CARRIED.c.document.label("carried_on"), CLOSES.c.kind.label("close_kind"))
        .join(CARRIED, sa.and_(CARRIED.c.from_seq == LINES.c.close_seq, CARRIED.c.line_id == LINES.c.line_id))
        .join(CLOSES, CLOSES.c.seq == CARRIED.c.close_seq)
        .where(CARRIED.c.document.in_(sorted(set(numbers))))
        .order_by(CARRIED.c.document, LINES.c.period, LINES.c.line_id)
    )
    return [(str(ln.carried_on), str(ln.close_kind), _pending(ln)) for ln in conn.execute(query)]


def _pending(ln: Any) -> Pending:
    row = json.loads(ln.row)
    return Pending(
        from_seq=ln.close_seq,
        line_id=ln.line_id,
        kind=ln.kind,
        party=ln.party,
        party_name=str(row.get("party_name", "")),
        contract_id=ln.contract_id,
        issuer=str(row.get("issuer", "")),
        period=ln.period,
        currency=ln.currency,
        amount=ln.amount,
        vat=str(row.get("vat_amount") or "0"),
        gross=str(row.get("gross_amount") or ln.amount),
        adjusts=ln.adjusts,
        corrects=str(row.get("document", "")),
        reason=str(row.get("reason", "")),
        number_format=str(row.get("number_format", "")) or numbering.DEFAULT_FORMATS["self-billing"],
        paid=str(row.get("paid_amount", "")),
        paid_currency=str(row.get("paid_currency", "")),
    )


def _add(text: str, values: Iterable[str], currency: str = "") -> str:
    """`text` plus `values`, exact; from the currency's zero (0.00 PLN) when `text` is ""."""
    total = Decimal(text) if text else minor_unit(currency) * 0
    for v in values:
        total += Decimal(v or "0")
    return format(total, "f")


def _order(doc: DocumentDraft) -> tuple[int, str, str, str, str]:
    return (numbering.SERIES.index(doc.series), doc.issuer, doc.party, doc.currency, doc.period)


def _refers(existing: str, members: Sequence[Pending]) -> str:
    found = [r for r in existing.split(", ") if r] + [p.corrects for p in members if p.corrects]
    return ", ".join(sorted(set(found)))


def carry(close: Close, waiting: Sequence[Pending]) -> tuple[Close, list[Carried]]:
    """The period's close with `waiting` on its partners' self-billing statements: each
    statement's net, VAT and gross include them; a partner with none gets one of its own.
    The documents stay in numbering order (series, issuer, party, currency)."""
    groups: dict[tuple[str, str, str], list[Pending]] = {}
    for p in waiting:
        groups.setdefault((p.issuer, p.party, p.currency), []).append(p)
    if not groups:
        return close, []
    docs = {d.key: d for d in close.documents}
    carried: list[Carried] = []
    for (issuer, party, currency), members in sorted(groups.items()):
        key = f"self-billing:{issuer}:{party}:{currency}"
        had = docs.get(key)
        if had is None:
            had = DocumentDraft(
                key=key,
                issuer=issuer,
                series="self-billing",
                kind="self-billing",
                party=party,
                party_name=members[0].party_name,
                period=close.period,
                currency=currency,
                net="",
                vat="",
                gross="",
                number_format=members[0].number_format,
            )
        docs[key] = dataclasses.replace(
            had,
            net=_add(had.net, (p.amount for p in members), currency),
            vat=_add(had.vat, (p.vat for p in members), currency),
            gross=_add(had.gross, (p.gross for p in members), currency),
            refers_to=_refers(had.refers_to, members),
        )
        carried += [Carried(p, key) for p in members]
    documents = tuple(sorted(docs.values(), key=_order))
    return dataclasses.replace(close, documents=documents), carried


def standalone(waiting: Sequence[Pending], issue_date: str = "") -> tuple[Close, list[Carried]]:
    """A close that issues `waiting` now: per issuer, partner, currency and corrected
    period, a self-billing adjustment statement referring to the statements it corrects
    (what re-settlements issued before adjustments waited for the next statement)."""
    groups: dict[tuple[str, str, str, str], list[Pending]] = {}
    for p in waiting:
        groups.setdefault((p.issuer, p.party, p.currency, p.period), []).append(p)
    drafts = []
    carried: list[Carried] = []
    for (issuer, party, currency, period), members in sorted(groups.items()):
        key = f"self-billing:{issuer}:{party}:{currency}:{period}"
        drafts.append(
            DocumentDraft(
                key=key,
                issuer=issuer,
                series="self-billing",
                kind="self-billing adjustment",
                party=party,
                party_name=members[0].party_name,
                period=period,
                currency=currency,
                net=_add("", (p.amount for p in members), currency),
                vat=_add("", (p.vat for p in members), currency),
                gross=_add("", (p.gross for p in members), currency),
                number_format=members[0].number_format,
                refers_to=_refers("", members),
            )
        )
        carried += [Carried(p, key) for p in members]
    ids = "\n".join(f"{p.from_seq}:{p.line_id}" for p in waiting)
    close = Close(
        run_id="issue:" + hashlib.sha256(ids.encode()).hexdigest(),
        run_path="",
        period=max((p.period for p in waiting), default=""),
        kind="issue",
        plan_sha256="",
        contracts=(),
        documents=tuple(sorted(drafts, key=_order)),
        lines=(),
        records=(),
        partials=(),
        issue_date=issue_date,
    )
    return close, carried


def carried_rows(carried: Sequence[Carried], numbers: dict[str, str], seq: int) -> list[dict[str, Any]]:
    return [
        {
            "close_seq": seq,
            "from_seq": c.pending.from_seq,
            "line_id": c.pending.line_id,
            "document": numbers[c.document],
        }
        for c in carried
    ]


def number(conn: Connection, close: Close, seq: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Numbers for the close's documents, in the order given (deterministic), each
    series of each issuer going on from its last number."""
    last: dict[tuple[str, str], int] = {}
    numbers: dict[str, str] = {}
    documents: list[dict[str, Any]] = []
    for doc in close.documents:
        key = (doc.issuer, doc.series)
        if key not in last:
            last[key] = (
                conn.execute(
                    sa.select(NUMBERING.c.last_seq).where(
                        NUMBERING.c.issuer == doc.issuer, NUMBERING.c.series == doc.series
                    )
                ).scalar()
                or 0
            )
        last[key] += 1
        number = numbering.render(doc.number_format, doc.period, doc.issuer, last[key])
        clash = conn.execute(sa.select(DOCUMENTS.c.issuer).where(DOCUMENTS.c.number == number)).first()
        if clash is not None or number in numbers.values():
            raise LedgerError(
                codes.INVALID_NUMBER_FORMAT,
                f"document number {number} ({doc.issuer}, {doc.series}) was already issued",
                "give each issuer and series its own number format (e.g. with {issuer})",
            )
        numbers[doc.key] = number
        documents.append(
            {
                "number": number,
                "close_seq": seq,
                "issuer": doc.issuer,
                "series": doc.series,
                "seq": last[key],
                "kind": doc.kind,
                "party": doc.party,
                "party_name": doc.party_name,
                "period": doc.period,
                "currency": doc.currency,
                "net": doc.net,
                "vat": doc.vat,
                "gross": doc.gross,
                "refers_to": doc.refers_to,
            }
        )
    for (issuer, series), value in sorted(last.items()):
        updated = conn.execute(
            NUMBERING.update()
            .where(NUMBERING.c.issuer == issuer, NUMBERING.c.series == series)
            .values(last_seq=value)
        )
        if updated.rowcount == 0:
            conn.execute(NUMBERING.insert(), {"issuer": issuer, "series": series, "last_seq": value})
    return numbers, documents
