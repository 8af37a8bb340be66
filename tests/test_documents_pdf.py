"""`report --format pdf`: the four scenarios' documents as PDF, in English and Polish,
compared as the text pdftotext extracts (goldens in tests/golden/reports/pdf/), with the
scenario figures and the Polish diacritics read back, and DejaVu embedded.

Figures (SCENARIOS.md, and tests/test_reports_scenarios.py): FleetIoT 1,200.00 + 7,130.00
+ 1,870.00 = 10,200.00 EUR at 0% (reverse charge); C-1001 7,329.57 PLN gross; PayHub
2,289.20 PLN; GameStudio 20,060.64 PLN; StreamCo 81.65 PLN paid as 19.21 EUR.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reports_support import RUN_NAME, check_golden, mask
from test_reports_scenarios import inside, workspace

pytest.importorskip("weasyprint", reason="the pdf extra (WeasyPrint) is not installed")
if shutil.which("pdftotext") is None or shutil.which("pdffonts") is None:
    pytest.skip("pdftotext and pdffonts (Debian's poppler-utils) are not installed", allow_module_level=True)

from clearline.reports import render_reports
from clearline.reports.pdf import PdfUnavailable, html_to_pdf

try:
    html_to_pdf("<p>x</p>")
except PdfUnavailable as err:  # WeasyPrint without Pango
    pytest.skip(str(err), allow_module_level=True)

# one document of each party of the four scenarios
DOCUMENTS = [
    "invoice-2026-03-B-2001",  # FleetIoT (scenario 2)
    "invoice-2026-03-C-1001",  # StreamPlus and carrier billing (scenarios 1 and 4)
    "self-billing-2026-03-streamco",  # scenario 1
    "self-billing-2026-03-nordcarrier",  # scenario 3
    "self-billing-2026-03-payhub",  # scenario 4
    "self-billing-2026-03-gamestudio",
]


def pdf_text(path: Path) -> str:
    """The PDF's text as pdftotext reads it (reading order, not layout), hashes masked."""
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    ).stdout
    # a document number may wrap after a hyphen in its narrow column
    return mask(re.sub(r"-\n([0-9A-F]{8})\b", r"-\1", text.decode("utf-8")))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = workspace(tmp_path_factory.mktemp("pdf"))
    out = {}
    for lang in ("en", "pl"):
        folder = tmp_path_factory.mktemp(f"pdf-{lang}")
        with inside(base):
            result = render_reports(Path(RUN_NAME), folder, formats=["pdf"], lang=lang, run_name=RUN_NAME)
        assert result.notes == []
        out[lang] = folder
    return out


@pytest.mark.parametrize("lang", ["en", "pl"])
@pytest.mark.parametrize("name", DOCUMENTS)
def test_golden_pdf_text(rendered: dict[str, Path], lang: str, name: str) -> None:
    path = rendered[lang] / f"{name}.pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    check_golden(f"pdf/{lang}/{name}.txt", pdf_text(path))


def test_the_totals_read_back_from_the_pdfs(rendered: dict[str, Path]) -> None:
    en = {name: " ".join(pdf_text(rendered["en"] / f"{name}.pdf").split()) for name in DOCUMENTS}
    assert "Total due €10,200.00" in en["invoice-2026-03-B-2001"]
    assert "0% (reverse charge)" in en["invoice-2026-03-B-2001"]
    assert "Total due PLN 7,329.57" in en["invoice-2026-03-C-1001"]
    assert "Total payable PLN 2,289.20" in en["self-billing-2026-03-payhub"]
    assert "Total payable PLN 20,060.64" in en["self-billing-2026-03-gamestudio"]
    assert "Total payable €19.21" in en["self-billing-2026-03-streamco"]
    pl = " ".join(pdf_text(rendered["pl"] / "invoice-2026-03-C-1001.pdf").split())
    assert "Do zapłaty 7 329,57 zł" in pl


def test_polish_diacritics_survive_in_the_pdf(rendered: dict[str, Path]) -> None:
    invoice = pdf_text(rendered["pl"] / "invoice-2026-03-C-1001.pdf")
    for word in ("TelcoPL Spółka Akcyjna", "ul. Marszałkowska 142", "Sąd Rejonowy", "PŁATNOŚĆ NA RZECZ"):
        assert word in invoice
    payhub = pdf_text(rendered["pl"] / "self-billing-2026-03-payhub.pdf")
    assert "90-006 Łódź" in payhub and "SAMOFAKTUROWANIE" in payhub  # the badge, upper case
    assert set("ąęłńóŁ") <= set(invoice + payhub)
    fleet = pdf_text(rendered["pl"] / "invoice-2026-03-B-2001.pdf")
    assert "Friedrichstraße 68" in fleet  # German too


def test_the_fonts_are_dejavu_and_embedded(rendered: dict[str, Path]) -> None:
    listed = subprocess.run(
        ["pdffonts", str(rendered["pl"] / "invoice-2026-03-C-1001.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[2:]
    fonts = {line.split()[0].split("+", 1)[-1]: line.split() for line in listed}
    assert "DejaVu-Sans" in fonts and "DejaVu-Sans-Bold" in fonts
    for columns in fonts.values():
        assert columns[-5:-2] == ["yes", "yes", "yes"]  # embedded, subset, with a Unicode map


def test_hostile_names_stay_text_in_the_pdf(tmp_path: Path) -> None:
    nasty = "<script>alert('x')</script> & <b>Zoë</b> Łódź"
    base = workspace(tmp_path, {"streamplus": ('"StreamCo Limited"', f'"{nasty}"')})
    with inside(base):
        render_reports(Path(RUN_NAME), tmp_path / "docs", formats=["pdf"], run_name=RUN_NAME)
    text = " ".join(pdf_text(tmp_path / "docs" / "self-billing-2026-03-streamco.pdf").split())
    assert nasty in text
