"""Read a run folder back for the documents.

Input: a folder written by `clearline simulate` (manifest.json, the line
files, trace.jsonl, rejects and unmatched) and, through the manifest, the
recorded customers and plans. Output: `RunData`, with every
amount parsed back to `Decimal` exactly as the line files hold it.

The parties' names, languages and countries come from the folder alone: the
customers it invoices from `customers.json`, the partners from the recorded
plans (`plan-SHA256.json`). Neither the customers CSV nor a contract is read
again. A folder written before it recorded them renders in English, naming
customers by id, and says why in `RunData.notes`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from clearline.compiler import ir
from clearline.parties import CUSTOMERS_FILE, Customer, customers_from_json

__all__ = [
    "ADJUSTMENTS",
    "LINE_FILES",
    "AdjustmentRow",
    "LineRow",
    "Party",
    "RejectRow",
    "RunData",
    "RunFolderError",
    "read_run",
]

# Line files in the order documents list them. `withholding_lines.csv` is not
# written yet; when a later engine writes it, statements show it (see docs/reports.md).
LINE_FILES = ("invoice_lines.csv", "payout_lines.csv", "retained_lines.csv", "withholding_lines.csv")


class RunFolderError(Exception):
    """The folder is not a complete, readable run."""


@dataclass(frozen=True, slots=True)
class LineRow:
    """One row of a line file; amounts exactly as written."""

    line_id: str
    kind: str
    party: str
    party_name: str
    contract_id: str
    contract_version: str
    product: str
    clause: str
    period: str
    description: str
    quantity: Decimal | None
    unit: str
    unit_price: Decimal | None
    amount: Decimal
    currency: str
    vat_rate: Decimal | None  # a fraction: "23%" -> 0.23
    vat_rate_text: str
    vat_amount: Decimal | None
    gross_amount: Decimal | None
    paid_amount: Decimal | None
    paid_currency: str
    fx_rate: Decimal | None
    fx_date: str
    records: int
    file: str
    # Columns no engine writes yet; the documents show them when present.
    reverse_charge: bool = False
    withholding_amount: Decimal | None = None
    withholding_rate: Decimal | None = None

    @property
    def payable_amount(self) -> Decimal:
        """What the party receives for this line, in `payable_currency`."""
        return self.paid_amount if self.paid_amount is not None else self.amount

    @property
    def payable_currency(self) -> str:
        return self.paid_currency if self.paid_amount is not None else self.currency


@dataclass(frozen=True, slots=True)
class AdjustmentRow:
    """One row of `adjustment_lines.csv`: a closed period's line, new total minus issued."""

    line_id: str
    adjusts: str  # the line it corrects
    document: str  # the document that line was issued on ("" for a line new in the period)
    kind: str
    party: str
    party_name: str
    contract_id: str
    period: str
    currency: str
    amount: Decimal
    vat_amount: Decimal | None
    gross_amount: Decimal | None
    issued: Decimal | None
    total: Decimal | None
    reason: str


@dataclass(frozen=True, slots=True)
class RejectRow:
    file: str
    line: str
    record_id: str
    field: str
    value: str
    reason: str
    code: str = ""  # the reason's code (E08xx); "" in a run folder written before codes


@dataclass(frozen=True, slots=True)
class Party:
    """What the documents know about a party: from the customers file or a contract."""

    id: str
    name: str
    role: str  # "customer", "partner" or "operator"
    country: str
    language: str  # as declared; "" when unknown
    currency: str
    details: ir.PartyDetails | None = None  # legal particulars: the contract's, or the customers file's


