"""Commands that check contracts and runs: validate, test, verify, compile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

import clearline
from clearline.cli.base import (
    EXIT_ERRORS,
    MaxContractSize,
    _consoles,
    _contract_files,
    _fail,
    _Plain,
    _report,
    app,
    escape,
)
from clearline.diagnostics import ClearlineError

if TYPE_CHECKING:
    from clearline.compiler import ir


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
        typer.echo(clearline.engine_paths(plan), nl=False, err=as_json)  # JSON on stdout stays JSON
