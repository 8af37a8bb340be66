"""Benchmark of `clearline serve`: a server process, a separate load process over loopback.

Runs, each for --seconds: batches of 100 as fast as one client can, single records as fast
as one client can, and single records at a fixed --rate; prints records/s and p50/p95/p99
latency per run, then the batch `simulate` rate of the same records on the same machine.
Usage: python benchmarks/serve.py [--seconds 5] [--rate 500]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def load(url: str, mode: str, seconds: float, rate: float) -> None:
    """The load process: prints one JSON line with the counts and latencies."""
    import httpx

    latencies: list[float] = []
    sent = 0
    size = 100 if mode == "batch" else 1
    with httpx.Client(base_url=url, timeout=60) as c:
        end = time.perf_counter() + seconds
        next_at = time.perf_counter()
        while time.perf_counter() < end:
            if mode == "rate":
                next_at += 1 / rate
                pause = next_at - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            body = {"records": [record(sent + k, mode) for k in range(size)]}
            start = time.perf_counter()
            answer = c.post("/v1/usage", json=body)
            latencies.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
            sent += size
    print(json.dumps({"records": sent, "seconds": seconds, "latencies": latencies}))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--load", nargs=2, metavar=("URL", "MODE"))
    args = parser.parse_args()
    if args.load:
        load(args.load[0], args.load[1], args.seconds, args.rate)
        return
    folder = Path(tempfile.mkdtemp(prefix="clearline-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-c", "from clearline.cli import main; main()"]
    server = subprocess.Popen(
        [*cli, "serve", str(CONTRACT), "--ledger", str(folder / "ledger.db"), "--port", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx

        for _ in range(600):
            try:
                if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"server: SQLite ledger (WAL, synchronous=FULL), {CONTRACT.name}; {args.seconds:g} s per run")
        for mode in ("batch", "single", "rate"):
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
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            data = json.loads(out.stdout)
            lat = data["latencies"]
            label = {
                "batch": "batches of 100",
                "single": "single records",
                "rate": f"single at {args.rate:g}/s",
            }
            print(
                f"{label[mode]:>20}: {data['records'] / data['seconds']:>8.0f} records/s  "
                f"p50 {pct(lat, 0.5):.1f} ms  p95 {pct(lat, 0.95):.1f} ms  p99 {pct(lat, 0.99):.1f} ms"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
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
        f"{'batch simulate':>20}: {count / took:>8.0f} records/s  "
        f"({count} records in {took:.1f} s, process start included)"
    )


if __name__ == "__main__":
    main()
