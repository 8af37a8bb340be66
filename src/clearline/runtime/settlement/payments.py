"""Payouts paid in the partner's currency: each payout line a model made (split shares,
waterfall steps, billed shares) converted at the contract's declared rate, with the
rate, date and table in its trace.

A mixin of `settle._Finisher`, which sets the attributes below.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import Diagnostic
from clearline.money import CONTEXT, round_money
from clearline.runtime.inputs.refdata import FxTable
from clearline.runtime.rating.accumulate import Accumulated
from clearline.runtime.rating.engine import (
    Engine,
)
from clearline.runtime.rating.products import _ProductRT
from clearline.runtime.settlement.lines import (
    Line,
    _s,
)

__all__: list[str] = []


class _Conversions:
    engine: Engine
    acc: Accumulated
    fx: FxTable | None
    problems: list[Diagnostic]

    def converted(self, lines: list[Line], traces: list[dict[str, Any]]) -> list[Line]:
        """The payout lines the period's models made (split shares, waterfall steps), paid
        in the party's currency when the contract converts its payouts: the line's rounded
        amount at the rate of the period end, the FX rate, date and table in its trace."""
        by_product = {(p.contract.id, p.contract.version, p.product.name): p for p in self.engine.products}
        by_id = {str(t["line_id"]): t for t in traces}
        rule_lines = {acc.line_id for acc in self.acc.lines.values()}
        out: list[Line] = []
        for ln in lines:
            p = by_product.get((ln.contract_id, ln.contract_version, ln.product))
            conv = (
                next((c for c in p.product.conversions if c.party == ln.party), None)
                # a rule's own lines were converted (or failed to be) when they closed
                if p is not None and ln.kind == "payout" and ln.line_id not in rule_lines
                else None
            )
            if p is None or conv is None or conv.currency == ln.currency:
                out.append(ln)
                continue
            paid, rate, day, fx_trace = self.convert(p, conv, ln.amount, None)
            out.append(
                dataclasses.replace(
                    ln,
                    paid_amount=paid,
                    paid_currency=conv.currency if paid is not None else "",
                    fx_rate=rate,
                    fx_date=day,
                )
            )
            trace = by_id.get(ln.line_id)
            if trace is not None:
                trace["fx"] = fx_trace
        return out

    def convert(
        self,
        p: _ProductRT,
        conv: ir.ConversionPlan,
        amount: Decimal,
        by_day: list[tuple[dt.date, Decimal]] | None,
    ) -> tuple[Decimal | None, Decimal | None, str, dict[str, Any]]:
        """Pay `amount` (settlement currency) in the party's currency.

        Period end (`by_day` None): the line's rounded amount at the rate of the
        period's last day. Record date: each day's share of the line at that
        day's rate, summed exactly, then rounded once.
        """
        contract = p.contract
        if self.fx is None:
            self.problems.append(
                Diagnostic(
                    codes.MISSING_REFERENCE_DATA,
                    f'clause "{conv.clause.label}" pays {conv.party} in {conv.currency}, '
                    "but no FX rates were given",
                    conv.span,
                    "pass the rate table with --fx FILE",
                )
            )
            return None, None, "", {}
        parts = by_day if by_day is not None else [(p.period.last_day, amount)]
        exact = Decimal(0)
        steps: list[str] = []
        rate: Decimal | None = None
        for day, part in parts:
            found = self.fx.find(day, contract.currency, conv.currency)
            if found is None:
                self.problems.append(
                    Diagnostic(
                        codes.MISSING_REFERENCE_DATA,
                        f"no {conv.currency}/{contract.currency} rate for {day} in {self.fx.name}",
                        conv.span,
                        f"add a row `{day},{conv.currency},{contract.currency},RATE` to {self.fx.name}",
                    )
                )
                return None, None, "", {}
            rate, inverted = found
            value = CONTEXT.divide(part, rate) if inverted else CONTEXT.multiply(part, rate)
            exact += value
            op = "/" if inverted else "×"
            steps.append(f"{day}: {_s(part)} {contract.currency} {op} {_s(rate)} = {_s(value)}")
        paid = round_money(exact, conv.rounding)
        single = len(parts) == 1
        trace = {
            "table": self.fx.name,
            "fixing": conv.fixing,
            "date": parts[0][0].isoformat() if single else "",
            "rate": _s(rate) if single else "",
            "arithmetic": steps,
            "exact": _s(exact),
            "rounding": {"mode": conv.rounding.mode, "quantum": str(conv.rounding.quantum)},
            "result": f"{_s(paid)} {conv.currency}",
            "clause": {"label": conv.clause.label, "span": str(conv.clause.span)},
        }
        if conv.fixing == "record date" and amount != sum((v for _, v in parts), Decimal(0)):
            trace["note"] = (
                "each record's unrounded amount is converted at its own date; "
                "the line's rounding applies to the settlement-currency amount only"
            )
        return paid, rate if single else None, parts[0][0].isoformat() if single else "", trace
