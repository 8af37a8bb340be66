"""The authoring commands: `clearline fmt`, `clearline diff`, `clearline lsp`.

Thin over `clearline.authoring` (formatter, semantic diff) and `clearline.lsp`;
imported once at the bottom of `cli/__init__.py`, which registers them on `app`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from clearline import codes
from clearline.authoring.files import write_atomic
from clearline.authoring.formatter import format_text
from clearline.cli import EXIT_ERRORS, _consoles, _contract_files, _report, app
from clearline.diagnostics import ClearlineError, Diagnostic

__all__ = ["fmt"]


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
    import clearline

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
