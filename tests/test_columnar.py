"""The columnar engine (`simulate --engine columnar`, runtime.rating.columnar)
writes the reference engine's run folder, byte for byte, and its figures are
the contracts' (hand-computed below).

The reference here is `Engine(fast=False)`: every record through every check
in order. tests/test_differential.py holds the columnar engine to it too,
with the other ways of settling, over the random contracts and the bundled
contracts with generated usage of each shape.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clearline
from clearline.compiler import ir
from clearline.runtime.rating import columnar
from clearline.runtime.rating.engine import Engine
from conftest import CONTRACTS, DATA, PERIOD, read_csv
from test_differential import differences, folder, random_inputs, reference
from test_properties import RandomContract, mixed_records, random_contracts

pytest.importorskip("polars", reason="the columnar extra (polars) is not installed")

DEMO_USAGE = [
    DATA / "streamplus-subscriptions.csv",
    DATA / "nordcarrier-cdrs.csv",
    DATA / "fleetiot-usage.csv",
    DATA / "dcb-purchases.csv",
]


@pytest.fixture
def small_blocks() -> Iterator[None]:
    """Blocks of about 200 bytes: a few records each, so that a file is many blocks."""
    saved = columnar.BLOCK_BYTES
    columnar.BLOCK_BYTES = 200
    try:
        yield
    finally:
        columnar.BLOCK_BYTES = saved


def settle_both(
    plans: Sequence[ir.ContractPlan], usage: Sequence[Path], base: Path, **options: object
) -> dict[str, bytes]:
    """Both run folders; asserts they are the same bytes and returns the columnar one."""
    reference(plans, usage, base / "reference", options)
    clearline.run(plans, usage, PERIOD, out=base / "columnar", engine="columnar", **options)  # type: ignore[arg-type]
    expected, got = folder(base / "reference"), folder(base / "columnar")
    assert differences(expected, got) == []
    return got


def by_columns(plans: Sequence[ir.ContractPlan], path: Path) -> int:
    """How many of the file's records the columnar engine rated by columns."""
    engine = Engine(list(plans), PERIOD, candidates=None)
    columnar.settle_file(engine, path, str(path), 10_000, None, None)
    states = [columnar._STATES.get(ctx) for ctx in engine.contexts.values()]
    return sum(s.by_columns for s in states if s is not None)


def test_the_demo_settles_alike(tmp_path: Path) -> None:
    """dev.py DEMO: the four bundled contracts over their four files, with FX and customers."""
    plans, _ = clearline.load_plans(sorted(CONTRACTS.glob("*.contract")))
    settle_both(plans, DEMO_USAGE, tmp_path, fx=DATA / "fx-rates.csv", customers=DATA / "customers.csv")


@pytest.mark.usefixtures("small_blocks")
def test_the_demo_settles_alike_in_small_blocks(tmp_path: Path) -> None:
    plans, _ = clearline.load_plans(sorted(CONTRACTS.glob("*.contract")))
    settle_both(plans, DEMO_USAGE, tmp_path, fx=DATA / "fx-rates.csv", customers=DATA / "customers.csv")


GAMES = "record_id,timestamp,customer_id,service,merchant,amount,currency\n"


