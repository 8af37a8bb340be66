"""The laws of settlement, checked on generated inputs (hypothesis).

- rounding is idempotent and stays within its quantum; allocation sums to
  the whole and keeps each share within one quantum of its exact proportion;
- rating increments never bill less than was used, bill whole blocks and are
  monotone; a rule's explanation agrees with the closure that rates it;
- a run's results do not depend on the order of records, on the batch size
  nor on the input format (byte-identical line files, traces, rejects);
- on random contracts and records every conservation check holds, recomputed
  from the written CSV files, and every record read is accounted for;
- a plan survives its JSON form, and runs from it identically.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import random
import tempfile
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clearline
from clearline.compiler import ir
from clearline.money import ROUNDING_MODES, Rounding, allocate, round_money
from clearline.runtime.rating import closures
from clearline.source import Span
from conftest import CONTRACTS, DATA, PERIOD, read_csv

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")
MARCH_START = dt.datetime(2026, 3, 1, tzinfo=WARSAW)
MARCH_END = dt.datetime(2026, 4, 1, tzinfo=WARSAW)
MARCH_SECONDS = int((MARCH_END - MARCH_START).total_seconds())

LINE_FILES = ("invoice_lines", "payout_lines", "retained_lines", "rejects", "unmatched")
# Every file of a run that must not depend on record order or batch size.
ORDER_FREE = (
    *(f"{stem}.csv" for stem in LINE_FILES),
    *(f"{stem}.jsonl" for stem in LINE_FILES),
    "trace.jsonl",
)
MANIFEST_KEYS = ("period", "status", "contracts", "plan_sha256", "counts", "totals", "conservation")

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MODES = sorted(ROUNDING_MODES)
QUANTA = [Decimal(1).scaleb(k) for k in range(-8, 4)]


def stamp(moment: dt.datetime) -> str:
    """An ISO timestamp with the Warsaw offset of that moment."""
    return moment.astimezone(WARSAW).isoformat()


def march(seconds: int) -> str:
    return stamp(MARCH_START + dt.timedelta(seconds=seconds))


@cache
def example_plans() -> tuple[ir.ContractPlan, ...]:
    plans, _ = clearline.load_plans([CONTRACTS / "streamplus.contract", CONTRACTS / "nordcarrier.contract"])
    return tuple(plans)


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def settle(
    plans: Sequence[ir.ContractPlan],
    usage: Sequence[Path],
    out: Path,
    batch_size: int = 10_000,
    fx: Path | None = DATA / "fx-rates.csv",
) -> clearline.Settlement:
    return clearline.run(plans, usage, PERIOD, fx=fx, out=out, batch_size=batch_size)


def order_free_files(out: Path) -> dict[str, bytes]:
    """The named files and any other output (e.g. totals added later), but the
    rated records (in input order by design) and the manifest (it hashes them)."""
    files = {
        p.name: p.read_bytes()
        for p in sorted(out.iterdir())
        if p.is_file() and not p.name.startswith(("rated_records.", "manifest."))
    }
    assert set(ORDER_FREE) <= set(files)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files["manifest.json (order-free keys)"] = json.dumps(
        {k: manifest[k] for k in MANIFEST_KEYS}, sort_keys=True
    ).encode()
    return files


def rated_multiset(out: Path) -> list[str]:
    rows = (out / "rated_records.csv").read_text(encoding="utf-8").splitlines()
    return [rows[0], *sorted(rows[1:])]


# --- money -----------------------------------------------------------------------

amounts = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False
).filter(lambda d: int(d.as_tuple().exponent) >= -20)


@given(value=amounts, mode=st.sampled_from(MODES), quantum=st.sampled_from(QUANTA))
def test_round_money_is_idempotent_and_stays_within_its_quantum(
    value: Decimal, mode: str, quantum: Decimal
) -> None:
    rounding = Rounding(mode, quantum)
    once = round_money(value, rounding)
    twice = round_money(once, rounding)
    assert str(twice) == str(once)
    assert once % quantum == 0
    assert abs(once - value) < quantum
    assert not (once.is_zero() and once.is_signed()), "negative zero"
    if mode == "down":
        assert abs(once) <= abs(value)
    elif mode == "up":
        assert abs(once) >= abs(value)
    else:
        assert abs(once - value) * 2 <= quantum


weights = st.lists(
    st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=8,
).filter(lambda ws: sum(ws) > 0)


@given(units=st.integers(min_value=0, max_value=10**9), ws=weights, quantum=st.sampled_from(QUANTA[2:]))
def test_allocate_sums_to_the_total_and_each_share_is_within_one_quantum(
    units: int, ws: list[Decimal], quantum: Decimal
) -> None:
    total = units * quantum
    shares = allocate(total, ws, quantum)
    assert len(shares) == len(ws)
    assert sum(shares, Decimal(0)) == total
    weight_sum = sum(ws, Decimal(0))
    for share, w in zip(shares, ws, strict=True):
        exact = total * w / weight_sum
        assert share % quantum == 0
        assert abs(share - exact) < quantum


@given(units=st.integers(min_value=-(10**9), max_value=-1), ws=weights, quantum=st.sampled_from(QUANTA[2:]))
def test_allocate_a_negative_total_sums_to_it(units: int, ws: list[Decimal], quantum: Decimal) -> None:
    total = units * quantum
    assert sum(allocate(total, ws, quantum), Decimal(0)) == total


def test_allocate_is_symmetric_in_the_sign_of_the_total() -> None:
    ws = [Decimal(1), Decimal(1), Decimal(2)]
    cent = Decimal("0.01")
    positive = allocate(Decimal("0.02"), ws, cent)
    assert allocate(Decimal("-0.02"), ws, cent) == [-s for s in positive]


# --- rating ----------------------------------------------------------------------

quantities = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)
increments = st.integers(min_value=1, max_value=300)


@given(q=quantities, first=increments, nxt=increments)
def test_bill_quantity_bills_whole_blocks_and_never_less(q: Decimal, first: int, nxt: int) -> None:
    billed = closures.bill_quantity(q, first, nxt)
    assert billed >= q
    if q > first:
        blocks = (billed - first) / nxt
        assert blocks == blocks.to_integral_value() and blocks >= 1
        assert billed - q < nxt  # no block more than needed
    elif q > 0:
        assert billed == first
    else:
        assert billed == 0


@given(a=quantities, b=quantities, first=increments, nxt=increments)
def test_bill_quantity_is_monotone(a: Decimal, b: Decimal, first: int, nxt: int) -> None:
    low, high = sorted((a, b))
    assert closures.bill_quantity(low, first, nxt) <= closures.bill_quantity(high, first, nxt)


@given(q=quantities)
def test_bill_quantity_without_increments_bills_what_was_used(q: Decimal) -> None:
    assert closures.bill_quantity(q, None, None) == q


SPAN = Span("test.contract", 1, 1, 1, 1)
TIER = ir.TierPlan(
    name="volume",
    mode="graduated",
    kind="price",
    unit=None,
    currency="EUR",
    bands=(
        ir.BandPlan(Decimal(0), Decimal(500), Decimal("0.0040")),
        ir.BandPlan(Decimal(500), Decimal(2000), Decimal("0.0030")),
        ir.BandPlan(Decimal(2000), None, Decimal("0.0018")),
    ),
    span=SPAN,
)
TIERS = {TIER.name: TIER}
prices = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False)
fractions = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)
nonzero = st.decimals(min_value="0.01", max_value=100, places=2, allow_nan=False, allow_infinity=False)


def _leaf(op: str, **kw: object) -> ir.Expr:
    return ir.Expr(op, text=f"<{op}>", **kw)  # type: ignore[arg-type]  # keyword fields of Expr


money_leaves = st.one_of(
    prices.map(lambda v: _leaf("money", value=v, currency="EUR")),
    st.tuples(prices, st.sampled_from(["month", "day", "second", "minute", "hour"])).map(
        lambda t: _leaf("per", value=t[0], currency="EUR", unit=t[1])
    ),
    st.just(_leaf("table", table="rates")),
    st.tuples(fractions, st.sampled_from(["net", "gross"])).map(
        lambda t: _leaf("share", value=t[0], base=t[1])
    ),
    st.just(_leaf("field", field="amount", currency="EUR")),
    st.just(_leaf("agg", func="sum", field="volume")),
    st.just(_leaf("tiers", table="volume")),
)


def _extend(children: st.SearchStrategy[ir.Expr]) -> st.SearchStrategy[ir.Expr]:
    number = prices.map(lambda v: _leaf("number", value=v))
    return st.one_of(
        st.tuples(st.sampled_from(["add", "sub", "larger", "smaller"]), children, children).map(
            lambda t: ir.Expr(t[0], (t[1], t[2]), text=f"<{t[0]}>")
        ),
        st.tuples(children, number).map(lambda t: ir.Expr("mul", t, text="<mul>")),
        st.tuples(children, nonzero.map(lambda v: _leaf("number", value=v))).map(
            lambda t: ir.Expr("div", t, text="<div>")
        ),
    )


expressions = st.recursive(money_leaves, _extend, max_leaves=8)

rows = st.builds(
    ir.RowPlan,
    key=st.sampled_from(["48", "4860", "49"]),
    price=prices,
    currency=st.just("EUR"),
    per=st.sampled_from(["second", "minute", "hour"]),
    first=st.none(),
    next=st.none(),
    connect_fee=st.one_of(st.none(), prices),
    span=st.just(SPAN),
)


@st.composite
def rating_units(draw: st.DrawFn) -> closures.Unit:
    period_days = draw(st.integers(min_value=28, max_value=31))
    return closures.Unit(
        quantity=draw(quantities),
        row=draw(rows),
        answered=draw(st.booleans()),
        days=draw(st.integers(min_value=0, max_value=period_days)),
        period_days=period_days,
        net=draw(prices),
        gross=draw(prices),
        values={"amount": draw(prices)},
        aggregates={("sum", "volume"): draw(quantities)},
    )


rate_plans = st.builds(
    ir.RatePlan,
    expr=st.just(_leaf("number", value=Decimal(0))),
    prorated=st.booleans(),
    first=st.none(),
    next=st.none(),
    connect_fee=st.one_of(st.none(), prices),
    record_rounding=st.none(),
    line_rounding=st.just(Rounding("half up", Decimal("0.01"))),
    line_rounding_declared=st.just(True),
    group_by=st.none(),
)


def _subexpressions(expr: ir.Expr) -> list[ir.Expr]:
    return [expr, *(e for arg in expr.args for e in _subexpressions(arg))]


@given(expr=expressions, rate=rate_plans, unit=rating_units())
def test_explain_agrees_with_the_rating_closure(
    expr: ir.Expr, rate: ir.RatePlan, unit: closures.Unit
) -> None:
    for sub in _subexpressions(expr):
        expected = closures.compile_expr(sub, rate, "second", TIERS)(unit)
        value, text = closures.explain(sub, rate, "second", unit, TIERS)
        assert value == expected, (sub.op, text)
        assert format(value, "f") in text or sub.op in {"money", "number"}, (sub.op, text)


# --- order and batch size ------------------------------------------------------------

CDR_COLUMNS = ["record_id", "timestamp", "customer_id", "service", "destination", "quantity", "unit"]
SP_COLUMNS = ["record_id", "timestamp", "customer_id", "product", "event"]


@st.composite
def cdrs(draw: st.DrawFn, count: int) -> list[dict[str, str]]:
    """Valid voice records for contracts/nordcarrier.contract."""
    out = []
    for i in range(count):
        prefix = draw(st.sampled_from(["4860", "48", "49", "4861", "491"]))
        digits = draw(st.text("0123456789", min_size=1, max_size=8))
        seconds = draw(
            st.one_of(
                st.integers(min_value=0, max_value=3600).map(str),
                st.decimals(min_value=0, max_value=600, places=1, allow_nan=False).map(str),
            )
        )
        out.append(
            {
                "record_id": f"CDR-{i:05d}",
                "timestamp": march(draw(st.integers(min_value=0, max_value=MARCH_SECONDS - 1))),
                "customer_id": draw(st.sampled_from(["C-1001", "C-1002", "C-1003"])),
                "service": "voice-out",
                "destination": prefix + digits,
                "quantity": seconds,
                "unit": "s",
            }
        )
    return out


SUBSCRIPTION_START = dt.datetime(2025, 12, 1, tzinfo=WARSAW)


@st.composite
def subscription_events(draw: st.DrawFn, customers: int) -> list[dict[str, str]]:
    """StreamPlus lifecycle events from December to the end of March."""
    span = int((MARCH_END - SUBSCRIPTION_START).total_seconds())
    out = []
    for c in range(customers):
        moments = sorted(draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=4, unique=True)))
        active = False
        for moment in moments:
            # mostly alternating, sometimes a repeated event (which must not matter either)
            starts = draw(st.booleans()) if draw(st.integers(0, 4)) == 0 else not active
            active = starts
            out.append(
                {
                    "record_id": f"SP-{len(out):05d}",
                    "timestamp": stamp(SUBSCRIPTION_START + dt.timedelta(seconds=moment)),
                    "customer_id": f"C-2{c:03d}",
                    "product": "streamplus-premium",
                    "event": "activate" if starts else "deactivate",
                }
            )
    return out


@st.composite
def example_usage(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    calls = draw(cdrs(draw(st.integers(min_value=0, max_value=40))))
    events = draw(subscription_events(draw(st.integers(min_value=0, max_value=8))))
    return calls, events


@SLOW
@given(usage=example_usage(), rng=st.randoms(use_true_random=False))
def test_results_do_not_depend_on_record_order_or_batch_size(
    usage: tuple[list[dict[str, str]], list[dict[str, str]]], rng: random.Random
) -> None:
    calls, events = usage
    plans = example_plans()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        runs: list[Path] = []
        for n, batch_size in enumerate((10_000, 1, 7, 10_000)):
            shuffled_calls, shuffled_events = list(calls), list(events)
            if n:  # the first run reads the records as generated
                rng.shuffle(shuffled_calls)
                rng.shuffle(shuffled_events)
            folder = base / f"in{n}"
            folder.mkdir()
            files = [
                write_csv(folder / "cdrs.csv", CDR_COLUMNS, shuffled_calls),
                write_csv(folder / "subscriptions.csv", SP_COLUMNS, shuffled_events),
            ]
            if n % 2:
                files.reverse()
            result = settle(plans, files, base / f"out{n}", batch_size=batch_size)
            assert result.read == len(calls) + len(events)
            assert not result.rejects and not result.unmatched
            runs.append(base / f"out{n}")
        first = order_free_files(runs[0])
        for other in runs[1:]:
            assert order_free_files(other) == first, other.name
            assert rated_multiset(other) == rated_multiset(runs[0])


def write_jsonl(path: Path, rows: Sequence[dict[str, str]], numbers: frozenset[str]) -> Path:
    """JSON Lines with the `numbers` fields as JSON numbers, digits as written."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            fields = [
                f"{json.dumps(k)}: {v if k in numbers else json.dumps(v, ensure_ascii=False)}"
                for k, v in row.items()
            ]
            handle.write("{" + ", ".join(fields) + "}\n")
    return path


