"""The documents of a closed period settled again: supplementary invoices, credit notes and
self-billing adjustments, in every format, numbered by the ledger's close.

The figures are docs/operations.md's tutorial (scenario 5, GameStudio via PayHub): March
closed (PayHub 2,286.10 on SB/2026/03/00002), 25 late purchases of 20.00 net each, March
settled again as a whole: PayHub 8% of 29,061.20 = 2,324.90, so its adjustment is
2,324.90 - 2,286.10 = 38.80 PLN (SB/2026/03/00004); each customer's invoice goes up by
5 purchases: 100.00 net + 23.00 VAT = 123.00 PLN (INV/2026/03/00006 for C-1001).
"""

from __future__ import annotations

import csv
import shutil
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearline.cli import app
from clearline.reports import render_reports
from reports_support import ROOT, amounts, check_golden, totals

pytest.importorskip("sqlalchemy", reason="the ledger extra (sqlalchemy) is not installed")

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}


def _run(runner: CliRunner, *args: str) -> None:
    done = runner.invoke(app, list(args))
    assert done.exit_code in {0, 3}, done.output


@pytest.fixture(scope="module")
def late(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tutorial's three runs and March's close; returns the folder holding runs/."""
    base = tmp_path_factory.mktemp("corrections")
    shutil.copytree(ROOT / "contracts", base / "contracts")
    runner = CliRunner()
    mp = pytest.MonkeyPatch()
    mp.chdir(base)
    try:
        common = ["--customers", "contracts/data/customers.csv"]
        _run(
            runner,
            "simulate",
            "contracts/gamestudio.contract",
            "--usage",
            "contracts/data/dcb-purchases.csv",
            "--period",
            "2026-03",
            *common,
            "--out-of-period",
            "route",
            "--out",
            "runs/2026-03",
        )
        _run(runner, "close", "runs/2026-03", "--ledger", "runs/ledger.sqlite")
        _run(
            runner,
            "simulate",
            "contracts/gamestudio.contract",
            "--usage",
            "runs/2026-03/routed-2026-04.jsonl",
            "--usage",
            "contracts/data/dcb-late-march.csv",
            "--period",
            "2026-04",
            *common,
            "--out-of-period",
            "route",
            "--ledger",
            "runs/ledger.sqlite",
            "--out",
            "runs/2026-04",
        )
        _run(
            runner,
            "simulate",
            "contracts/gamestudio.contract",
            "--usage",
            "runs/2026-04/routed-2026-03.jsonl",
            "--period",
            "2026-03",
            *common,
            "--ledger",
            "runs/ledger.sqlite",
            "--out",
            "runs/2026-03-late",
        )
    finally:
        mp.undo()
    return base


def test_before_the_close_the_corrections_are_drafts(late: Path, tmp_path: Path) -> None:
    result = render_reports(late / "runs" / "2026-03-late", tmp_path, ["html", "md"])
    names = sorted(p.name for p in tmp_path.glob("*.html"))
    assert names == [
        "audit-2026-03.html",
        "self-billing-adjustment-2026-03-gamestudio.html",
        "self-billing-adjustment-2026-03-payhub.html",
        *(f"supplementary-2026-03-C-100{i}.html" for i in range(1, 6)),
    ]  # no full invoice or statement again: what is issued is the correction
    assert any("its documents are the corrections" in n for n in result.notes)
    cells, _ = amounts(tmp_path / "self-billing-adjustment-2026-03-payhub.html")
    assert totals(cells, "gross") == {"PLN": Decimal("38.80")}  # 2,324.90 - 2,286.10
    cells, _ = amounts(tmp_path / "supplementary-2026-03-C-1001.html")
    assert totals(cells, "net") == {"PLN": Decimal("100.00")}  # 5 late purchases of 20.00
    assert totals(cells, "gross") == {"PLN": Decimal("123.00")}
    md = (tmp_path / "supplementary-2026-03-C-1001.md").read_text(encoding="utf-8")
    assert "(PROJEKT)" in md and "Korygowany dokument: INV/2026/03/00001" in md


@pytest.fixture(scope="module")
def closed(late: Path) -> Path:
    done = CliRunner().invoke(
        app,
        [
            "close",
            str(late / "runs" / "2026-03-late"),
            "--ledger",
            f"sqlite:///{late / 'runs' / 'ledger.sqlite'}",
            "--issue-date",
            "2026-04-20",
            "--issue-adjustments",  # the partners' adjustments on statements of their own, now
        ],
    )
    assert done.exit_code == 0, done.output
    return late


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_after_the_close_they_carry_the_ledgers_numbers(closed: Path, tmp_path: Path, lang: str) -> None:
    ledger = f"sqlite:///{closed / 'runs' / 'ledger.sqlite'}"
    formats = ["html", "md", "en16931"]
    result = render_reports(closed / "runs" / "2026-03-late", tmp_path, formats, lang=lang, ledger=ledger)
    assert not any("draft" in n for n in result.notes)
    for name in ("self-billing-adjustment-2026-03-payhub.md", "supplementary-2026-03-C-1001.md"):
        check_golden(f"corrections/{lang}/{name}", (tmp_path / name).read_text(encoding="utf-8"))
    payhub = ET.parse(tmp_path / "self-billing-adjustment-2026-03-payhub.xml").getroot()
    assert payhub.findtext("rsm:ExchangedDocument/ram:ID", namespaces=NS) == "SB/2026/03/00004"
    assert payhub.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "389"
    assert payhub.findtext(".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID", namespaces=NS) == (
        "SB/2026/03/00002"
    )
    assert payhub.findtext(".//ram:GrandTotalAmount", namespaces=NS) == "38.80"
    c1001 = ET.parse(tmp_path / "supplementary-2026-03-C-1001.xml").getroot()
    assert c1001.findtext("rsm:ExchangedDocument/ram:ID", namespaces=NS) == "INV/2026/03/00006"
    assert c1001.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "380"
    assert c1001.findtext(".//ram:TaxTotalAmount", namespaces=NS) == "23.00"


def test_a_lower_total_is_a_credit_note(late: Path, tmp_path: Path) -> None:
    """C-1001's adjustment turned into a reduction (-100.00 net, -23.00 VAT) and PayHub's
    (-38.80): a credit note 381 and a self-billed credit note 261, amounts stated positive."""
    pytest.importorskip("facturx", reason="the einvoice extra (factur-x) is not installed")
    from clearline.reports.einvoice import validate

    run = tmp_path / "run"
    shutil.copytree(late / "runs" / "2026-03-late", run)
    path = run / "adjustment_lines.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["party"] in {"C-1001", "payhub"}:
            for column in ("amount", "vat_amount", "gross_amount"):
                if row[column]:
                    row[column] = str(-Decimal(row[column]))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    from datetime import date

    render_reports(run, tmp_path / "docs", ["html", "en16931"], lang="en", issue_date=date(2026, 4, 20))
    credit = (tmp_path / "docs" / "credit-note-2026-03-C-1001.xml").read_bytes()
    validate(credit)
    root = ET.fromstring(credit)
    assert root.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "381"
    assert root.findtext(".//ram:GrandTotalAmount", namespaces=NS) == "123.00"
    assert "Credit note" in (tmp_path / "docs" / "credit-note-2026-03-C-1001.html").read_text(
        encoding="utf-8"
    )
    payhub = (tmp_path / "docs" / "self-billing-adjustment-2026-03-payhub.xml").read_bytes()
    validate(payhub)
    assert ET.fromstring(payhub).findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "261"


def test_corrections_render_to_pdf(closed: Path, tmp_path: Path) -> None:
    pytest.importorskip("weasyprint", reason="the pdf extra (WeasyPrint) is not installed")
    render_reports(closed / "runs" / "2026-03-late", tmp_path, ["pdf"], lang="de")
    assert (tmp_path / "self-billing-adjustment-2026-03-payhub.pdf").read_bytes().startswith(b"%PDF-")
