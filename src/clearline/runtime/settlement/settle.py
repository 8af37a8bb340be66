"""Settlement: accumulated sums -> invoice, payout and retained lines, with
a trace per line and the conservation check.

Input: the `Engine` after every batch was fed, the FX table. Output: a
`Settlement`. Line rounding, VAT, FX conversion and retained amounts are all
computed here, once per line, through `money.round_money`.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from clearline.compiler import ir, units
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.money import CONTEXT, round_money
from clearline.runtime.inputs.refdata import FxTable
from clearline.runtime.rating import closures
from clearline.runtime.rating.accumulate import Accumulated
from clearline.runtime.rating.engine import (
    Engine,
    LineAcc,
    line_id,
)
from clearline.runtime.rating.products import _ProductRT
from clearline.runtime.settlement import models, shares
from clearline.runtime.settlement.line_amounts import _LineAmounts, aggregate_of, stated_unit_price
from clearline.runtime.settlement.lines import (
    KINDS,
    LINE_COLUMNS,
    Lifecycle,
    Line,
    Settlement,
    _s,
    conservation,
)
from clearline.runtime.settlement.payments import _Conversions
from clearline.runtime.settlement.subscribers import TRACE_IDS, _Subscribers

__all__ = ["KINDS", "LINE_COLUMNS", "Line", "Settlement", "finish"]  # the result types are lines.py's


class _Finisher(_Subscribers, _Conversions, _LineAmounts):
    """Closes the engine's partial sums into the period's lines and traces."""

    def __init__(self, engine: Engine, fx: FxTable | None) -> None:
        self.engine = engine
        self.fx = fx
        self.acc = engine.acc
        self.rt = {(p.ci, p.pi): p for p in engine.products}
        # subscription line -> the smallest event record ids (for the trace), never all of them
        self.record_ids: dict[str, list[str]] = {}
        self.lifecycle: list[Lifecycle] = []
        self.problems: list[Diagnostic] = []

    def party_name(self, contract: ir.ContractPlan, kind: str, party: str) -> str:
        if kind == "I":
            customers = self.engine.customers
            return customers[party].name if customers and party in customers else ""
        return contract.party(party).title

    def rule_of(self, p: _ProductRT, kind: str, index: int) -> Any:
        return (p.charges if kind == "I" else p.payouts)[index]

    def build(self) -> Settlement:
        self.subscriptions()
        by_product = {
            (p.contract.id, str(p.contract.version), p.product.name): p for p in self.engine.products
        }
        lines: list[Line] = []
        traces: list[dict[str, Any]] = []
        for key in sorted(self.acc.lines):
            acc = self.acc.lines[key]
            kind, cid, version, product, _clause, index, party, group = key
            p = by_product[(cid, version, product)]
            rule = self.rule_of(p, kind, int(index))
            line, trace = self.line(p, rule, acc, party, group)
            lines.append(line)
            traces.append(trace)
        # each model for every product before the next model: an invoice discount sees every
        # product's true-ups, and a waterfall sees the discounts
        for model in (
            models.commitments,
            models.discounts,
            shares.billed_shares,
            shares.waterfalls,
            shares.splits,
            shares.withholdings,
        ):
            if model is shares.withholdings:
                # every payout of a party paid in its own currency, whichever rule made it;
                # withholding then takes its part of the converted amount too
                lines = self.converted(lines, traces)
            for p in self.engine.products:
                contract_version = (p.contract.id, p.contract.version)
                mine = [
                    ln
                    for ln in lines
                    if (ln.contract_id, ln.contract_version) == contract_version
                    and (model is models.discounts or ln.product == p.product.name)
                ]
                role = "I" if model in (models.commitments, models.discounts) else "P"
                added, added_traces = model(
                    p, mine, Line, functools.partial(self.party_name, p.contract, role)
                )
                lines += added
                traces += added_traces
        retained, retained_traces = self.retained(lines)
        lines += retained
        traces += retained_traces
        if self.problems:
            raise ClearlineError(self.problems)
        order = {"invoice": 0, "payout": 1, "withholding": 2, "retained": 3}
        lines.sort(
            key=lambda ln: (
                order[ln.kind],
                ln.contract_id,
                ln.party,
                ln.product,
                ln.clause,
                ln.description,
                ln.line_id,
            )
        )
        traces.sort(key=lambda t: str(t["line_id"]))
        return Settlement(
            period=self.engine.period_label,
            plans=self.engine.plans,
            lines=lines,
            traces=traces,
            read=self.acc.read,
            rated=self.acc.rated,
            rejects=self.acc.rejects,
            unmatched=self.acc.unmatched,
            conservation=conservation(lines),
            lifecycle=self.lifecycle,
            routed=sorted(self.acc.routed, key=lambda r: (r.file, r.line)),
        )

    def line(
        self, p: _ProductRT, rule: Any, acc: LineAcc, party: str, group: str
    ) -> tuple[Line, dict[str, Any]]:
        plan = rule.plan
        rate: ir.RatePlan = plan.rate
        kind = KINDS[rule.kind]
        product = p.product
        contract = p.contract
        exact, line_arithmetic = self.line_amount(p, rule, acc)
        cap, floor = rate.cap, rate.floor
        cap_shown, floor_shown = _s(cap), _s(floor)
        if rate.prorated and p.subscription and rule.kind == "I":
            # a subscriber's line, prorated by its active days: so are its minimum and cap
            # (multiply before dividing, as the price is)
            active, of = p.active_days.get(party, 0), p.period.days
            if cap is not None:
                prorated = CONTEXT.divide(CONTEXT.multiply(cap, Decimal(active)), Decimal(of))
                cap_shown = f"{_s(cap)} × {active}/{of} active days = {_s(prorated)}"
                cap = prorated
            if floor is not None:
                prorated = CONTEXT.divide(CONTEXT.multiply(floor, Decimal(active)), Decimal(of))
                floor_shown = f"{_s(floor)} × {active}/{of} active days = {_s(prorated)}"
                floor = prorated
        capped = cap is not None and exact > cap
        if capped:
            assert cap is not None
            line_arithmetic = f"{line_arithmetic}; capped at {cap_shown} per period"
            exact = cap
        if floor is not None and exact < floor:
            line_arithmetic = f"{line_arithmetic}; raised to the minimum of {floor_shown} per period"
            exact = floor
        amount = round_money(exact, rate.line_rounding)
        rounding_steps: list[dict[str, str]] = []
        if rate.record_rounding is not None:
            rounding_steps.append(
                {
                    "point": "each record",
                    "mode": rate.record_rounding.mode,
                    "quantum": str(rate.record_rounding.quantum),
                    "note": "applied to every unit before summing",
                }
            )
        rounding_steps.append(
            {
                "point": "line",
                "mode": rate.line_rounding.mode,
                "quantum": str(rate.line_rounding.quantum),
                "before": _s(exact),
                "after": _s(amount),
                "declared": "yes" if rate.line_rounding_declared else "no (default)",
            }
        )
        vat_rate = rule.vat if rule.kind == "I" else None
        subscription = product.kind == "subscription"
        if rule.kind == "I" and rule.vat_included and rate.line_level:
            # priced once for the line: the amount is what the customer pays, VAT included
            paid = amount
            assert vat_rate is not None  # `included` is a VAT mode: the rule has a rate
            amount = round_money(CONTEXT.divide(paid, 1 + vat_rate), rate.line_rounding)
            gross: Decimal | None = paid
            vat_amount: Decimal | None = paid - amount
            rounding_steps[-1]["after"] = _s(amount)
            rounding_steps[-1]["note"] = f"the net extracted from the line's {_s(paid)} incl. VAT"
        elif rule.kind == "I" and rule.vat_included and rate.record_rounding is None and not subscription:
            # no record rounding: the net was summed exactly and is rounded with the line
            gross = round_money(acc.gross, rate.line_rounding)
            vat_amount = gross - amount
        elif rule.kind == "I" and rule.vat_included:
            # VAT was extracted per record: the line's VAT is what was paid less the net
            vat_amount = acc.gross - amount
            gross = acc.gross
        else:
            vat_amount = self.vat(amount, vat_rate, rate.line_rounding)
            gross = amount + vat_amount if vat_amount is not None else None
        reverse = rule.kind == "I" and rule.plan.reverse_charge
        unit_price = stated_unit_price(rate.expr, acc)
        if subscription and rule.kind == "I":
            quantity, unit_name = acc.quantity, "day"
            description = f"{product.title}, {acc.quantity} of {p.period.days} days"
        elif subscription:
            quantity, unit_name = Decimal(acc.units), "subscriber"
            description = f"{product.title}: {plan.clause.label}, {acc.units} subscriber(s)"
        elif rate.line_level and rate.expr.op != "tiers" and aggregate_of(rate.expr) is not None:
            func, name = aggregate_of(rate.expr) or ("", "")
            quantity, unit_name = acc.aggregates.get((func, name), Decimal(0)), f"{name} ({func})"
            description = (
                f"{product.title}: {plan.clause.label}, the {func} of {name} over {acc.records} record(s)"
            )
        else:
            quantity, unit_name = acc.quantity, units.plural(product.measure)
            what = f", {rate.group_by} {group}" if rate.group_by else ""
            if plan.clause.band is not None and product.bands is not None:  # `during peak`
                what = f", {product.bands.band(plan.clause.band).label}{what}"
            description = (
                f"{product.title}{what}: {acc.units} record(s), "
                f"{_s(acc.quantity)} {units.plural(product.measure)}"
            )
        paid_amount = fx_rate = None
        paid_currency = fx_date = ""
        fx_trace = None
        if rule.kind == "P":
            conversion = next((c for c in product.conversions if c.party == party), None)
            if conversion is not None and conversion.currency != contract.currency:
                days = sorted(acc.by_day.items()) if conversion.fixing == "record date" else None
                paid_amount, fx_rate, fx_date, fx_trace = self.convert(p, conversion, amount, days)
                paid_currency = conversion.currency
        line = Line(
            line_id=acc.line_id,
            kind=kind,
            party=party,
            party_name=self.party_name(contract, rule.kind, party),
            contract_id=contract.id,
            contract_version=contract.version,
            product=product.name,
            clause=plan.clause.label,
            period=p.period.label,
            description=description,
            quantity=quantity,
            unit=unit_name,
            unit_price=unit_price,
            amount=amount,
            currency=contract.currency,
            vat_rate=vat_rate,
            vat_amount=vat_amount,
            gross_amount=gross,
            paid_amount=paid_amount,
            paid_currency=paid_currency,
            fx_rate=fx_rate,
            fx_date=fx_date,
            records=acc.records,
            reverse_charge=reverse,
        )
        shown = []
        if not rate.line_level:
            for key, unit, value in acc.samples:
                _, text = closures.explain(rate.expr, rate, product.measure, unit, rule.tiers, rule.bundle)
                sample = {"unit": key, "arithmetic": text, "amount": _s(value)}
                if unit.band:  # time bands: the band that priced it and its clock time
                    sample |= {"band": unit.band, "clock": unit.clock} if unit.clock else {"band": unit.band}
                shown.append(sample)
        ids = self.record_ids.get(acc.line_id) or [s[0] for s in acc.samples]
        trace: dict[str, Any] = {
            "trace_id": acc.line_id,
            "line_id": acc.line_id,
            "kind": kind,
            "party": party,
            "amount": _s(amount),
            "currency": contract.currency,
            "contract": {
                "id": contract.id,
                "version": contract.version,
                "file": contract.file,
                "sha256": contract.sha256,
            },
            "clause": {
                "label": plan.clause.label,
                "text": plan.clause.text,
                "span": str(plan.clause.span),
                "excerpt": plan.clause.excerpt,
            },
            "rule": {"span": str(plan.span), "text": plan.text},
            "formula": (
                f"once for the line, from its {acc.records} record(s): {rate.expr.text}"
                if rate.line_level
                else f"sum over {acc.units} {'subscriber(s)' if subscription else 'record(s)'} "
                f"of: {rate.expr.text}{', prorated by active days' if rate.prorated else ''}"
            ),
            "arithmetic": line_arithmetic,
            "units": {
                "count": acc.units,
                "shown": shown,
                "note": "the units with the smallest ids" if acc.units > len(shown) else "",
            },
            "sum": _s(exact),
            "rounding": rounding_steps,
            "vat": None if vat_rate is None else self.vat_trace(rule, amount, vat_rate, vat_amount, gross),
            "fx": fx_trace,
            "records": {
                "count": acc.records,
                "first": ids[:TRACE_IDS],
                "list_command": f"grep -F ',{acc.line_id},' rated_records.csv",
            },
        }
        if rate.line_level and not (
            self.engine.cumulative.get(acc.line_id) and any(t.over for t in rule.tiers.values())
        ):
            found = closures.tier_uses(rate.expr, product.measure, self.line_unit(p, rule, acc), rule.tiers)
            if found:  # the bands the line used, as data (the arithmetic says them in words)
                trace["tiers"] = found
        shares = [
            {"rate": _s(e.value), "of": e.base or ""}
            for e in ir.walk(rate.expr)
            if e.op == "share" and e.value is not None
        ]
        if shares and kind != "invoice":  # the shares a payout took, as data (documents show them)
            trace["shares"] = shares
        if p.conversions:  # its prices in units of account were converted before rating
            trace["units_of_account"] = [c.trace() for _, c in sorted(p.conversions.items())]
        return line, trace

    def retained(self, lines: list[Line]) -> tuple[list[Line], list[dict[str, Any]]]:
        groups: dict[tuple[str, int, str], list[Line]] = {}
        for ln in lines:
            groups.setdefault((ln.contract_id, ln.contract_version, ln.product), []).append(ln)
        by_product = {(p.contract.id, p.contract.version, p.product.name): p for p in self.engine.products}
        out: list[Line] = []
        traces: list[dict[str, Any]] = []
        for key in sorted(groups):
            p = by_product[key]
            contract = p.contract
            revenue = sum((ln.amount for ln in groups[key] if ln.kind == "invoice"), Decimal(0))
            payouts = sum((ln.amount for ln in groups[key] if ln.kind == "payout"), Decimal(0))
            kept = sum((ln.amount for ln in groups[key] if ln.kind == "retained"), Decimal(0))
            retained = revenue - payouts - kept
            if (p.product.waterfalls or p.product.splits) and retained == 0:
                continue  # the waterfall's or split's own lines say what the operator keeps
            operator = contract.operator
            rkey = (
                "R",
                contract.id,
                str(contract.version),
                p.product.name,
                "",
                "",
                operator.name,
                "",
            )
            lid = line_id("R", rkey)
            kept_text = f" - kept in steps {_s(kept)}" if kept else ""
            description = (
                f"{p.product.title}: retained by {operator.title} "
                f"(net revenue {_s(revenue)} - payouts {_s(payouts)}{kept_text})"
            )
            out.append(
                Line(
                    line_id=lid,
                    kind="retained",
                    party=operator.name,
                    party_name=operator.title,
                    contract_id=contract.id,
                    contract_version=contract.version,
                    product=p.product.name,
                    clause="",
                    period=p.period.label,
                    description=description,
                    quantity=None,
                    unit="",
                    unit_price=None,
                    amount=retained,
                    currency=contract.currency,
                    records=sum(ln.records for ln in groups[key] if ln.kind == "invoice"),
                )
            )
            traces.append(
                {
                    "trace_id": lid,
                    "line_id": lid,
                    "kind": "retained",
                    "party": operator.name,
                    "amount": _s(retained),
                    "currency": contract.currency,
                    "contract": {
                        "id": contract.id,
                        "version": contract.version,
                        "file": contract.file,
                        "sha256": contract.sha256,
                    },
                    "clause": None,
                    "formula": "net revenue - payouts",
                    "arithmetic": f"{_s(revenue)} - {_s(payouts)}{kept_text} = {_s(retained)}",
                    "from_lines": {
                        "invoice": [ln.line_id for ln in groups[key] if ln.kind == "invoice"][:20],
                        "payout": [ln.line_id for ln in groups[key] if ln.kind == "payout"][:20],
                    },
                    "records": {"count": 0, "first": [], "list_command": ""},
                }
            )
        return out, traces


def finish(engine: Engine, fx: FxTable | None) -> Settlement:
    """Close the period: every line, its trace, and the conservation check."""
    usage_keys = list(engine.acc.lines)  # closing adds the subscription lines
    result = _Finisher(engine, fx).build()
    result.partials = Accumulated(
        lines={k: engine.acc.lines[k] for k in usage_keys}, events=engine.acc.events
    )
    return result
