"""Start-up benchmark: `clearline validate` of one bundled contract, beside `python -c pass`.

Runs each as a child process several times and prints the fastest and the
median wall-clock and CPU time of each, and the difference of the fastest
wall-clock times (what Clearline itself costs: imports, parsing, checking).
The authoring loop's target is under 0.25 s for `validate` on an idle
machine; the `python -c pass` figure on the same machine says how fast that
machine starts an interpreter at all, and the CPU time how much of the wall
time a busy machine adds by waiting.

    python3 benchmarks/startup.py [--repeat N] [--contract contracts/nordcarrier.contract]

Like run.py it finds the `clearline` next to this interpreter or the
Quickstart's `.venv/bin/clearline`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, clearline_command  # a sibling script, not a package

TARGET = 0.25  # seconds for `clearline validate` of one contract


def timings(argv: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user + system) seconds of `repeat` runs of argv, after one
    run that writes the bytecode caches a user's installation has (an environment with
    PYTHONDONTWRITEBYTECODE would otherwise compile every module at every start)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    wall, cpu = [], []
    for number in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, env=env)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()}")
        if number:  # the first run is the warm-up
            wall.append(elapsed)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


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
        ("python -c pass", *timings([python, "-c", "pass"], args.repeat)),
        (f"clearline validate {args.contract}", *timings([command, "validate", args.contract], args.repeat)),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'command':<{width}}  wall: fastest  median   cpu: fastest  median   ({args.repeat} runs each)")
    for name, wall, cpu in rows:
        print(
            f"{name:<{width}}  {min(wall):13.3f} {statistics.median(wall):7.3f}"
            f"  {min(cpu):12.3f} {statistics.median(cpu):7.3f}"
        )
    own = min(rows[1][1]) - min(rows[0][1])
    verdict = "under" if min(rows[1][1]) < TARGET else "over"
    print(f"clearline's own start-up: {own:.3f} s; the fastest validate is {verdict} {TARGET} s")
    print(f"(on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}: on a busy machine wall > cpu)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
