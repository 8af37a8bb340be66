"""The `clearline` command line (typer + rich): a thin layer over the facade.

Exit codes: 0 clean; 1 errors in contracts, inputs or options (nothing
settled); 2 wrong usage of the command; 3 the run completed but rejected or
left unmatched some records; 4 the conservation check failed (a bug: please
report it); 70 an internal error (also a bug).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

import clearline
from clearline import codes
from clearline.diagnostics import ClearlineError, Diagnostic, render_all
from clearline.source import SourceFile

# Heavy modules (rich's progress bar, tables and trees, the runtime, jinja2) are
# imported by the commands that use them: `clearline validate` starts fast
# (tests/test_first_hour.py checks what it imports, benchmarks/startup.py times it).
if TYPE_CHECKING:
    from rich.console import Console
    from rich.tree import Tree

    from clearline.compiler import ir


def escape(text: str) -> str:
    """rich's markup escape, imported when first needed (`validate` starts without rich)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class _Printer(Protocol):
    """What `_report` and `_contract_files` need of a console: a rich Console, or `_Plain`."""

    def print(self, *objects: Any, markup: bool | None = None, soft_wrap: bool | None = None) -> None: ...


class _Plain:
    """Plain text to stdout or stderr: `validate` prints nothing styled, and starting it
    without rich (40 ms) matters in an authoring loop."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr

    def print(self, *objects: Any, markup: bool | None = None, soft_wrap: bool | None = None) -> None:
        text = " ".join(str(o) for o in objects)
        if markup is not False:
            text = text.replace("\\[", "[")  # what `escape` did for rich's markup
        print(text, file=sys.stderr if self.stderr else sys.stdout)


EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_REJECTS = 3
EXIT_CONSERVATION = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

app = typer.Typer(
    name="clearline",
    help="Contract language and compiler for telecom partner settlement.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"clearline {clearline.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print Clearline's version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Contract language and compiler for telecom partner settlement."""


def _consoles() -> tuple[Console, Console]:
    from rich.console import Console

    # Wide when not a terminal (pipes, tests): a trace line is never cropped.
    width = None if sys.stdout.isatty() else 200
    return (
        Console(highlight=False, width=width),
        Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200),
    )


def _sources(diagnostics: list[Diagnostic]) -> dict[str, SourceFile]:
    sources: dict[str, SourceFile] = {}
    for d in diagnostics:
        if d.span and d.span.file not in sources:
            try:
                sources[d.span.file] = SourceFile.read(d.span.file)
            except (OSError, UnicodeDecodeError):
                pass
    return sources


def _report(diagnostics: list[Diagnostic], err: _Printer) -> None:
    if diagnostics:
        # soft_wrap: a long source line must not wrap, or the caret would stand under the wrong text
        err.print(render_all(diagnostics, _sources(diagnostics)), markup=False, soft_wrap=True)
        errors = sum(1 for d in diagnostics if d.is_error)
        warnings = len(diagnostics) - errors
        err.print(f"{errors} error(s), {warnings} warning(s)", soft_wrap=True)


MaxContractSize = Annotated[
    int,
    typer.Option("--max-contract-size", help="Largest contract file read, in MB (default 10).", min=1),
]


def _fail(error: ClearlineError, err: Console) -> typer.Exit:
    _report(error.diagnostics, err)
    return typer.Exit(EXIT_ERRORS)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Contract files or folders of *.contract files.")],
    max_contract_size: MaxContractSize = 10,
) -> None:
    """Check contracts: syntax, names, currencies, shares, roundings. Exit 1 on errors."""
    out, err = _Plain(), _Plain(stderr=True)
    files = _contract_files(paths, err)
    # Linked as a run links them: imports resolved, amendments applied, versions checked.
    from clearline.compiler.check_ledger import DEFAULT_LATE_PERIODS

    plans: list[ir.ContractPlan] = []
    try:
        plans, diagnostics = clearline.load_plans(files, max_contract_bytes=max_contract_size * 1_000_000)
    except ClearlineError as error:
        diagnostics = error.diagnostics
    _report(diagnostics, err)
    if any(d.is_error for d in diagnostics):
        raise typer.Exit(EXIT_ERRORS)
    out.print(f"{len(files)} contract(s) OK")
    # parties whose documents could not be sent: no particulars at all (W0130 names what is
    # missing once a contract gives some)
    bare = sorted({p.id for p in plans if all(party.details is None for party in p.parties)})
    if bare:
        out.print(
            f"note: no `details of PARTY {{ ... }}` in {', '.join(bare)}: the invoices and statements"
            " lack the particulars art. 226 asks (legal names, addresses, VAT ids) and stay drafts"
            " (docs/reports.md)"
        )
    # the documented defaults a contract relies on, said once per contract
    defaulted = sorted({p.id for p in plans if p.late_periods is None})
    if defaulted:
        out.print(
            f"default: late usage is taken until {DEFAULT_LATE_PERIODS} later period is closed, for "
            f"{', '.join(defaulted)} (`accept late usage for N periods` changes it)"
        )


