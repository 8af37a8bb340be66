"""Two plans and a period's usage -> what the change does to the money, per party.

Input: the old and the new plan of a contract, usage files, a period (and the
FX and customer files a run takes). Output: `Impact` rows, one per party and
line key (kind, product, clause), with the old amount, the new amount and the
difference in the settlement currency and, where a line is paid in another
currency, in that one; and the totals per party. Both plans are settled by the
facade (`clearline.run`): this module adds no settlement arithmetic, it only
compares the lines the engine made.

To price an amendment on traffic of a period before it takes effect, both
versions are settled as if in force over the union of their effective ranges.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import clearline
from clearline.compiler import ir

__all__ = ["Impact", "ImpactReport", "impact", "render_impact"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Impact:
    """One party's lines of one kind, product and clause, under the old and the new plan."""

    party: str
    kind: str
    product: str
    clause: str  # empty for retained lines
    currency: str
    old: Decimal
    new: Decimal
    paid_currency: str = ""
    old_paid: Decimal = ZERO
    new_paid: Decimal = ZERO

    @property
    def delta(self) -> Decimal:
        return self.new - self.old

    @property
    def paid_delta(self) -> Decimal:
        return self.new_paid - self.old_paid

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "party": self.party,
            "kind": self.kind,
            "product": self.product,
            "clause": self.clause,
            "currency": self.currency,
            "old": str(self.old),
            "new": str(self.new),
            "delta": str(self.delta),
        }
        if self.paid_currency:
            data["paid"] = {
                "currency": self.paid_currency,
                "old": str(self.old_paid),
                "new": str(self.new_paid),
                "delta": str(self.paid_delta),
            }
        return data


@dataclass(frozen=True, slots=True)
class ImpactReport:
    period: str
    rows: tuple[Impact, ...]
    records: dict[str, dict[str, int]]  # "old"/"new" -> read, rated, rejected, unmatched

    @property
    def differs(self) -> bool:
        return any(r.delta or r.paid_delta for r in self.rows)

    def totals(self) -> list[tuple[str, str, Decimal, Decimal]]:
        """(party, currency, old, new) per party and currency, payment currencies included."""
        sums: dict[tuple[str, str], list[Decimal]] = {}
        for r in self.rows:
            for currency, old, new in ((r.currency, r.old, r.new), (r.paid_currency, r.old_paid, r.new_paid)):
                if currency:
                    pair = sums.setdefault((r.party, currency), [ZERO, ZERO])
                    pair[0] += old
                    pair[1] += new
        return [(p, c, v[0], v[1]) for (p, c), v in sorted(sums.items())]

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "differs": self.differs,
            "lines": [r.to_json() for r in self.rows],
            "totals": [
                {"party": p, "currency": c, "old": str(o), "new": str(n), "delta": str(n - o)}
                for p, c, o, n in self.totals()
            ],
            "records": self.records,
        }


def _in_force(plan: ir.ContractPlan, start: str, until: str) -> ir.ContractPlan:
    return dataclasses.replace(plan, effective_from=start, effective_until=until)


def impact(
    old: ir.ContractPlan,
    new: ir.ContractPlan,
    usage: Sequence[str | Path],
    period: str,
    fx: str | Path | None = None,
    customers: str | Path | None = None,
) -> ImpactReport:
    """Settle `period` under each plan and compare the lines (ClearlineError for bad inputs)."""
    start = min(old.effective_from, new.effective_from)
    until = max(old.effective_until, new.effective_until)
    sums: dict[tuple[str, str, str, str, str, str], list[Decimal]] = {}
    records: dict[str, dict[str, int]] = {}
    for side, plan in (("old", old), ("new", new)):
        result = clearline.run([_in_force(plan, start, until)], usage, period, fx=fx, customers=customers)
        records[side] = {
            "read": result.read,
            "rated": result.rated,
            "rejected": len(result.rejects),
            "unmatched": len(result.unmatched),
        }
        at = 0 if side == "old" else 1
        for line in result.lines:
            key = (line.party, line.kind, line.product, line.clause, line.currency, line.paid_currency)
            acc = sums.setdefault(key, [ZERO, ZERO, ZERO, ZERO])
            acc[at] += line.amount
            acc[2 + at] += line.paid_amount or ZERO
    rows = tuple(
        Impact(party, kind, product, clause, currency, v[0], v[1], paid, v[2], v[3])
        for (party, kind, product, clause, currency, paid), v in sorted(sums.items())
    )
    return ImpactReport(period, rows, records)


def _signed(value: Decimal) -> str:
    return f"+{value}" if value > 0 else str(value)


def render_impact(report: ImpactReport) -> str:
    """The impact as text: a line per party and line key whose money changes, then the totals
    of the parties whose money changes (the JSON form has every line and party)."""
    out = [f"money impact, period {report.period} (old -> new, delta)"]
    changed = [r for r in report.rows if r.delta or r.paid_delta]
    for r in changed:
        name = f"{r.kind} {r.party}  {r.product}" + (f' "{r.clause}"' if r.clause else "")
        text = f"  {name}: {r.old} -> {r.new} {r.currency} ({_signed(r.delta)})"
        if r.paid_currency:
            text += f"; paid {r.old_paid} -> {r.new_paid} {r.paid_currency} ({_signed(r.paid_delta)})"
        out.append(text)
    if len(changed) < len(report.rows):
        out.append(f"  {len(report.rows) - len(changed)} other line key(s) unchanged")
    totals = [t for t in report.totals() if t[2] != t[3]]
    if totals:
        out.append("totals per party")
    for party, currency, old, new in totals:
        out.append(f"  {party}: {old} -> {new} {currency} ({_signed(new - old)})")
    if report.records["old"] != report.records["new"]:
        out.append(f"records: old {report.records['old']}, new {report.records['new']}")
    out.append("the amounts differ" if report.differs else "no money difference")
    return "\n".join(out) + "\n"
