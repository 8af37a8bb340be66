"""`clearline close` and the `clearline ledger` group: the settlement ledger at the CLI.

Input: run folders and a ledger URL (`--ledger URL` or `CLEARLINE_LEDGER`;
`sqlite:///PATH`, a file path, or `postgresql://...`). Output: closes
written to the ledger, and tables of its periods, documents, one document,
and the verification of its hash chain. Every failure is a diagnostic with
its code (exit 1), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import clearline
from clearline import codes
from clearline.cli.base import EXIT_ERRORS, _consoles, _fail, app
from clearline.diagnostics import ClearlineError, Diagnostic

if TYPE_CHECKING:
    from clearline.compiler import ir
    from clearline.ledger import Ledger
    from clearline.ledger.model import CloseOutcome, Pending

LEDGER_ENV = "CLEARLINE_LEDGER"

ledger_app = typer.Typer(
    help="Inspect and verify the settlement ledger: closed periods, documents, the hash chain.",
    no_args_is_help=True,
)
app.add_typer(ledger_app, name="ledger")


@contextmanager
def opened(url: str) -> Iterator[Ledger]:
    """The ledger at `url`; a missing `ledger` extra or an unusable ledger is a diagnostic."""
    _, err = _consoles()
    try:
        from clearline.ledger import open_ledger
    except ImportError as error:  # sqlalchemy/alembic/psycopg not installed
        diagnostic = Diagnostic(
            codes.LEDGER_UNREACHABLE,
            f"the ledger needs packages that are not installed ({error.name})",
            None,
            "pip install 'clearline[ledger]'",
        )
        raise _fail(ClearlineError([diagnostic]), err) from None
    try:
        ledger = open_ledger(url)
    except ClearlineError as error:
        raise _fail(error, err) from None
    try:
        yield ledger
    except ClearlineError as error:
        raise _fail(error, err) from None
    finally:
        ledger.dispose()


LedgerOption = Annotated[
    str,
    typer.Option(
        "--ledger",
        envvar=LEDGER_ENV,
        help="The ledger: sqlite:///PATH (or a file path) or postgresql://USER@HOST/DB.",
    ),
]


@app.command()
def close(
    ledger: LedgerOption,
    run_dir: Annotated[
        Path | None, typer.Argument(help="A run folder written by `clearline simulate`.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-j", help="Processes that verify the run.", min=1)
    ] = 1,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="Close this period from the records `clearline serve` accepted (instead of RUN_DIR).",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="With --period: the run folder (default out/PERIOD-intake-SEQ)."),
    ] = None,
    issue_date: Annotated[
        str | None,
        typer.Option("--issue-date", help="The documents' issue date, YYYY-MM-DD (default: today)."),
    ] = None,
    issue_adjustments: Annotated[
        bool,
        typer.Option(
            "--issue-adjustments",
            help="A re-settlement: issue the partners' adjustments now, on statements of their own "
            "(default: they go on each partner's next self-billing statement).",
        ),
    ] = False,
) -> None:
    """Close a period: verify the run, then write its lines, documents (with legal numbers),
    record ids and exact partial sums to the ledger in one transaction. The close of a
    later period carries the partners' pending adjustments onto their statements."""
    out, err = _consoles()
    from clearline.ledger.closing import close_run

    if (run_dir is None) == (period is None):
        err.print("error: give a run folder or --period PERIOD (one of them)")
        raise typer.Exit(2)
    issue_date = _issue_date(issue_date)
    with opened(ledger) as store:
        if period is not None:
            from clearline.service.close import close_period

            closed = close_period(store, period, out_dir, issue_date or "")
            run_dir = Path(closed.close.run_path)
        else:
            assert run_dir is not None
            closed = close_run(run_dir, store, workers, issue_date or "", issue_adjustments)
    outcome = closed.outcome
    if outcome.already:
        out.print(
            f"{escape(str(run_dir))} is already closed (close {outcome.seq}, {closed.close.period}): "
            "nothing written"
        )
        return
    close_ = closed.close
    issued = outcome.documents or close_.documents
    out.print(
        f"closed {close_.period}: close {outcome.seq}, {len(issued)} document(s), "
        f"{len(close_.lines)} line(s), {len(close_.records)} record id(s); hash {outcome.hash[:16]}"
    )
    _print_issued(out, outcome)
    waiting = [ln for ln in close_.lines if ln.kind in {"payout", "withholding"} and not ln.document]
    if close_.kind != "period" and waiting:
        out.print(
            f"{len(waiting)} partner adjustment(s) pending: they go on each partner's next "
            "self-billing statement (`clearline ledger URL issue-adjustments` issues them now)"
        )


def _issue_date(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint="--issue-date") from None