def _contract_files(paths: list[Path], err: _Printer) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.rglob("*.contract"))
        else:
            files.append(path)
    if not files:
        shown = ", ".join(str(p) for p in paths)
        err.print(
            f"error[E0104]: no contract files in {escape(shown)}\n"
            "   = hint: give *.contract files or folders that hold them"
        )
        raise typer.Exit(EXIT_ERRORS)
    return files


@app.command("test")
def test_(
    paths: Annotated[
        list[Path], typer.Argument(help="Contract files or folders (with amendments and libraries).")
    ],
) -> None:
    """Run the worked examples written in the contracts; show a diff for each failure."""
    from clearline.examples import run_examples

    out, err = _consoles()
    files = _contract_files(paths, err)
    try:
        results = run_examples(files)
    except ClearlineError as error:
        raise _fail(error, err) from None
    for r in results:
        if r.passed:
            out.print(f'[green]PASS[/green] {escape(r.contract_id)} example "{escape(r.label)}"')
            continue
        out.print(f'[red]FAIL[/red] {escape(r.contract_id)} example "{escape(r.label)}"  ({r.span})')
        for problem in r.problems:
            out.print(f"     {escape(problem)}")
        for line in r.diff:
            style = "red" if line.startswith("-") else "green"
            out.print(f"     [{style}]{escape(line)}[/{style}]")
    failed = sum(1 for r in results if not r.passed)
    out.print(f"{len(results) - failed} passed, {failed} failed")
    if failed or not results:
        if not results:
            err.print('no examples found: add `example "..." { ... }` blocks to the contracts')
        raise typer.Exit(EXIT_ERRORS)


@app.command()
def verify(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `clearline simulate`.")],
    workers: Annotated[
        int, typer.Option("--workers", "-j", help="Processes that rate records again.", min=1)
    ] = 1,
) -> None:
    """Reproduce a run: re-hash its inputs, settle again, compare every output byte for byte."""
    from clearline.verify import verify_run

    out, err = _consoles()
    try:
        result = verify_run(run_dir, workers)
    except ClearlineError as error:
        raise _fail(error, err) from None
    for item in result.changed_inputs:
        err.print(f"error[E0506]: input changed since the run: {escape(item)}")
    for name in result.differing_outputs:
        err.print(f"error[E0507]: {escape(name)} does not reproduce")
    for claim in result.wrong_claims:
        err.print(f"error[E0522]: manifest.json claims {escape(claim)}", soft_wrap=True)
    for problem in result.bad_documents:
        err.print(f"error[E0523]: {escape(problem)}", soft_wrap=True)
    if not result.ok:
        raise typer.Exit(EXIT_ERRORS)
    documents = (
        f", {result.documents_checked} document(s) rendered from this manifest"
        if result.documents_checked
        else ""
    )
    out.print(
        f"verified: {result.inputs_checked} input(s) unchanged, "
        f"{result.outputs_checked} output(s) reproduced byte for byte, "
        f"{result.claims_checked} manifest claim(s) recomputed{documents}",
        soft_wrap=True,
    )


