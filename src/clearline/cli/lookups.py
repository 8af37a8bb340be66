"""`clearline explain RUN --record ID | --party P | --customer C`: "why this amount?" from
the other end (a line's own explanation is `clearline explain RUN LINE_ID`).

Input: a complete run folder (its line files, `rated_records.csv` and `trace.jsonl`);
output: the lines a record fed, with its share of each, and the lines computed from
those; or the lines of one party (or one end customer), with their totals per kind
and currency. Pure reading: nothing here settles or rounds money (a share is shown
to 0.01% by `money.round_money`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from clearline.money import Rounding, round_money

LINE_FILES = ("invoice_lines.csv", "payout_lines.csv", "retained_lines.csv")
PERCENT = Rounding("half up", Decimal("0.01"))


class NotInRun(Exception):
    """A run folder that cannot answer: damaged, or without the id asked for."""

    def __init__(self, message: str, hint: str, known: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.known = known or []


@dataclass(frozen=True, slots=True)
class Fed:
    """A line a record fed directly: its row of the line file and the record's part of it."""

    line: dict[str, str]
    billed_quantity: str
    amount: str  # the record's amount ("" when the line is priced per period, e.g. a subscription)
    share: str  # e.g. "0.33% of the line's unrounded sum 5980.00"; "" without a record amount


@dataclass(frozen=True, slots=True)
class Derived:
    """A line computed from lines (a waterfall step, a commitment, a withholding)."""

    line: dict[str, str]
    sources: list[str]  # the line ids it was computed from, among those the record fed


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise NotInRun(f"cannot read {path}: {error}", "`clearline verify` the folder") from None


def lines(run_dir: Path) -> dict[str, dict[str, str]]:
    """Every line of the run by id, in the order of the line files."""
    found: dict[str, dict[str, str]] = {}
    for name in LINE_FILES:
        for row in _rows(run_dir / name):
            found[row["line_id"]] = row
    return found


def _traces(run_dir: Path) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    path = run_dir / "trace.jsonl"
    try:
        with path.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                try:
                    data = json.loads(text)
                    found[data["line_id"]] = data
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise NotInRun(
                        f"{path}:{number} is damaged: not a trace written by clearline simulate",
                        "run the settlement again, or `clearline verify` the folder",
                    ) from None
    except OSError as error:
        raise NotInRun(f"cannot read {path}: {error}", "`clearline verify` the folder") from None
    return found


def _decimal(text: object) -> Decimal | None:
    try:
        return Decimal(str(text)) if text not in (None, "") else None
    except InvalidOperation:
        return None


def _share(part: Decimal | None, whole: Decimal | None, what: str) -> str:
    if part is None or whole is None or whole == 0:
        return ""
    return f"{round_money(part / whole * 100, PERCENT)}% of the {what}"


def record(run_dir: Path, record_id: str) -> tuple[list[Fed], list[Derived]]:
    """The lines `record_id` fed, with its share of each (its amount of the line's
    unrounded sum, or its billed quantity of the line's quantity when the line is
    priced per period), then the lines computed from those."""
    by_id = lines(run_dir)
    traces = _traces(run_dir)
    fed: list[Fed] = []
    seen: list[str] = []
    for row in _rows(run_dir / "rated_records.csv"):
        if row["record_id"] != record_id:
            continue
        line = by_id.get(row["line_id"])
        if line is None:
            continue
        trace = traces.get(row["line_id"], {})
        amount = _decimal(row["amount"])
        whole = _decimal(trace.get("sum")) if "sum" in trace else _decimal(line["amount"])
        # A line priced per period (a subscription month, a SIM fee, a tiered total) has no
        # amount per record: no share is made up for it.
        share = _share(amount, whole, f"line's unrounded sum {whole}") if amount is not None else ""
        fed.append(Fed(line, row["billed_quantity"], row["amount"], share))
        seen.append(row["line_id"])
    if not fed:
        for name, what in (("rejects.csv", "rejected"), ("unmatched.csv", "unmatched")):
            for row in _rows(run_dir / name) if (run_dir / name).is_file() else []:
                if row["record_id"] == record_id:
                    raise NotInRun(
                        f"{record_id} fed no line: it was {what} ({row['file']}:{row['line']}): "
                        f"{row['reason']}",
                        f"see {run_dir / name}",
                    )
        known = sorted({r["record_id"] for r in _rows(run_dir / "rated_records.csv")})
        raise NotInRun(
            f"no rated record {record_id} in {run_dir}",
            "record ids are in the record_id column of rated_records.csv; rejected records are "
            "in rejects.csv",
            known,
        )
    derived: list[Derived] = []
    reached = set(seen)
    for line_id, line in by_id.items():  # a derived line may come from a derived line (withholding)
        trace = traces.get(line_id, {})
        sources = trace.get("from_lines") if isinstance(trace, dict) else None
        if not isinstance(sources, dict) or line_id in reached:
            continue
        ids = [i for group in sources.values() if isinstance(group, list) for i in group]
        hits = [i for i in ids if i in reached]
        if hits:
            derived.append(Derived(line, hits))
            reached.add(line_id)
    return fed, derived