def _print_issued(out: Console, outcome: CloseOutcome) -> None:
    table = Table(title="Documents issued")
    for column in ("number", "kind", "party", "net", "vat", "gross", "currency"):
        table.add_column(column, justify="right" if column in {"net", "vat", "gross"} else "left")
    for doc in outcome.documents:
        table.add_row(
            escape(outcome.numbers[doc.key]),
            doc.kind,
            escape(doc.party),
            _money(doc.net),
            _money(doc.vat),
            _money(doc.gross),
            doc.currency,
        )
    out.print(table)
    for c in outcome.carried:
        p = c.pending
        out.print(
            f"{escape(outcome.numbers[c.document])} carries {escape(p.line_id)}: adjustment for {p.period} "
            f"({escape(p.reason)}), {Decimal(p.amount):+,f} {p.currency}, line {escape(p.adjusts)} of "
            f"{escape(p.corrects or '-')}"
        )


def ledger_prior(
    url: str, plans: Sequence[ir.ContractPlan], usage: Sequence[Path | str], period: str, rerate: bool
) -> tuple[clearline.Prior, list[Path | str]]:
    """What the ledger tells `simulate --ledger` (settled ids; a closed period's sums), and
    the usage files to read (with `--rerate`, the closed runs' files too)."""
    from clearline.ledger.resettle import prior_for, rerate_inputs

    with opened(url) as store:
        files = list(usage)
        if rerate:
            given = {p.resolve() for p in files if isinstance(p, Path)}  # a URL is a file of its own
            earlier: list[Path | str] = [p for p in rerate_inputs(store, period) if p.resolve() not in given]
            files = earlier + files
        return prior_for(store, plans, files, period, rerate), files


def show_adjustments(result: clearline.Settlement, out: Console) -> None:
    table = Table(title=f"Adjustments of the closed period {result.period} (new total - issued)")
    for column in (
        "line",
        "adjusts",
        "document",
        "kind",
        "party",
        "issued",
        "total",
        "adjustment",
        "currency",
    ):
        table.add_column(column, justify="right" if column in {"issued", "total", "adjustment"} else "left")
    for a in result.adjustments:
        table.add_row(
            escape(a.line_id),
            escape(a.adjusts),
            escape(a.document),
            a.kind,
            escape(a.party),
            f"{a.issued:,f}",
            f"{a.total:,f}",
            f"{a.amount:+,f}",
            a.currency,
        )
    out.print(table)
    out.print(
        "close the run to issue supplementary invoices and credit notes; the partners' adjustments "
        "go on their next self-billing statements"
    )


def _money(text: str) -> str:
    return f"{Decimal(text):,f}" if text else ""


@ledger_app.callback()
def ledger_group(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The ledger: sqlite:///PATH (or a path) or postgresql://...")],
) -> None:
    ctx.obj = url


@ledger_app.command("periods")
def periods(ctx: typer.Context) -> None:
    """Closed periods per contract, with their totals per kind of line."""
    out, _ = _consoles()
    with opened(ctx.obj) as store:
        rows = store.periods()
        lines = store.lines()
        waiting = store.pending()
    pending: dict[tuple[str, str, str], Decimal] = {}
    for p in waiting:
        where = (p.contract_id, p.period, p.currency)
        pending[where] = pending.get(where, Decimal(0)) + Decimal(p.amount)
    totals: dict[tuple[str, str, str, str], Decimal] = {}
    for ln in lines:
        key = (ln.contract_id, ln.period, ln.kind, ln.currency)
        totals[key] = totals.get(key, Decimal(0)) + Decimal(ln.amount)
    table = Table(title=f"Closed periods in {escape(ctx.obj)}")
    money = {"invoiced", "paid out", "retained", "pending"}
    for column in (
        "period",
        "contract",
        "version",
        "close",
        "invoiced",
        "paid out",
        "retained",
        "pending",
        "run",
    ):
        table.add_column(column, justify="right" if column in money else "left")
    for row in rows:
        shown = {
            kind: ", ".join(
                f"{v:,f} {cur}"
                for (cid, period, k, cur), v in sorted(totals.items())
                if (cid, period, k) == (row.contract_id, row.period, kind)
            )
            for kind in ("invoice", "payout", "retained")
        }
        table.add_row(
            row.period,
            escape(row.contract_id),
            str(row.contract_version),
            str(row.close_seq),
            shown["invoice"],
            shown["payout"],
            shown["retained"],
            ", ".join(
                f"{v:+,f} {cur}"
                for (cid, period, cur), v in sorted(pending.items())
                if (cid, period) == (row.contract_id, row.period)
            ),
            escape(row.run_path),
        )
    out.print(table)
    out.print(f"{len(rows)} closed period(s)")
    if waiting:
        out.print(
            f"paid out includes {len(waiting)} partner adjustment(s) pending: on no statement yet "
            "(`clearline ledger URL documents` lists them)"
        )


