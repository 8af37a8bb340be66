"""Self-billing statements: one per partner and period, in its currency, with the
clause, basis and share of each payout and the tax withheld from it."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from clearline.reports.doclines import (
    bands_of,
    by_party,
    decimal_of,
    detail,
    document_fields,
    gross_of,
    rules_of,
    same_amount,
)
from clearline.reports.documents import (
    BASES,
    TIER_MODES,
    Basis,
    Fx,
    Statement,
    StatementLine,
    Step,
    Tiers,
    Withholding,
    sum_by_currency,
)
from clearline.reports.rundata import LineRow, RunData

__all__ = ["build_statements"]


def _fx(run: RunData, line: LineRow) -> Fx | None:
    if line.paid_amount is None or line.fx_rate is None or not line.paid_currency:
        return None
    fx = (run.traces.get(line.line_id) or {}).get("fx") or {}
    # Which way the published rate reads: 1 EUR = 4.2500 PLN is divided by
    # to pay 81.65 PLN in EUR. The closer of the two readings is the one used.
    divided = abs(line.amount / line.fx_rate - line.paid_amount)
    multiplied = abs(line.amount * line.fx_rate - line.paid_amount)
    base, quote = (
        (line.paid_currency, line.currency)
        if divided <= multiplied
        else (
            line.currency,
            line.paid_currency,
        )
    )
    return Fx(
        rate=line.fx_rate,
        date=line.fx_date,
        table=str(fx.get("table", "")),
        fixing=str(fx.get("fixing", "")),
        clause=str((fx.get("clause") or {}).get("label", "")),
        base=base,
        quote=quote,
    )


def _statement_line(run: RunData, line: LineRow, withholding: tuple[Withholding, ...]) -> StatementLine:
    trace = run.traces.get(line.line_id) or {}
    clause = trace.get("clause") or {}
    rules = rules_of(run, line)
    # the shares the payout took, as its trace recorded them (`shares`: rate and base)
    recorded = [s for s in trace.get("shares") or [] if isinstance(s, dict)]
    shares = [v for v in (decimal_of(s.get("rate")) for s in recorded) if v is not None]
    bases = {str(s.get("of")) for s in recorded if s.get("of")}
    basis = None
    if len(bases) == 1:
        base = bases.pop()
        funding = [
            ln
            for ln in run.lines
            if ln.kind == "invoice"
            and (ln.contract_id, ln.contract_version, ln.product, ln.period)
            == (line.contract_id, line.contract_version, line.product, line.period)
        ]
        amount = None
        if base == "net":
            amount = sum((ln.amount for ln in funding), Decimal(0))
        elif base == "gross":
            amount = sum((gross_of(ln) for ln in funding), Decimal(0))
        basis = Basis(BASES.get(base, base), amount, line.currency)
    doc = detail(run, line)
    steps: tuple[Step, ...] = ()
    waterfall = _waterfall(run, line, trace)
    if waterfall is not None:
        steps, tiers = waterfall
        own = steps[-1]
        basis, shares = own.basis, list(own.shares)
        doc = dataclasses.replace(doc, tiers=tiers, step=own.label)
    rule_text = str((trace.get("rule") or {}).get("text", "")) or "; ".join(r.text for r in rules)
    return StatementLine(
        doc=doc,
        clause_text=str(clause.get("text") or ""),
        rule_text=rule_text,
        basis=basis,
        shares=tuple(dict.fromkeys(shares)),
        fx=_fx(run, line),
        steps=steps,
        withholding=withholding,
    )


def _waterfall(
    run: RunData, line: LineRow, trace: dict[str, Any]
) -> tuple[tuple[Step, ...], Tiers | None] | None:
    """The steps of a distribution up to the partner's (the last), and its tiers.

    What each step took its share of comes from the trace (the net, or what the
    earlier steps left); the other steps' amounts are left out.
    """
    entries = [e for e in trace.get("waterfall") or [] if isinstance(e, dict)]
    own = next(
        (
            i
            for i, e in enumerate(entries)
            if e.get("party") == line.party and same_amount(e.get("amount"), line.amount)
        ),
        None,
    )
    if own is None:
        return None
    steps = []
    tiers = None
    for i, entry in enumerate(entries[: own + 1]):
        # each step as its trace entry records it: kind, share or fixed amount, base
        label = str(entry.get("step", ""))
        kind = str(entry.get("kind") or "")
        base = str(entry.get("of") or "")
        amount = decimal_of(entry.get("basis"))
        if kind in {"", "base"} or (i == 0 and kind != "step"):
            # What remains before the first step is the whole base.
            basis = Basis(BASES.get(base, base), amount, line.currency)
        elif kind == "step":
            basis = Basis(BASES["remainder"], amount, line.currency, step=str(entry.get("of_step") or ""))
        else:
            basis = Basis(BASES["remainder"], amount, line.currency)
        shares: tuple[Decimal, ...] = ()
        fixed = None
        value = decimal_of(entry.get("value"))
        rates = entry.get("rates")
        if kind == "tiers":
            found = [decimal_of(r) for r in rates] if isinstance(rates, list) else []
            shares = tuple(r for r in found if r is not None)
            if i == own and amount is not None and shares:
                bands = bands_of(entry.get("bands"), "share", line.currency)
                mode = TIER_MODES.get(str(entry.get("mode")), str(entry.get("mode")))
                tiers = None if bands is None else Tiers(mode, "share", "", line.currency, bands)
        elif kind in {"fixed", "per_transaction"}:
            fixed = value
        elif kind and value is not None:
            shares = (value,)
        steps.append(Step(label, basis, kind, shares, fixed, i == own))
    return tuple(steps), tiers


def _withholding(run: RunData, line: LineRow, payouts: dict[str, LineRow]) -> tuple[str, Withholding]:
    """A withholding line and which of the partner's `payouts` it is withheld from ("" when none)."""
    trace = run.traces.get(line.line_id) or {}
    found = (trace.get("from_lines") or {}).get("payout") or []
    payout = str(found[0]) if len(found) == 1 and str(found[0]) in payouts else ""
    basis = payouts[payout].amount if payout else None
    # the rate the trace records (`withholding`), else the line file's column
    recorded = trace.get("withholding") if isinstance(trace.get("withholding"), dict) else {}
    rate = decimal_of((recorded or {}).get("rate"))
    rate = rate if rate is not None else line.withholding_rate
    clause = trace.get("clause") or {}
    row = Withholding(detail(run, line), str(clause.get("text") or ""), rate, basis, _fx(run, line))
    return payout, row