@dataclass(slots=True)
class RunData:
    folder: Path
    manifest: dict[str, Any]
    lines: list[LineRow]
    traces: dict[str, dict[str, Any]]
    rejects: list[RejectRow]
    unmatched: list[RejectRow]
    customers: dict[str, Customer] | None
    plans: list[ir.ContractPlan]
    notes: list[str] = field(default_factory=list)
    output_checks: dict[str, bool] = field(default_factory=dict)
    # a run that settles a closed period again: its corrections (adjustment_lines.csv)
    adjustments: list[AdjustmentRow] = field(default_factory=list)

    @property
    def period(self) -> str:
        return str(self.manifest.get("period", ""))

    @property
    def plan_sha256(self) -> str:
        return str(self.manifest.get("plan_sha256", ""))

    def plan(self, contract_id: str) -> ir.ContractPlan | None:
        return next((p for p in self.plans if p.id == contract_id), None)

    def product(self, contract_id: str, product: str) -> ir.ProductPlan | None:
        plan = self.plan(contract_id)
        if plan is None:
            return None
        return next((p for p in plan.products if p.name == product), None)

    def party(self, party_id: str, role: str, name: str) -> Party:
        """A party by id; `name` (from the line files) when nothing else is known."""
        if role == "customer":
            c = (self.customers or {}).get(party_id)
            # without a customers file (or a name in it) the documents name the customer by id
            if c is not None:
                details = ir.PartyDetails(
                    legal_name=c.name,
                    address=(c.address,) if c.address else (),
                    postcode=c.postcode,
                    city=c.city,
                    country=c.country,
                    vat_id=c.vat_id,
                    registration=c.registration,
                )
                return Party(
                    party_id, c.name or name or party_id, role, c.country, c.language, c.currency, details
                )
            return Party(party_id, name or party_id, role, "", "", "")
        for plan in self.plans:
            for p in plan.parties:
                if p.name == party_id and p.role == role:
                    return Party(
                        party_id,
                        p.title or name,
                        role,
                        p.country or (p.details.country if p.details else ""),
                        p.language or "",
                        p.currency,
                        p.details,
                    )
        return Party(party_id, name, role, "", "", "")


