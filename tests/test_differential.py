"""The reference engine is the oracle: every other way of settling writes the
same run folder, byte for byte -- lines, rated records, traces, rejects,
unmatched records, manifest.

The ways, each against the reference path (`Engine(fast=False)`: every record
through every check in order):

- "fast paths": the engine as it runs (memoised prices, runs of records a
  column at a time);
- "partitions": two worker processes over partitions of about one record
  (runtime.parallel, runtime.inputs.partitions), in batches of 3;
- "dask": a LocalCluster of two worker processes (runtime.cluster, the same
  map and reduce per partition), about 8 partitions (none under 64 bytes),
  batches of 3;
- "columnar": `engine="columnar"` (runtime.rating.columnar: polars reads plain
  CSV blocks, ordinary records rated a block at a time), in blocks of about
  300 bytes, so that blocks polars reads and blocks the reader reads alternate
  and the records of a block are a few;
- "columnar workers": the columnar engine in two worker processes, over
  partitions of about one record (each worker rates its own by columns).

Inputs: the
grammar-directed random contracts and records of tests/test_properties.py,
and the bundled contracts over their own data and over generated usage of
each shape (benchmarks/generate.py).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clearline
from clearline.compiler import ir
from clearline.runtime import parallel
from clearline.runtime.rating import engine as engine_module
from clearline.runtime.rating.engine import Engine
from conftest import CONTRACTS, DATA, PERIOD, read_csv
from test_properties import USAGE_COLUMNS, RandomContract, mixed_records, random_contracts, write_csv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import generate  # a script of benchmarks/, not a package

Settle = Callable[[Sequence[ir.ContractPlan], Sequence[Path], Path, dict[str, object]], None]


@contextmanager
def reference_engine() -> Iterator[None]:
    """The engine made the reference path for a moment (as benchmarks/check.py): the
    engine module's class, which `clearline.run` imports when it runs."""
    engine = engine_module.Engine
    engine_module.Engine = functools.partial(Engine, fast=False)
    try:
        yield
    finally:
        engine_module.Engine = engine


@contextmanager
def small_partitions() -> Iterator[None]:
    """Partitions of about one record: every cut the planner can make is made."""
    saved = parallel.MIN_PARTITION, parallel.PER_WORKER
    parallel.MIN_PARTITION, parallel.PER_WORKER = 64, 100_000
    try:
        yield
    finally:
        parallel.MIN_PARTITION, parallel.PER_WORKER = saved


def reference(
    plans: Sequence[ir.ContractPlan], usage: Sequence[Path], out: Path, options: dict[str, object]
) -> None:
    with reference_engine():
        clearline.run(plans, usage, PERIOD, out=out, **options)


def fast_paths(
    plans: Sequence[ir.ContractPlan], usage: Sequence[Path], out: Path, options: dict[str, object]
) -> None:
    clearline.run(plans, usage, PERIOD, out=out, **options)


def partitions(
    plans: Sequence[ir.ContractPlan], usage: Sequence[Path], out: Path, options: dict[str, object]
) -> None:
    with small_partitions():
        clearline.run(plans, usage, PERIOD, out=out, **{**options, "batch_size": 3, "workers": 2})


_clusters: list[object] = []  # the module's LocalCluster, connected once (see `local_cluster`)


@pytest.fixture(scope="module", autouse=True)
def local_cluster() -> Iterator[None]:
    """A LocalCluster of two worker processes for the "dask" way, when Dask is installed."""
    try:
        import distributed  # noqa: F401

        from clearline.runtime.cluster import connect
    except ImportError:
        yield
        return
    with connect("local:2") as cluster:
        _clusters.append(cluster)
        yield
        _clusters.clear()


def dask(
    plans: Sequence[ir.ContractPlan], usage: Sequence[Path], out: Path, options: dict[str, object]
) -> None:
    if not _clusters:
        pytest.skip("the cluster extra (dask, distributed) is not installed")
    size = sum(path.stat().st_size for path in usage) // 8
    options = {**options, "batch_size": 3, "cluster": _clusters[0], "partition_bytes": max(64, size)}
    clearline.run(plans, usage, PERIOD, out=out, **options)  # type: ignore[arg-type]


