"""Settlement: accumulated sums -> invoice, payout and retained lines, with
a trace per line and the conservation check.

Input: the `Engine` after every batch was fed, the FX table. Output: a
`Settlement`. Line rounding, VAT, FX conversion and retained amounts are all
computed here, once per line, through `money.round_money`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from clearline import codes
from clearline.compiler import ir, units
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.money import CONTEXT, Rounding, minor_unit, round_money
from clearline.runtime.inputs.refdata import FxTable
from clearline.runtime.rating import closures
from clearline.runtime.rating.accumulate import Accumulated
from clearline.runtime.rating.engine import (
    Engine,
    Event,
    LineAcc,
    RatedLine,
    RatedPrice,
    RatedRows,
    Reject,
    Routed,
    line_id,
)
from clearline.runtime.rating.products import _ProductRT
from clearline.runtime.settlement import models

if TYPE_CHECKING:
    from clearline.runtime.settlement.adjustment import Adjustment

__all__ = ["KINDS", "LINE_COLUMNS", "Line", "Settlement", "finish"]

TRACE_IDS = 10  # record ids a trace names; `explain --records` lists them all

KINDS = {"I": "invoice", "P": "payout", "R": "retained"}

LINE_COLUMNS = [
    "line_id",
    "kind",
    "party",
    "party_name",
    "contract_id",
    "contract_version",
    "product",
    "clause",
    "period",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "currency",
    "vat_rate",
    "vat_amount",
    "gross_amount",
    "paid_amount",
    "paid_currency",
    "fx_rate",
    "fx_date",
    "records",
    "reverse_charge",
    "trace_id",
]


def _s(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _pct(fraction: Decimal) -> str:
    """0.23 -> '23%'."""
    return format((fraction * 100).normalize(), "f") + "%"


@dataclass(frozen=True, slots=True)
class Line:
    line_id: str
    kind: str
    party: str
    party_name: str
    contract_id: str
    contract_version: int
    product: str
    clause: str
    period: str
    description: str
    quantity: Decimal | None
    unit: str
    unit_price: Decimal | None
    amount: Decimal
    currency: str
    vat_rate: Decimal | None = None
    vat_amount: Decimal | None = None
    gross_amount: Decimal | None = None
    paid_amount: Decimal | None = None
    paid_currency: str = ""
    fx_rate: Decimal | None = None
    fx_date: str = ""
    records: int = 0
    reverse_charge: bool = False

    def row(self) -> dict[str, str]:
        return {
            "line_id": self.line_id,
            "kind": self.kind,
            "party": self.party,
            "party_name": self.party_name,
            "contract_id": self.contract_id,
            "contract_version": str(self.contract_version),
            "product": self.product,
            "clause": self.clause,
            "period": self.period,
            "description": self.description,
            "quantity": _s(self.quantity),
            "unit": self.unit,
            "unit_price": _s(self.unit_price),
            "amount": _s(self.amount),
            "currency": self.currency,
            "vat_rate": _pct(self.vat_rate) if self.vat_rate is not None else "",
            "vat_amount": _s(self.vat_amount),
            "gross_amount": _s(self.gross_amount),
            "paid_amount": _s(self.paid_amount),
            "paid_currency": self.paid_currency,
            "fx_rate": _s(self.fx_rate),
            "fx_date": self.fx_date,
            "records": str(self.records),
            "reverse_charge": "yes" if self.reverse_charge else "",
            "trace_id": self.line_id,
        }


# a subscriber's events: their record ids, the (line id, clause) of each line they fed, days
Lifecycle = tuple[list[str], tuple[tuple[str, str], ...], str]


@dataclass(slots=True)
class Settlement:
    period: str
    plans: list[ir.ContractPlan]
    lines: list[Line]
    traces: list[dict[str, Any]]
    read: int
    rated: int
    rejects: list[Reject]
    unmatched: list[Reject]
    conservation: list[dict[str, Any]]
    # the rated-records rows of subscription events, made as they are written
    lifecycle: list[Lifecycle] = field(default_factory=list)
    # records of other periods set aside for them (`--out-of-period route`), in read order
    routed: list[Routed] = field(default_factory=list)
    # the engine's exact sums of usage lines and its subscription events, before the period
    # closed: what the ledger keeps to re-settle the period with late records (clearline.ledger)
    partials: Accumulated | None = None
    # with the ledger's prior (a closed period settled again): new total minus issued, per line
    adjustments: list[Adjustment] = field(default_factory=list)

    def lifecycle_rows(self, batch: int = 10_000) -> Iterator[RatedRows]:
        """The rated-records rows of the subscription events, a batch at a time: per
        subscriber, each event's id with each line it fed (or none, when inactive)."""
        lines: dict[tuple[str, str], RatedLine] = {}
        prices: dict[str, RatedPrice] = {}
        out = RatedRows()
        for ids, touched, days in self.lifecycle:
            price = prices.get(days) or prices.setdefault(days, RatedPrice(days, ""))
            parts = [lines.get(t) or lines.setdefault(t, RatedLine(*t)) for t in touched]
            for rid in ids:
                for line in parts:
                    out.add(rid, line, price)
            if len(out) >= batch:
                yield out
                out = RatedRows()
        if len(out):
            yield out

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.conservation)

    def invoice_totals(self) -> list[dict[str, str]]:
        """One invoice per customer and period, every contract on it: totals per VAT rate."""
        totals: dict[tuple[str, str, str, str, str], list[Decimal]] = {}
        for ln in self.lines:
            if ln.kind != "invoice":
                continue
            rate = _pct(ln.vat_rate) if ln.vat_rate is not None else ""
            key = (ln.party, ln.period, ln.currency, rate, "yes" if ln.reverse_charge else "")
            t = totals.setdefault(key, [Decimal(0), Decimal(0), Decimal(0), Decimal(0)])
            t[0] += ln.amount
            t[1] += ln.vat_amount if ln.vat_amount is not None else Decimal(0)
            t[2] += ln.gross_amount if ln.gross_amount is not None else ln.amount
            t[3] += 1
        return [
            {
                "customer": c,
                "period": p,
                "currency": cur,
                "vat_rate": rate,
                "reverse_charge": rc,
                "net": _s(t[0]),
                "vat": _s(t[1]),
                "gross": _s(t[2]),
                "lines": str(t[3]),
            }
            for (c, p, cur, rate, rc), t in sorted(totals.items())
        ]


