"""Commands that read a run folder: explain (a line's trace tree) and report (documents)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clearline.cli.base import EXIT_ERRORS, _consoles, _fail, app, escape
from clearline.diagnostics import ClearlineError

if TYPE_CHECKING:
    from rich.tree import Tree


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
