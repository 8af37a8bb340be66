"""A real Dask cluster for tests: a scheduler and workers, each its own process on
loopback (`python -m distributed.cli.dask_scheduler` / `dask_worker`, what the
`dask scheduler` and `dask worker` commands run), on free ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

STARTUP = 120.0  # seconds: the machine is shared, a process may start slowly


@dataclass
class LocalProcesses:
    folder: Path
    address: str = ""
    scheduler: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def add_worker(
        self,
        python: Sequence[str] = (sys.executable,),
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """A worker process: one thread, no nanny (killing it kills the worker)."""
        log = (self.folder / f"worker-{len(self.workers)}.log").open("wb")
        worker = subprocess.Popen(
            [
                *python,
                "-m",
                "distributed.cli.dask_worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--death-timeout",
                "60",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd or self.folder,
        )
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=STARTUP, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=STARTUP)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.workers, self.scheduler]:
            if process is None:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def scheduler_process(folder: Path) -> Iterator[LocalProcesses]:
    """A scheduler on 127.0.0.1, a free port (it writes its address to a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = folder / "scheduler.json"
    cluster = LocalProcesses(folder)
    cluster.scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(info),
        ],
        stdout=(folder / "scheduler.log").open("wb"),
        stderr=subprocess.STDOUT,
        cwd=folder,
    )
    try:
        deadline = time.monotonic() + STARTUP
        while not info.exists() or not info.read_text():
            if cluster.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "scheduler.log").read_text())
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written in one piece, but give it a moment
        cluster.address = json.loads(info.read_text())["address"]
        yield cluster
    finally:
        cluster.stop()


def site_packages() -> str:
    """This environment's site-packages folder (where dask and distributed are)."""
    import distributed

    return str(Path(distributed.__file__).parent.parent)


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env
