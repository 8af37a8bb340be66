"""What the engine accumulates: exact partial sums per output line, the
rated-records rows, rejects, routed records and subscription events.

Input: what the engine's paths add, record by record or run by run.
Output: an `Accumulated` state that `settle.finish` turns into lines and
traces. Every part merges (`Accumulated.merge`), so states from batches rated
apart -- by worker processes -- add up to the state of one engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from clearline.money import SUMS
from clearline.runtime.rating import closures

__all__ = [
    "SAMPLE_SIZE",
    "Accumulated",
    "Event",
    "LineAcc",
    "RatedLine",
    "RatedPrice",
    "RatedRow",
    "RatedRows",
    "Reject",
    "Routed",
    "line_id",
]

SAMPLE_SIZE = 5  # record ids (the smallest) kept per line for traces

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Reject:
    file: str
    line: int
    record_id: str
    field: str
    value: str
    reason: str
    code: str  # codes.REJECT_* (E08xx): the reason's stable name


@dataclass(slots=True)
class LineAcc:
    """Exact partial sums of one output line."""

    line_id: str
    key: tuple[str, ...]
    amount: Decimal = Decimal(0)
    quantity: Decimal = Decimal(0)
    units: int = 0
    records: int = 0
    samples: list[tuple[str, closures.Unit, Decimal]] = field(default_factory=list)
    # per local day, for payouts converted at the rate of each record's date
    by_day: dict[dt.date, Decimal] = field(default_factory=dict)
    gross: Decimal = Decimal(0)  # with `vat N% included`: the sum of gross amounts
    # line-level rules: (function, field) -> running maximum, minimum or sum
    aggregates: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    # allowances `for each FIELD`: the quantity of each distinct value
    by_value: dict[str, Decimal] = field(default_factory=dict)
    # the line part of its rated-records rows (made by the engine)
    rated: RatedLine | None = field(default=None, compare=False, repr=False)
    # line-level shares: the sum of the units' net and gross
    net_base: Decimal = Decimal(0)
    gross_base: Decimal = Decimal(0)

    def aggregate(self, func: str, name: str, value: Decimal) -> None:
        key = (func, name)
        current = self.aggregates.get(key)
        if current is None:
            self.aggregates[key] = value
        elif func in ("maximum", "minimum"):
            # equal values written differently (5 and 5.0): keep the shorter writing, so the
            # result does not depend on which record came first
            better = value > current if func == "maximum" else value < current
            if better or (value == current and _exponent(value) > _exponent(current)):
                self.aggregates[key] = value
        else:  # sum, and average (divided by the record count when the line closes)
            self.aggregates[key] = current + value

    def add(self, record_id: str, unit: closures.Unit, amount: Decimal) -> None:
        self.amount += amount
        self.quantity += unit.quantity
        self.units += 1
        self.records += 1
        samples = self.samples
        if len(samples) < SAMPLE_SIZE or record_id < samples[-1][0]:
            self.sample(record_id, unit, amount)

    def sample(self, record_id: str, unit: closures.Unit, amount: Decimal) -> None:
        """Keep the unit if its id is among the SAMPLE_SIZE smallest (for the trace)."""
        samples = self.samples
        if len(samples) < SAMPLE_SIZE:
            samples.append((record_id, unit, amount))
            samples.sort(key=lambda s: s[0])
        elif record_id < samples[-1][0]:
            samples[-1] = (record_id, unit, amount)
            samples.sort(key=lambda s: s[0])

    def merge(self, other: LineAcc) -> None:
        """Add another partial sum of this line (another engine's, over other records)."""
        self.amount += other.amount
        self.quantity += other.quantity
        self.units += other.units
        self.records += other.records
        self.gross += other.gross
        self.net_base += other.net_base
        self.gross_base += other.gross_base
        for day, value in other.by_day.items():
            self.by_day[day] = self.by_day.get(day, _ZERO) + value
        for value_key, value in other.by_value.items():
            self.by_value[value_key] = self.by_value.get(value_key, _ZERO) + value
        for (func, name), value in other.aggregates.items():
            self.aggregate(func, name, value)
        for record_id, unit, amount in other.samples:
            self.sample(record_id, unit, amount)


@dataclass(slots=True)
class RatedRow:
    record_id: str
    line_id: str
    clause: str
    quantity: str
    amount: str


@dataclass(frozen=True, slots=True, eq=False)
class RatedLine:
    """The line part of rated-records rows: one per line (hashed by identity)."""

    line_id: str
    clause: str


@dataclass(frozen=True, slots=True, eq=False)
class RatedPrice:
    """The price part of rated-records rows: records that rate alike share one."""

    quantity: str
    amount: str


@dataclass(slots=True)
class RatedRows:
    """A batch's rated rows, column by column: record id, line part, price part.
    The writer renders each distinct part once."""

    ids: list[str] = field(default_factory=list)
    lines: list[RatedLine] = field(default_factory=list)
    prices: list[RatedPrice] = field(default_factory=list)

    def add(self, record_id: str, line: RatedLine, price: RatedPrice) -> None:
        self.ids.append(record_id)
        self.lines.append(line)
        self.prices.append(price)

    def __len__(self) -> int:
        return len(self.ids)


def line_id(kind: str, key: tuple[str, ...]) -> str:
    """A stable id from what the line is (not from when it was seen)."""
    digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:10]
    return f"{kind}-{digest}"


@dataclass(slots=True)
class Event:
    timestamp: dt.datetime
    record_id: str
    starts: bool


@dataclass(frozen=True, slots=True)
class Routed:
    """A record of another period, set aside for that period's run (`--out-of-period route`)."""

    file: str
    line: int
    record_id: str
    period: str  # the label of the period it belongs to
    fields: tuple[tuple[str, str], ...]  # the record as read: column, text


@dataclass(slots=True)
class Accumulated:
    read: int = 0
    rated: int = 0
    rejects: list[Reject] = field(default_factory=list)
    unmatched: list[Reject] = field(default_factory=list)
    routed: list[Routed] = field(default_factory=list)
    lines: dict[tuple[str, ...], LineAcc] = field(default_factory=dict)
    # (contract index, product index) -> customer -> lifecycle events
    events: dict[tuple[int, int], dict[str, list[Event]]] = field(default_factory=dict)

    def merge(self, other: Accumulated) -> None:
        """Add the partial results of another engine of the same plans and period.

        Counts, lists and events are concatenated, and each line's sums
        added in money.SUMS, as the engine adds records: exactly, so the
        result does not depend on how the records were split. Duplicate ids
        across the two are not looked for: runtime.parallel gives every
        engine every batch's candidate ids instead (`Engine.admit`).
        """
        with localcontext(SUMS):  # exact, as the engine's own sums (see money.SUMS)
            self._merge(other)

    def _merge(self, other: Accumulated) -> None:
        self.read += other.read
        self.rated += other.rated
        self.rejects += other.rejects
        self.unmatched += other.unmatched
        self.routed += other.routed
        for key, line in other.lines.items():
            mine = self.lines.get(key)
            if mine is None:
                self.lines[key] = line
            else:
                mine.merge(line)
        for product, by_customer in other.events.items():
            mine_events = self.events.setdefault(product, {})
            for customer, events in by_customer.items():
                mine_events.setdefault(customer, []).extend(events)


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0
