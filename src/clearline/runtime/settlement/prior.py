"""What the ledger knows before a run: settled record ids, a closed period's exact
partial sums and its issued lines -> the run's duplicates and adjustment lines.

Input: a `Prior` (built by the CLI from the ledger, or read back from the run
folder's `ledger_prior.json`, so `verify` reproduces the run from the folder
alone) and the lines of the period settled as a whole. Output: the
adjustment lines -- per line, the new total minus everything issued for it
so far (the original line and earlier adjustments), each referencing the
line it corrects, its document number and the period. Issued lines are
never rewritten. The runtime does not know the ledger: a `Prior` is plain
data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from clearline.runtime.settlement.adjustment import ADJUSTMENT_COLUMNS, Adjustment
from clearline.runtime.settlement.settle import Line

__all__ = ["ADJUSTMENT_COLUMNS", "PRIOR_FILE", "Adjustment", "Issued", "Prior", "adjustments", "read_prior"]

PRIOR_FILE = "ledger_prior.json"
PRIOR_SCHEMA = 1


def _dec(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _s(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


@dataclass(frozen=True, slots=True)
class Issued:
    """One line as the ledger issued it (or the sum of its adjustments so far)."""

    line_id: str
    kind: str
    party: str
    party_name: str
    contract_id: str
    period: str
    currency: str
    amount: Decimal
    vat_amount: Decimal | None
    gross_amount: Decimal | None
    paid_amount: Decimal | None
    paid_currency: str
    document: str  # the number of the document the original line is on ("" for retained)


@dataclass(frozen=True, slots=True)
class Prior:
    """The ledger's part in a run (all plain data, written to the run folder)."""

    period: str
    settled: dict[str, str] = field(default_factory=dict)  # record id -> where it was settled
    base: list[tuple[str, str]] = field(default_factory=list)  # partial sums rows (key, JSON)
    issued: list[Issued] = field(default_factory=list)  # empty: the period is not closed
    based_on: list[tuple[int, str]] = field(default_factory=list)  # the period's closes: seq, hash
    # refunds: refund record id -> the record it refunds, and -> "" (fine) or why it is refused
    refund_of: dict[str, str] = field(default_factory=dict)
    refund_check: dict[str, str] = field(default_factory=dict)
    # why the period is settled again: "late usage", or the versions a re-rating applies
    reason: str = "late usage"
    rerate: bool = False  # the closed records are rated again (no partial sums merged)
    # tiers over the year: line id -> the earlier periods' quantity, net and gross (exact text)
    cumulative: dict[str, list[str]] = field(default_factory=dict)
    # "CONTRACT PERIOD" of each closed period past its late-usage window -> why (its records
    # are rejected, never routed to a run the ledger would refuse)
    too_late: dict[str, str] = field(default_factory=dict)
    # the contracts whose period the ledger has closed: the run settles it again (a period
    # closed with no records has no issued lines, and is closed all the same)
    closed: tuple[str, ...] = ()

    @property
    def resettles(self) -> bool:
        return bool(self.closed) or bool(self.issued)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": PRIOR_SCHEMA,
            "period": self.period,
            "settled": dict(sorted(self.settled.items())),
            "base": [list(row) for row in self.base],
            "issued": [
                {
                    "line_id": i.line_id,
                    "kind": i.kind,
                    "party": i.party,
                    "party_name": i.party_name,
                    "contract_id": i.contract_id,
                    "period": i.period,
                    "currency": i.currency,
                    "amount": _s(i.amount),
                    "vat_amount": _s(i.vat_amount),
                    "gross_amount": _s(i.gross_amount),
                    "paid_amount": _s(i.paid_amount),
                    "paid_currency": i.paid_currency,
                    "document": i.document,
                }
                for i in self.issued
            ],
            "based_on": [list(b) for b in self.based_on],
            "refund_of": dict(sorted(self.refund_of.items())),
            "refund_check": dict(sorted(self.refund_check.items())),
            "reason": self.reason,
            "rerate": self.rerate,
            "cumulative": dict(sorted(self.cumulative.items())),
            "too_late": dict(sorted(self.too_late.items())),
            "closed": sorted(self.closed),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Prior:
        if data.get("schema") != PRIOR_SCHEMA:
            raise ValueError(f"{PRIOR_FILE} schema {data.get('schema')!r} is not {PRIOR_SCHEMA}")
        return Prior(
            period=data["period"],
            settled=dict(data["settled"]),
            base=[(k, d) for k, d in data["base"]],
            issued=[
                Issued(
                    line_id=i["line_id"],
                    kind=i["kind"],
                    party=i["party"],
                    party_name=i["party_name"],
                    contract_id=i["contract_id"],
                    period=i["period"],
                    currency=i["currency"],
                    amount=Decimal(i["amount"]),
                    vat_amount=_dec(i["vat_amount"]),
                    gross_amount=_dec(i["gross_amount"]),
                    paid_amount=_dec(i["paid_amount"]),
                    paid_currency=i["paid_currency"],
                    document=i["document"],
                )
                for i in data["issued"]
            ],
            based_on=[(int(seq), str(h)) for seq, h in data["based_on"]],
            refund_of=dict(data.get("refund_of", {})),
            refund_check=dict(data.get("refund_check", {})),
            reason=str(data.get("reason", "late usage")),
            rerate=bool(data.get("rerate", False)),
            cumulative={k: list(v) for k, v in data.get("cumulative", {}).items()},
            too_late=dict(data.get("too_late", {})),
            closed=tuple(data.get("closed", ())),
        )

    def text(self) -> str:
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def _minus(new: Decimal | None, old: Decimal | None) -> Decimal | None:
    if new is None and old is None:
        return None
    return (new if new is not None else Decimal(0)) - (old if old is not None else Decimal(0))


