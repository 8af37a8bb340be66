"""End-to-end benchmark: `clearline simulate` over synthetic usage.

Runs the installed `clearline` command as a child process (so the CLI's own
cost counts), once per size, and prints a table: records, seconds, records/s,
the child's peak RSS, csv.reader rows/s and polars.read_csv rows/s (one
thread, in a child process) over the same file measured in the same run, and
clearline's ratio to each. The ratios are the figures that travel between
machines; absolute rates depend on the machine and its load, which is
printed (the 1-minute load average before and after each shape).

    python benchmarks/run.py                  # 100k and 1M NordCarrier CDRs
    python benchmarks/run.py --quick          # 20k and 50k, a smoke test
    python benchmarks/run.py --sizes 1000000 5000000 --repeat 3
    python benchmarks/run.py --shape fleetiot --sizes 100000 1000000
    python benchmarks/run.py --shape nordcarrier fleetiot streamplus gamestudio --sizes 100000
    python benchmarks/run.py --shuffled-ids   # ids out of order: a Bloom filter pass
    python benchmarks/run.py --workers 1 2    # also with 2 worker processes: the speed-up
    python benchmarks/run.py --engine columnar --workers 1 2 --sizes 3000000   # columnar workers
    python benchmarks/run.py --engine dask --workers 1 2   # Dask workers (benchmarks/cluster.py)

Peak memory is reported at every size, with the growth in MB per million
records between the smallest and the largest size: memory should grow with
output lines, not with records.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # a sibling script, not a package

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
OUT = Path(__file__).resolve().parent / "out"


@dataclass(frozen=True)
class Result:
    records: int
    seconds: float
    peak_rss_mb: float
    csv_rows_per_s: float
    polars_rows_per_s: float | None = None  # None: polars is not installed
    cpu_seconds: float = 0.0  # of the run and its workers: on a loaded machine, the work done

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def ratio(self) -> float:
        return self.rate / self.csv_rows_per_s

    @property
    def polars_ratio(self) -> float | None:
        return None if self.polars_rows_per_s is None else self.rate / self.polars_rows_per_s


def clearline_command() -> str:
    """The `clearline` next to this interpreter, else the Quickstart's (`.venv/bin/clearline`,
    so that a plain `python3 benchmarks/run.py` works after `python3 dev.py demo`), else on PATH."""
    venv = Path(os.environ.get("CLEARLINE_VENV", ROOT / ".venv"))
    for candidate in (Path(sys.executable).parent / "clearline", venv / "bin" / "clearline"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("clearline")
    if found is None:
        sys.exit(
            "cannot find the `clearline` command: run `python3 dev.py demo` first (it installs "
            "Clearline into .venv), or install the project (pip install -e .)"
        )
    return found


def csv_reader_rate(path: Path) -> float:
    """Rows per second of a bare csv.reader over the file (the machine's yardstick)."""
    start = time.perf_counter()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = sum(1 for _ in csv.reader(handle))
    return rows / (time.perf_counter() - start)


_POLARS = """
import sys, time
import polars
start = time.perf_counter()
frame = polars.read_csv(sys.argv[1])
print(frame.height / (time.perf_counter() - start))
"""


def polars_rate(path: Path) -> float | None:
    """Rows per second of polars.read_csv over the file on one thread (POLARS_MAX_THREADS=1,
    which polars reads when it is imported: so in a child process); None without polars."""
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _POLARS, str(path)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        if "No module named 'polars'" in done.stderr:
            return None
        sys.exit(f"polars.read_csv failed on {path}:\n{done.stderr}")
    return float(done.stdout)


def load() -> str:
    """The machine's 1-, 5- and 15-minute load averages, and its CPUs."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def simulate(
    command: str,
    contract: Path,
    usage: Path,
    out: Path,
    records: int,
    workers: int = 1,
    engine: str = "reference",
) -> tuple[float, float, float]:
    """(seconds, peak RSS in MB, CPU seconds) of one `clearline simulate` child process
    (with workers, the largest of its own and its workers' peaks, and the CPU time of
    them all). `engine` columnar runs with --engine columnar on one polars thread
    (POLARS_MAX_THREADS=1), as the yardstick reads."""
    args = [
        command,
        "simulate",
        str(contract),
        "--usage",
        str(usage),
        "--period",
        "2026-03",
        "--fx",
        str(CONTRACTS / "data" / "fx-rates.csv"),
        "--customers",
        str(generate.customers_path()),
        "--out",
        str(out),
        *(["--engine", "columnar"] if engine == "columnar" else []),
        "--workers",
        str(workers),
    ]
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    with tempfile.TemporaryFile() as err:
        # a fresh wrapper process times the run: its RUSAGE_CHILDREN covers clearline and
        # its workers only (this process's also covers the yardsticks' children)
        done = subprocess.run(
            [sys.executable, "-c", _TIMED, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=False,
            env=env,
        )
        if done.returncode != 0:
            err.seek(0)
            sys.exit(f"clearline simulate failed:\n{err.read().decode()}")
    seconds, own, largest, cpu = done.stdout.split()
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return float(seconds), (int(largest) if workers > 1 else int(own)) * scale / 1e6, float(cpu)


_TIMED = """
import os, resource, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - start
code = os.waitstatus_to_exitcode(status)
if code not in (0, 3):  # 3: settled, with rejected or unmatched records
    sys.exit(code)
# the workers are clearline's children: the largest peak of this process's descendants
every = resource.getrusage(resource.RUSAGE_CHILDREN)
print(seconds, usage.ru_maxrss, every.ru_maxrss, every.ru_utime + every.ru_stime)
"""


def measure(
    command: str,
    kind: str,
    records: int,
    repeat: int,
    shuffled: bool = False,
    workers: int = 1,
    yardsticks: bool = True,
    engine: str = "reference",
) -> Result:
    if kind == "nordcarrier" and shuffled:
        generate.ensure(cdr_count=records, shuffled=shuffled)
        usage = generate.cdr_path(records, shuffled=shuffled)
    else:
        usage = generate.ensure_shape(kind, records)
    contract = CONTRACTS / f"{kind}.contract"
    out = OUT / f"{kind}-{records}-{engine}"
    best: tuple[float, float, float] | None = None
    csv_rate = 0.0
    polars: float | None = None
    for _ in range(repeat):
        # interleave the yardsticks with the runs so all see the same machine load
        if yardsticks:
            csv_rate = max(csv_rate, csv_reader_rate(usage))
            rate = polars_rate(usage)
            polars = None if rate is None else max(polars or 0.0, rate)
        seconds, rss, cpu = simulate(command, contract, usage, out, records, workers, engine)
        best = (seconds, rss, cpu) if best is None or seconds < best[0] else best
    assert best is not None
    return Result(records, best[0], best[1], csv_rate or 1.0, polars, best[2])


def table(
    kind: str,
    results: list[Result],
    fixed: Result,
    shuffled: bool = False,
    workers: int = 1,
    engine: str = "reference",
) -> str:
    head = (
        f"{'records':>10} {'seconds':>8} {'CPU s':>6} {'records/s':>10} {'peak RSS MB':>11} "
        f"{'csv.reader rows/s':>17} {'ratio':>6} {'polars rows/s':>13} {'ratio':>6}"
    )
    ids = ", record ids in a scrambled order" if shuffled else ""
    ids += f", --workers {workers}" if workers > 1 else ""
    ids += ", --engine columnar (one polars thread a process)" if engine == "columnar" else ""
    lines = [f"clearline simulate contracts/{kind}.contract, end to end{ids}", head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.records:>10,} {r.seconds:>8.2f} {r.cpu_seconds:>6.2f} {r.rate:>10,.0f} "
            f"{r.peak_rss_mb:>11.1f} "
            f"{r.csv_rows_per_s:>17,.0f} {r.ratio:>6.3f} "
            + (
                f"{r.polars_rows_per_s:>13,.0f} {r.polars_ratio:>6.3f}"
                if r.polars_rows_per_s is not None and r.polars_ratio is not None
                else f"{'-':>13} {'-':>6}"
            )
        )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        growth = (large.peak_rss_mb - small.peak_rss_mb) / ((large.records - small.records) / 1e6)
        lines.append(
            f"peak RSS growth: {growth:+.1f} MB per million records ({small.records:,} -> {large.records:,})"
        )
    large = results[-1]
    net = large.records / (large.seconds - fixed.seconds)
    lines.append(
        f"fixed cost: {fixed.seconds:.2f} s for {fixed.records} records (start-up, contracts, run folder); "
        f"{large.records:,} records without it: {net:,.0f} records/s"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--quick", action="store_true", help="small sizes (20k, 50k), one repeat")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the fastest is shown")
    parser.add_argument(
        "--shape",
        "--contract",
        dest="shapes",
        choices=generate.SHAPES,
        nargs="+",
        default=["nordcarrier"],
        help="contract shapes (contracts/SHAPE.contract over generated usage of its kind)",
    )
    parser.add_argument(
        "--shuffled-ids", action="store_true", help="CDR ids out of order (the duplicate check's Bloom pass)"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="worker processes; several give the speed-up"
    )
    parser.add_argument(
        "--engine",
        dest="engines",
        choices=["reference", "columnar", "dask"],
        nargs="+",
        default=["reference"],
        help="reference and/or columnar (--engine columnar, with each --workers), each in the same run; "
        "dask: on a local Dask cluster of --workers worker processes",
    )
    parser.add_argument("--partition-bytes", type=int, help="with --engine dask: the partitions' size")
    args = parser.parse_args(argv)
    sizes = [20_000, 50_000] if args.quick else sorted(args.sizes)
    repeat = 1 if args.quick else args.repeat
    command = clearline_command()
    if "dask" in args.engines:
        import cluster  # a sibling script: Dask's scheduler and workers, started here

        return cluster.run_dask(command, sizes, args.workers, args.partition_bytes)
    for shape in args.shapes:
        largest: dict[tuple[str, int], Result] = {}
        by_engine: dict[str, Result] = {}
        runs = [(e, w) for e in args.engines for w in args.workers]
        for engine, workers in runs:
            before = load()
            shuffled = args.shuffled_ids
            fixed = measure(
                command, shape, 10, max(repeat, 3), shuffled, workers, yardsticks=False, engine=engine
            )
            results = [measure(command, shape, n, repeat, shuffled, workers, engine=engine) for n in sizes]
            print(table(shape, results, fixed, shuffled, workers, engine))
            print(f"before: {before}; after: {load()}", end="\n\n")
            largest[engine, workers] = results[-1]
            if workers == 1:
                by_engine[engine] = results[-1]
        if len(by_engine) == 2:
            ref, col = by_engine["reference"], by_engine["columnar"]
            print(
                f"{shape}: columnar {col.rate:,.0f} records/s, reference {ref.rate:,.0f}: "
                f"x{col.rate / ref.rate:.2f}; columnar / polars.read_csv "
                + (f"{col.polars_ratio:.3f}" if col.polars_ratio is not None else "-")
                + f", peak RSS {col.peak_rss_mb:.0f} MB vs {ref.peak_rss_mb:.0f} MB"
                + f" ({col.records:,} records)\n"
            )
        for engine in args.engines:
            mine = {w: r for (e, w), r in largest.items() if e == engine}
            if len(mine) < 2:
                continue
            base = mine[min(mine)]
            for workers, result in sorted(mine.items()):
                # CPU s per worker: the work each did (the run's CPU time, its workers' and the
                # parent's, shared out); on a loaded machine the wall-time speed-up is what is
                # left to it, CPU time is not
                print(
                    f"{engine}, {workers} worker(s): {result.seconds:.2f} s, {result.records:,} records, "
                    f"x{base.seconds / result.seconds:.2f} wall; CPU {result.cpu_seconds:.2f} s in all, "
                    f"{result.cpu_seconds / workers:.2f} s a worker"
                )
            print(
                f"(on {os.cpu_count()} CPUs, measured in one run; the speed-up depends on the CPUs free: "
                f"{load()})\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
