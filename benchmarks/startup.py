"""Start-up benchmark: `clearline validate` of one bundled contract, beside `python -c pass`.

Runs each as a child process several times and prints the fastest and the
median wall-clock time of each, and their difference (what Clearline itself
costs: imports, parsing, checking). The authoring loop's target is under
0.25 s for `validate` on an idle machine; the `python -c pass` figure on the
same machine says how fast that machine starts an interpreter at all.

    python3 benchmarks/startup.py [--repeat N] [--contract contracts/nordcarrier.contract]

Like run.py it finds the `clearline` next to this interpreter or the
Quickstart's `.venv/bin/clearline`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, clearline_command  # a sibling script, not a package

TARGET = 0.25  # seconds for `clearline validate` of one contract


def timings(argv: list[str], repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` runs of argv (each must exit 0)."""
    found = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True)
        found.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--contract", default="contracts/nordcarrier.contract")
    args = parser.parse_args(argv)
    command = clearline_command()
    python = str(Path(command).parent / "python")
    if not Path(python).exists():
        python = sys.executable
    rows = [
        ("python -c pass", timings([python, "-c", "pass"], args.repeat)),
        (f"clearline validate {args.contract}", timings([command, "validate", args.contract], args.repeat)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'command':<{width}}  fastest s  median s   ({args.repeat} runs each)")
    for name, found in rows:
        print(f"{name:<{width}}  {min(found):9.3f}  {statistics.median(found):8.3f}")
    clearline_cost = min(rows[1][1]) - min(rows[0][1])
    verdict = "under" if min(rows[1][1]) < TARGET else "over"
    print(f"clearline's own start-up: {clearline_cost:.3f} s; the fastest validate is {verdict} {TARGET} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
