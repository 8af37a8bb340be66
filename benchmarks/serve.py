"""Benchmark of `clearline serve`: a server process, a separate load process over loopback.

Runs, each for --seconds: batches of 100 as fast as 1 and 4 clients can, single records as
fast as 1 and 8 clients can, and single records sent at a fixed --rate (open loop, latency
from the moment each was due); prints records/s, p50/p95/p99 latency and the server's CPU
time per record (user + system, which the machine's other load changes less than the
rates) per run, then the batch `simulate` rate of the same kind of records on the same
machine. The load process speaks HTTP/1.1 on asyncio streams itself (keep-alive
connections), not through httpx, whose CPU per request would be measured instead of the
server's on a small machine. The ledger is a fresh SQLite file unless --ledger names
another (a PostgreSQL URL: its tables are used as they are).
Usage: python benchmarks/serve.py [--seconds 5] [--rate 500] [--ledger URL]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contracts" / "nordcarrier.contract"


def record(i: int, tag: str) -> dict[str, str]:
    day = 1 + i % 28
    return {
        "record_id": f"{tag}-{i:08d}",
        "timestamp": f"2026-03-{day:02d}T10:{i % 60:02d}:00+01:00",
        "customer_id": "C-1001",
        "service": "voice-out",
        "destination": "4860123456" if i % 2 else "48221234567",
        "quantity": str(1 + i % 300),
        "unit": "s",
    }


class _Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: a load generator light enough
    that on two cores the server, not the client, is what is measured (httpx costs about a
    millisecond of CPU per request, which at 500 requests/s starves the server)."""

    def __init__(self, reader: Any, writer: Any) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, host: str, path: str, body: bytes, token: str | None) -> int:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed an idle keep-alive connection
            raise ConnectionResetError("closed by the server")
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