@ledger_app.command("documents")
def documents(ctx: typer.Context) -> None:
    """Every document the ledger issued, with its number and amounts."""
    out, _ = _consoles()
    with opened(ctx.obj) as store:
        rows = store.documents()
        waiting = store.pending()
    table = Table(title=f"Documents in {escape(ctx.obj)}")
    for column in (
        "number",
        "kind",
        "issuer",
        "party",
        "period",
        "net",
        "vat",
        "gross",
        "currency",
        "refers to",
    ):
        table.add_column(column, justify="right" if column in {"net", "vat", "gross"} else "left")
    for d in rows:
        table.add_row(
            escape(d.number),
            d.kind,
            escape(d.issuer),
            escape(d.party),
            d.period,
            _money(d.net),
            _money(d.vat),
            _money(d.gross),
            d.currency,
            escape(d.refers_to),
        )
    out.print(table)
    out.print(f"{len(rows)} document(s)")
    if waiting:
        _print_pending(out, waiting)


def _print_pending(out: Console, waiting: Sequence[Pending]) -> None:
    table = Table(title="Pending partner adjustments (on no document yet: the partner's next statement)")
    for column in (
        "line",
        "kind",
        "issuer",
        "party",
        "for period",
        "amount",
        "currency",
        "corrects",
        "reason",
    ):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for p in waiting:
        table.add_row(
            escape(p.line_id),
            p.kind,
            escape(p.issuer),
            escape(p.party),
            p.period,
            f"{Decimal(p.amount):+,f}",
            p.currency,
            escape(f"{p.corrects} line {p.adjusts}" if p.corrects else p.adjusts),
            escape(p.reason),
        )
    out.print(table)
    out.print(
        f"{len(waiting)} pending adjustment(s); `clearline ledger URL issue-adjustments` issues them now"
    )


@ledger_app.command("show")
def show(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="A document number, e.g. INV/2026/03/00001.")],
) -> None:
    """One document: its party, totals, and every line (adjustments with what they correct)."""
    out, _ = _consoles()
    with opened(ctx.obj) as store:
        doc, lines = store.document(number)
        pending = store.pending()
    out.print(
        f"[bold]{escape(doc.number)}[/bold]  {doc.kind} for {escape(doc.party)} {escape(doc.party_name)}"
    )
    out.print(f"issuer {escape(doc.issuer)}, period {doc.period}, close {doc.close_seq}")
    if doc.refers_to:
        out.print(f"corrects {escape(doc.refers_to)}")
    out.print(f"net {_money(doc.net)}  VAT {_money(doc.vat)}  gross {_money(doc.gross)} {doc.currency}")
    table = Table()
    for column in ("line", "kind", "contract", "amount", "currency", "adjusts", "why"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for ln in lines:
        why = ""
        if ln.adjusts:
            row = json.loads(ln.row)
            why = f"adjustment for {ln.period}: {row.get('reason', '')}"
            if ln.document != doc.number and row.get("document"):
                why += f" (corrects {row['document']})"  # carried from a re-settlement
        table.add_row(
            escape(ln.line_id),
            ln.kind,
            escape(ln.contract_id),
            _money(ln.amount),
            ln.currency,
            escape(ln.adjusts),
            escape(why),
        )
    out.print(table)
    waiting = [p for p in pending if p.corrects == doc.number]
    for p in waiting:
        out.print(
            f"pending: {escape(p.line_id)} adjusts line {escape(p.adjusts)} by {Decimal(p.amount):+,f} "
            f"{p.currency} ({escape(p.reason)}): on the partner's next statement"
        )


@ledger_app.command("issue-adjustments")
def issue_adjustments(
    ctx: typer.Context,
    issue_date: Annotated[
        str | None,
        typer.Option("--issue-date", help="The statements' issue date, YYYY-MM-DD (default: today)."),
    ] = None,
) -> None:
    """Issue every pending partner adjustment now, on a self-billing adjustment statement of
    its own per partner and corrected period (instead of the partner's next statement)."""
    out, _ = _consoles()
    day = _issue_date(issue_date)
    with opened(ctx.obj) as store:
        outcome = store.issue_pending(day or "")
    if outcome is None:
        out.print("no partner adjustment is pending: nothing issued")
        return
    out.print(
        f"issued {len(outcome.carried)} pending adjustment(s): close {outcome.seq}; hash {outcome.hash[:16]}"
    )
    _print_issued(out, outcome)


@ledger_app.command("verify")
def verify_ledger(ctx: typer.Context) -> None:
    """Walk the hash chain of closes and the numbering: any edit of history is reported."""
    out, err = _consoles()
    with opened(ctx.obj) as store:
        problems = store.verify()
        closes = store.closes()
    for problem in problems:
        err.print(f"error[{codes.LEDGER_HISTORY_CHANGED}]: {escape(problem)}", soft_wrap=True)
    if problems:
        raise typer.Exit(EXIT_ERRORS)
    head = closes[-1].hash[:16] if closes else "-"
    out.print(f"ledger verified: {len(closes)} close(s) chained, numbering gapless; head {head}")
