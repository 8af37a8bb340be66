"""Period-level settlement models: commitment true-ups, waterfalls and
withholding, computed from a product's closed lines.

Input: the product's rounded lines of the period. Output: new lines with
their traces. Called by `settle` after every usage line is closed; every
amount is rounded once, through `money.round_money`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from clearline.compiler import ir
from clearline.money import CONTEXT, Rounding, minor_unit, round_money
from clearline.runtime.engine import _ProductRT, line_id
from clearline.runtime.tiers import Band
from clearline.runtime.waterfall import Step, run_waterfall

__all__ = ["commitments", "waterfalls", "withholdings"]


def _s(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _contract(p: _ProductRT) -> dict[str, Any]:
    c = p.contract
    return {"id": c.id, "version": c.version, "file": c.file, "sha256": c.sha256}


def _clause(ref: ir.ClauseRef) -> dict[str, Any]:
    return {"label": ref.label, "text": ref.text, "span": str(ref.span), "excerpt": ref.excerpt}


def _effective_days(p: _ProductRT) -> int:
    start = max(p.period.first_day, p.effective_from.date())
    end = min(p.period.end_day, p.effective_until.date())
    return max(0, (end - start).days)


def commitments(
    p: _ProductRT, lines: list[Any], make: Callable[..., Any], party_name: Callable[[str], str]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """A true-up invoice line for each customer whose charges fall short of a commitment."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    customers = sorted({ln.party for ln in lines if ln.kind == "invoice"})
    for commit in p.product.commitments:
        days = _effective_days(p)
        committed = commit.amount
        proration = ""
        if commit.prorated and days != p.period.days:
            committed = CONTEXT.divide(CONTEXT.multiply(commit.amount, Decimal(days)), Decimal(p.period.days))
            proration = f"{_s(commit.amount)} × {days} / {p.period.days} contract days = {_s(committed)}"
        for customer in customers:
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
            vat_rate = commit.vat_rate
            vat = (
                None
                if vat_rate is None
                else round_money(CONTEXT.multiply(amount, vat_rate), commit.line_rounding)
            )
            key = (
                "I",
                p.contract.id,
                str(p.contract.version),
                p.product.name,
                commit.clause.label,
                "commit",
                customer,
                "",
            )
            lid = line_id("I", key)
            out.append(
                make(
                    line_id=lid,
                    kind="invoice",
                    party=customer,
                    party_name=party_name(customer),
                    contract_id=p.contract.id,
                    contract_version=p.contract.version,
                    product=p.product.name,
                    clause=commit.clause.label,
                    period=p.period.label,
                    description=f"{p.product.title}: commitment true-up ({_s(committed)} committed, "
                    f"{_s(spent)} charged)",
                    quantity=None,
                    unit="",
                    unit_price=None,
                    amount=amount,
                    currency=p.contract.currency,
                    vat_rate=vat_rate,
                    vat_amount=vat,
                    gross_amount=None if vat is None else amount + vat,
                    records=0,
                    reverse_charge=commit.reverse_charge,
                )
            )
            traces.append(
                {
                    "trace_id": lid,
                    "line_id": lid,
                    "kind": "invoice",
                    "party": customer,
                    "amount": _s(amount),
                    "currency": p.contract.currency,
                    "contract": _contract(p),
                    "clause": _clause(commit.clause),
                    "rule": {"span": str(commit.span), "text": commit.text},
                    "formula": "commitment - charges in " + ", ".join(f'"{c}"' for c in commit.clauses),
                    "arithmetic": (
                        f"{proration + '; ' if proration else ''}{_s(committed)} - {_s(spent)} = "
                        f"{_s(shortfall)}"
                    ),
                    "from_lines": {"invoice": [ln.line_id for ln in counted]},
                    "rounding": [
                        {
                            "point": "line",
                            "mode": commit.line_rounding.mode,
                            "quantum": str(commit.line_rounding.quantum),
                            "before": _s(shortfall),
                            "after": _s(amount),
                            "declared": "yes",
                        }
                    ],
                    "vat": None
                    if vat_rate is None
                    else {
                        "rate": format((vat_rate * 100).normalize(), "f") + "%",
                        "base": _s(amount),
                        "arithmetic": "reverse charge: the customer accounts for VAT (0%)"
                        if commit.reverse_charge
                        else f"{_s(amount)} × {vat_rate}",
                        "rounded": _s(vat),
                        "gross": _s(amount + vat if vat is not None else None),
                    },
                    "records": {"count": 0, "first": [], "list_command": ""},
                }
            )
    return out, traces


