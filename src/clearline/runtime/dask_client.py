"""The client's side of a Dask cluster: connecting to a scheduler, and what is
checked before a run, so that a cluster that cannot be used is a diagnostic
and no run folder.

Input: a scheduler (`tcp://HOST:8786`, or `local:N` for a LocalCluster of N
worker processes). Output: a `Cluster` (the connected client) whose workers
all import clearline of the client's version (E0508 when the scheduler cannot
be reached or has no worker, E0509 for a worker without clearline or of
another version); `check_reachable` and `prepare_parquet` check that every
worker reaches the usage files and the Parquet folder (E0510). `distributed`
is an optional dependency (the `cluster` extra), imported only when connecting.
The run itself is runtime.cluster's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearline import codes
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.runtime.inputs.locations import is_url

__all__ = ["LOCAL", "TIMEOUT", "Cluster", "check_reachable", "cluster_error", "connect", "prepare_parquet"]

LOCAL = "local:"
TIMEOUT = 10  # seconds to reach the scheduler and to see a first worker


def cluster_error(code: str, message: str, hint: str | None) -> ClearlineError:
    return ClearlineError([Diagnostic(code, message, None, hint)])


@dataclass(slots=True)
class Cluster:
    """A connected Dask client, and the LocalCluster it started (if `local:N`)."""

    client: Any
    local: Any | None
    workers: int  # worker threads in all, when connected

    @property
    def dashboard(self) -> str | None:
        """The Dask dashboard's address, when the scheduler serves one."""
        try:
            if "dashboard" not in self.client.scheduler_info().get("services", {}):
                return None
            return str(self.client.dashboard_link)
        except Exception:
            return None

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()


@contextmanager
def connect(scheduler: str, timeout: int = TIMEOUT) -> Iterator[Cluster]:
    """A client of `scheduler`, its workers checked (each has this clearline's
    version); a ClearlineError says what is wrong, before any run folder exists."""
    try:
        import distributed
    except ImportError:
        raise cluster_error(
            codes.CLUSTER_UNAVAILABLE,
            "--engine dask needs the Dask packages, which are not installed",
            "pip install 'clearline[cluster]'",
        ) from None
    local = None
    if scheduler.startswith(LOCAL):
        count = scheduler.removeprefix(LOCAL)
        if not count.isdigit() or int(count) < 1:
            raise cluster_error(
                codes.BAD_OPTION,
                f"--scheduler {scheduler}: a local cluster is local:N, N workers (1 or more)",
                "e.g. --scheduler local:2, or the address of a running scheduler, tcp://HOST:8786",
            )
        local = distributed.LocalCluster(
            n_workers=int(count),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: several runs may share the machine
            silence_logs=50,  # logging.CRITICAL: the run's diagnostics are Clearline's own
        )
        address = local.scheduler_address
    else:
        address = scheduler
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        if local is not None:
            local.close()
        raise cluster_error(
            codes.CLUSTER_UNAVAILABLE,
            f"cannot reach the Dask scheduler at {scheduler}: {err}",
            "start one with `dask scheduler` (and workers with `dask worker ADDRESS`), "
            "or use --scheduler local:N for a cluster on this machine",
        ) from None
    cluster = Cluster(client, local, 0)
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise cluster_error(
                codes.CLUSTER_UNAVAILABLE,
                f"the Dask scheduler at {scheduler} has no worker: {err}",
                f"start workers with `dask worker {address}`",
            ) from None
        _check_workers(client, scheduler)
        cluster.workers = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        yield cluster
    finally:
        cluster.close()


def _check_workers(client: Any, scheduler: str) -> None:
    """Every worker imports clearline, of the client's version."""
    from clearline.version import __version__

    # The probe pickles by name, so a worker without clearline fails to load it and
    # says so (ModuleNotFoundError); one with clearline answers its version.
    answers = client.run(_worker_version, on_error="return")
    for worker, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            raise cluster_error(
                codes.CLUSTER_WORKER_UNFIT,
                f"the Dask worker {worker} (of {scheduler}) cannot import clearline: {_reason(answer)}",
                "install clearline (pip install 'clearline[cluster]') in the Python "
                "environment that runs `dask worker`",
            )
        if answer != __version__:
            raise cluster_error(
                codes.CLUSTER_WORKER_UNFIT,
                f"the Dask worker {worker} (of {scheduler}) runs clearline {answer}, "
                f"this client {__version__}: a run must be rated by one version",
                f"install clearline {__version__} on every worker, or run this version's client there",
            )


def _reason(error: BaseException) -> str:
    # a probe that fails to load comes back as a plain Exception naming the real one
    return str(error) if type(error) is Exception else f"{type(error).__name__}: {error}"


def _worker_version() -> str:
    # the tasks' modules (the engine, the readers) imported now, on every worker at
    # once, rather than by the first task of each, which the run would wait for; a
    # worker whose clearline cannot import them says so now, with no run folder
    import clearline.runtime.cluster_tasks  # noqa: F401
    from clearline.version import __version__

    return __version__


def check_reachable(cluster: Cluster, paths: Sequence[str]) -> None:
    """Every worker can read every usage file by its name -- a path or a URL -- since
    they read them themselves (E0510 names the file, the workers and why not)."""
    for path in paths:
        answers = cluster.client.run(_cannot_read, path, on_error="return")
        blind = {w: why for w, why in sorted(answers.items()) if why != ""}
        if blind:
            reasons = sorted(
                {_reason(why) if isinstance(why, BaseException) else str(why) for why in blind.values()}
            )
            url = is_url(path)
            raise cluster_error(
                codes.INPUT_NOT_ON_WORKERS,
                f"the usage file {path} cannot be read from the Dask worker(s) {', '.join(blind)}: "
                + "; ".join(reasons),
                "on a cluster the workers read the usage files themselves: "
                + (
                    "install the file system's package (s3fs for s3://, gcsfs for gs://, ...) and "
                    "its credentials on every worker; a memory:// file lives in one process only"
                    if url
                    else "put them on a filesystem every worker mounts at the same path, and pass "
                    "that path (absolute), or a URL every worker can open (s3://..., fsspec)"
                ),
            )


def _cannot_read(name: str) -> str:
    """Why this process cannot read the usage file `name` ("" when it can): run on
    every worker."""
    from clearline.runtime.inputs.locations import as_input, open_bytes
    from clearline.runtime.inputs.readers import InputError

    try:
        with open_bytes(as_input(name)) as handle:
            handle.read(1)
    except InputError as err:
        return err.message
    except OSError as err:
        return f"{type(err).__name__}: {err.strerror or err}"
    return ""


def prepare_parquet(cluster: Cluster, folder: Path) -> None:
    """The Parquet folder, made and emptied of an earlier run's parts; every worker
    must be able to write to it (E0510 otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("part-*.parquet"), *folder.glob("trace.parquet")]:
        stale.unlink()
    answers = cluster.client.run(os.access, str(folder), os.W_OK, on_error="return")
    blind = sorted(w for w, ok in answers.items() if ok is not True)
    if blind:
        raise cluster_error(
            codes.INPUT_NOT_ON_WORKERS,
            f"the Parquet folder {folder} cannot be written from the Dask worker(s) {', '.join(blind)}",
            "the workers write the Parquet parts themselves: give a folder every worker mounts at "
            "the same path",
        )
