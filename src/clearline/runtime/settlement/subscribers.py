"""Subscriptions closed into lines: each subscriber's active days from its start and end
events, and its period priced by the product's rules (a subscriber is one rating unit).

A mixin of `settle._Finisher`, which sets the attributes below.
"""

from __future__ import annotations

import datetime as dt
import heapq
from decimal import Decimal

from clearline.money import CONTEXT, Rounding, round_money
from clearline.runtime.rating import closures
from clearline.runtime.rating.accumulate import Accumulated
from clearline.runtime.rating.engine import (
    Engine,
    Event,
    LineAcc,
    line_id,
)
from clearline.runtime.rating.products import _ProductRT
from clearline.runtime.settlement.lines import (
    Lifecycle,
)

__all__ = ["TRACE_IDS"]

TRACE_IDS = 10  # record ids a trace names; `explain --records` lists them all


class _Subscribers:
    engine: Engine
    acc: Accumulated
    rt: dict[tuple[int, int], _ProductRT]
    record_ids: dict[str, list[str]]
    lifecycle: list[Lifecycle]

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
            unit.payouts = dict(paid_to) if rule.reads_payouts else None
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
            if p.reads_payouts and rule.kind == "P" and not rule.line_level:
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
