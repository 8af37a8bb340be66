"""`clearline simulate`: settle a period into a run folder, and the summary it prints."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import clearline
from clearline.cli.base import (
    EXIT_CONSERVATION,
    EXIT_ERRORS,
    EXIT_INTERRUPTED,
    EXIT_REJECTS,
    MaxContractSize,
    _consoles,
    _contract_files,
    _fail,
    _option_error,
    _report,
    app,
    escape,
)
from clearline.diagnostics import ClearlineError

if TYPE_CHECKING:
    from rich.console import Console


# a URL, as runtime.inputs.locations.is_url tells one from a path (the CLI imports no runtime)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")


def _estimate_records(paths: list[Path | str]) -> int:
    total = 0
    for path in paths:
        if not isinstance(path, Path):  # a URL: no estimate, no progress bar of records
            continue
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                sample = handle.read(1 << 16)
        except OSError:
            continue
        lines = max(1, sample.count(b"\n"))
        total += int(size / (len(sample) / lines)) if sample else 0
    return total


class OutOfPeriod(StrEnum):
    reject = "reject"
    route = "route"


class EngineName(StrEnum):
    reference = "reference"
    columnar = "columnar"
    dask = "dask"


@app.command()
def simulate(
    contracts: Annotated[list[Path], typer.Argument(help="Contract files or folders.")],
    period: Annotated[str, typer.Option("--period", "-p", help="Period to settle, e.g. 2026-03.")],
    usage: Annotated[
        list[str] | None,
        typer.Option(
            "--usage",
            "-u",
            help="Usage file (.csv, .jsonl, .parquet), a path or a URL (file://, s3://, ...: "
            "fsspec); repeatable.",
        ),
    ] = None,
    fx: Annotated[Path | None, typer.Option("--fx", help="FX rates CSV: date,from,to,rate.")] = None,
    customers: Annotated[Path | None, typer.Option("--customers", help="Customers CSV.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default out/PERIOD).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Records per batch.", min=1)] = 10_000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-j", help="Processes that rate records; the files are the same for any.", min=1
        ),
    ] = 1,
    out_of_period: Annotated[
        OutOfPeriod,
        typer.Option(
            "--out-of-period",
            help="A record of another period: reject it, or route it to routed-PERIOD.jsonl "
            "for that period's run.",
        ),
    ] = OutOfPeriod.reject,
    force: Annotated[
        bool, typer.Option("--force", help="Write into an --out folder that holds other files.")
    ] = False,
    pack: Annotated[
        bool, typer.Option("--pack", help="Copy the inputs into the run folder (inputs/sha256/...).")
    ] = False,
    max_contract_size: MaxContractSize = 10,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            envvar="CLEARLINE_LEDGER",
            help="The ledger (sqlite:///PATH or postgresql://...): records it settled are rejected as "
            "duplicates; a closed period is settled again as a whole into adjustment lines.",
        ),
    ] = None,
    rerate: Annotated[
        bool,
        typer.Option(
            "--rerate",
            help="With --ledger: settle a closed period again from the records its closes read, under "
            "the versions now in force (a retroactive change), into adjustment lines.",
        ),
    ] = False,
    engine: Annotated[
        EngineName | None,
        typer.Option(
            "--engine",
            help="reference (the default), columnar (polars; with --workers too) or dask (a cluster); "
            "docs/scale.md. The files are the same.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="With --engine dask: tcp://HOST:8786 (a running scheduler), or local:N "
            "(a cluster of N workers on this machine; default local:2).",
        ),
    ] = None,
    partition_bytes: Annotated[
        int | None,
        typer.Option(
            "--partition-bytes",
            help="With --engine dask: the size of a partition in bytes (default: 8 MiB).",
            min=1,
        ),
    ] = None,
    rated_parquet: Annotated[
        Path | None,
        typer.Option(
            "--rated-parquet",
            help="With --engine dask: a folder (that every worker can write to) for the rated "
            "records as Parquet, one file per partition, written by the workers.",
        ),
    ] = None,
) -> None:
    """Settle a period: write the run folder and print the summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out, err = _consoles()
    if not usage and not rerate:
        raise typer.BadParameter("give at least one usage file", param_hint="--usage")
    if rerate and ledger is None:
        raise typer.BadParameter("--rerate re-settles a closed period of a ledger: give --ledger")
    # a URL stays text (a Path would mangle `s3://b` into `s3:/b`); the runtime opens it
    # through fsspec (runtime.inputs.locations)
    given: list[Path | str] = [u if _URL.match(u) else Path(u) for u in usage or []]
    if engine != EngineName.dask and (scheduler, partition_bytes, rated_parquet) != (None, None, None):
        raise _fail(
            _option_error("--scheduler, --partition-bytes and --rated-parquet go with --engine dask"), err
        )
    if engine == EngineName.dask and workers != 1:
        raise _fail(
            _option_error(
                "--workers counts this machine's processes; with --engine dask the cluster's workers "
                "rate (--scheduler local:N for N of them here)"
            ),
            err,
        )
    files = _contract_files(contracts, err)
    try:
        plans, warnings = clearline.load_plans(files, max_contract_bytes=max_contract_size * 1_000_000)
    except ClearlineError as error:
        raise _fail(error, err) from None
    _report(warnings, err)
    folder = out_dir or Path("out") / period
    prior = None
    if ledger is not None:
        from clearline.cli.ledger import ledger_prior

        prior, given = ledger_prior(ledger, plans, given, period, rerate)
    if engine == EngineName.dask:
        from clearline.cli.cluster import simulate_on_cluster

        kwargs: dict[str, object] = {"fx": fx, "customers": customers, "out": folder}
        kwargs["batch_size"] = batch_size
        kwargs["rated_parquet"] = rated_parquet
        kwargs["force"] = force
        kwargs["pack"] = pack
        kwargs["prior"] = prior
        result = simulate_on_cluster(
            plans, given, period, scheduler or "local:2", partition_bytes, out_of_period.value, kwargs, err
        )
        _finish(result, folder, out, err)
        return
    estimate = _estimate_records(given)
    show_progress = estimate > 200_000 and err.is_terminal
    progress = Progress(
        TextColumn("settling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not show_progress,
    )
    task = progress.add_task("records", total=estimate)
    callback: Callable[[int], None] = lambda n: progress.update(task, completed=min(n, estimate))  # noqa: E731
    try:
        with progress:
            result = clearline.run(
                plans,
                given,
                period,
                fx=fx,
                customers=customers,
                out=folder,
                batch_size=batch_size,
                progress=callback,
                workers=workers,
                out_of_period=out_of_period.value,
                force=force,
                pack=pack,
                prior=prior,
                engine="columnar" if engine == EngineName.columnar else "reference",
            )
    except ClearlineError as error:
        raise _fail(error, err) from None
    except OSError as error:  # the run folder cannot be written (permissions, disk full)
        err.print(f"error[E0501]: cannot write the run folder {escape(str(folder))}: {escape(str(error))}")
        raise typer.Exit(EXIT_ERRORS) from None
    except KeyboardInterrupt:  # Ctrl-C: the workers stop too, and the folder has no manifest
        err.print(f"interrupted: {escape(str(folder))} holds no complete run (no manifest.json)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _finish(result, folder, out, err)


def _finish(result: clearline.Settlement, folder: Path, out: Console, err: Console) -> None:
    """The summary, and the exit code of a run that completed."""
    _summary(result, folder, out)
    if result.adjustments:
        from clearline.cli.ledger import show_adjustments

        show_adjustments(result, out)
    if not result.ok:
        err.print(
            "error[E0504]: conservation violated: payouts and retained do not add up to net "
            "revenue. This is a bug in Clearline; please report it with the run folder."
        )
        raise typer.Exit(EXIT_CONSERVATION)
    if result.rejects or result.unmatched:
        _first_rejects(result, err)
        err.print(
            f"completed with {len(result.rejects)} rejected and {len(result.unmatched)} unmatched "
            f"record(s): see {folder / 'rejects.csv'} and {folder / 'unmatched.csv'}"
        )
        raise typer.Exit(EXIT_REJECTS)


SHOWN_REJECTS = 5  # the summary shows this many rejected (and unmatched) records with their reasons


def _first_rejects(result: clearline.Settlement, err: Console) -> None:
    """The first rejected and unmatched records (file order) with their reasons, and how many more."""
    for title, found in (("rejected", result.rejects), ("unmatched", result.unmatched)):
        ordered = sorted(found, key=lambda r: (r.file, r.line))
        for r in ordered[:SHOWN_REJECTS]:
            where = f"{r.file}:{r.line}" + (f" {r.record_id}" if r.record_id else "")
            field = f" ({r.field} {r.value!r})" if r.field else ""
            err.print(f"{title}: {escape(where)}{escape(field)}: {escape(r.reason)}", soft_wrap=True)
        if len(ordered) > SHOWN_REJECTS:
            err.print(f"... and {len(ordered) - SHOWN_REJECTS} more {title} record(s)")


# the summary lists up to this many customers one by one, else one row of them per currency: a
# rich table of 4,000 customers takes 3.5 CPU seconds to render, as long as rating 1M records
SHOWN_PARTIES = 20


def _money(value: Decimal) -> str:
    return f"{value:,f}"


def _summary(result: clearline.Settlement, folder: Path, out: Console) -> None:
    from rich.table import Table

    records = Table(title=f"Records, period {result.period}")
    counts = {
        "read": result.read,
        "rated": result.rated,
        "rejected": len(result.rejects),
        "unmatched": len(result.unmatched),
    }
    if result.routed:
        counts["routed"] = len(result.routed)
    for column in counts:
        records.add_column(column, justify="right")
    records.add_row(*map(str, counts.values()))
    out.print(records)
    periods = sorted({r.period for r in result.routed})
    if periods:
        files = ", ".join(escape(str(folder / f"routed-{p}.jsonl")) for p in periods)
        out.print(
            f"{len(result.routed)} record(s) of other periods set aside for their own runs: {files} "
            f"(list: {escape(str(folder / 'routed.csv'))})"
        )

    parties = Table(title="Lines per party")
    for column, justify in (
        ("party", "left"),
        ("kind", "left"),
        ("lines", "right"),
        ("amount", "right"),
        ("currency", "left"),
        ("paid", "right"),
    ):
        parties.add_column(column, justify=justify)  # type: ignore[arg-type]  # literal justify names
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for line in result.lines:
        groups.setdefault((line.party, line.kind, line.currency), []).append(line)
    ordered = sorted(groups.items())
    invoiced = [(key, lines) for key, lines in ordered if key[1] == "invoice"]
    if len(invoiced) > SHOWN_PARTIES:  # the customers in one row per currency; every partner
        customers: dict[str, list[Any]] = {}
        customer_count: dict[str, int] = {}
        for (_, _, currency), lines in invoiced:
            customers.setdefault(currency, []).extend(lines)
            customer_count[currency] = customer_count.get(currency, 0) + 1
        ordered = [
            ((f"{customer_count[currency]:,} customers", "invoice", currency), lines)
            for currency, lines in sorted(customers.items())
        ] + [(key, lines) for key, lines in ordered if key[1] != "invoice"]
    for (party, kind, currency), lines in ordered:
        amount = sum((ln.amount for ln in lines), Decimal(0))
        paid_by: dict[str, Decimal] = {}
        for ln in lines:
            if ln.paid_amount is not None:
                paid_by[ln.paid_currency] = paid_by.get(ln.paid_currency, Decimal(0)) + ln.paid_amount
        paid = ", ".join(f"{_money(v)} {c}" for c, v in sorted(paid_by.items()))
        parties.add_row(escape(party), kind, str(len(lines)), _money(amount), currency, paid)
    out.print(parties)
    if len(invoiced) > SHOWN_PARTIES:
        out.print(f"each customer's lines: {escape(str(folder / 'invoice_lines.csv'))}")

    checks = Table(title="Conservation: net revenue = payouts + retained")
    for column in ("contract", "currency", "net revenue", "payouts", "retained", "check"):
        checks.add_column(
            column, justify="right" if column not in {"contract", "currency", "check"} else "left"
        )
    for c in result.conservation:
        checks.add_row(
            escape(c["contract_id"]),
            c["currency"],
            c["net_revenue"],
            c["payouts"],
            c["retained"],
            "ok" if c["ok"] else "VIOLATED",
        )
    out.print(checks)
    out.print(f"run folder: {escape(str(folder))}")