def _plus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None and b is None:
        return None
    return (a if a is not None else Decimal(0)) + (b if b is not None else Decimal(0))


def _summed(had: Issued, more: Issued) -> Issued:
    return Issued(
        had.line_id,
        had.kind,
        had.party,
        had.party_name,
        had.contract_id,
        had.period,
        had.currency,
        had.amount + more.amount,
        _plus(had.vat_amount, more.vat_amount),
        _plus(had.gross_amount, more.gross_amount),
        _plus(had.paid_amount, more.paid_amount),
        had.paid_currency,
        had.document,
    )


def adjustments(lines: list[Line], prior: Prior, reason: str) -> list[Adjustment]:
    """Per line of the closed period's contracts: its new total minus all issued for
    it; lines that did not change give none. A line issued but gone from the new
    settlement (every record refunded) is adjusted to zero."""
    if not prior.resettles:
        return []
    contracts = set(prior.closed) | {i.contract_id for i in prior.issued}
    issued: dict[str, Issued] = {}
    for item in prior.issued:  # the original line, then each adjustment of it: summed
        had = issued.get(item.line_id)
        issued[item.line_id] = item if had is None else _summed(had, item)
    # the id names the line and how many closes of the period it follows: the same
    # re-settlement gives the same ids, a later one others
    basis = json.dumps([seq for seq, _ in prior.based_on])
    out: list[Adjustment] = []
    new = {ln.line_id: ln for ln in lines if ln.contract_id in contracts}
    for lid in sorted(set(new) | set(issued)):
        ln, old = new.get(lid), issued.get(lid)
        amount = _minus(ln.amount if ln else None, old.amount if old else None) or Decimal(0)
        vat = _minus(ln.vat_amount if ln else None, old.vat_amount if old else None)
        gross = _minus(ln.gross_amount if ln else None, old.gross_amount if old else None)
        paid = _minus(ln.paid_amount if ln else None, old.paid_amount if old else None)
        if amount == 0 and not vat and not gross and not paid:
            continue
        ref = old
        digest = hashlib.sha256(f"{lid}\x1f{basis}".encode()).hexdigest()[:10]
        out.append(
            Adjustment(
                line_id=f"A-{digest}",
                adjusts=lid,  # the line it corrects (or, new in the period, the line it adds)
                document=ref.document if ref is not None else "",
                kind=(ln.kind if ln else old.kind if old else ""),
                party=(ln.party if ln else old.party if old else ""),
                party_name=(ln.party_name if ln else old.party_name if old else ""),
                contract_id=(ln.contract_id if ln else old.contract_id if old else ""),
                period=prior.period,
                currency=(ln.currency if ln else old.currency if old else ""),
                amount=amount,
                vat_amount=vat,
                gross_amount=gross,
                paid_amount=paid,
                paid_currency=(ln.paid_currency if ln else old.paid_currency if old else ""),
                issued=old.amount if old else Decimal(0),
                total=ln.amount if ln else Decimal(0),
                reason=reason,
            )
        )
    return out


def read_prior(run: Path, manifest: dict[str, Any]) -> Prior | None:
    """What the ledger told a run (`simulate --ledger`), as its run folder keeps it;
    None for a run settled without the ledger. Raises OSError, ValueError, KeyError or
    TypeError for a prior file that is missing or damaged."""
    ledger = manifest.get("ledger")
    if not ledger:
        return None
    path = run / str(ledger.get("prior", PRIOR_FILE))
    return Prior.from_json(json.loads(path.read_text(encoding="utf-8")))