@app.command("compile")
def compile_(
    contract: Annotated[Path, typer.Argument(help="The contract file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the serialised plan (JSON).")] = False,
    max_contract_size: MaxContractSize = 10,
    paths: Annotated[
        bool,
        typer.Option(
            "--paths",
            help="Also print which engine path rates each rule, and why (and with --engine columnar).",
        ),
    ] = False,
) -> None:
    """Print the settlement plan of a contract, readable or as JSON."""
    from clearline.compiler import ir
    from clearline.compiler.printer import format_plan

    _, err = _consoles()
    try:
        source = clearline.read_source(contract, max_contract_size * 1_000_000)
        warnings = [d for d in clearline.check(clearline.parse(source)) if not d.is_error]
        plan = clearline.plan(source)
    except ClearlineError as error:
        raise _fail(error, err) from None
    _report(warnings, err)
    # Plain writes, not rich: a console would wrap long lines, even inside JSON strings.
    if as_json:
        typer.echo(json.dumps(ir.to_json(plan), indent=2, ensure_ascii=False))
    else:
        typer.echo(format_plan(plan), nl=False)
    if paths:
        from clearline.runtime.rating.columnar import format_columnar
        from clearline.runtime.rating.paths import format_paths

        typer.echo(format_paths(plan), nl=False, err=as_json)  # JSON on stdout stays JSON
        typer.echo(format_columnar(plan), nl=False, err=as_json)


def _estimate_records(paths: list[Path]) -> int:
    total = 0
    for path in paths:
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
        list[Path] | None,
        typer.Option("--usage", "-u", help="Usage file (.csv, .jsonl, .parquet); repeatable."),
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
            help="reference (the default), columnar (polars, one process) or dask (a cluster); "
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
            help="With --engine dask: the size of a partition (default: about 4 per worker, from 4 MiB).",
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
    usage = list(usage or [])
    if engine != EngineName.dask and (scheduler, partition_bytes, rated_parquet) != (None, None, None):
        raise _fail(
            _option_error("--scheduler, --partition-bytes and --rated-parquet go with --engine dask"), err
        )
    if engine == EngineName.columnar and workers != 1:
        raise _fail(_option_error("--engine columnar rates in one process: leave out --workers"), err)
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

        prior, usage = ledger_prior(ledger, plans, usage, period, rerate)
    if engine == EngineName.dask:
        from clearline.cli.cluster import simulate_on_cluster

        kwargs: dict[str, object] = {"fx": fx, "customers": customers, "out": folder}
        kwargs["batch_size"] = batch_size
        kwargs["rated_parquet"] = rated_parquet
        kwargs["force"] = force
        kwargs["pack"] = pack
        kwargs["prior"] = prior
        result = simulate_on_cluster(
            plans, usage, period, scheduler or "local:2", partition_bytes, out_of_period.value, kwargs, err
        )
        _finish(result, folder, out, err)
        return
    estimate = _estimate_records(usage)
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
                usage,
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


