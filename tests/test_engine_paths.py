"""The engine's fast paths give the same bytes as its reference path.

The engine rates ordinary records through memoised fast paths and everything
else through the reference path, which checks each record in order;
`benchmarks/check.py` settles the example agreements and generated usage both
ways and compares every file. This runs it small enough for the suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("shuffled", [False, True], ids=["ids-in-order", "ids-shuffled"])
def test_fast_and_reference_paths_agree(shuffled: bool, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import check
    finally:
        sys.path.remove(str(BENCHMARKS))
    args = ["--cdrs", "4000", "--events", "600"] + (["--shuffled-ids"] if shuffled else [])
    assert check.main(args) == 0, capsys.readouterr().out
    assert capsys.readouterr().out.splitlines() == ["examples: identical", "generated: identical"]


# --- which path rates each rule (clearline compile --paths) --------------------------------


@pytest.mark.parametrize("name", ["nordcarrier", "fleetiot", "streamplus", "gamestudio"])
def test_the_paths_report_says_what_the_engine_does(name: str) -> None:
    """The report's product path is the engine's own test (`_ProductRT.fast`)."""
    import clearline
    from clearline.runtime.rating.engine import Engine
    from clearline.runtime.rating.paths import FAST, engine_paths

    plans, _ = clearline.load_plans([BENCHMARKS.parent / "contracts" / f"{name}.contract"])
    engine = Engine(plans, "2026-03")
    assert [p.path == FAST for p in engine_paths(plans[0])] == [p.fast for p in engine.products]


def test_compile_paths_names_the_rules_that_go_record_by_record() -> None:
    """FleetIoT's SIM fee reads the maximum of active_sims over the line: its product goes
    per record, though the data rule alone could share prices."""
    from typer.testing import CliRunner

    from clearline.cli import app

    contract = BENCHMARKS.parent / "contracts" / "fleetiot.contract"
    result = CliRunner().invoke(app, ["compile", str(contract), "--paths"])
    assert result.exit_code == 0
    report = result.stdout[result.stdout.index("engine paths of FI-2026") :].splitlines()
    assert report[1:4] == [
        '  product iot: per record (rated per record by "2.1 SIM fee")',
        "    charge [2.1 SIM fee]: per record (reads the maximum of active_sims over the line's records)",
        "    charge [2.2 Data]: fast (its price reads the quantity, answered, table row only)",
    ]


def test_the_paths_report_agrees_with_the_engine_on_random_contracts() -> None:
    """The grammar-directed random contracts of test_properties.py (calls with and
    without VAT and connect fees, subscriptions with guarantees, conversions)."""
    import tempfile

    from hypothesis import HealthCheck, given, settings

    import clearline
    from clearline.runtime.rating.engine import Engine
    from clearline.runtime.rating.paths import FAST, engine_paths
    from test_properties import RandomContract, random_contracts

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(contract=random_contracts(1))
    def check(contract: RandomContract) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "random.contract"
            path.write_text(contract.text, encoding="utf-8")
            plans, _ = clearline.load_plans([path])
        engine = Engine(plans, "2026-03")
        assert [p.path == FAST for p in engine_paths(plans[0])] == [p.fast for p in engine.products]

    check()