def party(run_dir: Path, name: str, kinds: tuple[str, ...] | None = None) -> list[dict[str, str]]:
    """The lines of one party (of `kinds` only, when given), in the order of the line files."""
    everything = list(lines(run_dir).values())
    found = [ln for ln in everything if ln["party"] == name and (kinds is None or ln["kind"] in kinds)]
    if not found:
        known = sorted({ln["party"] for ln in everything if kinds is None or ln["kind"] in kinds})
        who = "customer" if kinds == ("invoice",) else "party"
        raise NotInRun(
            f"no lines of the {who} {name} in {run_dir}",
            f"the {who} ids of this run are in the party column of the line files",
            known,
        )
    return found


@dataclass(slots=True)
class Total:
    """One kind and currency of a party's lines: exact sums of rounded lines (nothing rounds here)."""

    kind: str
    currency: str
    lines: int = 0
    amount: Decimal = Decimal(0)
    gross: Decimal = Decimal(0)  # invoices: net + VAT
    paid: dict[str, Decimal] | None = None  # payouts paid in the partner's currency

    def paid_text(self) -> str:
        return ", ".join(f"{v} {c}" for c, v in sorted((self.paid or {}).items()))


def totals(found: list[dict[str, str]]) -> list[Total]:
    """The party's totals per kind and currency, sorted."""
    sums: dict[tuple[str, str], Total] = {}
    for ln in found:
        total = sums.setdefault((ln["kind"], ln["currency"]), Total(ln["kind"], ln["currency"]))
        total.lines += 1
        total.amount += Decimal(ln["amount"])
        total.gross += Decimal(ln.get("gross_amount") or ln["amount"])
        if ln.get("paid_amount"):
            paid = total.paid if total.paid is not None else {}
            paid[ln["paid_currency"]] = paid.get(ln["paid_currency"], Decimal(0)) + Decimal(ln["paid_amount"])
            total.paid = paid
    return [sums[key] for key in sorted(sums)]


def _line_text(ln: dict[str, str]) -> str:
    paid = f" (paid {ln['paid_amount']} {ln['paid_currency']})" if ln.get("paid_amount") else ""
    clause = f' "{ln["clause"]}"' if ln["clause"] else ""
    return (
        f"{ln['line_id']}  {ln['kind']} {ln['party']}  {ln['contract_id']}{clause}  "
        f"{ln['period']}  {ln['amount']} {ln['currency']}{paid}"
    )


def _record_text(run_dir: Path, record_id: str) -> list[str]:
    fed, derived = record(run_dir, record_id)
    shown = [f"{record_id} fed {len(fed)} line(s):"]
    for f in fed:
        if f.amount:
            part = f"this record {f.amount}" + (f" ({f.share})" if f.share else "")
        else:
            part = "priced for the period, not per record (see the line's explanation)"
        shown.append(f"  {_line_text(f.line)}: {part}; billed quantity {f.billed_quantity}")
    if derived:
        shown.append(f"{len(derived)} line(s) computed from those:")
        shown += [f"  {_line_text(d.line)}  from {', '.join(d.sources)}" for d in derived]
    return shown


def _party_text(run_dir: Path, name: str, customer: bool) -> list[str]:
    found = party(run_dir, name, ("invoice",) if customer else None)
    title = found[0].get("party_name") or ""
    shown = [
        f"{name} ({title}): {len(found)} line(s)"
        if title and title != name
        else f"{name}: {len(found)} line(s)"
    ]
    shown += [f"  {_line_text(ln)}" for ln in found]
    for t in totals(found):
        gross = f", gross {t.gross} {t.currency}" if t.kind == "invoice" else ""
        paid = f", paid {t.paid_text()}" if t.paid else ""
        shown.append(f"total {t.kind}: {t.amount} {t.currency}{gross}{paid} ({t.lines} line(s))")
    return shown


def explain_other_end(
    run_dir: Path,
    record_id: str | None,
    party_name: str | None,
    customer: str | None,
    out: Console,
    err: Console,
) -> None:
    """Print the lines of a record, a party or a customer (exit 1 naming the nearest id);
    nothing is printed before the whole answer is known."""
    from clearline import codes

    try:
        if record_id is not None:
            shown = _record_text(run_dir, record_id)
        else:
            shown = _party_text(run_dir, customer or str(party_name), customer is not None)
    except (KeyError, InvalidOperation) as error:  # a line file edited or cut short by hand
        err.print(
            f"error[{codes.UNREADABLE_INPUT}]: {escape(str(run_dir))} is damaged: a line file has "
            f"no column or no number where one belongs ({escape(str(error))})\n"
            "   = hint: run the settlement again, or `clearline verify` the folder",
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    except NotInRun as error:
        from clearline.diagnostics import did_you_mean

        asked = record_id or party_name or customer or ""
        hint = did_you_mean(asked, error.known) or error.hint
        err.print(
            f"error[{codes.UNKNOWN_NAME}]: {escape(error.message)}\n   = hint: {escape(hint)}", soft_wrap=True
        )
        raise typer.Exit(1) from None
    for line in shown:
        out.print(escape(line), soft_wrap=True)
    out.print(f"explain a line: clearline explain {escape(str(run_dir))} LINE_ID", soft_wrap=True)