def _option_error(message: str) -> ClearlineError:
    return ClearlineError([Diagnostic(codes.BAD_OPTION, message, None, None)])


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
    for (party, kind, currency), lines in sorted(groups.items()):
        amount = sum((ln.amount for ln in lines), Decimal(0))
        paid_by: dict[str, Decimal] = {}
        for ln in lines:
            if ln.paid_amount is not None:
                paid_by[ln.paid_currency] = paid_by.get(ln.paid_currency, Decimal(0)) + ln.paid_amount
        paid = ", ".join(f"{_money(v)} {c}" for c, v in sorted(paid_by.items()))
        parties.add_row(escape(party), kind, str(len(lines)), _money(amount), currency, paid)
    out.print(parties)

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


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `clearline simulate`.")],
    line_id: Annotated[
        str | None, typer.Argument(help="The line id, e.g. P-39c41c12e8.", show_default=False)
    ] = None,
    all_records: Annotated[
        bool, typer.Option("--records", help="List every rated record of the line.")
    ] = False,
    record_id: Annotated[
        str | None,
        typer.Option("--record", metavar="ID", help="Every line a record fed, with its share of each."),
    ] = None,
    party: Annotated[
        str | None, typer.Option("--party", metavar="PARTY", help="A party's lines, with their totals.")
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option("--customer", metavar="CUSTOMER", help="An end customer's invoice lines, with totals."),
    ] = None,
) -> None:
    """Explain one line (clause, formula with values, rounding, FX and records), or
    the lines of a record, a party or a customer."""
    out, err = _consoles()
    trace_file = run_dir / "trace.jsonl"
    if not (run_dir / "manifest.json").exists() or not trace_file.is_file():
        err.print(f"error[E0501]: {run_dir} is not a complete run folder (no manifest.json)")
        raise typer.Exit(EXIT_ERRORS)
    asked = [a for a in (line_id, record_id, party, customer) if a is not None]
    if len(asked) != 1:
        raise typer.BadParameter(
            "give one of: a LINE_ID, --record ID, --party PARTY or --customer CUSTOMER",
            param_hint="LINE_ID",
        )
    if line_id is None:
        from clearline.cli.lookups import explain_other_end

        explain_other_end(run_dir, record_id, party, customer, out, err)
        return
    trace = None
    ids: list[str] = []
    with trace_file.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            try:
                data = json.loads(text)
                ids.append(data["line_id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                err.print(
                    f"error[E0501]: {escape(str(trace_file))}:{number} is damaged: not a trace "
                    "written by clearline simulate\n   = hint: run the settlement again, or "
                    "`clearline verify` the folder",
                    soft_wrap=True,
                )
                raise typer.Exit(EXIT_ERRORS) from None
            if data["line_id"] == line_id:
                trace = data
                break
    if trace is None:
        from clearline.diagnostics import did_you_mean

        hint = did_you_mean(line_id, ids) or "line ids are in the line_id column of the line files"
        err.print(f"error[E0401]: no line {escape(line_id)} in {escape(str(run_dir))}\n   = hint: {hint}")
        raise typer.Exit(EXIT_ERRORS)
    out.print(_trace_tree(trace, run_dir))
    if all_records:
        # the JSON Lines file: record ids as read (the CSV file neutralises formulas)
        with (run_dir / "rated_records.jsonl").open(encoding="utf-8") as handle:
            for row in map(json.loads, handle):
                if row["line_id"] == line_id:
                    out.print(f"{escape(row['record_id'])}  {row['billed_quantity']}  {row['amount']}")


def _trace_tree(t: dict[str, Any], run_dir: Path) -> Tree:
    from rich.tree import Tree

    e = escape
    amount = f"{t['amount']} {t['currency']}"
    head = f"[bold]{e(t['line_id'])}[/bold]  {t['kind']} {e(t['party'])}  [bold]{amount}[/bold]"
    if t.get("fx"):
        head += f"  (paid {e(t['fx']['result'])})"
    tree = Tree(head)
    c = t["contract"]
    tree.add(f"contract {e(c['id'])} version {c['version']}  {e(c['file'])}  sha256:{c['sha256'][:16]}")
    clause = t.get("clause")
    if clause:
        node = tree.add(
            f"clause [bold]{e(clause['label'])}[/bold]"
            + (f" — {e(clause['text'])}" if clause["text"] else "")
        )
        span = clause["span"]
        node.add(e(span))
        first = int(span.rsplit(":", 2)[1])
        excerpt = "\n".join(
            f"{first + i:>4} | {line}" for i, line in enumerate(clause["excerpt"].splitlines())
        )
        node.add(e(excerpt))
    if t.get("rule"):
        tree.add(f"rule  {e(t['rule']['text'])}  ({e(t['rule']['span'])})")
    formula = tree.add(f"formula  {e(t['formula'])}")
    if t.get("arithmetic"):
        formula.add(e(t["arithmetic"]))
    units = t.get("units") or {}
    for shown in units.get("shown", []):
        formula.add(f"{e(shown['unit'])}: {e(shown['arithmetic'])}  -> {shown['amount']}")
    if units.get("count", 0) > len(units.get("shown", [])):
        formula.add(f"... {units['count'] - len(units['shown'])} more unit(s) ({units.get('note', '')})")
    if "sum" in t:
        tree.add(f"sum  {t['sum']}")
    if t.get("rounding"):
        node = tree.add("rounding")
        for r in t["rounding"]:
            if "before" in r:
                node.add(
                    f"{r['point']}: {r['mode']} to {r['quantum']}: {r['before']} -> {r['after']}"
                    + ("" if r.get("declared") == "yes" else "  (default)")
                )
            else:
                node.add(f"{r['point']}: {r['mode']} to {r['quantum']} ({e(r.get('note', ''))})")
    if t.get("vat"):
        v = t["vat"]
        tree.add(f"VAT {v['rate']}: {v['arithmetic']} -> {v['rounded']}; gross {v['gross']}")
    if t.get("fx"):
        fx = t["fx"]
        node = tree.add(f"FX ({e(fx['fixing'])}, table {e(fx['table'])}, clause {e(fx['clause']['label'])})")
        for step in fx["arithmetic"]:
            node.add(e(step))
        rounding = f"{fx['rounding']['mode']} to {fx['rounding']['quantum']}"
        node.add(f"{fx['exact']} rounded {rounding} -> {e(fx['result'])}")
    if t.get("from_lines"):
        node = tree.add("from lines")
        for kind, lids in t["from_lines"].items():
            node.add(f"{kind}: {', '.join(lids) or '-'}")
    records = t.get("records") or {}
    if records.get("count"):
        node = tree.add(f"records  {records['count']}")
        node.add(
            ", ".join(e(r) for r in records["first"])
            + (" ..." if records["count"] > len(records["first"]) else "")
        )
        node.add(f"all of them: clearline explain {e(str(run_dir))} {e(t['line_id'])} --records")
    return tree


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `clearline simulate`.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the documents (default RUN_DIR/documents).")
    ] = None,
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", help="html, md, pdf or en16931; repeatable (default: html and md)."),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Render every document in this language (en, pl, de)."),
    ] = None,
    issue_date: Annotated[
        str | None,
        typer.Option(
            "--issue-date", help="The documents' issue date, YYYY-MM-DD (default: the close's day)."
        ),
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger", help="A ledger URL: documents of a closed period get its numbers (else: DRAFT)."
        ),
    ] = None,
) -> None:
    """Render the documents: invoices, self-billing statements and the audit report."""
    from clearline import reports

    out, err = _consoles()
    chosen = formats or list(reports.FORMATS)
    for fmt in chosen:
        if fmt not in reports.ALL_FORMATS:
            formats_list = ", ".join(reports.ALL_FORMATS)
            raise typer.BadParameter(f"{fmt!r} is not one of: {formats_list}", param_hint="--format")
    if lang is not None and lang not in reports.SUPPORTED_LANGUAGES:
        languages = ", ".join(reports.SUPPORTED_LANGUAGES)
        raise typer.BadParameter(f"{lang!r} has no catalog; languages: {languages}", param_hint="--lang")
    day = None
    if issue_date is not None:
        try:
            day = dt.date.fromisoformat(issue_date)
        except ValueError:
            raise typer.BadParameter(
                f"{issue_date!r} is not a date (YYYY-MM-DD)", param_hint="--issue-date"
            ) from None
    try:
        result = reports.render_reports(run_dir, out_dir, chosen, lang, issue_date=day, ledger=ledger)
    except reports.RunFolderError as error:
        err.print(f"error[E0501]: {escape(str(error))}")
        raise typer.Exit(EXIT_ERRORS) from None
    except ClearlineError as error:
        raise _fail(error, err) from None
    for note in result.notes:
        err.print(f"note: {escape(note)}")
    for path in result.files:
        out.print(escape(str(path)))
    folder = out_dir or run_dir / "documents"
    out.print(f"{len(result.files)} document file(s) in {escape(str(folder))}")


def main() -> None:
    """Entry point: no Python traceback reaches a user."""
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # a bug: say so plainly, keep the details for the report
        if os.environ.get("CLEARLINE_DEBUG"):
            raise
        print(
            f"internal error: {type(error).__name__}: {error}\n"
            "This is a bug in Clearline. Rerun with CLEARLINE_DEBUG=1 for details and report it.",
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERNAL)


from clearline.cli import authoring as _authoring  # noqa: E402, F401  # fmt, diff, lsp
from clearline.cli import ledger as _ledger  # noqa: E402, F401  (close, ledger ...)
from clearline.cli import new as _new  # noqa: E402, F401  # `clearline new`
from clearline.cli import serve as _serve  # noqa: E402, F401  (serve)

if __name__ == "__main__":
    main()
