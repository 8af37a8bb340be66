"""The authoring commands: `clearline fmt`, `clearline diff`, `clearline lsp`.

Thin over `clearline.authoring` (formatter, semantic diff) and `clearline.lsp`;
imported once at the bottom of `cli/__init__.py`, which registers them on `app`.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

import clearline
from clearline import codes
from clearline.authoring.files import write_atomic
from clearline.authoring.formatter import format_text
from clearline.authoring.impact import impact, render_impact
from clearline.authoring.semantic import contract_changes, render_changes
from clearline.cli.base import EXIT_ERRORS, _consoles, _contract_files, _fail, _report, app
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.grammar import ast

__all__ = ["diff_", "fmt"]


@app.command()
def fmt(
    paths: Annotated[list[Path], typer.Argument(help="Contract files or folders of *.contract files.")],
    check: Annotated[
        bool,
        typer.Option("--check", help="Change nothing; print a diff and exit 1 if a file is not formatted."),
    ] = False,
) -> None:
    """Rewrite contracts in the canonical layout, keeping every comment. Exit 1 on a file that
    does not parse (left untouched) or, with --check, on a file that is not formatted."""
    out, err = _consoles()
    files = _contract_files(paths, err)
    diagnostics: list[Diagnostic] = []
    changed: list[Path] = []
    for path in files:
        try:
            source = clearline.read_source(path)
            formatted = format_text(source)
        except ClearlineError as error:
            diagnostics += error.diagnostics
            continue
        if formatted == source.text:
            continue
        if check:
            changed.append(path)
            diff = difflib.unified_diff(
                source.text.splitlines(keepends=True),
                formatted.splitlines(keepends=True),
                f"{path} (as written)",
                f"{path} (formatted)",
            )
            typer.echo("".join(diff), nl=False)
            continue
        try:
            write_atomic(path, formatted)
        except OSError as error:  # the file keeps its old text
            why = f"cannot write {path}: {error.strerror or error}"
            diagnostics.append(Diagnostic(codes.UNREADABLE_FILE, why, None, "check the folder's permissions"))
            continue
        changed.append(path)
        out.print(f"reformatted {escape(str(path))}")
    _report(diagnostics, err)
    verb = "would be reformatted" if check else "reformatted"
    left = len(files) - len(changed) - _bad(diagnostics)
    out.print(f"{len(changed)} file(s) {verb}, {left} left as they were")
    if diagnostics or (check and changed):
        raise typer.Exit(EXIT_ERRORS)


def _bad(diagnostics: list[Diagnostic]) -> int:
    """The files not formatted for an error (each file reports at most one)."""
    return sum(1 for d in diagnostics if d.is_error)


def _versions(old: Path, new: Path) -> tuple[ir.ContractPlan, ir.ContractPlan]:
    """The plans to compare: two contracts (their latest versions), or a contract and an
    amendment of it (the version before the amendment and the version it makes)."""
    document = None
    if new.suffix != ".json":
        document = clearline.parse(clearline.read_source(new))
    if isinstance(document, ast.Amendment):
        plans, _ = clearline.load_plans([old, new])
        ordered = sorted(plans, key=lambda p: p.version)
        return ordered[0], ordered[-1]
    was, _ = clearline.load_plans([old])
    now, _ = clearline.load_plans([new])
    return max(was, key=lambda p: p.version), max(now, key=lambda p: p.version)


@app.command("diff")
def diff_(
    old: Annotated[Path, typer.Argument(help="The contract as it is (a .contract file or a saved plan).")],
    new: Annotated[Path, typer.Argument(help="The contract as it would be, or an amendment of OLD.")],
    usage: Annotated[
        list[Path] | None,
        typer.Option("--usage", "-u", help="Usage file to settle under both; repeatable."),
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", "-p", help="Period to settle, e.g. 2026-03.")
    ] = None,
    fx: Annotated[Path | None, typer.Option("--fx", help="FX rates CSV: date,from,to,rate.")] = None,
    customers: Annotated[Path | None, typer.Option("--customers", help="Customers CSV.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes (and impact) as JSON.")] = False,
) -> None:
    """What a new version or an amendment changes, in the contract's words; with --usage, what
    it changes in money per party. Exit 1 when it changes the money (or, without usage, anything)."""
    _, err = _consoles()
    if usage and not period:
        raise typer.BadParameter("give the period to settle with --usage", param_hint="--period")
    try:
        was, now = _versions(old, new)
        changes = contract_changes(was, now)
        report = impact(was, now, usage, period, fx, customers) if usage and period else None
    except ClearlineError as error:
        raise _fail(error, err) from None
    if as_json:
        data = {
            "old": {"id": was.id, "version": was.version, "file": str(old)},
            "new": {"id": now.id, "version": now.version, "file": str(new)},
            "changes": [c.to_json() for c in changes],
            "impact": report.to_json() if report else None,
        }
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        typer.echo(render_changes(was, now, changes, (str(old), str(new))), nl=False)
        if report is not None:
            typer.echo(render_impact(report), nl=False)
    if report.differs if report is not None else bool(changes):
        raise typer.Exit(EXIT_ERRORS)


@app.command()
def lsp() -> None:
    """Run the language server over stdio (for editors; needs `pip install 'clearline[lsp]'`)."""
    try:
        from clearline.lsp.server import serve
    except ImportError as error:  # pygls is an optional extra
        _, err = _consoles()
        why = f"the language server needs pygls ({error})"
        _report([Diagnostic(codes.UNREADABLE_FILE, why, None, "pip install 'clearline[lsp]'")], err)
        raise typer.Exit(EXIT_ERRORS) from None
    serve()
