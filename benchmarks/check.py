"""The engine's fast paths against its reference path: byte-identical runs.

The engine rates ordinary records record by record or a run at a time, and
everything else through its reference path (`Engine(fast=False)` takes every
record there). This settles the example contracts over their data and over
generated usage both ways, and compares every file of the two run folders.

    python benchmarks/check.py            # examples and 20,000 generated CDRs
    python benchmarks/check.py --cdrs 200000 --shuffled-ids

Exit status 0 when every pair of run folders is identical.
"""

from __future__ import annotations

import argparse
import filecmp
import functools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clearline
import generate  # a sibling script, not a package
from clearline.runtime.rating import engine as engine_module
from clearline.runtime.rating.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
DATA = CONTRACTS / "data"
EXAMPLES = ["streamplus", "nordcarrier", "fleetiot", "gamestudio"]
EXAMPLE_USAGE = [
    "streamplus-subscriptions.csv",
    "nordcarrier-cdrs.csv",
    "fleetiot-usage.csv",
    "dcb-purchases.csv",
]


def settle(contracts: list[Path], usage: list[Path], out: Path, fast: bool, **options: object) -> None:
    plans, _ = clearline.load_plans(contracts)
    # `clearline.run` imports the engine when it runs: the module's class, swapped for a moment
    engine = engine_module.Engine
    try:
        if not fast:
            engine_module.Engine = functools.partial(Engine, fast=False)
        clearline.run(plans, usage, "2026-03", out=out, **options)
    finally:
        engine_module.Engine = engine


def differences(left: Path, right: Path) -> list[str]:
    names = sorted({p.name for p in left.iterdir()} | {p.name for p in right.iterdir()})
    return [n for n in names if not filecmp.cmp(left / n, right / n, shallow=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--cdrs", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--shuffled-ids", action="store_true")
    args = parser.parse_args(argv)
    generate.ensure(args.cdrs, args.events, shuffled=args.shuffled_ids)
    cases: dict[str, tuple[list[Path], list[Path], dict[str, object]]] = {
        "examples": (
            [CONTRACTS / f"{name}.contract" for name in EXAMPLES],
            [DATA / name for name in EXAMPLE_USAGE],
            {"fx": DATA / "fx-rates.csv", "customers": DATA / "customers.csv"},
        ),
        "generated": (
            [CONTRACTS / "streamplus.contract", CONTRACTS / "nordcarrier.contract"],
            [
                generate.cdr_path(args.cdrs, shuffled=args.shuffled_ids),
                generate.events_path(args.events),
                DATA / "nordcarrier-cdrs.csv",
            ],
            {"fx": DATA / "fx-rates.csv", "customers": generate.customers_path(), "batch_size": 3_333},
        ),
    }
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        for name, (contracts, usage, options) in cases.items():
            fast, reference = Path(folder) / f"{name}-fast", Path(folder) / f"{name}-reference"
            settle(contracts, usage, fast, True, **options)
            settle(contracts, usage, reference, False, **options)
            differ = differences(fast, reference)
            failed |= bool(differ)
            print(f"{name}: {'differ in ' + ', '.join(differ) if differ else 'identical'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
