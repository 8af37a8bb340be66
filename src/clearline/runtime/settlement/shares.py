"""Period-level settlement models of the partners' side: waterfalls, shares of the
billed net, splits and withholding, computed from a product's closed lines.

Input: the product's rounded lines of the period (with the customer-side models'
lines: commitments and discounts, `models`). Output: new lines with their traces.
Called by `settle` after every usage line is closed; every amount is rounded once,
through `money.round_money`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from clearline.compiler import ir
from clearline.money import CONTEXT, Rounding, allocate, minor_unit, round_money
from clearline.runtime.rating import closures
from clearline.runtime.rating.engine import line_id
from clearline.runtime.rating.products import _ProductRT
from clearline.runtime.settlement.models import Made, Namer, _base, _new_line, _pct, _rounding, _s, _trace
from clearline.runtime.settlement.waterfall import Step, StepResult, run_waterfall
from clearline.tiers import Band

__all__ = ["billed_shares", "splits", "waterfalls", "withholdings"]


def waterfalls(p: _ProductRT, lines: list[Any], make: Callable[..., Any], name: Namer) -> Made:
    """Payout and retained lines for each step of each waterfall of the product."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    invoices = [ln for ln in lines if ln.kind == "invoice"]
    transactions = sum(ln.records for ln in invoices)
    for wf in p.product.waterfalls:
        base = _base(invoices, wf.base)
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
        for step, result in zip(wf.steps, results, strict=True):
            kind = "retained" if p.contract.party(step.party).role == "operator" else "payout"
            described = _describe(step, result.basis)
            line = _new_line(
                make,
                p,
                wf.clause,
                step.label,
                step.party,
                name(step.party),
                kind,
                f"{step.label}, {described}",
                result.amount,
                records=transactions,
            )
            out.append(line)
            traces.append(
                _trace(
                    line,
                    p,
                    wf.clause,
                    rule={"span": str(step.span), "text": step.text},
                    formula=f"waterfall on the period's {wf.base} {_s(base)}: {described}",
                    arithmetic=_step_arithmetic(result),
                    waterfall=[
                        {
                            "step": r.step.label,
                            "party": r.step.party,
                            # what the statement shows of the step: its kind, share or fixed
                            # amount (per transaction for per_transaction), and the base
                            "kind": planned.kind,
                            "value": None if planned.value is None else _s(planned.value),
                            "of_step": planned.of_step or "",
                            "of": wf.base,
                            **(
                                {
                                    "mode": planned.tiers.mode,
                                    "rates": [_s(b.rate) for b in planned.tiers.bands],
                                }
                                if planned.tiers is not None and planned.tiers.kind == "share"
                                else {}
                            ),
                            "basis": _s(r.basis),
                            "exact": _s(r.exact),
                            "amount": _s(r.amount),
                            "remainder": _s(r.remainder),
                            # a tiered step: the bands of its basis it used, as data
                            **(
                                {
                                    "bands": [
                                        {
                                            "from": _s(u.band.lower),
                                            "to": _s(u.band.upper),
                                            "quantity": _s(u.quantity),
                                            "rate": _s(u.band.rate),
                                            "amount": _s(u.amount),
                                        }
                                        for u in r.bands
                                    ]
                                }
                                if r.step.kind == "tiers"
                                else {}
                            ),
                        }
                        for planned, r in zip(wf.steps, results, strict=True)
                    ],
                    from_lines={"invoice": [ln.line_id for ln in invoices][:20]},
                    rounding=[]
                    if step.rounding is None
                    else _rounding(step.rounding, result.exact, result.amount, point="step"),
                )
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
    of = {"base": "the base", "remainder": "the remainder", "step": f'"{step.of_step}"'}[step.kind]
    return f"{_pct(step.value)} of {of} {_s(basis)}"


def _step_arithmetic(result: StepResult) -> str:
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


def billed_shares(p: _ProductRT, lines: list[Any], make: Callable[..., Any], name: Namer) -> Made:
    """`pay X 15% of billed net`: a payout line per rule, the share of the product's period
    net after its discounts (its invoice lines, discount lines included), rounded once. A
    rule may compute with it and amounts fixed for the period (`the larger of 15% of billed
    net and 100.00 EUR`): the expression is worked out once, on the period's billed net and
    gross, then rounded."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    invoices = [ln for ln in lines if ln.kind == "invoice"]
    discounts = [ln for ln in invoices if ln.amount < 0 and ln.clause in _discount_clauses(p)]
    for index, rule in enumerate(p.product.billed):
        expr = rule.rate.expr
        if expr.op == "share":
            assert expr.value is not None and expr.base is not None
            base = _base(invoices, expr.base)
            exact = CONTEXT.multiply(base, expr.value)
            share = _pct(expr.value)
            description = f"{share} of the period's billed {expr.base} {_s(base)}"
            formula = (
                f"{share} of the period's billed {expr.base}: the product's invoice lines after its discounts"
            )
            arithmetic = f"{_s(base)} × {share} = {_s(exact)}"
            shares = [{"rate": _s(expr.value), "of": expr.base}]
        else:
            net, gross = _base(invoices, "net"), _base(invoices, "gross")
            period = closures.Unit(Decimal(0), None, False, 0, p.period.days, net, gross)
            exact, worked = closures.explain(expr, rule.rate, p.product.measure, period)
            description = f"{expr.text}, once for the period (billed net {_s(net)}, gross {_s(gross)})"
            formula = (
                f"{expr.text}, once for the period: each share of the billed net (or gross) of the "
                "product's invoice lines after its discounts"
            )
            arithmetic = f"billed net {_s(net)}, billed gross {_s(gross)}: {worked}"
            shares = [{"rate": _s(e.value), "of": e.base or ""} for e in ir.walk(expr) if e.op == "share"]
        amount = round_money(exact, rule.rate.line_rounding)
        line = _new_line(
            make,
            p,
            rule.clause,
            f"billed-{index}",
            rule.party,
            name(rule.party),
            "payout",
            description,
            amount,
            records=sum(ln.records for ln in invoices if ln.amount >= 0),
        )
        out.append(line)
        traces.append(
            _trace(
                line,
                p,
                rule.clause,
                rule={"span": str(rule.span), "text": rule.text},
                formula=formula,
                arithmetic=arithmetic,
                shares=shares,
                rounding=_rounding(rule.rate.line_rounding, exact, amount),
                from_lines={
                    "invoice": [ln.line_id for ln in invoices][:20],
                    "discounts": [ln.line_id for ln in discounts][:20],
                },
            )
        )
    return out, traces


def _discount_clauses(p: _ProductRT) -> set[str]:
    return {d.clause.label for d in p.product.discounts}


def splits(p: _ProductRT, lines: list[Any], make: Callable[..., Any], name: Namer) -> Made:
    """The period's net divided among parties, exactly, residual by largest remainder.

    The split is of the period's total, never of each record: three records of 100.00
    split three ways give each party 100.00, the residual cents placed once.
    """
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    invoices = [ln for ln in lines if ln.kind == "invoice"]
    quantum = minor_unit(p.contract.currency)
    for split in p.product.splits:
        base = _base(invoices, split.base)
        weights = [weight for _, weight in split.shares]
        whole = sum(weights, Decimal(0))
        exact = [CONTEXT.divide(CONTEXT.multiply(base, w), whole) for w in weights]
        written = split.written or tuple(_pct(w) for w in weights)
        if split.residual is None:
            shares = allocate(base, weights, quantum)
            rule = "largest remainder, ties by declaration order"
        else:
            down = Rounding("down", quantum)
            shares = [round_money(e, down) for e in exact]
            shares[[party for party, _ in split.shares].index(split.residual)] += base - sum(
                shares, Decimal(0)
            )
            rule = f"each share rounded down; the residual to {split.residual}"
        parts = [
            {"party": party, "exact": _s(e), "amount": _s(a)}
            for (party, _), e, a in zip(split.shares, exact, shares, strict=True)
        ]
        for (party, _), share, e, amount in zip(split.shares, written, exact, shares, strict=True):
            kind = "retained" if p.contract.party(party).role == "operator" else "payout"
            line = _new_line(
                make,
                p,
                split.clause,
                "split",
                party,
                name(party),
                kind,
                f"{share} of the period's {split.base} {_s(base)}",
                amount,
                records=sum(ln.records for ln in invoices),
            )
            out.append(line)
            traces.append(
                _trace(
                    line,
                    p,
                    split.clause,
                    formula=f"{share} of the period's {split.base}",
                    arithmetic=f"{_s(base)} × {share} = {_s(e)}; split to {quantum}: {rule}",
                    split=parts,
                    from_lines={"invoice": [ln.line_id for ln in invoices][:20]},
                )
            )
    return out, traces


def withholdings(p: _ProductRT, lines: list[Any], make: Callable[..., Any], name: Namer) -> Made:
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
            conv = next((c for c in p.product.conversions if c.party == wh.party), None)
            paid = None
            if ln.paid_amount is not None and conv is not None:
                paid = -round_money(CONTEXT.multiply(ln.paid_amount, wh.rate), conv.rounding)
            lid = line_id("W", ("W", ln.line_id, wh.clause.label))
            line = make(
                line_id=lid,
                kind="withholding",
                party=wh.party,
                party_name=name(wh.party),
                contract_id=ln.contract_id,
                contract_version=ln.contract_version,
                product=ln.product,
                clause=wh.clause.label,
                period=ln.period,
                description=f"withholding tax {_pct(wh.rate)} of payout {ln.line_id} ({_s(ln.amount)})",
                quantity=None,
                unit="",
                unit_price=None,
                amount=-withheld,
                currency=ln.currency,
                paid_amount=paid,
                paid_currency=ln.paid_currency if paid is not None else "",
                fx_rate=ln.fx_rate if paid is not None else None,
                fx_date=ln.fx_date if paid is not None else "",
            )
            out.append(line)
            traces.append(
                _trace(
                    line,
                    p,
                    wh.clause,
                    formula=f"{_pct(wh.rate)} of the payout {ln.line_id}",
                    arithmetic=f"{_s(ln.amount)} × {_pct(wh.rate)} = {_s(exact)}",
                    withholding={"rate": _s(wh.rate), "basis": _s(ln.amount)},  # what the statement shows
                    rounding=_rounding(rounding, exact, withheld),
                    from_lines={"payout": [ln.line_id]},
                    fx=None
                    if paid is None or conv is None
                    else {
                        "fixing": conv.fixing,
                        "date": ln.fx_date,
                        "rate": _s(ln.fx_rate),
                        "arithmetic": [
                            f"{_pct(wh.rate)} of the payout paid, {_s(ln.paid_amount)} {conv.currency}"
                        ],
                        "exact": _s(CONTEXT.multiply(ln.paid_amount or Decimal(0), wh.rate)),
                        "rounding": {"mode": conv.rounding.mode, "quantum": str(conv.rounding.quantum)},
                        "result": f"{_s(paid)} {conv.currency}",
                        "clause": {"label": conv.clause.label, "span": str(conv.clause.span)},
                    },
                )
            )
    return out, traces
