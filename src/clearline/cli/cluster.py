"""`clearline simulate --engine dask`: a run on a Dask cluster, from the command line.

Input: the loaded plans, the usage files' paths (as the workers see them), the
scheduler (`tcp://HOST:8786` or `local:N`) and the run's options. Output: the
settlement, the run folder written by the client; on stderr, the dashboard's
address (when the scheduler serves one) and a progress bar over partitions.
A cluster that cannot be reached or used is a diagnostic (E0508-E0510), with
no run folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import clearline
from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError

__all__ = ["simulate_on_cluster"]


def simulate_on_cluster(
    plans: Sequence[ir.ContractPlan],
    usage: Sequence[Path | str],
    period: str,
    scheduler: str,
    partition_bytes: int | None,
    out_of_period: str,
    options: dict[str, Any],
    err: Console,
) -> clearline.Settlement:
    from clearline.cli.base import EXIT_ERRORS, EXIT_INTERRUPTED, _fail

    folder = Path(options["out"])
    progress = Progress(
        TextColumn("settling partitions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = progress.add_task("partitions", total=None)

    def advance(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    try:
        with clearline.connect_cluster(scheduler) as cluster:
            dashboard = cluster.dashboard
            if dashboard:
                err.print(f"dask dashboard: {escape(dashboard)}", soft_wrap=True)
            with progress:
                return clearline.run(
                    plans,
                    usage,
                    period,
                    out_of_period=out_of_period,
                    cluster=cluster,
                    partition_progress=advance,
                    partition_bytes=partition_bytes,
                    **options,
                )
    except ClearlineError as error:
        raise _fail(error, err) from None
    except OSError as error:  # the run folder cannot be written (permissions, disk full)
        err.print(
            f"error[{codes.UNREADABLE_INPUT}]: cannot write the run folder {escape(str(folder))}: "
            f"{escape(str(error))}"
        )
        raise typer.Exit(EXIT_ERRORS) from None
    except KeyboardInterrupt:
        err.print(f"interrupted: {escape(str(folder))} holds no complete run (no manifest.json)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
