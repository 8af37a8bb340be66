"""Period-level settlement models: commitment true-ups, discounts,
waterfalls, splits and withholding, computed from a product's closed lines.

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
from clearline.runtime.rating.engine import line_id
from clearline.runtime.rating.products import _ProductRT
from clearline.runtime.settlement.waterfall import Step, StepResult, run_waterfall
from clearline.tiers import Band

__all__ = ["commitments", "discounts", "splits", "waterfalls", "withholdings"]

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
                        for r in results
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
    net after its discounts (its invoice lines, discount lines included), rounded once."""
    out: list[Any] = []
    traces: list[dict[str, Any]] = []
    invoices = [ln for ln in lines if ln.kind == "invoice"]
    for index, rule in enumerate(p.product.billed):
        expr = rule.rate.expr
        assert expr.op == "share" and expr.value is not None and expr.base is not None
        base = _base(invoices, expr.base)
        exact = CONTEXT.multiply(base, expr.value)
        amount = round_money(exact, rule.rate.line_rounding)
        share = _pct(expr.value)
        discounts = [ln for ln in invoices if ln.amount < 0 and ln.clause in _discount_clauses(p)]
        line = _new_line(
            make,
            p,
            rule.clause,
            f"billed-{index}",
            rule.party,
            name(rule.party),
            "payout",
            f"{share} of the period's billed {expr.base} {_s(base)}",
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
                formula=f"{share} of the period's billed {expr.base}: the product's invoice lines after "
                "its discounts",
                arithmetic=f"{_s(base)} × {share} = {_s(exact)}",
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