def build_statements(run: RunData, lang: str | None = None) -> list[Statement]:
    """One self-billing statement per partner and period, in its currency.

    Payouts and the tax withheld from them; never the operator's retained
    lines, not even the steps it keeps in a distribution.
    """
    statements = []
    kinds = {"payout", "withholding"}
    for (partner, period), lines in by_party(ln for ln in run.lines if ln.kind in kinds).items():
        party = run.party(partner, "partner", lines[0].party_name)
        statement = Statement(**document_fields(run, "SB", period, party, lines, lang))
        payouts = [ln for ln in lines if ln.kind == "payout"]
        withholding = [ln for ln in lines if ln.kind == "withholding"]
        under: dict[str, list[Withholding]] = {}
        by_id = {ln.line_id: ln for ln in payouts}
        for ln in withholding:
            payout, row = _withholding(run, ln, by_id)
            if payout:
                under.setdefault(payout, []).append(row)
            else:
                statement.withholding.append(row)
        statement.lines = [_statement_line(run, ln, tuple(under.get(ln.line_id, ()))) for ln in payouts]
        statement.settled = sum_by_currency((ln.currency, ln.amount) for ln in payouts)
        statement.paid = sum_by_currency((ln.payable_currency, ln.payable_amount) for ln in payouts)
        # Withholding lines carry negative amounts (what the engine writes);
        # a `withholding_amount` column is the positive tax on its payout line.
        withheld = [(ln.payable_currency, -ln.payable_amount) for ln in withholding]
        withheld += [(ln.payable_currency, ln.withholding_amount) for ln in payouts if ln.withholding_amount]
        statement.withheld = sum_by_currency(withheld)
        statement.payable = sum_by_currency(
            [(m.currency, m.amount) for m in statement.paid] + [(c, -a) for c, a in withheld]
        )
        currencies = {m.currency for m in statement.payable}
        statement.currency = party.currency or (currencies.pop() if len(currencies) == 1 else "")
        statements.append(statement)
    return statements
