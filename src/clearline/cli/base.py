"""What every command shares: the typer app, the consoles, the exit codes and how
diagnostics are printed. The commands live beside it (check, simulate, explain,
authoring, ledger, new, serve); `clearline.cli` imports them to register them."""

from __future__ import annotations

import sys
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


def _contract_files(paths: list[Path], err: _Printer) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.rglob("*.contract"))
        else:
            files.append(path)
    if not files:
        for path in paths:
            shown = escape(str(path))
            err.print(
                f"{shown}: error[{codes.UNREADABLE_FILE}]: no contract files in {shown}\n"
                "   = hint: give *.contract files or folders that hold them",
                soft_wrap=True,
            )
        raise typer.Exit(EXIT_ERRORS)
    return files


def _option_error(message: str) -> ClearlineError:
    return ClearlineError([Diagnostic(codes.BAD_OPTION, message, None, None)])
