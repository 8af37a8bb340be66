"""Period-level settlement models of the customer's side: commitment true-ups and
discounts, computed from a product's closed lines (the partners' side, waterfalls,
splits, shares of the billed net and withholding, is `shares`).

Input: the product's rounded lines of the period. Output: new lines with
their traces. Called by `settle` after every usage line is closed; every
amount is rounded once, through `money.round_money`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from clearline.compiler import ir
from clearline.money import CONTEXT, Rounding, allocate, round_money
from clearline.runtime.rating.engine import line_id
from clearline.runtime.rating.products import _ProductRT

__all__ = ["Made", "Namer", "commitments", "discounts"]

Made = tuple[list[Any], list[dict[str, Any]]]  # new lines and their traces
Namer = Callable[[str], str]


def _s(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _pct(fraction: Decimal) -> str:
    return format((fraction * 100).normalize(), "f") + "%"


def _new_line(
    make: Callable[..., Any],
    p: _ProductRT,
    clause: ir.ClauseRef,
    tag: str,
    party: str,
    name: str,
    kind: str,
    description: str,
    amount: Decimal,
    group: str = "",
    **extra: Any,
) -> Any:
    """A line of the product's contract, its id derived from what it is."""
    letter = {"invoice": "I", "payout": "P", "retained": "R"}[kind]
    key = (letter, p.contract.id, str(p.contract.version), p.product.name, clause.label, tag, party, group)
    return make(
        line_id=line_id(letter, key),
        kind=kind,
        party=party,
        party_name=name,
        contract_id=p.contract.id,
        contract_version=p.contract.version,
        product=p.product.name,
        clause=clause.label,
        period=p.period.label,
        description=f"{p.product.title}: {description}",
        quantity=None,
        unit="",
        unit_price=None,
        amount=amount,
        currency=p.contract.currency,
        **extra,
    )


def _trace(line: Any, p: _ProductRT, clause: ir.ClauseRef, **fields: Any) -> dict[str, Any]:
    c = p.contract
    trace: dict[str, Any] = {
        "trace_id": line.line_id,
        "line_id": line.line_id,
        "kind": line.kind,
        "party": line.party,
        "amount": _s(line.amount),
        "currency": line.currency,
        "contract": {"id": c.id, "version": c.version, "file": c.file, "sha256": c.sha256},
        "clause": {
            "label": clause.label,
            "text": clause.text,
            "span": str(clause.span),
            "excerpt": clause.excerpt,
        },
        "records": {"count": 0, "first": [], "list_command": ""},
    }
    trace.update(fields)
    return trace


def _rounding(
    rounding: Rounding, before: Decimal, after: Decimal, point: str = "line"
) -> list[dict[str, str]]:
    return [
        {
            "point": point,
            "mode": rounding.mode,
            "quantum": str(rounding.quantum),
            "before": _s(before),
            "after": _s(after),
            "declared": "yes",
        }
    ]


def _vat(amount: Decimal, rate: Decimal | None, rounding: Rounding) -> Decimal | None:
    return None if rate is None else round_money(CONTEXT.multiply(amount, rate), rounding)


def _base(invoices: list[Any], base: str) -> Decimal:
    """The product's period net, or gross (net plus VAT)."""
    if base == "net":
        return sum((ln.amount for ln in invoices), Decimal(0))
    return sum((ln.gross_amount if ln.gross_amount is not None else ln.amount for ln in invoices), Decimal(0))


def _effective_days(p: _ProductRT) -> int:
    start = max(p.period.first_day, p.effective_from.date())
    end = min(p.period.end_day, p.effective_until.date())
    return max(0, (end - start).days)


def _committed(p: _ProductRT, commit: ir.CommitPlan, customer: str) -> tuple[Decimal, str, str]:
    """What `customer` committed to: the amount, or with `prorated by active days` the
    amount times the subscriber's active days (a subscription) or the contract's effective
    days (usage) over the period's; with the trace's arithmetic and the description's text."""
    if not commit.prorated:
        return commit.amount, "", _s(commit.amount)
    if p.subscription:
        days, what = p.active_days.get(customer, 0), "active"
    else:
        days, what = _effective_days(p), "contract"
    if days == p.period.days:
        return commit.amount, "", _s(commit.amount)
    committed = CONTEXT.divide(CONTEXT.multiply(commit.amount, Decimal(days)), Decimal(p.period.days))
    proration = f"{_s(commit.amount)} × {days} / {p.period.days} {what} days = {_s(committed)}; "
    # exact, not its 50 digits: the trace shows the arithmetic
    return committed, proration, f"{_s(commit.amount)} × {days}/{p.period.days} {what} days"


