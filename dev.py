#!/usr/bin/env python3
"""Set up a virtual environment and run Clearline's demo or its test suite.

    python3 dev.py demo   # settle March 2026 over the bundled example contracts, close it
    python3 dev.py test   # ruff check, ruff format --check, mypy --strict and pytest

Needs only Python 3.11+; everything else is installed into .venv from PyPI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("CLEARLINE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")

DEMO = [
    "simulate",
    "contracts",
    "--usage",
    "contracts/data/streamplus-subscriptions.csv",
    "--usage",
    "contracts/data/nordcarrier-cdrs.csv",
    "--usage",
    "contracts/data/fleetiot-usage.csv",
    "--usage",
    "contracts/data/dcb-purchases.csv",
    "--period",
    "2026-03",
    "--fx",
    "contracts/data/fx-rates.csv",
    "--customers",
    "contracts/data/customers.csv",
    "--out",
    "out/2026-03",
]
# the demo then closes March into a new embedded ledger (docs/operations.md)
LEDGER = ROOT / "out" / "ledger.sqlite"
CLOSE = ["close", "out/2026-03", "--ledger", "out/ledger.sqlite"]


def run(*args: str | Path) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def setup() -> None:
    stamp = VENV / ".clearline-installed"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    code = run(
        BIN / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-e",
        f"{ROOT}[dev]",
    )
    if code:
        sys.exit(code)
    stamp.touch()


def shown(path: Path) -> str:
    """`path` as the user types it from where they are (relative below the working directory)."""
    path = Path(os.path.abspath(path))  # not resolve(): .venv may be a link, and is shown as one
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def next_steps() -> str:
    """What the demo prints last: the next command, runnable as printed from where dev.py ran."""
    clearline = shown(BIN / "clearline")
    run_folder = shown(ROOT / DEMO[DEMO.index("--out") + 1])
    activate = shown(BIN / ("activate.bat" if os.name == "nt" else "activate"))
    activate = activate if os.name == "nt" else f"source {activate}"
    return (
        "\nClearline is installed in the project's .venv, not on your PATH. Next, render the invoices,\n"
        "self-billing statements and audit report of this run:\n\n"
        f"    {clearline} report {run_folder}\n\n"
        f"or run `{activate}` once in this shell and then `clearline report {run_folder}`.\n"
        f"Your own first agreement: {shown(ROOT / 'docs' / 'tutorial.md')}"
    )


def main() -> int:
    if sys.version_info < (3, 11):
        print("Clearline needs Python 3.11 or newer", file=sys.stderr)
        return 1
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    if task not in {"demo", "test"}:
        print(__doc__, file=sys.stderr)
        return 2
    setup()
    if task == "demo":
        code = run(BIN / "clearline", *DEMO)
        if code not in {0, 3}:
            return code
        for stale in (LEDGER, LEDGER.with_name("ledger.sqlite-wal"), LEDGER.with_name("ledger.sqlite-shm")):
            stale.unlink(missing_ok=True)  # each demo starts a new ledger
        code = run(BIN / "clearline", *CLOSE)
        if code:
            return code
        print(next_steps(), flush=True)
        return 0
    for step in (
        (
            BIN / "ruff",
            "check",
            *[p for p in ("src", "tests", "benchmarks", "scripts", "fuzz", "dev.py") if (ROOT / p).exists()],
        ),
        (
            BIN / "ruff",
            "format",
            "--check",
            *[p for p in ("src", "tests", "benchmarks", "scripts", "fuzz", "dev.py") if (ROOT / p).exists()],
        ),
        (BIN / "mypy"),
        (BIN / "pytest", *sys.argv[2:]),
    ):
        code = run(*step) if isinstance(step, tuple) else run(step)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
