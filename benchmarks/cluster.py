"""The Dask benchmark: `clearline simulate --engine dask` on real worker processes.

`python benchmarks/run.py --engine dask --workers 1 2 --sizes 1000000` comes here.
For each size: one file of NordCarrier CDRs, settled in the same run

- by one process (`clearline simulate`, no --engine): the baseline rate;
- on a Dask cluster of 1, then 2, ... workers: a scheduler and that many
  `dask worker --nthreads 1 --no-nanny` processes on loopback, started before
  the run is timed (a cluster exists before a run); the run is the CLI as a
  user runs it, `--engine dask --scheduler tcp://...`, its connection included.

It prints records/s of each, the speed-up over one worker and over one
process, the scaling efficiency (speed-up / workers), the peak memory (VmHWM)
of each worker and of the client, the CPU seconds of the one process, and of
the client, each worker and the scheduler during the Dask run (/proc stat and
getrusage), and the load average before and after: on
a shared machine the figures are only as good as the CPUs free. With two sizes
or more it ends with each worker count's peak memory per worker by size: flat,
since partitions are of a fixed size (runtime/cluster_tasks.py).

On a quiet machine with 2 free cores or more:

    python benchmarks/run.py --engine dask --workers 1 2 --sizes 1000000 3000000
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import generate  # a sibling script, not a package

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contracts" / "nordcarrier.contract"
STARTUP = 120.0


def _peak_mb(pid: int) -> float:
    """The peak resident memory of a live process (Linux /proc VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1000
    except OSError:
        pass
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """A live process's CPU time so far, user and system (Linux /proc stat), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _simulate(command: str, usage: Path, out: Path, extra: list[str]) -> tuple[float, float, float]:
    """(wall seconds, the client's peak RSS in MB, its CPU seconds) of one `clearline simulate`."""
    args = [command, "simulate", str(CONTRACT), "--usage", str(usage), "--period", "2026-03"]
    args += ["--fx", str(ROOT / "contracts" / "data" / "fx-rates.csv")]
    args += ["--customers", str(generate.customers_path()), "--out", str(out), *extra]
    timed = (
        "import os, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "_, status, usage = os.wait4(child.pid, 0)\n"
        "code = os.waitstatus_to_exitcode(status)\n"
        "print(time.perf_counter() - start, usage.ru_maxrss, code, usage.ru_utime + usage.ru_stime)\n"
    )
    done = subprocess.run([sys.executable, "-c", timed, *args], capture_output=True, text=True, check=True)
    seconds, rss, code, cpu = done.stdout.split()
    if int(code) not in (0, 3):
        sys.exit(f"clearline simulate failed ({code}): {' '.join(args)}")
    return float(seconds), int(rss) / 1000, float(cpu)


def _cluster(
    folder: Path, workers: int
) -> tuple[subprocess.Popen[bytes], list[subprocess.Popen[bytes]], str]:
    info = folder / "scheduler.json"
    python = [sys.executable, "-m"]
    scheduler = subprocess.Popen(
        [
            *python,
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(info),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STARTUP
    while not info.exists() or not info.read_text():
        if time.monotonic() > deadline or scheduler.poll() is not None:
            sys.exit("the Dask scheduler did not start")
        time.sleep(0.1)
    time.sleep(0.2)
    address = json.loads(info.read_text())["address"]
    started = [
        subprocess.Popen(
            [
                *python,
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--memory-limit",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    from distributed import Client

    with Client(address, timeout=STARTUP, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=STARTUP)
    return scheduler, started, address


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # a worker may linger, closing its comms: no matter here
            process.kill()
            process.wait()


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def run_dask(command: str, sizes: list[int], worker_counts: list[int], partition_bytes: int | None) -> int:
    try:
        import distributed  # noqa: F401
    except ImportError:
        sys.exit("--engine dask needs the cluster extra: pip install -e '.[cluster]'")
    peaks_by_size: dict[int, dict[int, float]] = {}  # records -> workers -> largest worker peak
    for records in sizes:
        generate.ensure(cdr_count=records)
        usage = generate.cdr_path(records)
        before = _load()
        print(f"nordcarrier, {records:,} CDRs ({usage.stat().st_size / 1e6:.0f} MB), --engine dask")
        with tempfile.TemporaryDirectory(prefix="clearline-bench-") as tmp:
            folder = Path(tmp)
            one_s, one_rss, one_cpu = _simulate(command, usage, folder / "one", [])
            print(
                f"  one process        {records / one_s:>10,.0f} records/s  {one_s:7.2f} s wall  "
                f"{one_cpu:7.2f} s CPU  {one_rss:6.0f} MB"
            )
            first: tuple[int, float] | None = None  # (workers, seconds) of the first count
            for workers in worker_counts:
                cluster = folder / f"cluster-{workers}"
                cluster.mkdir()
                scheduler, started, address = _cluster(cluster, workers)
                try:
                    extra = ["--engine", "dask", "--scheduler", address]
                    extra += ["--partition-bytes", str(partition_bytes)] if partition_bytes else []
                    cpu_before = [_cpu_seconds(p.pid) for p in (scheduler, *started)]
                    seconds, client_rss, client_cpu = _simulate(
                        command, usage, folder / f"dask-{workers}", extra
                    )
                    processes = (scheduler, *started)
                    cpu = [_cpu_seconds(p.pid) - c for p, c in zip(processes, cpu_before, strict=True)]
                    peaks = [_peak_mb(w.pid) for w in started]
                finally:
                    _stop([*started, scheduler])
                same = _same(folder / "one", folder / f"dask-{workers}")
                peaks_by_size.setdefault(records, {})[workers] = max(peaks)
                first = first or (workers, seconds)
                speedup = first[1] / seconds
                efficiency = speedup * first[0] / workers
                print(
                    f"  {workers} dask worker(s)   {records / seconds:>10,.0f} records/s  "
                    f"{seconds:7.2f} s wall  "
                    f"CPU s: client {client_cpu:.2f}, workers {sum(cpu[1:]):.2f} ("
                    + ", ".join(f"{c:.2f}" for c in cpu[1:])
                    + f"), scheduler {cpu[0]:.2f}; "
                    f"x{speedup:.2f} of {first[0]} worker(s) (efficiency {efficiency:.2f}), "
                    f"x{one_s / seconds:.2f} of one process; peak per worker "
                    + ", ".join(f"{p:.0f}" for p in peaks)
                    + f" MB, client {client_rss:.0f} MB; run folder {'identical' if same else 'DIFFERENT'}"
                )
        print(f"  before: {before}; after: {_load()}\n")
    if len(peaks_by_size) > 1:  # memory per worker against the number of records
        print("peak memory per worker (the largest of the workers), by records:")
        for workers in worker_counts:
            shown = ", ".join(f"{n:,}: {p[workers]:.0f} MB" for n, p in peaks_by_size.items())
            print(f"  {workers} worker(s): {shown}")
    return 0


def _same(one: Path, other: Path) -> bool:
    names = sorted(p.name for p in one.iterdir())
    return names == sorted(p.name for p in other.iterdir()) and all(
        (one / n).read_bytes() == (other / n).read_bytes() for n in names
    )
