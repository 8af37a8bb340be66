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
from clearline.money import CONTEXT, Rounding, allocate, minor_unit, round_money
from clearline.runtime.engine import _ProductRT, line_id
from clearline.runtime.tiers import Band
from clearline.runtime.waterfall import Step, run_waterfall

__all__ = ["commitments", "discounts", "splits", "waterfalls", "withholdings"]


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
        transactions = sum(ln.records for ln in invoices)
        steps = [
            Step(
                s.label,
                s.party,
                "fixed" if s.kind == "per_transaction" else s.kind,
                s.value * transactions if s.kind == "per_transaction" and s.value is not None else s.value,
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
    if step.kind == "per_transaction":
        return f"{_s(step.value)} per transaction"
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


def _pct(fraction: Decimal) -> str:
    return format((fraction * 100).normalize(), "f") + "%"


def discounts(
    p: _ProductRT, lines: list[Any], make: Callable[..., Any], party_name: Callable[[str], str]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """A negative invoice line per customer (and VAT rate) for each discount of the product."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    own = {d.clause.label for d in p.product.discounts}
    for disc in p.product.discounts:
        targets = [
            ln
            for ln in lines
            if ln.kind == "invoice"
            and ln.clause not in own
            and (not disc.clauses or ln.clause in disc.clauses)
        ]
        for customer in sorted({ln.party for ln in targets}):
            mine = [ln for ln in targets if ln.party == customer]
            groups: dict[tuple[Decimal | None, bool], list[Any]] = {}
            for ln in mine:
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
            for key, base, amount, text in zip(keys, bases, amounts, how, strict=True):
                if amount == 0:
                    continue
                vat_rate, reverse = key
                vat = (
                    None
                    if vat_rate is None
                    else -round_money(CONTEXT.multiply(amount, vat_rate), disc.line_rounding)
                )
                rate_key = "" if vat_rate is None else format(vat_rate, "f")
                lkey = (
                    "I",
                    p.contract.id,
                    str(p.contract.version),
                    p.product.name,
                    disc.clause.label,
                    "discount",
                    customer,
                    rate_key,
                )
                lid = line_id("I", lkey)
                clauses = ", ".join(sorted({ln.clause for ln in groups[key]}))
                out.append(
                    make(
                        line_id=lid,
                        kind="invoice",
                        party=customer,
                        party_name=party_name(customer),
                        contract_id=p.contract.id,
                        contract_version=p.contract.version,
                        product=p.product.name,
                        clause=disc.clause.label,
                        period=p.period.label,
                        description=f"{p.product.title}: discount, {text} ({clauses})",
                        quantity=None,
                        unit="",
                        unit_price=None,
                        amount=-amount,
                        currency=p.contract.currency,
                        vat_rate=vat_rate,
                        vat_amount=vat,
                        gross_amount=None if vat is None else -amount + vat,
                        records=0,
                        reverse_charge=reverse,
                    )
                )
                traces.append(
                    {
                        "trace_id": lid,
                        "line_id": lid,
                        "kind": "invoice",
                        "party": customer,
                        "amount": _s(-amount),
                        "currency": p.contract.currency,
                        "contract": _contract(p),
                        "clause": _clause(disc.clause),
                        "rule": {"span": str(disc.span), "text": disc.text},
                        "formula": f"discount on {clauses}",
                        "arithmetic": text,
                        "discounted_base": _s(base),
                        "from_lines": {"invoice": [ln.line_id for ln in groups[key]]},
                        "rounding": [
                            {
                                "point": "line",
                                "mode": disc.line_rounding.mode,
                                "quantum": str(disc.line_rounding.quantum),
                                "declared": "yes",
                            }
                        ],
                        "records": {"count": 0, "first": [], "list_command": ""},
                    }
                )
    return out, traces


def splits(
    p: _ProductRT, lines: list[Any], make: Callable[..., Any], party_title: Callable[[str], str]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """The period's net divided among parties, exactly, residual by largest remainder."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    invoices = [ln for ln in lines if ln.kind == "invoice"]
    quantum = minor_unit(p.contract.currency)
    for split in p.product.splits:
        if split.base == "net":
            base = sum((ln.amount for ln in invoices), Decimal(0))
        else:
            base = sum(
                (ln.gross_amount if ln.gross_amount is not None else ln.amount for ln in invoices), Decimal(0)
            )
        weights = [fraction for _, fraction in split.shares]
        if split.residual is None:
            shares = allocate(base, weights, quantum)
            rule = "largest remainder, ties by declaration order"
        else:
            down = Rounding("down", quantum)
            shares = [round_money(CONTEXT.multiply(base, w), down) for w in weights]
            index = [party for party, _ in split.shares].index(split.residual)
            shares[index] += base - sum(shares, Decimal(0))
            rule = f"each share rounded down; the residual to {split.residual}"
        for (party, fraction), amount in zip(split.shares, shares, strict=True):
            role = p.contract.party(party).role
            kind = "retained" if role == "operator" else "payout"
            key = (
                "R" if role == "operator" else "P",
                p.contract.id,
                str(p.contract.version),
                p.product.name,
                split.clause.label,
                "split",
                party,
                "",
            )
            lid = line_id(key[0], key)
            exact = CONTEXT.multiply(base, fraction)
            out.append(
                make(
                    line_id=lid,
                    kind=kind,
                    party=party,
                    party_name=party_title(party),
                    contract_id=p.contract.id,
                    contract_version=p.contract.version,
                    product=p.product.name,
                    clause=split.clause.label,
                    period=p.period.label,
                    description=f"{p.product.title}: {_pct(fraction)} of the period's {split.base} "
                    f"{_s(base)}",
                    quantity=None,
                    unit="",
                    unit_price=None,
                    amount=amount,
                    currency=p.contract.currency,
                    records=sum(ln.records for ln in invoices),
                )
            )
            traces.append(
                {
                    "trace_id": lid,
                    "line_id": lid,
                    "kind": kind,
                    "party": party,
                    "amount": _s(amount),
                    "currency": p.contract.currency,
                    "contract": _contract(p),
                    "clause": _clause(split.clause),
                    "formula": f"{_pct(fraction)} of the period's {split.base}",
                    "arithmetic": f"{_s(base)} × {_pct(fraction)} = {_s(exact)}; split to {quantum}: {rule}",
                    "split": [
                        {"party": party_, "exact": _s(CONTEXT.multiply(base, w)), "amount": _s(a)}
                        for (party_, w), a in zip(split.shares, shares, strict=True)
                    ],
                    "from_lines": {"invoice": [ln.line_id for ln in invoices][:20]},
                    "records": {"count": 0, "first": [], "list_command": ""},
                }
            )
    return out, traces
