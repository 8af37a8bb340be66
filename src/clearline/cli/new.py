"""`clearline new contract FILE --kind K`: write a commented starting agreement.

Input: a file name and a kind of agreement; output: the file, a contract of
that kind (parties, usage fields, one product, labelled clauses and one worked
example) that validates and passes `clearline test` as written. The texts are
in `clearline/templates/KIND.contract`, with `{id}` and `{title}` filled in
from the file's name.
"""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from clearline import codes
from clearline.cli.base import EXIT_ERRORS, app

new_app = typer.Typer(
    name="new",
    help="Start something new: `clearline new contract FILE` writes a starting agreement.",
    no_args_is_help=True,
)
app.add_typer(new_app)


class Kind(StrEnum):
    revenue_share = "revenue-share"
    interconnect = "interconnect"
    wholesale = "wholesale"
    b2b2x = "b2b2x"


TITLES = {
    Kind.revenue_share: "Revenue share on the operator's bill",
    Kind.interconnect: "Voice termination",
    Kind.wholesale: "Wholesale data",
    Kind.b2b2x: "Carrier billing through an aggregator",
}


def template(kind: Kind) -> str:
    """The template of a kind, with `{id}` and `{title}` still in it."""
    return resources.files("clearline").joinpath("templates", f"{kind.value}.contract").read_text("utf-8")


def contract_id(path: Path) -> str:
    """A contract id from a file name: `acme voice.contract` -> `ACME-VOICE-2026`.

    >>> contract_id(Path("contracts/acme.contract"))
    'ACME-2026'
    >>> contract_id(Path("2026 deal.contract"))
    'C-2026-DEAL-2026'
    """
    stem = re.sub(r"[^A-Za-z0-9]+", "-", path.name.split(".")[0]).strip("-").upper() or "NEW"
    if not stem[0].isalpha():
        stem = f"C-{stem}"
    return f"{stem}-2026"


def render(kind: Kind, path: Path) -> str:
    """The starting agreement of `kind` for the file `path`."""
    return template(kind).replace("{id}", contract_id(path)).replace("{title}", TITLES[kind])


@new_app.command("contract")
def new_contract(
    file: Annotated[
        Path, typer.Argument(help="The contract file to write, e.g. acme.contract.", metavar="FILE")
    ],
    kind: Annotated[
        Kind, typer.Option("--kind", "-k", help="The kind of agreement to start from.", metavar="KIND")
    ] = Kind.revenue_share,
) -> None:
    """Write a commented starting agreement of a kind; it validates and passes `clearline test`."""
    if file.exists():
        typer.echo(
            f"error[{codes.BAD_OPTION}]: {file} exists; Clearline does not overwrite it\n"
            "   = hint: give a new file name, or remove the file first",
            err=True,
        )
        raise typer.Exit(EXIT_ERRORS)
    try:
        file.write_text(render(kind, file), encoding="utf-8")
    except OSError as error:
        reason = error.strerror or error
        typer.echo(f"error[{codes.UNREADABLE_INPUT}]: cannot write {file}: {reason}", err=True)
        raise typer.Exit(EXIT_ERRORS) from None
    typer.echo(f"wrote {file}: a starting {kind.value} agreement with one worked example")
    typer.echo(f"next: clearline validate {file} && clearline test {file}")