@SLOW
@given(usage=example_usage())
def test_csv_and_json_lines_inputs_settle_identically(
    usage: tuple[list[dict[str, str]], list[dict[str, str]]],
) -> None:
    calls, events = usage
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        as_csv = [
            write_csv(base / "cdrs.csv", CDR_COLUMNS, calls),
            write_csv(base / "subscriptions.csv", SP_COLUMNS, events),
        ]
        as_jsonl = [
            write_jsonl(base / "cdrs.jsonl", calls, frozenset({"quantity"})),
            write_jsonl(base / "subscriptions.jsonl", events, frozenset()),
        ]
        settle(example_plans(), as_csv, base / "csv")
        settle(example_plans(), as_jsonl, base / "jsonl")
        assert order_free_files(base / "csv") == order_free_files(base / "jsonl")
        assert rated_multiset(base / "csv") == rated_multiset(base / "jsonl")


BROKEN = [
    {"quantity": "abc"},  # not a number
    {"quantity": "-5"},  # negative
    {"timestamp": "2026-03-10T10:00:00"},  # no UTC offset
    {"timestamp": "2026-04-02T10:00:00+02:00"},  # after the period
    {"timestamp": "2026-02-27T10:00:00+01:00"},  # before the period
    {"destination": "3312345"},  # no rate for the destination
    {"destination": ""},  # empty rate-table key
    {"service": "sms-out"},  # unmatched
    {"customer_id": ""},  # no customer
    {"record_id": ""},  # no id
    {"timestamp": "yesterday"},  # not a timestamp
]