def commitments(p: _ProductRT, lines: list[Any], make: Callable[..., Any], name: Namer) -> Made:
    """A true-up invoice line for each customer whose charges fall short of a commitment."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    customers = sorted({ln.party for ln in lines if ln.kind == "invoice"})
    for commit in p.product.commitments:
        for customer in customers:
            committed, proration, shown = _committed(p, commit, customer)
            counted = [
                ln
                for ln in lines
                if ln.kind == "invoice" and ln.party == customer and ln.clause in commit.clauses
            ]
            spent = sum((ln.amount for ln in counted), Decimal(0))
            shortfall = committed - spent
            if shortfall <= 0:
                continue
            amount = round_money(shortfall, commit.line_rounding)
            vat = _vat(amount, commit.vat_rate, commit.line_rounding)
            line = _new_line(
                make,
                p,
                commit.clause,
                "commit",
                customer,
                name(customer),
                "invoice",
                f"commitment true-up ({shown} committed, {_s(spent)} charged)",
                amount,
                vat_rate=commit.vat_rate,
                vat_amount=vat,
                gross_amount=None if vat is None else amount + vat,
                reverse_charge=commit.reverse_charge,
            )
            out.append(line)
            traces.append(
                _trace(
                    line,
                    p,
                    commit.clause,
                    rule={"span": str(commit.span), "text": commit.text},
                    formula="commitment - charges in " + ", ".join(f'"{c}"' for c in commit.clauses),
                    arithmetic=f"{proration}{_s(committed)} - {_s(spent)} = {_s(shortfall)}",
                    from_lines={"invoice": [ln.line_id for ln in counted]},
                    # the figures the invoice shows: what was committed and what was charged
                    commitment={
                        "committed": _s(committed),
                        "charged": _s(spent),
                        "clauses": list(commit.clauses),
                    },
                    rounding=_rounding(commit.line_rounding, shortfall, amount),
                    vat=None
                    if commit.vat_rate is None
                    else {
                        "rate": _pct(commit.vat_rate),
                        "base": _s(amount),
                        "arithmetic": "reverse charge: the customer accounts for VAT (0%)"
                        if commit.reverse_charge
                        else f"{_s(amount)} × {_pct(commit.vat_rate)}",
                        "rounded": _s(vat),
                        "gross": _s(amount + vat if vat is not None else None),
                    },
                )
            )
    return out, traces


def discounts(p: _ProductRT, lines: list[Any], make: Callable[..., Any], name: Namer) -> Made:
    """A negative invoice line per customer (and VAT rate) for each discount of the product."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    # `lines` are the contract's (every product): an invoice discount takes them all
    own = {d.clause.label for q in p.contract.products for d in q.discounts}
    for disc in p.product.discounts:
        targets = [
            ln
            for ln in lines
            if ln.kind == "invoice"
            and ln.clause not in own
            and (
                disc.invoice
                or (ln.product == p.product.name and (not disc.clauses or ln.clause in disc.clauses))
            )
        ]
        for customer in sorted({ln.party for ln in targets}):
            groups: dict[tuple[Decimal | None, bool], list[Any]] = {}
            for ln in targets:
                if ln.party == customer:
                    groups.setdefault((ln.vat_rate, ln.reverse_charge), []).append(ln)
            keys = sorted(groups, key=lambda k: (k[0] if k[0] is not None else Decimal(-1), k[1]))
            bases = [sum((ln.amount for ln in groups[k]), Decimal(0)) for k in keys]
            total = sum(bases, Decimal(0))
            if total <= 0:
                continue
            if disc.fraction is not None:
                amounts = [round_money(CONTEXT.multiply(b, disc.fraction), disc.line_rounding) for b in bases]
                how = [f"{_pct(disc.fraction)} of {_s(b)}" for b in bases]
            else:
                assert disc.amount is not None
                fixed = min(disc.amount, total)
                amounts = allocate(fixed, bases, disc.line_rounding.quantum)
                how = [
                    f"{_s(fixed)} fixed, {_s(a)} of it on {_s(b)} (by share of the base)"
                    for a, b in zip(amounts, bases, strict=True)
                ]
            for (vat_rate, reverse), base, amount, text in zip(keys, bases, amounts, how, strict=True):
                if amount == 0:
                    continue
                vat = _vat(amount, vat_rate, disc.line_rounding)
                clauses = ", ".join(sorted({ln.clause for ln in groups[(vat_rate, reverse)]}))
                line = _new_line(
                    make,
                    p,
                    disc.clause,
                    "discount",
                    customer,
                    name(customer),
                    "invoice",
                    f"discount, {text} ({clauses})",
                    -amount,
                    group="" if vat_rate is None else format(vat_rate, "f"),
                    vat_rate=vat_rate,
                    vat_amount=None if vat is None else -vat,
                    gross_amount=None if vat is None else -amount - vat,
                    reverse_charge=reverse,
                )
                out.append(line)
                traces.append(
                    _trace(
                        line,
                        p,
                        disc.clause,
                        rule={"span": str(disc.span), "text": disc.text},
                        formula=f"discount on {clauses}",
                        arithmetic=text,
                        discounted_base=_s(base),
                        discount={
                            "fraction": None if disc.fraction is None else _s(disc.fraction),
                            "amount": None if disc.amount is None else _s(disc.amount),
                            "clauses": list(disc.clauses),
                        },
                        from_lines={"invoice": [ln.line_id for ln in groups[(vat_rate, reverse)]]},
                        rounding=[
                            {
                                "point": "line",
                                "mode": disc.line_rounding.mode,
                                "quantum": str(disc.line_rounding.quantum),
                                "declared": "yes",
                            }
                        ],
                    )
                )
    return out, traces