def columnar(
    plans: Sequence[ir.ContractPlan], usage: Sequence[Path], out: Path, options: dict[str, object]
) -> None:
    pytest.importorskip("polars", reason="the columnar extra (polars) is not installed")
    from clearline.runtime.rating import columnar as module

    saved = module.BLOCK_BYTES
    module.BLOCK_BYTES = 300
    try:
        clearline.run(plans, usage, PERIOD, out=out, **{**options, "engine": "columnar"})  # type: ignore[arg-type]
    finally:
        module.BLOCK_BYTES = saved


def columnar_workers(
    plans: Sequence[ir.ContractPlan], usage: Sequence[Path], out: Path, options: dict[str, object]
) -> None:
    """`engine="columnar"` with two workers over partitions of about one record, each
    rating its partitions by columns in blocks of about 300 bytes."""
    pytest.importorskip("polars", reason="the columnar extra (polars) is not installed")
    from clearline.runtime.rating import columnar as module

    saved = module.BLOCK_BYTES
    module.BLOCK_BYTES = 300
    try:
        with small_partitions():
            options = {**options, "engine": "columnar", "batch_size": 3, "workers": 2}
            clearline.run(plans, usage, PERIOD, out=out, **options)  # type: ignore[arg-type]
    finally:
        module.BLOCK_BYTES = saved


WAYS: dict[str, Settle] = {
    "fast paths": fast_paths,
    "partitions": partitions,
    "dask": dask,
    "columnar": columnar,
    "columnar workers": columnar_workers,
}


def folder(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def differences(expected: dict[str, bytes], got: dict[str, bytes]) -> list[str]:
    return [n for n in sorted(expected.keys() | got.keys()) if expected.get(n) != got.get(n)]


def agree(plans: Sequence[ir.ContractPlan], usage: Sequence[Path], base: Path, **options: object) -> None:
    reference(plans, usage, base / "reference", options)
    expected = folder(base / "reference")
    assert {"manifest.json", "rated_records.csv", "trace.jsonl", "rejects.csv"} <= expected.keys()
    for name, way in WAYS.items():
        way(plans, usage, base / name, options)
        assert differences(expected, folder(base / name)) == [], name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    contracts=st.integers(min_value=1, max_value=2).flatmap(
        lambda n: st.tuples(*(random_contracts(i) for i in range(1, n + 1)))
    ),
    records=mixed_records(),
)
def test_random_contracts_settle_alike_every_way(
    contracts: tuple[RandomContract, ...], records: list[dict[str, str]]
) -> None:
    """Calls priced per minute with increments and connect fees, per-record and per-line
    rounding, VAT, shares of net or gross, subscriptions with guarantees and proration,
    conversions; broken and unmatched records and duplicates among them."""
    with tempfile.TemporaryDirectory() as tmp:
        plans, usage = random_inputs(Path(tmp), contracts, records)
        agree(plans, [usage], Path(tmp), fx=DATA / "fx-rates.csv")


def random_inputs(
    base: Path, contracts: Sequence[RandomContract], records: list[dict[str, str]]
) -> tuple[list[ir.ContractPlan], Path]:
    """The plans of random contracts written to `base`, and their records as a CSV file."""
    paths = []
    for c in contracts:
        path = base / f"{c.id}.contract"
        path.write_text(c.text, encoding="utf-8")
        paths.append(path)
    plans, _ = clearline.load_plans(paths)
    return plans, write_csv(base / "usage.csv", USAGE_COLUMNS, records)