@SLOW
@given(
    calls=st.integers(min_value=1, max_value=30).flatmap(cdrs),
    broken=st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(BROKEN)), max_size=12),
)
def test_rejects_and_every_file_are_identical_across_batch_sizes(
    calls: list[dict[str, str]], broken: list[tuple[int, dict[str, str]]]
) -> None:
    records = [dict(r) for r in calls]
    for i, change in broken:
        records[i % len(records)].update(change)
    records += [dict(records[i % len(records)]) for i, _ in broken[:2]]  # duplicate ids
    with tempfile.TemporaryDirectory() as tmp:
        usage = write_csv(Path(tmp) / "cdrs.csv", CDR_COLUMNS, records)
        outs = []
        for batch_size in (10_000, 1, 7):
            out = Path(tmp) / f"out{batch_size}"
            result = settle(example_plans(), [usage], out, batch_size=batch_size)
            assert result.read == result.rated + len(result.rejects) + len(result.unmatched) == len(records)
            outs.append(out)
        expected = {p.name: p.read_bytes() for p in sorted(outs[0].iterdir())}
        for out in outs[1:]:
            assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == expected


# --- conservation on random contracts ------------------------------------------------

ROUNDING_WORDS = ["half up", "half even", "down", "up"]


@dataclass(frozen=True)
class RandomContract:
    id: str
    text: str
    currency: str