def _decimal(text: str, column: str, path: Path, line: int) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text.rstrip("%"))
    except InvalidOperation:
        raise RunFolderError(f"{path}:{line}: {column} is not a number: {text!r}") from None
    return value / 100 if text.endswith("%") else value


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _raw(cell: str) -> str:
    """A CSV cell as the run had it: the apostrophe the run folder puts before a text
    that starts like a spreadsheet formula is taken off again.

    >>> _raw("'=SUM(A1)"), _raw("'-5"), _raw("-5"), _raw("'quoted")
    ('=SUM(A1)', "'-5", '-5', "'quoted")
    """
    if cell.startswith("'") and cell[1:].startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(cell[1:]):
        return cell[1:]
    return cell


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            return [(reader.line_num, {k: _raw(v or "") for k, v in row.items() if k}) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise RunFolderError(f"cannot read {path}: {err}") from None


def _line(path: Path, number: int, row: dict[str, str]) -> LineRow:
    def dec(column: str) -> Decimal | None:
        return _decimal(row.get(column, ""), column, path, number)

    amount = dec("amount")
    if amount is None:
        raise RunFolderError(f"{path}:{number}: the line has no amount")
    try:
        records = int(row.get("records") or 0)
    except ValueError:
        raise RunFolderError(f"{path}:{number}: records is not a whole number") from None
    return LineRow(
        line_id=row.get("line_id", ""),
        kind=row.get("kind", ""),
        party=row.get("party", ""),
        party_name=row.get("party_name", ""),
        contract_id=row.get("contract_id", ""),
        contract_version=row.get("contract_version", ""),
        product=row.get("product", ""),
        clause=row.get("clause", ""),
        period=row.get("period", ""),
        description=row.get("description", ""),
        quantity=dec("quantity"),
        unit=row.get("unit", ""),
        unit_price=dec("unit_price"),
        amount=amount,
        currency=row.get("currency", ""),
        vat_rate=dec("vat_rate"),
        vat_rate_text=row.get("vat_rate", ""),
        vat_amount=dec("vat_amount"),
        gross_amount=dec("gross_amount"),
        paid_amount=dec("paid_amount"),
        paid_currency=row.get("paid_currency", ""),
        fx_rate=dec("fx_rate"),
        fx_date=row.get("fx_date", ""),
        records=records,
        file=path.name,
        reverse_charge=row.get("reverse_charge", "").strip().lower() in {"yes", "true", "1"},
        withholding_amount=dec("withholding_amount"),
        withholding_rate=dec("withholding_rate"),
    )


ADJUSTMENTS = "adjustment_lines.csv"


def _adjustment(path: Path, number: int, row: dict[str, str]) -> AdjustmentRow:
    def dec(column: str) -> Decimal | None:
        return _decimal(row.get(column, ""), column, path, number)

    amount = dec("amount")
    if amount is None:
        raise RunFolderError(f"{path}:{number}: the adjustment has no amount")
    return AdjustmentRow(
        line_id=row.get("line_id", ""),
        adjusts=row.get("adjusts", ""),
        document=row.get("document", ""),
        kind=row.get("kind", ""),
        party=row.get("party", ""),
        party_name=row.get("party_name", ""),
        contract_id=row.get("contract_id", ""),
        period=row.get("period", ""),
        currency=row.get("currency", ""),
        amount=amount,
        vat_amount=dec("vat_amount"),
        gross_amount=dec("gross_amount"),
        issued=dec("issued"),
        total=dec("total"),
        reason=row.get("reason", ""),
    )


def _rejects(path: Path) -> list[RejectRow]:
    if not path.exists():
        return []
    return [
        RejectRow(
            r.get("file", ""), r.get("line", ""), r.get("record_id", ""), r.get("field", ""),
            r.get("value", ""), r.get("reason", ""), r.get("code", ""),
        )
        for _, r in _read_rows(path)
    ]  # fmt: skip


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (the run folder's own rule, without its code)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _recorded_plans(manifest: dict[str, Any], folder: Path) -> list[ir.ContractPlan] | None:
    """The plans the run recorded (None for a run written before it did)."""
    contracts = manifest.get("contracts")
    if not isinstance(contracts, list) or not contracts:
        return None
    if not all(isinstance(c, dict) and isinstance(c.get("plan"), str) for c in contracts):
        return None
    plans = []
    for c in contracts:
        name = Path(c["plan"])
        if name.is_absolute() or ".." in name.parts:
            raise RunFolderError(f"{folder / 'manifest.json'} names a plan outside the run folder")
        try:
            plans.append(ir.from_json(json.loads((folder / name).read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
            raise RunFolderError(f"cannot read the plan {folder / name}: {err}") from None
    return plans


def read_run(folder: Path) -> RunData:
    """Everything the documents need from a complete run folder."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise RunFolderError(f"{folder} is not a complete run folder (no manifest.json)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFolderError(f"cannot read {manifest_path}: {err}") from None
    if not isinstance(manifest, dict):
        raise RunFolderError(f"{manifest_path} is not a run manifest")
    notes: list[str] = []
    outputs = manifest.get("outputs") or {}
    checks = {}
    for name, digest in sorted(outputs.items()):
        path = folder / name
        checks[name] = path.is_file() and sha256_file(path) == digest
        if not checks[name]:
            notes.append(f"{name} does not match the SHA-256 in the manifest")
    lines: list[LineRow] = []
    for name in LINE_FILES:
        path = folder / name
        if path.exists():
            lines += [_line(path, number, row) for number, row in _read_rows(path)]
        elif name in outputs:
            raise RunFolderError(f"{path} is missing")
    traces: dict[str, dict[str, Any]] = {}
    trace_path = folder / "trace.jsonl"
    try:
        with trace_path.open(encoding="utf-8") as handle:
            for text in handle:
                if text.strip():
                    data = json.loads(text)
                    traces[str(data["line_id"])] = data
    except FileNotFoundError:
        notes.append("trace.jsonl is missing: lines are listed without their explanation")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise RunFolderError(f"cannot read {trace_path}: {err}") from None
    adjustments = (
        [_adjustment(folder / ADJUSTMENTS, n, row) for n, row in _read_rows(folder / ADJUSTMENTS)]
        if (folder / ADJUSTMENTS).exists()
        else []
    )
    customers, plans = _parties(manifest, folder, checks, notes)
    return RunData(
        folder=folder,
        manifest=manifest,
        lines=lines,
        traces=traces,
        rejects=_rejects(folder / "rejects.csv"),
        unmatched=_rejects(folder / "unmatched.csv"),
        customers=customers,
        adjustments=adjustments,
        plans=plans,
        notes=notes,
        output_checks=checks,
    )


def _parties(
    manifest: dict[str, Any], folder: Path, checks: dict[str, bool], notes: list[str]
) -> tuple[dict[str, Customer] | None, list[ir.ContractPlan]]:
    """The invoiced customers and the plans, as the run folder recorded them: the
    documents never read the run's inputs again (they may have moved or changed)."""
    customers: dict[str, Customer] | None = None
    inputs = manifest.get("inputs") or []
    had_customers = any(isinstance(i, dict) and i.get("role") == "customers" for i in inputs)
    recorded = folder / CUSTOMERS_FILE
    if CUSTOMERS_FILE in checks and not checks[CUSTOMERS_FILE]:
        notes.append(f"{CUSTOMERS_FILE} is not the one the run wrote: customers are named by id, in English")
    elif CUSTOMERS_FILE in checks:
        try:
            customers = customers_from_json(recorded.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise RunFolderError(f"cannot read {recorded}: {err}") from None
    elif had_customers:
        notes.append(
            f"the run folder predates {CUSTOMERS_FILE} (the customers it invoices): customers are"
            " named by id, in English; settle the period again to record them"
        )
    else:
        notes.append("the run had no customers file: invoices are in English")
    plans = _recorded_plans(manifest, folder)
    if plans is None:
        notes.append(
            "the run folder predates its recorded plans: partners' languages are unknown;"
            " settle the period again to record them"
        )
    return customers, plans or []