class _Finisher:
    def __init__(self, engine: Engine, fx: FxTable | None) -> None:
        self.engine = engine
        self.fx = fx
        self.acc = engine.acc
        self.rt = {(p.ci, p.pi): p for p in engine.products}
        # subscription line -> the smallest event record ids (for the trace), never all of them
        self.record_ids: dict[str, list[str]] = {}
        self.lifecycle: list[Lifecycle] = []
        self.problems: list[Diagnostic] = []

    # subscriptions ------------------------------------------------------------------
    def subscriptions(self) -> None:
        for (ci, pi), by_customer in sorted(self.acc.events.items()):
            p = self.rt[(ci, pi)]
            for customer in sorted(by_customer):
                events = sorted(by_customer[customer], key=lambda e: (e.timestamp, e.record_id))
                days = self.active_days(p, events)
                p.active_days[customer] = days
                self.subscriber(p, customer, events, days)

    def active_days(self, p: _ProductRT, events: list[Event]) -> int:
        tz = p.period.start.tzinfo
        start = max(p.period.first_day, p.effective_from.date())
        end = min(p.period.end_day, p.effective_until.date())
        intervals: list[tuple[dt.date, dt.date]] = []
        since: dt.date | None = None
        for e in events:
            day = e.timestamp.astimezone(tz).date()
            if e.starts and since is None:
                since = day
            elif not e.starts and since is not None:
                intervals.append((since, day))
                since = None
        if since is not None:
            intervals.append((since, dt.date.max))
        return sum(max(0, (min(b, end) - max(a, start)).days) for a, b in intervals)

    def subscriber(self, p: _ProductRT, customer: str, events: list[Event], days: int) -> None:
        ids = [e.record_id for e in events]
        if days == 0:
            self.lifecycle.append((ids, (("", ""),), "0"))
            return
        unit = closures.Unit(Decimal(days), None, False, days, p.period.days)
        net = Decimal(0)
        gross = Decimal(0)
        touched: list[tuple[str, str]] = []
        paid = Decimal(0)
        paid_to: dict[str, Decimal] = {}  # what the pay rules so far paid each party
        for rule in p.charges + p.payouts:
            unit.net, unit.gross = net, gross
            unit.payouts = dict(paid_to) if paid_to else None
            if rule.line_level:
                # a tiered share: priced once from the line's summed net when it closes
                amount = Decimal(0)
            else:
                amount = rule.fn(unit)
                if rule.record_rounding is not None:
                    amount = round_money(amount, rule.record_rounding)
                if rule.kind == "I" and rule.vat_included:
                    # the price includes VAT: the subscriber's line is its rating unit, so its net
                    # is extracted and rounded with the line, and VAT is what was paid less it
                    paid = amount
                    assert rule.vat is not None  # `included` is a VAT mode: the rule has a rate
                    amount = round_money(CONTEXT.divide(paid, 1 + rule.vat), rule.rate.line_rounding)
                    net += amount
                    gross += paid
                elif rule.kind == "I":
                    # A subscriber's charge line is its own rating unit: line rounding applies now,
                    # and shares of `net` see the rounded line, as the invoice shows it.
                    amount = round_money(amount, rule.rate.line_rounding)
                    net += amount
                    vat = self.vat(amount, rule.vat, rule.rate.line_rounding)
                    gross += amount + (vat or 0)
            party = customer if rule.kind == "I" else rule.party
            if rule.kind == "P" and not rule.line_level:
                paid_to[party] = paid_to.get(party, Decimal(0)) + amount
            key = (
                rule.kind,
                p.contract.id,
                str(p.contract.version),
                p.product.name,
                rule.plan.clause.label,
                str(rule.index),
                party,
                "",
            )
            acc = self.acc.lines.get(key)
            if acc is None:
                acc = self.acc.lines[key] = LineAcc(line_id(rule.kind, key), key)
            snapshot = closures.Unit(unit.quantity, None, False, days, p.period.days, unit.net, unit.gross)
            snapshot.payouts = unit.payouts
            acc.add(customer, snapshot, amount)
            if rule.kind == "I" and rule.vat_included and not rule.line_level:
                acc.gross += paid
            acc.records += len(ids) - 1
            if rule.line_level:
                acc.net_base += unit.net
                acc.gross_base += unit.gross
            kept = self.record_ids.setdefault(acc.line_id, [])
            kept[:] = heapq.nsmallest(TRACE_IDS, [*kept, *ids])
            touched.append((acc.line_id, rule.plan.clause.label))
        self.lifecycle.append((ids, tuple(touched), str(days)))

    @staticmethod
    def vat(amount: Decimal, rate: Decimal | None, rounding: Rounding) -> Decimal | None:
        if rate is None:
            return None
        return round_money(CONTEXT.multiply(amount, rate), rounding)

    # lines --------------------------------------------------------------------------
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
            models.billed_shares,
            models.waterfalls,
            models.splits,
            models.withholdings,
        ):
            if model is models.withholdings:
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
        unit_price = _unit_price(rate.expr, acc)
        if subscription and rule.kind == "I":
            quantity, unit_name = acc.quantity, "day"
            description = f"{product.title}, {acc.quantity} of {p.period.days} days"
        elif subscription:
            quantity, unit_name = Decimal(acc.units), "subscriber"
            description = f"{product.title}: {plan.clause.label}, {acc.units} subscriber(s)"
        elif rate.line_level and rate.expr.op != "tiers" and _aggregate_of(rate.expr) is not None:
            func, name = _aggregate_of(rate.expr) or ("", "")
            quantity, unit_name = acc.aggregates.get((func, name), Decimal(0)), f"{name} ({func})"
            description = (
                f"{product.title}: {plan.clause.label}, the {func} of {name} over {acc.records} record(s)"
            )
        else:
            quantity, unit_name = acc.quantity, units.plural(product.measure)
            what = f", {rate.group_by} {group}" if rate.group_by else ""
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
                shown.append({"unit": key, "arithmetic": text, "amount": _s(value)})
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
        if p.conversions:  # its prices in units of account were converted before rating
            trace["units_of_account"] = [c.trace() for _, c in sorted(p.conversions.items())]
        return line, trace

    def line_amount(self, p: _ProductRT, rule: Any, acc: LineAcc) -> tuple[Decimal, str]:
        """The line's exact amount before line rounding, and how it was reached."""
        rate: ir.RatePlan = rule.rate
        if not rate.line_level:
            return acc.amount, f"sum of {acc.units} unit amount(s) = {_s(acc.amount)}"
        aggregates = dict(acc.aggregates)
        for (func, name), total in acc.aggregates.items():
            if func == "average":
                aggregates[(func, name)] = CONTEXT.divide(total, Decimal(acc.records))
        quantity, free = acc.quantity, ""
        if rate.allowance is not None:
            quantity, free = _chargeable(rate, acc, p.product.measure)
        # a line is not an event: no connect fee is added at line level
        unit = closures.Unit(
            quantity, None, False, 0, p.period.days, acc.net_base, acc.gross_base, aggregates=aggregates
        )
        earlier = self.engine.cumulative.get(acc.line_id)
        if earlier is not None and any(t.over for t in rule.tiers.values()):
            return self.over_periods(p, rule, unit, earlier)
        value, text = closures.explain(rate.expr, rate, p.product.measure, unit, rule.tiers, rule.bundle)
        return value, f"{free}; {text}" if free else text

    def over_periods(
        self, p: _ProductRT, rule: Any, unit: closures.Unit, earlier: tuple[Decimal, Decimal, Decimal]
    ) -> tuple[Decimal, str]:
        """Tiers over the year (or lifetime): the bands see the earlier periods' amounts, and
        this period's line is what the whole comes to less what the earlier part came to."""
        quantity, net, gross = earlier
        days = p.period.days
        before = closures.Unit(quantity, None, False, 0, days, net, gross, aggregates=unit.aggregates)
        whole = closures.Unit(
            unit.quantity + quantity,
            None,
            False,
            0,
            p.period.days,
            unit.net + net,
            unit.gross + gross,
            aggregates=unit.aggregates,
        )
        rate, measure = rule.rate, p.product.measure
        tiers, bundle = rule.tiers, rule.bundle
        all_value, all_text = closures.explain(rate.expr, rate, measure, whole, tiers, bundle)
        before_value, before_text = closures.explain(rate.expr, rate, measure, before, tiers, bundle)
        value = all_value - before_value
        return value, (
            f"over the year so far: {all_text}; less the earlier periods: {before_text}; "
            f"{_s(all_value)} - {_s(before_value)} = {_s(value)}"
        )

    @staticmethod
    def vat_trace(
        rule: Any, amount: Decimal, rate: Decimal, vat: Decimal | None, gross: Decimal | None
    ) -> dict[str, str]:
        if rule.vat_included:
            record = rule.rate.record_rounding
            if record is not None and not rule.rate.line_level:
                where = f"each record's net is its amount / {_s(1 + rate)}, rounded {record.describe()}"
            elif rule.subscription and not rule.rate.line_level:
                where = f"each subscriber's net is its amount / {_s(1 + rate)}, rounded with the line"
            else:
                where = f"the line's net is its total / {_s(1 + rate)}, rounded with the line"
            arithmetic = (
                f"prices include {_pct(rate)} VAT: {where}; "
                f"VAT = paid {_s(gross)} - net {_s(amount)} = {_s(vat)}"
            )
        elif rule.plan.reverse_charge:
            arithmetic = "reverse charge: the customer accounts for VAT (0%)"
        else:
            arithmetic = f"{_s(amount)} × {_pct(rate)} = {_s(CONTEXT.multiply(amount, rate))}"
        return {
            "rate": _pct(rate),
            "base": _s(amount),
            "arithmetic": arithmetic,
            "rounded": _s(vat),
            "gross": _s(gross),
        }

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