@st.composite
def percentages(draw: st.DrawFn, count: int) -> list[Decimal]:
    """`count` percentages (up to two decimals) that total at most 100%."""
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=count, max_size=count)))
    top = draw(st.integers(min_value=cuts[-1], max_value=10_000))
    points = [0, *cuts[:-1], top]
    return [Decimal(b - a).scaleb(-2) for a, b in itertools.pairwise(points)]


def pct(value: Decimal) -> str:
    return f"{value.normalize():f}%"


@st.composite
def rounding_rules(draw: st.DrawFn, unit_word: str) -> str:
    lines = []
    if draw(st.booleans()):
        quantum = draw(st.sampled_from(["0.01", "0.001"]))
        lines.append(f"round each {unit_word} {draw(st.sampled_from(ROUNDING_WORDS))} to {quantum}")
    point = draw(st.sampled_from(["each line", "the period total"]))
    lines.append(f"round {point} {draw(st.sampled_from(ROUNDING_WORDS))} to 0.01")
    return "\n      ".join(lines)


@st.composite
def random_contracts(draw: st.DrawFn, index: int) -> RandomContract:
    currency = draw(st.sampled_from(["EUR", "PLN"]))
    partners = draw(st.integers(min_value=1, max_value=3))
    money = st.decimals(min_value=0, max_value=50, places=draw(st.sampled_from([2, 4])), allow_nan=False)
    first, nxt = draw(st.sampled_from([(60, 60), (30, 6), (1, 1), (30, 1)]))
    connect = draw(st.one_of(st.none(), money))
    usage_price = f"{draw(money)} {currency} per minute, increments {first}/{nxt}"
    if connect is not None:
        usage_price += f", connect fee {connect} {currency}"
    vat = f"\n      vat {draw(st.sampled_from(['23', '19', '8']))}%" if draw(st.booleans()) else ""
    fee = draw(money)
    prorated = draw(st.booleans())
    proration = ", prorated by active days" if prorated else ""

    parties = [f'  partner p{i} "Partner {i}" currency EUR' for i in range(1, partners + 1)]
    usage_shares = draw(percentages(partners))
    sub_shares = draw(percentages(partners))
    base = draw(st.sampled_from(["net", "gross"]))
    call_clauses = []
    sub_clauses = []
    conversions = []
    for i in range(1, partners + 1):
        call_clauses.append(
            f"""    clause "3.{i} Calls share p{i}" {{
      pay p{i} {pct(usage_shares[i - 1])} of {base}
      {draw(rounding_rules("record"))}
    }}"""
        )
        share = f"{pct(sub_shares[i - 1])} of net"
        if draw(st.booleans()):
            guarantee = f"{draw(money)} {currency} per subscriber-month"
            share = f"the larger of {share} and {guarantee}{proration}"
        sub_clauses.append(
            f"""    clause "5.{i} Share p{i}" {{
      pay p{i} {share}
      {draw(rounding_rules("subscriber"))}
    }}"""
        )
        if currency == "PLN" and draw(st.booleans()):
            conversions.append(
                f"""    clause "6.{i} Currency p{i}" {{
      pay p{i} in EUR at the rate of the period end, round {draw(st.sampled_from(ROUNDING_WORDS))} to 0.01
    }}"""
            )
    nl = "\n"
    cid = f"RND-{index}"
    call_price = f"""    clause "2.1 Call price" {{
      charge customer {usage_price}
      {draw(rounding_rules("record"))}{vat}
    }}"""
    bands = ""
    if draw(st.booleans()):  # time bands: peak on some days and hours, off-peak otherwise
        zone = draw(st.sampled_from(["Europe/Warsaw", "UTC", "America/New_York"]))
        days = draw(st.sampled_from(["monday to friday", "monday to sunday", "saturday to sunday"]))
        start, end = draw(st.integers(0, 11)), draw(st.integers(12, 24))
        split = "split records at rate changes, increments per part" if draw(st.booleans()) else ""
        bands = f"""  {split}
  time bands in {zone} {{
    peak "Peak" {days} {start:02d}:00 to {end:02d}:00
    off_peak "Off-peak" otherwise
  }}"""
        off_price = f"{draw(money)} {currency} per minute, increments {first}/{nxt}"
        call_price = f"""    clause "2.1 Peak calls" during peak {{
      charge customer {usage_price}
      {draw(rounding_rules("record"))}{vat}
    }}
    clause "2.2 Off-peak calls" during off_peak {{
      charge customer {off_price}
      {draw(rounding_rules("record"))}{vat}
    }}"""
    text = f"""contract {cid} "Random contract {index}" {{
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in {currency}, time zone Europe/Warsaw

  operator op "Operator" currency {currency}
{nl.join(parties)}

{bands}
  usage fields {{
    service text
    product text
    event   text
  }}

  product calls "Calls" {{
    matches service = "voice"
    measured in seconds
    answered when quantity > 0

{call_price}
{nl.join(call_clauses)}
  }}

  product sub "Subscription" {{
    matches product = "sub"
    subscription starts when event = "activate", ends when event = "deactivate"

    clause "4.1 Fee" {{
      charge customer {fee} {currency} per month{proration}
      {draw(rounding_rules("subscriber"))}{vat}
    }}
{nl.join(sub_clauses)}
{nl.join(conversions)}
  }}
}}
"""
    return RandomContract(cid, text, currency)


