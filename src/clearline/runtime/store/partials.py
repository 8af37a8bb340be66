"""Partial sums as ledger rows: an engine's `Accumulated` <-> (contract id, key, JSON).

Input: a settlement's `partials` (the exact sums of its usage lines and its
subscription events, `settle.finish`). Output: rows for the ledger's
`partials` table, and back: the `Accumulated` a late run merges its own
records into (`Accumulated.merge`), so the period is settled again as a
whole. Every decimal is written as its exact text; nothing is rounded.
Subscription events are keyed by contract id and product name, not by the
position of the plan in a run, which another run may order differently.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from clearline.compiler import ir
from clearline.runtime.rating import closures
from clearline.runtime.rating.accumulate import Accumulated, Event, LineAcc

__all__ = ["dump", "load"]

_EVENTS = "events"


def _d(value: Decimal) -> str:
    return str(value)


def _unit(unit: closures.Unit) -> dict[str, Any]:
    return {
        "quantity": _d(unit.quantity),
        "row": ir.encode(unit.row) if unit.row is not None else None,
        "answered": unit.answered,
        "days": unit.days,
        "period_days": unit.period_days,
        "net": _d(unit.net),
        "gross": _d(unit.gross),
        "values": {k: _d(v) for k, v in unit.values.items()} if unit.values is not None else None,
        "aggregates": [[f, n, _d(v)] for (f, n), v in unit.aggregates.items()]
        if unit.aggregates is not None
        else None,
        "key": unit.key,
    }


def _unit_back(data: dict[str, Any]) -> closures.Unit:
    return closures.Unit(
        Decimal(data["quantity"]),
        ir.decode(ir.RowPlan, data["row"]) if data["row"] is not None else None,
        data["answered"],
        data["days"],
        data["period_days"],
        Decimal(data["net"]),
        Decimal(data["gross"]),
        {k: Decimal(v) for k, v in data["values"].items()} if data["values"] is not None else None,
        {(f, n): Decimal(v) for f, n, v in data["aggregates"]} if data["aggregates"] is not None else None,
        data["key"],
    )


def _line(acc: LineAcc) -> dict[str, Any]:
    return {
        "line_id": acc.line_id,
        "amount": _d(acc.amount),
        "quantity": _d(acc.quantity),
        "units": acc.units,
        "records": acc.records,
        "samples": [[rid, _unit(unit), _d(amount)] for rid, unit, amount in acc.samples],
        "by_day": {day.isoformat(): _d(v) for day, v in sorted(acc.by_day.items())},
        "gross": _d(acc.gross),
        "aggregates": [[f, n, _d(v)] for (f, n), v in sorted(acc.aggregates.items())],
        "by_value": {k: _d(v) for k, v in sorted(acc.by_value.items())},
        "net_base": _d(acc.net_base),
        "gross_base": _d(acc.gross_base),
    }


def _line_back(key: tuple[str, ...], data: dict[str, Any]) -> LineAcc:
    return LineAcc(
        line_id=data["line_id"],
        key=key,
        amount=Decimal(data["amount"]),
        quantity=Decimal(data["quantity"]),
        units=data["units"],
        records=data["records"],
        samples=[(rid, _unit_back(unit), Decimal(amount)) for rid, unit, amount in data["samples"]],
        by_day={dt.date.fromisoformat(day): Decimal(v) for day, v in data["by_day"].items()},
        gross=Decimal(data["gross"]),
        aggregates={(f, n): Decimal(v) for f, n, v in data["aggregates"]},
        by_value={k: Decimal(v) for k, v in data["by_value"].items()},
        net_base=Decimal(data["net_base"]),
        gross_base=Decimal(data["gross_base"]),
    )


def dump(partials: Accumulated, plans: Sequence[ir.ContractPlan]) -> list[tuple[str, str, str]]:
    """(contract id, key, sums) rows, sorted by key; the key is JSON text."""
    rows: list[tuple[str, str, str]] = []
    for key, acc in partials.lines.items():
        rows.append((key[1], json.dumps(list(key), ensure_ascii=False), json.dumps(_line(acc))))
    products = [(c.id, p.name) for c in plans for p in c.products]
    for (ci, pi), by_customer in partials.events.items():
        contract_id, product = products[_flat(plans, ci, pi)]
        for customer, events in sorted(by_customer.items()):
            events_key = json.dumps([_EVENTS, contract_id, product, customer], ensure_ascii=False)
            data = [[e.timestamp.isoformat(), e.record_id, e.starts] for e in events]
            rows.append((contract_id, events_key, json.dumps(data, ensure_ascii=False)))
    return sorted(rows, key=lambda r: r[1])


def _flat(plans: Sequence[ir.ContractPlan], ci: int, pi: int) -> int:
    return sum(len(c.products) for c in plans[:ci]) + pi


def load(rows: Iterable[tuple[str, str]], plans: Sequence[ir.ContractPlan]) -> Accumulated:
    """The `Accumulated` of ledger rows (key, sums), for the engine of `plans`; rows of
    several closes of one period (its close and adjustments) add up."""
    index = {(c.id, p.name): (ci, pi) for ci, c in enumerate(plans) for pi, p in enumerate(c.products)}
    total = Accumulated()
    for key_text, data_text in rows:
        key = json.loads(key_text)
        data = json.loads(data_text)
        part = Accumulated()
        if key[0] == _EVENTS:
            _, contract_id, product, customer = key
            place = index.get((contract_id, product))
            if place is None:
                continue  # the product is not in this run's plans: its lines are not settled again
            part.events[place] = {
                customer: [Event(dt.datetime.fromisoformat(ts), rid, starts) for ts, rid, starts in data]
            }
        else:
            line_key = tuple(key)
            part.lines[line_key] = _line_back(line_key, data)
        total.merge(part)
    return total