def test_gamestudio_purchases_by_columns(tmp_path: Path) -> None:
    """VAT-included purchases of 24.60 and 61.50 and 24.60 again: nets 24.60 / 1.23 = 20.00,
    61.50 / 1.23 = 50.00, 20.00; C-1 pays 40.00 net, C-2 50.00. Every record by columns."""
    usage = tmp_path / "games.csv"
    usage.write_text(
        GAMES
        + "G-1,2026-03-02T07:13:00+01:00,C-1,carrier-billing,gamestudio,24.60,PLN\n"
        + "G-2,2026-03-05T04:52:00+01:00,C-2,carrier-billing,gamestudio,61.50,PLN\n"
        + "G-3,2026-03-06T04:52:00+01:00,C-1,carrier-billing,gamestudio,24.60,PLN\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    settle_both(plans, [usage], tmp_path)
    invoice = {r["party"]: r["amount"] for r in read_csv(tmp_path / "columnar" / "invoice_lines.csv")}
    assert invoice == {"C-1": "40.00", "C-2": "50.00"}
    rated = [(r["record_id"], r["amount"]) for r in read_csv(tmp_path / "columnar" / "rated_records.csv")]
    assert rated == [("G-1", "20.00"), ("G-2", "50.00"), ("G-3", "20.00")]
    assert by_columns(plans, usage) == 3


def test_fleetiot_maximum_and_graduated_tiers_by_columns(tmp_path: Path) -> None:
    """Two data records of B-1: 400,000.5 MB (billed 400,001) with 10 SIMs and
    200,000 MB with 12 SIMs. SIM fee 0.80 x the maximum, 12 = 9.60; data 600,001 MB:
    500,000 x 0.0040 + 100,001 x 0.0030 = 2,300.003 -> 2,300.00; commitment
    9,000.00 - 2,300.00 = 6,700.00. Both records by columns."""
    usage = tmp_path / "iot.csv"
    usage.write_text(
        "record_id,timestamp,customer_id,service,quantity,unit,active_sims\n"
        "I-1,2026-03-05T12:00:00+01:00,B-1,data,400000.5,MB,10\n"
        "I-2,2026-03-06T12:00:00+01:00,B-1,data,200000,MB,12\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([CONTRACTS / "fleetiot.contract"])
    settle_both(plans, [usage], tmp_path)
    invoice = {r["clause"]: r["amount"] for r in read_csv(tmp_path / "columnar" / "invoice_lines.csv")}
    assert invoice == {"2.1 SIM fee": "9.60", "2.2 Data": "2300.00", "2.3 Commitment": "6700.00"}
    assert by_columns(plans, usage) == 2


def test_streamplus_events_by_columns(tmp_path: Path) -> None:
    """C-1 activates on 17 March (15 of 31 days: 39.00 x 15/31 = 18.87), C-2 activates
    on 1 March and deactivates on 11 March; an event that is neither (`pause`) is a
    reject. The events of C-1 and C-2 by columns, the pause by the record paths."""
    usage = tmp_path / "events.csv"
    usage.write_text(
        "record_id,timestamp,customer_id,product,event\n"
        "S-1,2026-03-17T12:00:00+01:00,C-1,streamplus-premium,activate\n"
        "S-2,2026-03-01T00:00:00+01:00,C-2,streamplus-premium,activate\n"
        "S-3,2026-03-05T00:00:00+01:00,C-2,streamplus-premium,pause\n"
        "S-4,2026-03-11T00:00:00+01:00,C-2,streamplus-premium,deactivate\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([CONTRACTS / "streamplus.contract"])
    settle_both(plans, [usage], tmp_path, fx=DATA / "fx-rates.csv")
    invoice = {r["party"]: r["amount"] for r in read_csv(tmp_path / "columnar" / "invoice_lines.csv")}
    assert invoice["C-1"] == "18.87"
    assert [r["record_id"] for r in read_csv(tmp_path / "columnar" / "rejects.csv")] == ["S-3"]
    assert by_columns(plans, usage) == 3


def test_nordcarrier_prefixes_by_columns(tmp_path: Path) -> None:
    """NordCarrier's bundled CDRs: the same folder, and the answered, in-table ones by columns."""
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    settle_both(plans, [DATA / "nordcarrier-cdrs.csv"], tmp_path)
    assert by_columns(plans, DATA / "nordcarrier-cdrs.csv") > 0


@pytest.mark.usefixtures("small_blocks")
def test_unusual_lines_and_records_keep_their_rejects(tmp_path: Path) -> None:
    """Blocks polars must not read (CRLF and a lone CR, a blank line, a cut-short and
    an over-long line, a byte that is not UTF-8, a NUL) and records the columnar
    checks hand on (a duplicate across blocks, month 13, hour 24, no customer, a
    customer not in the file, another merchant, out of the period, an amount that is
    not a number, a negative one): the same rejects, reasons and line numbers."""
    good = "carrier-billing,gamestudio,24.60,PLN"
    lines = [f"G-{i:03},2026-03-{1 + i % 28:02}T10:00:00+01:00,C-1002,{good}" for i in range(40)]
    lines[3] = "G-003,2026-13-01T10:00:00+01:00,C-1002," + good
    lines[5] = "G-005,2026-03-01T24:00:00+01:00,C-1002," + good
    lines[7] = "G-007,2026-03-01T10:00:00+01:00,," + good
    lines[9] = "G-009,2026-03-01T10:00:00+01:00,C-0000," + good
    lines[11] = "G-011,2026-03-01T10:00:00+01:00,C-1002,carrier-billing,otherapps,24.60,PLN"
    lines[13] = "G-013,2026-04-01T10:00:00+02:00,C-1002," + good
    lines[15] = "G-015,2026-03-01T10:00:00+01:00,C-1002,carrier-billing,gamestudio,abc,PLN"
    lines[17] = "G-017,2026-03-01T10:00:00+01:00,C-1002,carrier-billing,gamestudio,-1.00,PLN"
    lines[19] = "G-002,2026-03-09T10:00:00+01:00,C-1002," + good  # G-002 read at line 4
    lines[21] = ""
    lines[23] = "G-023,2026-03-01T10:00:00+01:00,C-1002,carrier-billing"
    lines[25] = "G-025,2026-03-01T10:00:00+01:00,C-1002," + good + ",extra"
    lines[29] = "G-029,2026-03-01T10:00:00+01:00,C-1002," + good + "\r"
    lines[31] = "G-031,2026-03-01T10:00:00+01:00,C-1002,carrier-billing,gamest\ufffdio,24.60,PLN"
    data = (GAMES + "\n".join(lines) + "\n").encode()
    data = data.replace("\ufffd".encode(), b"\xff").replace(b"G-033,", b"\x00G-033,")
    data = data.replace(b"G-035,2026-03-05T10:00:00+01:00", b"G-035,2026-03-05T10:00:00+01:00\r")
    usage = tmp_path / "games.csv"
    usage.write_bytes(data)
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    settle_both(plans, [usage], tmp_path, customers=DATA / "customers.csv")
    rejects = {r["record_id"]: r for r in read_csv(tmp_path / "columnar" / "rejects.csv")}
    assert rejects["G-002"]["line"] == "21"
    assert rejects["G-002"]["reason"] == f"duplicate record id: first read at {usage}:4"
    assert "G-013" in rejects and "G-017" in rejects and "G-025" in rejects


def test_duplicates_remembered_for_every_id(tmp_path: Path) -> None:
    """A small file remembers every id (no candidates): a duplicate within one block and
    one across blocks are rejected where the reference rejects them."""
    lines = [
        f"G-{i % 7},2026-03-0{1 + i % 9}T10:00:00+01:00,C-1,carrier-billing,gamestudio,9.99,PLN"
        for i in range(12)
    ]
    usage = tmp_path / "games.csv"
    usage.write_text(GAMES + "\n".join(lines) + "\n", encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    got = settle_both(plans, [usage], tmp_path)
    assert got["rejects.csv"].count(b"duplicate record id") == 5


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    contracts=st.integers(min_value=1, max_value=2).flatmap(
        lambda n: st.tuples(*(random_contracts(i) for i in range(1, n + 1)))
    ),
    records=mixed_records(),
    block=st.sampled_from([150, 400, 1 << 20]),
)
def test_random_contracts_settle_alike_by_columns(
    contracts: tuple[RandomContract, ...], records: list[dict[str, str]], block: int
) -> None:
    """The grammar-directed random contracts and records of test_properties.py (broken,
    unmatched and duplicate records among them), in blocks of a few records or one."""
    saved = columnar.BLOCK_BYTES
    columnar.BLOCK_BYTES = block
    try:
        with tempfile.TemporaryDirectory() as tmp:
            plans, usage = random_inputs(Path(tmp), contracts, records)
            settle_both(plans, [usage], Path(tmp), fx=DATA / "fx-rates.csv")
    finally:
        columnar.BLOCK_BYTES = saved


def test_compile_paths_says_which_rules_run_columnar() -> None:
    from typer.testing import CliRunner

    from clearline.cli import app

    result = CliRunner().invoke(app, ["compile", str(CONTRACTS / "streamplus.contract"), "--paths"])
    assert result.exit_code == 0
    report = result.stdout[result.stdout.index("columnar engine of SP-2026") :].splitlines()
    assert report[1:] == [
        "  product streamplus: columnar (its start and end events)",
        "    charge [3.1 Retail price]: priced per subscriber at the close",
        "    payout [4.2 Revenue share]: priced per subscriber at the close",
    ]
    result = CliRunner().invoke(app, ["compile", str(CONTRACTS / "gamestudio.contract"), "--paths"])
    report = result.stdout[result.stdout.index("columnar engine of GS-2026") :].splitlines()
    assert report[1:] == ["  product games: columnar", "    charge [5.1 Purchases]: columnar"]


def test_simulate_engine_columnar_writes_the_same_folder(tmp_path: Path) -> None:
    """The command line: --engine columnar and the default write the same bytes, and
    --engine columnar with --workers 2 too. (The exit code is 3, as the default's: the
    bundled file has rejects.)"""
    from typer.testing import CliRunner

    from clearline.cli import app

    base = ["simulate", str(CONTRACTS / "gamestudio.contract"), "-u", str(DATA / "dcb-purchases.csv")]
    base += ["--period", PERIOD]
    runner = CliRunner()
    plain = runner.invoke(app, [*base, "--out", str(tmp_path / "a")])
    by_columns = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--engine", "columnar"])
    assert (plain.exit_code, plain.stdout) == (by_columns.exit_code, by_columns.stdout.replace("/b", "/a"))
    assert differences(folder(tmp_path / "a"), folder(tmp_path / "b")) == []
    workers = runner.invoke(app, [*base, "--out", str(tmp_path / "c"), "--engine", "columnar", "-j", "2"])
    assert workers.exit_code == plain.exit_code
    assert differences(folder(tmp_path / "a"), folder(tmp_path / "c")) == []
    assert sum(Decimal(r["amount"]) for r in read_csv(tmp_path / "b" / "invoice_lines.csv")) > 0


@pytest.mark.usefixtures("small_blocks")
def test_line_level_quantities_written_every_way(tmp_path: Path) -> None:
    """FleetIoT's rules are priced per line, so the columnar engine bills each record's
    MB in scaled integers (increments 1/1: 0.2 MB -> 1, 2.0 -> 2, 0 and 0.0 as used).
    Quantities and SIM counts not written plainly (007, 1e3, +5, ' 5', -1, empty, 2.5
    SIMs) go by the record paths: the same folder, byte for byte."""
    quantities = ["0.2", "2.0", "0", "0.0", "007", "1e3", "+5", " 5", "-1", "", "1.50", "123456.789"]
    sims = ["10", "12", "007", "2.5", "", "3", "1", "0", "4", "5", "12.0", "9"]
    lines = [
        f"I-{i:02},2026-03-{1 + i:02}T12:00:00+01:00,B-{i % 3},data,{q},MB,{s}"
        for i, (q, s) in enumerate(zip(quantities * 2, sims * 2, strict=True))
    ]
    usage = tmp_path / "iot.csv"
    usage.write_text(
        "record_id,timestamp,customer_id,service,quantity,unit,active_sims\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([CONTRACTS / "fleetiot.contract"])
    settle_both(plans, [usage], tmp_path)
    assert by_columns(plans, usage) > 0


@pytest.mark.usefixtures("small_blocks")
def test_duplicates_among_bloom_candidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids out of order with the pre-scan's Bloom filter on (as for a large file): only
    the candidates are remembered, and each duplicate is rejected where the reference
    rejects it, naming the first reading (G-3 at lines 4 and 10, G-5 at 6 and 12)."""
    from clearline.runtime.inputs import duplicates

    scan = duplicates.duplicate_candidates
    monkeypatch.setattr(duplicates, "duplicate_candidates", lambda paths: scan(paths, exact_below=0))
    order = [7, 2, 3, 1, 5, 9, 8, 4, 3, 6, 5, 0]
    lines = [
        f"G-{i},2026-03-0{1 + k % 9}T10:00:00+01:00,C-1,carrier-billing,gamestudio,9.99,PLN"
        for k, i in enumerate(order)
    ]
    usage = tmp_path / "games.csv"
    usage.write_text(GAMES + "\n".join(lines) + "\n", encoding="utf-8")
    assert scan([usage], exact_below=0)  # some candidates (a superset of G-3 and G-5)
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    settle_both(plans, [usage], tmp_path)
    rejects = read_csv(tmp_path / "columnar" / "rejects.csv")
    assert [(r["record_id"], r["line"]) for r in rejects] == [("G-3", "10"), ("G-5", "12")]


@pytest.mark.usefixtures("small_blocks")
def test_ids_the_writer_escapes_keep_its_rendering(tmp_path: Path) -> None:
    """Rated rows of plain ids are rendered by polars from the writer's own renderings of
    their parts; a block with an id the writer neutralises or escapes (=G-1 like a
    formula, a backslash, a space, a letter beyond ASCII) is left to the writer."""
    ids = ["G-1", "=G-2", "G\\3", "G 4", "Ż-5", "G-6", "G-7", "G-8"]
    lines = [
        f"{rid},2026-03-0{1 + k}T10:00:00+01:00,C-1,carrier-billing,gamestudio,9.99,PLN"
        for k, rid in enumerate(ids)
    ]
    usage = tmp_path / "games.csv"
    usage.write_text(GAMES + "\n".join(lines) + "\n", encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    got = settle_both(plans, [usage], tmp_path)
    assert b"'=G-2" in got["rated_records.csv"] and b'"G\\\\3"' in got["rated_records.jsonl"]


@pytest.mark.usefixtures("small_blocks")
def test_ids_out_of_order_late_start_the_run_again(tmp_path: Path) -> None:
    """No pre-scan: the ids are checked to increase as the blocks are read. G-01..G-40
    in order (about 10 blocks of 200 bytes, rated with no id remembered), then G-07 again
    on line 42: the run starts again with the reader's pre-scan, its rated rows so far
    dropped, and G-07 is rejected as the reference rejects it, first read at line 8.
    40 purchases of 9.99 gross are rated once each: C-1's net is 40 x 8.12 = 324.80."""
    from clearline.runtime.rating import columnar as module
    from clearline.runtime.rating.engine import Engine as Engines

    lines = [
        f"G-{i:02d},2026-03-0{1 + i % 9}T10:00:00+01:00,C-1,carrier-billing,gamestudio,9.99,PLN"
        for i in range(1, 41)
    ]
    lines.append(lines[6])
    usage = tmp_path / "games.csv"
    usage.write_text(GAMES + "\n".join(lines) + "\n", encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    engine = Engines(list(plans), PERIOD, candidates=set())
    with pytest.raises(module.IdsOutOfOrder):
        module.settle_file(engine, usage, str(usage), 10_000, None, None, order=module._Order())
    got = settle_both(plans, [usage], tmp_path)
    rejects = read_csv(tmp_path / "columnar" / "rejects.csv")
    assert [(r["record_id"], r["line"]) for r in rejects] == [("G-07", "42")]
    assert "first read at" in rejects[0]["reason"] and ":8" in rejects[0]["reason"]
    assert got["rated_records.csv"].count(b"\nG-") == 40
    invoice = {r["party"]: r["amount"] for r in read_csv(tmp_path / "columnar" / "invoice_lines.csv")}
    assert invoice == {"C-1": "324.80"}