USAGE_COLUMNS = ["record_id", "timestamp", "customer_id", "service", "product", "event", "quantity"]


@st.composite
def mixed_records(draw: st.DrawFn) -> list[dict[str, str]]:
    """Calls and subscription events, a few of them broken or unmatched."""
    out: list[dict[str, str]] = []
    customers = st.sampled_from([f"K-{i}" for i in range(6)])
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        out.append(
            {
                "timestamp": march(draw(st.integers(0, MARCH_SECONDS - 1))),
                "customer_id": draw(customers),
                "service": "voice",
                "product": "",
                "event": "",
                "quantity": str(
                    draw(st.decimals(min_value=0, max_value=900, places=draw(st.integers(0, 2))))
                ),
            }
        )
    span = int((MARCH_END - SUBSCRIPTION_START).total_seconds())
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        out.append(
            {
                "timestamp": stamp(SUBSCRIPTION_START + dt.timedelta(seconds=draw(st.integers(0, span - 1)))),
                "customer_id": draw(customers),
                "service": "",
                "product": "sub",
                "event": draw(st.sampled_from(["activate", "deactivate"])),
                "quantity": "",
            }
        )
    for change in draw(st.lists(st.sampled_from(BROKEN[:5] + BROKEN[7:]), max_size=5)):
        record = dict(draw(st.sampled_from(out))) if out else {"service": "voice", "quantity": "1"}
        record.setdefault("timestamp", march(3600))
        record.setdefault("customer_id", "K-0")
        record.update(change)
        out.append(record)
    for i, record in enumerate(out):
        if record.get("record_id") != "":  # a record broken on purpose keeps its empty id
            record["record_id"] = f"R-{i:04d}"
    return out