SHAPES = {
    "nordcarrier": (generate.cdrs, "nordcarrier-cdrs.csv"),
    "fleetiot": (generate.iot, "fleetiot-usage.csv"),
    "streamplus": (generate.events, "streamplus-subscriptions.csv"),
    "gamestudio": (generate.purchases, "dcb-purchases.csv"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_bundled_contracts_settle_alike_every_way(shape: str, tmp_path: Path) -> None:
    """Each bundled contract over its own data and 1,500 generated records of its shape
    (FleetIoT's SIM fee on a maximum and graduated tiers, GameStudio's VAT-included
    purchases and waterfall, StreamPlus's subscriptions, NordCarrier's prefixes)."""
    make, bundled = SHAPES[shape]
    generated = tmp_path / f"{shape}.csv"
    make(generated, 1500, 7)
    plans, _ = clearline.load_plans([CONTRACTS / f"{shape}.contract"])
    agree(plans, [DATA / bundled, generated], tmp_path, fx=DATA / "fx-rates.csv")


def test_a_ledger_run_settles_alike_every_way(ledger_url: str, tmp_path: Path) -> None:
    """A late March run against the ledger (`prior`): its settled ids and refund
    look-ups reach every partition and every Dask worker. March closed M-1..M-4 of
    10,000.00 (C2, C1, C2, C1). The late file: R-1 refunds M-2 (-5,000.00); R-2 refunds
    M-9, never settled; R-3 refunds M-2 again; M-3 re-sent (a duplicate of the ledger's);
    L-1..L-6 of 100.00 with L-2 read twice (a duplicate within the run, across
    partitions of about one record). Rejects: R-2, R-3, M-3, the second L-2; the
    period's net 40,000.00 - 5,000.00 + 600.00 = 35,600.00."""
    from clearline.ledger import open_ledger
    from clearline.ledger.closing import close_run
    from clearline.ledger.resettle import prior_for
    from test_ledger_refunds import REFUNDS, _file

    (tmp_path / "refunds.contract").write_text(REFUNDS, encoding="utf-8")
    plans, _ = clearline.load_plans([tmp_path / "refunds.contract"])
    march = [f"M-{i},2026-03-0{i}T10:00:00+01:00,C{(i % 2) + 1},sale,10000.00," for i in range(1, 5)]
    march_file = _file(tmp_path / "march.csv", march)
    clearline.run(plans, [march_file], PERIOD, out=tmp_path / "march")
    with open_ledger(ledger_url) as ledger:
        close_run(tmp_path / "march", ledger)
    sales = [f"L-{i},2026-03-1{i}T10:00:00+01:00,C1,sale,100.00," for i in range(1, 7)]
    late = _file(
        tmp_path / "late.csv",
        [
            sales[0],
            "R-1,2026-03-20T10:00:00+01:00,C1,sale,-5000.00,M-2",
            sales[1],
            "R-2,2026-03-21T10:00:00+01:00,C1,sale,-10.00,M-9",
            *sales[2:4],
            "M-3,2026-03-03T10:00:00+01:00,C2,sale,10000.00,",
            "R-3,2026-03-22T10:00:00+01:00,C1,sale,-5000.00,M-2",
            *sales[4:],
            sales[1],
        ],
    )
    with open_ledger(ledger_url) as ledger:
        prior = prior_for(ledger, plans, [late], PERIOD)
    agree(plans, [late], tmp_path / "late", prior=prior)
    rejects = [
        (r["record_id"], r["reason"]) for r in read_csv(tmp_path / "late" / "reference" / "rejects.csv")
    ]
    assert [rid for rid, _ in rejects] == ["R-2", "M-3", "R-3", "L-2"]
    assert rejects[0][1] == "refunds M-9, which no closed period settled"
    assert rejects[1][1].startswith("duplicate record id: already settled in 2026-03, document INV/2026/03/")
    assert rejects[2][1] == "refunds M-2, already refunded by R-1 in this run"
    assert rejects[3][1].startswith("duplicate record id: first read at ")
    net = {r["party"]: r["amount"] for r in read_csv(tmp_path / "late" / "reference" / "invoice_lines.csv")}
    assert sum(map(Decimal, net.values())) == Decimal("35600.00")


def test_new_constructs_settle_alike_every_way(tmp_path: Path) -> None:
    """This session's constructs, each on 600 generated records, every way: prices in a unit
    of account (XDR converted at the period end), a unit of the contract's own (seats,
    free seats), a share of the billed net beside a discount, a share of what is left after
    another payout, and a call split at a version's start."""
    from test_language import contract
    from test_money import AMENDMENT, BILLED, CALLS_CONTRACT, CHAINED, IOT, SEATS

    texts = {
        "iot": contract("IOT-1", "EUR", IOT),
        "seats": contract("OF-1", "EUR", SEATS.replace("PLN", "EUR")),
        "billed": contract("AP-1", "EUR", BILLED.replace("PLN", "EUR")),
        "chained": contract("GS-1", "EUR", CHAINED.replace("PLN", "EUR")),
        "calls": CALLS_CONTRACT.replace("SPLIT", "split records at rate changes, increments per part"),
        "calls-2": AMENDMENT,
    }
    paths = []
    for name, text in texts.items():
        (tmp_path / f"{name}.contract").write_text(text, encoding="utf-8")
        paths.append(tmp_path / f"{name}.contract")
    plans, _ = clearline.load_plans(paths)
    services = ["voice", "office", "app", "game", "call"]
    rows = ["record_id,timestamp,customer_id,service,quantity,amount"]
    for i in range(600):
        day, minute = 1 + i % 28, (i * 7) % 60
        when = f"2026-03-{day:02d}T10:{minute:02d}:00+00:00"
        if i % 9 == 0:  # calls from before midnight into version 2's first day
            when = f"2026-03-14T23:{minute:02d}:00+00:00"
        rows.append(f"R{i},{when},C{i % 4},{services[i % 5]},{(i * 37) % 1900},{(i % 13) + 1}.{i % 10}0")
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(rows) + "\n", encoding="utf-8")
    fx = tmp_path / "fx.csv"
    fx.write_text("date,from,to,rate\n2026-03-31,XDR,EUR,1.1520\n", encoding="utf-8")
    agree(plans, [usage], tmp_path / "runs", fx=fx)


def test_time_bands_settle_alike_every_way(tmp_path: Path) -> None:
    """Calls priced by time band (peak Monday to Friday 08:00-20:00 in Warsaw, off-peak
    otherwise), split at each band's end and at version 2's start, with a payout share of
    each part and the agent's share of what the carrier leaves (`the remainder after`), over
    600 records around 08:00 and 20:00, on weekdays and the weekend and
    across the amendment; and the same unsplit. The fast paths and the columnar engine
    hand banded products to the reference path; workers and the cluster rate them alike."""
    from test_time_bands import BANDS, SPLIT

    amendment = """amendment of VB-1 from 2026-03-17 "Cheaper peak" {
  version 2
  replace clause "1.1 Peak calls" during peak {
    charge customer 0.05 EUR per minute, increments 30/6
    round each line half up to 0.01
  }
}
"""
    rows = ["record_id,timestamp,customer_id,service,quantity"]
    for i in range(600):
        day, hour, minute = 1 + i % 28, (7, 19, 23)[i % 3], (i * 7) % 60
        rows.append(
            f"R{i},2026-03-{day:02d}T{hour:02d}:{minute:02d}:00+00:00,C{i % 4},call,{(i * 37) % 5000}"
        )
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name, split in (("split", SPLIT), ("whole", "")):
        (tmp_path / name).mkdir()
        text = BANDS.replace("SPLIT", split).replace(  # and a share of what the carrier leaves
            '  partner carrier "Carrier" currency EUR\n',
            '  partner carrier "Carrier" currency EUR\n  partner agent "Agent" currency EUR\n',
        )
        text = text.replace(  # and a public holiday, Thursday 19 March, off-peak all day
            'off_peak "Off-peak" otherwise\n',
            'off_peak "Off-peak" otherwise, on holidays\n    holidays 2026-03-19\n',
        )
        share = "      pay carrier 50% of net\n      round each line half up to 0.01\n    }\n"
        text = text.replace(
            share,
            share + '    clause "3 Agent" {\n      pay agent 10% of (the remainder after "2 Carrier share" '
            "minus 0.001 EUR)\n      round each line half up to 0.01\n    }\n",
        )
        (tmp_path / name / "vb.contract").write_text(text, encoding="utf-8")
        (tmp_path / name / "vb-2.contract").write_text(amendment, encoding="utf-8")
        plans, _ = clearline.load_plans([tmp_path / name / "vb.contract", tmp_path / name / "vb-2.contract"])
        agree(plans, [usage], tmp_path / name / "runs")