def waterfalls(
    p: _ProductRT, lines: list[Any], make: Callable[..., Any], party_title: Callable[[str], str]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Payout and retained lines for each step of each waterfall of the product."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    invoices = [ln for ln in lines if ln.kind == "invoice"]
    for wf in p.product.waterfalls:
        if wf.base == "net":
            base = sum((ln.amount for ln in invoices), Decimal(0))
        else:
            base = sum(
                (ln.gross_amount if ln.gross_amount is not None else ln.amount for ln in invoices), Decimal(0)
            )
        steps = [
            Step(
                s.label,
                s.party,
                s.kind,
                s.value,
                s.of_step,
                tuple(Band(b.lower, b.upper, b.rate) for b in s.tiers.bands) if s.tiers else (),
                s.tiers.mode if s.tiers else "graduated",
                s.rounding,
            )
            for s in wf.steps
        ]
        results = run_waterfall(base, steps)
        for plan_step, result in zip(wf.steps, results, strict=True):
            role = p.contract.party(plan_step.party).role
            kind = "retained" if role == "operator" else "payout"
            key = (
                "R" if role == "operator" else "P",
                p.contract.id,
                str(p.contract.version),
                p.product.name,
                wf.clause.label,
                plan_step.label,
                plan_step.party,
                "",
            )
            lid = line_id(key[0], key)
            described = _describe(plan_step, result.basis)
            out.append(
                make(
                    line_id=lid,
                    kind=kind,
                    party=plan_step.party,
                    party_name=party_title(plan_step.party),
                    contract_id=p.contract.id,
                    contract_version=p.contract.version,
                    product=p.product.name,
                    clause=wf.clause.label,
                    period=p.period.label,
                    description=f"{p.product.title}: {plan_step.label}, {described}",
                    quantity=None,
                    unit="",
                    unit_price=None,
                    amount=result.amount,
                    currency=p.contract.currency,
                    records=sum(ln.records for ln in invoices),
                )
            )
            traces.append(
                {
                    "trace_id": lid,
                    "line_id": lid,
                    "kind": kind,
                    "party": plan_step.party,
                    "amount": _s(result.amount),
                    "currency": p.contract.currency,
                    "contract": _contract(p),
                    "clause": _clause(wf.clause),
                    "rule": {"span": str(plan_step.span), "text": plan_step.text},
                    "formula": f"waterfall on the period's {wf.base} {_s(base)}: {described}",
                    "arithmetic": _step_arithmetic(result),
                    "waterfall": [
                        {
                            "step": r.step.label,
                            "party": r.step.party,
                            "basis": _s(r.basis),
                            "exact": _s(r.exact),
                            "amount": _s(r.amount),
                            "remainder": _s(r.remainder),
                        }
                        for r in results
                    ],
                    "from_lines": {"invoice": [ln.line_id for ln in invoices][:20]},
                    "rounding": []
                    if plan_step.rounding is None
                    else [
                        {
                            "point": "step",
                            "mode": plan_step.rounding.mode,
                            "quantum": str(plan_step.rounding.quantum),
                            "before": _s(result.exact),
                            "after": _s(result.amount),
                            "declared": "yes",
                        }
                    ],
                    "records": {"count": 0, "first": [], "list_command": ""},
                }
            )
    return out, traces


def _describe(step: ir.StepPlan, basis: Decimal) -> str:
    if step.kind == "rest":
        return "the rest"
    if step.kind == "fixed":
        return f"a fixed {_s(step.value)}"
    if step.kind == "tiers":
        assert step.tiers is not None
        return f"tiers {step.tiers.name} ({step.tiers.mode}) of the remainder {_s(basis)}"
    assert step.value is not None
    pct = format((step.value * 100).normalize(), "f") + "%"
    of = {"base": "the base", "remainder": "the remainder", "step": f'"{step.of_step}"'}[step.kind]
    return f"{pct} of {of} {_s(basis)}"


def _step_arithmetic(result: Any) -> str:
    step = result.step
    if step.kind == "rest":
        return f"what remains: {_s(result.amount)}"
    if step.kind == "tiers":
        parts = " + ".join(f"{_s(u.quantity)} × {_s(u.band.rate)}" for u in result.bands) or "0"
        text = f"{parts} = {_s(result.exact)}"
    elif step.kind == "fixed":
        text = _s(result.exact)
    else:
        text = f"{_s(step.value)} × {_s(result.basis)} = {_s(result.exact)}"
    if result.capped:
        text += f"; capped at what remained ({_s(result.amount)})"
    return text


def withholdings(
    p: _ProductRT, lines: list[Any], make: Callable[..., Any], party_title: Callable[[str], str]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """A withholding line (negative) under each payout to a party the contract withholds tax from."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    for wh in p.product.withholdings:
        for ln in [x for x in lines if x.kind == "payout" and x.party == wh.party]:
            rounding = next(
                (r.rate.line_rounding for r in p.payouts if r.party == wh.party),
                Rounding("half up", minor_unit(ln.currency)),
            )
            exact = CONTEXT.multiply(ln.amount, wh.rate)
            withheld = round_money(exact, rounding)
            paid = None
            if ln.paid_amount is not None:
                conv = next((c for c in p.product.conversions if c.party == wh.party), None)
                paid = (
                    -round_money(CONTEXT.multiply(ln.paid_amount, wh.rate), conv.rounding) if conv else None
                )
            key = ("W", ln.line_id, wh.clause.label)
            lid = line_id("W", key)
            pct = format((wh.rate * 100).normalize(), "f") + "%"
            out.append(
                make(
                    line_id=lid,
                    kind="withholding",
                    party=wh.party,
                    party_name=party_title(wh.party),
                    contract_id=ln.contract_id,
                    contract_version=ln.contract_version,
                    product=ln.product,
                    clause=wh.clause.label,
                    period=ln.period,
                    description=f"withholding tax {pct} of payout {ln.line_id} ({_s(ln.amount)})",
                    quantity=None,
                    unit="",
                    unit_price=None,
                    amount=-withheld,
                    currency=ln.currency,
                    paid_amount=paid,
                    paid_currency=ln.paid_currency if paid is not None else "",
                    fx_rate=ln.fx_rate if paid is not None else None,
                    fx_date=ln.fx_date if paid is not None else "",
                    records=0,
                )
            )
            traces.append(
                {
                    "trace_id": lid,
                    "line_id": lid,
                    "kind": "withholding",
                    "party": wh.party,
                    "amount": _s(-withheld),
                    "currency": ln.currency,
                    "contract": _contract(p),
                    "clause": _clause(wh.clause),
                    "formula": f"{pct} of the payout {ln.line_id}",
                    "arithmetic": f"{_s(ln.amount)} × {pct} = {_s(exact)}",
                    "from_lines": {"payout": [ln.line_id]},
                    "records": {"count": 0, "first": [], "list_command": ""},
                }
            )
    return out, traces