def _sum(rows: list[dict[str, str]], contract_id: str) -> Decimal:
    return sum((Decimal(r["amount"]) for r in rows if r["contract_id"] == contract_id), Decimal(0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    contracts=st.integers(min_value=1, max_value=2).flatmap(
        lambda n: st.tuples(*(random_contracts(i) for i in range(1, n + 1)))
    ),
    records=mixed_records(),
)
def test_random_contracts_conserve_money_and_account_for_every_record(
    contracts: tuple[RandomContract, ...], records: list[dict[str, str]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        paths = []
        for c in contracts:
            path = base / f"{c.id}.contract"
            path.write_text(c.text, encoding="utf-8")
            paths.append(path)
        plans, _ = clearline.load_plans(paths)
        for p in plans:  # every generated plan survives its JSON form too
            assert ir.from_json(json.loads(json.dumps(ir.to_json(p)))) == p
        usage = write_csv(base / "usage.csv", USAGE_COLUMNS, records)
        out = base / "out"
        result = settle(plans, [usage], out)

        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert result.ok and manifest["conservation"]["ok"] is True
        assert all(check["ok"] for check in manifest["conservation"]["checks"])
        invoices = read_csv(out / "invoice_lines.csv")
        payouts = read_csv(out / "payout_lines.csv")
        retained = read_csv(out / "retained_lines.csv")
        for c in contracts:
            assert _sum(invoices, c.id) == _sum(payouts, c.id) + _sum(retained, c.id), c.text
            for row in invoices + payouts:
                if row["contract_id"] == c.id:
                    assert row["currency"] == c.currency
                    assert Decimal(row["amount"]).as_tuple().exponent == -2, row
            for row in payouts:
                if row["paid_amount"]:
                    assert row["paid_currency"] == "EUR" and Decimal(row["paid_amount"]) >= 0
            for row in invoices:
                if row["vat_amount"]:
                    gross = Decimal(row["amount"]) + Decimal(row["vat_amount"])
                    assert Decimal(row["gross_amount"]) == gross

        counts = manifest["counts"]
        assert counts["read"] == len(records)
        assert counts["read"] == counts["rated"] + counts["rejected"] + counts["unmatched"]
        assert counts["reconciled"] is True
        rejected = read_csv(out / "rejects.csv")
        unmatched = read_csv(out / "unmatched.csv")
        assert len(rejected) == counts["rejected"] and len(unmatched) == counts["unmatched"]
        assert all(r["reason"] and r["line"] for r in rejected + unmatched)
        rated_ids = {r["record_id"] for r in read_csv(out / "rated_records.csv")}
        assert len(rated_ids) == counts["rated"]
        lines_read = {str(n) for n in range(2, len(records) + 2)}
        assert {r["line"] for r in rejected} | {r["line"] for r in unmatched} <= lines_read
        assert not rated_ids & {r["record_id"] for r in rejected + unmatched if r["record_id"]}

        # the same records in batches of 3 and two worker processes: the same bytes
        result = clearline.run(
            plans, [usage], PERIOD, fx=DATA / "fx-rates.csv", out=base / "b3", batch_size=3, workers=2
        )
        assert order_free_files(base / "b3") == order_free_files(out)
        assert (base / "b3" / "rated_records.csv").read_bytes() == (out / "rated_records.csv").read_bytes()
        # in the opposite order (in batches of 5): the same lines and traces, and the same
        # records rejected for the same reasons (on other lines)
        write_csv(usage, USAGE_COLUMNS, records[::-1])
        settle(plans, [usage], base / "reversed", batch_size=5)
        for name in ("invoice_lines.csv", "payout_lines.csv", "retained_lines.csv", "trace.jsonl"):
            assert (base / "reversed" / name).read_bytes() == (out / name).read_bytes(), name
        for name in ("rejects.csv", "unmatched.csv"):
            again = read_csv(base / "reversed" / name)
            assert sorted((r["record_id"], r["field"], r["value"], r["reason"]) for r in again) == sorted(
                (r["record_id"], r["field"], r["value"], r["reason"]) for r in read_csv(out / name)
            )


# --- the plan's JSON form ------------------------------------------------------------


@pytest.mark.parametrize("name", ["streamplus", "nordcarrier"])
def test_plan_round_trips_through_json(name: str) -> None:
    plan = clearline.plan(clearline.read_source(CONTRACTS / f"{name}.contract"))
    assert ir.from_json(ir.to_json(plan)) == plan
    text = json.dumps(ir.to_json(plan), indent=2, ensure_ascii=False)
    assert ir.from_json(json.loads(text)) == plan
    assert ir.plan_hash(ir.from_json(json.loads(text))) == ir.plan_hash(plan)


def test_a_run_from_reloaded_plans_is_byte_identical(tmp_path: Path) -> None:
    plans = example_plans()
    reloaded = [ir.from_json(json.loads(json.dumps(ir.to_json(p)))) for p in plans]
    usage = [DATA / "streamplus-subscriptions.csv", DATA / "nordcarrier-cdrs.csv"]
    settle(plans, usage, tmp_path / "text")
    settle(reloaded, usage, tmp_path / "json")
    names = sorted(p.name for p in (tmp_path / "text").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "json").iterdir())
    assert "payout_lines.csv" in names
    for name in names:
        assert (tmp_path / "text" / name).read_bytes() == (tmp_path / "json" / name).read_bytes(), name


# --- found while checking the laws -------------------------------------------------

AGGREGATE_CONTRACT = """\
contract AG-1 "Aggregates" {{
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone Europe/Warsaw
  operator op "Operator" currency EUR
  usage fields {{
    service text
    sims    decimal
  }}
  product iot "IoT" {{
    matches service = "data"
    clause "2.1 SIM fee" {{
      charge customer 0.80 EUR per month times the {func} of sims
      round each line half up to 0.01
    }}
  }}
}}
"""


@pytest.mark.parametrize("func", ["maximum", "minimum"])
def test_equal_extremes_written_differently_do_not_depend_on_record_order(func: str, tmp_path: Path) -> None:
    (tmp_path / "c.contract").write_text(AGGREGATE_CONTRACT.format(func=func), encoding="utf-8")
    plans, _ = clearline.load_plans([tmp_path / "c.contract"])
    columns = ["record_id", "timestamp", "customer_id", "service", "sims"]
    records = [
        {"record_id": "A1", "timestamp": march(3600), "customer_id": "B-1", "service": "data", "sims": "5.0"},
        {"record_id": "A2", "timestamp": march(7200), "customer_id": "B-1", "service": "data", "sims": "5"},
    ]
    outs = []
    for n, ordered in enumerate((records, records[::-1])):
        usage = write_csv(tmp_path / f"u{n}.csv", columns, ordered)
        settle(plans, [usage], tmp_path / f"out{n}", fx=None)
        outs.append(tmp_path / f"out{n}")
    for name in ("invoice_lines.csv", "trace.jsonl"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
