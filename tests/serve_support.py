"""A real `clearline serve` process on loopback for the service tests, and usage rows.

`Server` starts the command line's own entry point in a subprocess on a free
port, waits for /v1/health, and stops it (SIGTERM, or SIGKILL to test a crash).
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
DATA = CONTRACTS / "data"
TOKEN = "s3cret-token"
USAGE_FILES = [
    "nordcarrier-cdrs.csv",
    "fleetiot-usage.csv",
    "dcb-purchases.csv",
    "streamplus-subscriptions.csv",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rows(name: str) -> list[dict[str, str | None]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return [dict(r) for r in csv.DictReader(handle)]


def all_rows() -> list[dict[str, str | None]]:
    return [r for name in USAGE_FILES for r in rows(name)]


class Server:
    def __init__(
        self, folder: Path, ledger: str, contracts: list[Path] | None = None, fx: Path | None = None
    ) -> None:
        self.folder = folder
        self.fx = fx or DATA / "fx-rates.csv"
        self.ledger = ledger
        self.contracts = contracts or [CONTRACTS]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (folder / "token").write_text(TOKEN + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmp = folder / "tmp"

    def start(self) -> Server:
        args = [
            sys.executable,
            "-c",
            "from clearline.cli import main; main()",
            "serve",
            *map(str, self.contracts),
            "--ledger",
            self.ledger,
            "--port",
            str(self.port),
            "--fx",
            str(self.fx),
            "--customers",
            str(DATA / "customers.csv"),
            "--token-file",
            str(self.folder / "token"),
            "--contracts-dir",
            str(self.folder / "loaded"),
        ]
        self.log = (self.folder / "server.log").open("ab")
        # its scratch folder (previews) in the test's own temp folder: nothing left in /tmp
        self.tmp.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(self.tmp)}
        self.proc = subprocess.Popen(args, cwd=self.folder, stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.folder / "server.log").read_text())
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server did not start: " + (self.folder / "server.log").read_text())

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)

    def post(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.client() as c:
            answer = c.post("/v1/usage", json={"records": records})
        assert answer.status_code == 200, answer.text
        results: list[dict[str, Any]] = answer.json()["results"]
        return results

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.log.close()