def _chargeable(rate: ir.RatePlan, acc: LineAcc, measure: str) -> tuple[Decimal, str]:
    """The line's quantity after its free units, and the arithmetic."""
    free = rate.allowance
    assert free is not None
    unit = units.plural(measure)
    if rate.allowance_per is None:
        left = max(Decimal(0), acc.quantity - free)
        return left, f"{_s(acc.quantity)} {unit} - {_s(free)} free = {_s(left)}"
    count = len(acc.by_value)
    if rate.pooled:
        pool = free * count
        left = max(Decimal(0), acc.quantity - pool)
        return left, (
            f"{_s(acc.quantity)} {unit} - {_s(free)} free x {count} {rate.allowance_per} "
            f"(pooled) = {_s(left)}"
        )
    left = sum((max(Decimal(0), q - free) for q in acc.by_value.values()), Decimal(0))
    return left, (
        f"{_s(left)} {unit} above {_s(free)} free for each of {count} {rate.allowance_per} "
        f"(not pooled), of {_s(acc.quantity)}"
    )


def _aggregate_of(expr: ir.Expr) -> tuple[str, str] | None:
    if expr.op == "agg":
        return (expr.func or "", expr.field or "")
    for arg in expr.args:
        found = _aggregate_of(arg)
        if found:
            return found
    return None