def load(url: str, mode: str, seconds: float, rate: float, clients: int, tag: str) -> None:
    """The load process: prints one JSON line with the counts and latencies.

    `batch`/`single`: `clients` closed-loop clients, each sending its next request when
    the last is answered. `rate`: open loop, single records sent at `rate` per second
    whatever the answers, each latency counted from the moment it was due (so a stall
    is not hidden by the sender waiting: no coordinated omission)."""
    import asyncio

    host, port = url.split("//")[1].split(":")
    size = 100 if mode == "batch" else 1
    latencies: list[float] = []
    counter = [0]
    idle: list[_Connection] = []
    failures: dict[str, int] = {}  # HTTP status or exception -> count (records not counted)

    async def connection() -> _Connection:
        if idle:
            return idle.pop()
        reader, writer = await asyncio.open_connection(host, int(port))
        return _Connection(reader, writer)

    async def one(due: float | None = None) -> None:
        start = counter[0]
        counter[0] += size
        ids = f"{tag}{mode}{clients}"
        body = json.dumps({"records": [record(start + k, ids) for k in range(size)]}).encode()
        began = time.perf_counter() if due is None else due
        try:
            c = await connection()
            try:
                status = await c.post(host, "/v1/usage", body, None)
            except ConnectionResetError:  # sent again on a new connection: the API is idempotent
                c.writer.close()
                c = _Connection(*await asyncio.open_connection(host, int(port)))
                status = await c.post(host, "/v1/usage", body, None)
        except (OSError, asyncio.IncompleteReadError) as err:
            failures[type(err).__name__] = failures.get(type(err).__name__, 0) + 1
            return
        latencies.append(time.perf_counter() - began)
        idle.append(c)
        if status != 200:
            failures[str(status)] = failures.get(str(status), 0) + 1

    async def closed_loop(end: float) -> None:
        while time.perf_counter() < end:
            await one()

    async def main() -> None:
        end = time.perf_counter() + seconds
        if mode != "rate":
            await asyncio.gather(*(closed_loop(end) for _ in range(clients)))
            return
        tasks = []
        next_at = time.perf_counter()
        while next_at < end:
            pause = next_at - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            tasks.append(asyncio.create_task(one(next_at)))
            next_at += 1 / rate
        await asyncio.gather(*tasks)

    began = time.perf_counter()
    asyncio.run(main())
    failed = sum(failures.values()) * size
    print(
        json.dumps(
            {
                "records": counter[0] - failed,
                "seconds": time.perf_counter() - began,
                "latencies": latencies,
                "failures": failures,
            }
        )
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere): the server's
    cost per record, which the machine's other load does not change much."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--load", nargs=2, metavar=("URL", "MODE"))
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--ledger", help="ledger URL (default: a fresh SQLite file)")
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)  # the load process's record ids
    args = parser.parse_args()
    if args.load:
        load(args.load[0], args.load[1], args.seconds, args.rate, args.clients, args.tag)
        return
    folder = Path(tempfile.mkdtemp(prefix="clearline-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-c", "from clearline.cli import main; main()"]
    ledger = args.ledger or str(folder / "ledger.db")
    tag = f"{time.time_ns():x}"  # record ids new to a ledger that is not fresh
    server = subprocess.Popen(
        [*cli, "serve", str(CONTRACT), "--ledger", ledger, "--port", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "server.log").open("wb"),
    )
    try:
        import httpx

        for _ in range(600):
            try:
                if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        import importlib.util

        fast = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is not None]
        print(
            f"server: ledger {'SQLite (WAL, synchronous=FULL)' if not args.ledger else args.ledger}, "
            f"{CONTRACT.name}; {args.seconds:g} s per run; "
            f"uvicorn with {' and '.join(fast) or 'asyncio and h11 (no uvloop, no httptools)'}"
        )
        runs = [("batch", 1), ("batch", 4), ("single", 1), ("single", 8), ("rate", 1)]
        for mode, clients in runs:
            cpu_before = cpu_seconds(server.pid)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--load",
                    url,
                    mode,
                    "--seconds",
                    str(args.seconds),
                    "--rate",
                    str(args.rate),
                    "--clients",
                    str(clients),
                    "--tag",
                    tag,
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:  # the load process itself failed: say why, go on
                print(f"{mode} x {clients}: the load process failed:\n{out.stderr[-2000:]}")
                continue
            data = json.loads(out.stdout)
            cpu = cpu_seconds(server.pid) - cpu_before
            lat = data["latencies"]
            label = {
                "batch": f"batches of 100, {clients} client(s)",
                "single": f"single records, {clients} client(s)",
                "rate": f"single at {args.rate:g}/s (open loop)",
            }[mode]
            print(
                f"{label:>34}: {data['records'] / data['seconds']:>8.0f} records/s  "
                f"p50 {pct(lat, 0.5):.1f} ms  p95 {pct(lat, 0.95):.1f} ms  p99 {pct(lat, 0.99):.1f} ms  "
                f"server CPU {cpu / max(1, data['records']) * 1e6:.0f} us/record"
                + (f"  FAILED requests: {data['failures']}" if data["failures"] else "")
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = (folder / "server.log").read_text(encoding="utf-8", errors="replace")
    if "Traceback" in log or "refused a commit" in log:
        print("the server logged errors:\n" + log[-3000:])
    usage = folder / "usage.jsonl"
    count = 100_000
    usage.write_text("".join(json.dumps(record(i, "sim")) + "\n" for i in range(count)), encoding="utf-8")
    start = time.perf_counter()
    subprocess.run(
        [
            *cli,
            "simulate",
            str(CONTRACT),
            "--usage",
            str(usage),
            "--period",
            "2026-03",
            "--out",
            str(folder / "run"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    took = time.perf_counter() - start
    print(
        f"{'batch simulate':>34}: {count / took:>8.0f} records/s  "
        f"({count} records in {took:.1f} s, process start included)"
    )


if __name__ == "__main__":
    main()