def _unit_price(expr: ir.Expr, acc: LineAcc) -> Decimal | None:
    if expr.op == "per":
        return expr.value
    if expr.op == "table" and acc.samples:
        rows = {s[1].row.key: s[1].row.price for s in acc.samples if s[1].row is not None}
        if len(rows) == 1:
            return next(iter(rows.values()))
    return None


def conservation(lines: list[Line]) -> list[dict[str, Any]]:
    """Per contract, period and currency: net revenue == payouts + retained."""
    totals: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for ln in lines:
        if ln.kind == "withholding":
            continue  # a part of a payout held for the tax authority, not a separate use of revenue
        t = totals.setdefault(
            (ln.contract_id, ln.period, ln.currency),
            # zero in the currency's minor unit: a contract with no invoice shows 0.00, not 0
            dict.fromkeys(("invoice", "payout", "retained"), minor_unit(ln.currency) * 0),
        )
        t[ln.kind] += ln.amount
    out = []
    for (cid, period, currency), t in sorted(totals.items()):
        ok = t["invoice"] == t["payout"] + t["retained"]
        out.append(
            {
                "contract_id": cid,
                "period": period,
                "currency": currency,
                "net_revenue": _s(t["invoice"]),
                "payouts": _s(t["payout"]),
                "retained": _s(t["retained"]),
                "ok": ok,
            }
        )
    return out


def finish(engine: Engine, fx: FxTable | None) -> Settlement:
    """Close the period: every line, its trace, and the conservation check."""
    usage_keys = list(engine.acc.lines)  # closing adds the subscription lines
    result = _Finisher(engine, fx).build()
    result.partials = Accumulated(
        lines={k: engine.acc.lines[k] for k in usage_keys}, events=engine.acc.events
    )
    return result
