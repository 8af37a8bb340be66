"""The documents of the four worked scenarios (SCENARIOS.md) settled together.

Golden documents for FleetIoT's wholesale invoice (German, and English),
PayHub's and GameStudio's self-billing statements (Polish; English and
Polish), C-1001's consolidated invoice (Polish) and the audit report; and
the scenario figures read back from the HTML: every total equals the sums of
the line files.

The delivered dcb-purchases.csv stamps every purchase +01:00, also after the
switch to summer time; as in tests/test_scenarios.py (`corrected_run`), the
purchases are settled with Warsaw's real offset, which the scenario figures
assume. Goldens live in tests/golden/reports/scenarios/; rewrite them with
`CLEARLINE_UPDATE_GOLDENS=1 pytest tests/test_reports_scenarios.py`.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

import clearline
from clearline.reports import render_reports
from reports_support import (
    ROOT,
    RUN_NAME,
    TextParser,
    amounts,
    browser,
    check_golden,
    chromium,
    read_csv,
    totals,
)

CONTRACTS = ["streamplus", "nordcarrier", "fleetiot", "gamestudio"]
USAGE = [
    "contracts/data/streamplus-subscriptions.csv",
    "contracts/data/nordcarrier-cdrs.csv",
    "contracts/data/fleetiot-usage.csv",
    "corrected/dcb-purchases.csv",  # the delivered file, with Warsaw's real offset
]
Cells = list[tuple[dict[str, str], Decimal]]


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Run and render from `folder`: the manifest names its inputs relative to it."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)


def correct_offsets(source: Path, target: Path) -> None:
    """The purchases' wall-clock times read as Warsaw time (see `corrected_run`)."""
    warsaw = zoneinfo.ZoneInfo("Europe/Warsaw")
    rows = read_csv(source)
    for row in rows:
        wall = dt.datetime.fromisoformat(row["timestamp"]).replace(tzinfo=None)
        row["timestamp"] = wall.replace(tzinfo=warsaw).isoformat()
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def workspace(base: Path, edit: dict[str, tuple[str, str]] | None = None) -> Path:
    """A copy of the repository's contracts and data, and the corrected purchases.

    `edit` replaces text in contracts: {"streamplus": (old, new)}. The run's
    paths are the repository's, so documents name the same files.
    """
    shutil.copytree(ROOT / "contracts", base / "contracts")
    for name, (old, new) in (edit or {}).items():
        path = base / "contracts" / f"{name}.contract"
        text = path.read_text(encoding="utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    correct_offsets(ROOT / "contracts" / "data" / "dcb-purchases.csv", base / USAGE[-1])
    with inside(base):
        plans, _ = clearline.load_plans([f"contracts/{name}.contract" for name in CONTRACTS])
        clearline.run(
            plans,
            USAGE,
            "2026-03",
            fx="contracts/data/fx-rates.csv",
            customers="contracts/data/customers.csv",
            out=RUN_NAME,
        )
    return base


def render(base: Path, out: Path, lang: str | None = None) -> Path:
    with inside(base):
        result = render_reports(Path(RUN_NAME), out, lang=lang, run_name=RUN_NAME)
    assert result.notes == []
    return out


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four agreements settled for March 2026; the folder holding contracts/ and the run."""
    return workspace(tmp_path_factory.mktemp("scenarios"))


@pytest.fixture(scope="module")
def run_dir(scenario: Path) -> Path:
    return scenario / RUN_NAME


@pytest.fixture(scope="module")
def documents(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every document in its party's language."""
    return render(scenario, tmp_path_factory.mktemp("documents"))


@pytest.fixture(scope="module")
def english(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(scenario, tmp_path_factory.mktemp("documents-en"), lang="en")


@pytest.fixture(scope="module")
def polish(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(scenario, tmp_path_factory.mktemp("documents-pl"), lang="pl")


# --- golden documents -------------------------------------------------------------------

GOLDEN_DEFAULT = [
    "invoice-2026-03-B-2001.html",  # German: FleetIoT's language
    "invoice-2026-03-B-2001.md",
    "invoice-2026-03-C-1001.html",  # Polish: StreamPlus and 270 carrier-billing purchases
    "invoice-2026-03-C-1001.md",
    "self-billing-2026-03-payhub.html",  # Polish
    "self-billing-2026-03-payhub.md",
    "self-billing-2026-03-gamestudio.html",  # English
    "self-billing-2026-03-gamestudio.md",
    "audit-2026-03.html",  # Polish: the operator's language
    "audit-2026-03.md",
]
GOLDEN_ENGLISH = ["invoice-2026-03-B-2001.html", "invoice-2026-03-B-2001.md"]
GOLDEN_POLISH = ["self-billing-2026-03-gamestudio.html", "self-billing-2026-03-gamestudio.md"]


@pytest.mark.parametrize("name", GOLDEN_DEFAULT)
def test_golden_documents(documents: Path, name: str) -> None:
    check_golden(f"scenarios/{name}", (documents / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", GOLDEN_ENGLISH)
def test_golden_documents_in_english(english: Path, name: str) -> None:
    check_golden(f"scenarios/en/{name}", (english / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", GOLDEN_POLISH)
def test_golden_documents_in_polish(polish: Path, name: str) -> None:
    check_golden(f"scenarios/pl/{name}", (polish / name).read_text(encoding="utf-8"))


def test_each_party_gets_its_documents_in_its_language(documents: Path) -> None:
    names = sorted(p.name for p in documents.iterdir() if p.name != "documents.json")
    customers = ["B-2001", *(f"C-100{i}" for i in range(1, 6))]
    partners = ["gamestudio", "nordcarrier", "payhub", "streamco"]
    assert names == sorted(
        [f"invoice-2026-03-{c}.{fmt}" for c in customers for fmt in ("html", "md")]
        + [f"self-billing-2026-03-{p}.{fmt}" for p in partners for fmt in ("html", "md")]
        + ["audit-2026-03.html", "audit-2026-03.md"]
    )
    languages = {
        "invoice-2026-03-B-2001.html": "de",
        "invoice-2026-03-C-1001.html": "pl",
        "invoice-2026-03-C-1003.html": "en",
        "self-billing-2026-03-payhub.html": "pl",
        "self-billing-2026-03-gamestudio.html": "en",
        "audit-2026-03.html": "pl",
    }
    for name, lang in languages.items():
        _, shown = amounts(documents / name)
        assert shown == lang, name


# --- every total is the sum of the line files ---------------------------------------------


def sums(rows: list[dict[str, str]], column: str, currency: str = "currency") -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for row in rows:
        if row[column]:
            out[row[currency]] = out.get(row[currency], Decimal(0)) + Decimal(row[column])
    return out


def line_cells(cells: Cells, cls: str) -> dict[str, Decimal]:
    """The amount of class `cls` in each line's row, by line id."""
    return {
        a["row-data-line-id"]: v
        for a, v in cells
        if a.get("row-class") == "line" and cls in a.get("class", "").split()
    }


def test_invoice_totals_equal_the_line_files(run_dir: Path, documents: Path) -> None:
    lines = read_csv(run_dir / "invoice_lines.csv")
    for customer in sorted({ln["party"] for ln in lines}):
        mine = [ln for ln in lines if ln["party"] == customer]
        cells, _ = amounts(documents / f"invoice-2026-03-{customer}.html")
        assert totals(cells, "net") == sums(mine, "amount"), customer
        assert totals(cells, "vat") == sums(mine, "vat_amount"), customer
        assert totals(cells, "gross") == sums(mine, "gross_amount"), customer
        assert line_cells(cells, "net") == {ln["line_id"]: Decimal(ln["amount"]) for ln in mine}
        assert line_cells(cells, "gross") == {ln["line_id"]: Decimal(ln["gross_amount"]) for ln in mine}


def test_statement_totals_equal_the_line_files(run_dir: Path, documents: Path) -> None:
    lines = read_csv(run_dir / "payout_lines.csv")
    for partner in sorted({ln["party"] for ln in lines}):
        mine = [ln for ln in lines if ln["party"] == partner and ln["kind"] == "payout"]
        cells, _ = amounts(documents / f"self-billing-2026-03-{partner}.html")
        assert totals(cells, "settled") == sums(mine, "amount"), partner
        payable: dict[str, Decimal] = {}
        for ln in mine:
            currency = ln["paid_currency"] or ln["currency"]
            payable[currency] = payable.get(currency, Decimal(0)) + Decimal(ln["paid_amount"] or ln["amount"])
        assert totals(cells, "payable") == payable, partner
        assert line_cells(cells, "settled") == {ln["line_id"]: Decimal(ln["amount"]) for ln in mine}


def test_audit_totals_equal_the_line_files(run_dir: Path, documents: Path) -> None:
    cells, _ = amounts(documents / "audit-2026-03.html")
    expected: dict[tuple[str, str, str], Decimal] = {}
    for name in ("invoice_lines.csv", "payout_lines.csv", "retained_lines.csv"):
        for ln in read_csv(run_dir / name):
            key = (ln["party"], ln["kind"], ln["currency"])
            expected[key] = expected.get(key, Decimal(0)) + Decimal(ln["amount"])
    shown = {
        (a["row-data-party"], a["row-data-kind"], a["data-currency"]): v
        for a, v in cells
        if "row-data-party" in a
    }
    assert shown == expected
    checks = {
        (a["row-data-contract"], a["class"].split()[-1]): v for a, v in cells if "row-data-contract" in a
    }
    assert checks[("GS-2026", "net-revenue")] == Decimal("29500.00")
    assert checks[("GS-2026", "payouts")] == Decimal("22349.84")  # 2,289.20 + 20,060.64
    assert checks[("GS-2026", "retained")] == Decimal("7150.16")  # 885.00 + 6,265.16
    assert checks[("FI-2026", "net-revenue")] == Decimal("10200.00")


# --- Scenario 2: FleetIoT -----------------------------------------------------------------


def by_clause(run_dir: Path, party: str) -> dict[str, str]:
    """Line id by clause label, for a party's lines."""
    rows = read_csv(run_dir / "invoice_lines.csv") + read_csv(run_dir / "payout_lines.csv")
    return {ln["clause"]: ln["line_id"] for ln in rows if ln["party"] == party}


def text_of(path: Path) -> str:
    parser = TextParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(parser.text).split()).replace("\xa0", " ")


@pytest.mark.parametrize(("folder", "lang"), [("documents", "de"), ("english", "en")])
def test_fleetiot_invoice(run_dir: Path, folder: str, lang: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(folder) / "invoice-2026-03-B-2001.html"
    cells, shown = amounts(path)
    assert shown == lang
    assert totals(cells, "net") == {"EUR": Decimal("10200.00")}
    assert totals(cells, "vat") == {"EUR": Decimal("0.00")}
    assert totals(cells, "gross") == {"EUR": Decimal("10200.00")}
    ids = by_clause(run_dir, "B-2001")
    net = line_cells(cells, "net")
    assert {clause: net[lid] for clause, lid in ids.items()} == {
        "2.1 SIM fee": Decimal("1200.00"),
        "2.2 Data": Decimal("7130.00"),
        "2.3 Commitment": Decimal("1870.00"),
    }
    assert set(line_cells(cells, "vat").values()) == {Decimal("0.00")}
    # The graduated data line, band by band: 2,000.00 + 4,500.00 + 630.00.
    bands = [v for a, v in cells if a.get("row-data-band-of") == ids["2.2 Data"]]
    assert bands == [Decimal("2000.00"), Decimal("4500.00"), Decimal("630.00")]
    assert sum(bands) == net[ids["2.2 Data"]]
    html = path.read_text(encoding="utf-8")
    assert html.count('data-vat-rate="0%"') == 3  # 0% VAT on every line ...
    assert 'id="reverse-charge"' in html  # ... with the reverse-charge note
    text = text_of(path)
    assert "active_sims" not in text and "active sims" not in text  # the field's label (W0105)
    if lang == "de":
        assert "Art. 196 der Richtlinie 2006/112/EG" in text
        assert "Zu zahlender Betrag 10.200,00 €" in text
        assert "1.500 Höchstwert von aktiven SIM-Karten 0,80 € pro Monat 1.200,00 €" in text
        assert "Staffel, stufenweise 7.130,00 €" in text
        assert "von 0 bis 500.000 MB 500.000 MB 0,0040 €/MB 2.000,00 €" in text
        assert "Mindestumsatz 9.000,00 €, berechnet 7.130,00 € (Klausel 2.2 Data)" in text
    else:
        assert "Article 196 of Council Directive 2006/112/EC" in text
        assert "Total due €10,200.00" in text
        assert "1,500 maximum of active SIMs €0.80 per month €1,200.00" in text
        assert "from 2,000,000 MB 350,000 MB €0.0018/MB €630.00" in text
        assert "Minimum spend €9,000.00, charged €7,130.00 (Clause 2.2 Data)" in text


# --- Scenario 4: GameStudio via PayHub ------------------------------------------------------


def steps(cells: Cells) -> list[Decimal]:
    """The basis of each distribution step a statement shows, in order."""
    return [v for a, v in cells if "row-data-step" in a and "basis" in a["class"].split()]


def test_payhub_statement(documents: Path) -> None:
    path = documents / "self-billing-2026-03-payhub.html"
    cells, lang = amounts(path)
    assert lang == "pl"
    assert totals(cells, "settled") == {"PLN": Decimal("2289.20")}
    assert totals(cells, "payable") == {"PLN": Decimal("2289.20")}
    assert steps(cells) == [Decimal("29500.00"), Decimal("28615.00")]  # the net, then what remains
    text = text_of(path)
    assert 'id="self-billing">Samofakturowanie<' in path.read_text(encoding="utf-8")
    assert "7.1 Distribution GameStudio content aggregator fee" in text
    assert "Pozostała kwota: 28 615,00 zł 8% 2 289,20 zł" in text
    assert "Razem do wypłaty 2 289,20 zł" in text


@pytest.mark.parametrize(("folder", "lang"), [("documents", "en"), ("polish", "pl")])
def test_gamestudio_statement(folder: str, lang: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(folder) / "self-billing-2026-03-gamestudio.html"
    cells, shown = amounts(path)
    assert shown == lang
    assert totals(cells, "settled") == {"PLN": Decimal("20060.64")}
    assert totals(cells, "payable") == {"PLN": Decimal("20060.64")}
    # 29,500.00 net; 3% kept leaves 28,615.00; PayHub's 8% leaves 26,325.80.
    assert steps(cells) == [Decimal("29500.00"), Decimal("28615.00"), Decimal("26325.80")]
    # 70% of the first 10,000.00 and 80% of the other 16,325.80 of the remainder.
    assert [v for a, v in cells if "band-basis" in a["class"].split()] == [
        Decimal("10000.00"),
        Decimal("16325.80"),
    ]
    bands = [v for a, v in cells if "band" in a["class"].split()]
    assert bands == [Decimal("7000.00"), Decimal("13060.64")]
    assert sum(bands) == Decimal("20060.64")
    text = text_of(path)
    if lang == "en":
        assert "Remainder: PLN 26,325.80 70%, 80% graduated tiers PLN 20,060.64" in text
        assert "from PLN 0.00 to PLN 10,000.00 PLN 10,000.00 70% PLN 7,000.00" in text
        assert "from PLN 10,000.00 PLN 16,325.80 80% PLN 13,060.64" in text
        assert "3 content share (this statement) Remainder PLN 26,325.80 70%, 80%" in text
        assert "Total payable PLN 20,060.64" in text
    else:
        assert "Pozostała kwota: 26 325,80 zł 70%, 80% progi, narastająco 20 060,64 zł" in text
        assert "od 10 000,00 zł 16 325,80 zł 80% 13 060,64 zł" in text


def test_statements_leave_out_the_operators_lines(run_dir: Path, documents: Path) -> None:
    """Retained lines, the waterfall steps the operator keeps among them, are the operator's."""
    retained = read_csv(run_dir / "retained_lines.csv")
    ids = {ln["line_id"] for ln in retained}
    kept = {Decimal(ln["amount"]) for ln in retained if ln["contract_id"] == "GS-2026"}
    assert kept == {Decimal("885.00"), Decimal("6265.16")}
    for path in documents.glob("self-billing-*.html"):
        html = path.read_text(encoding="utf-8")
        assert not any(lid in html for lid in ids), path.name
        cells, _ = amounts(path)
        assert not kept & {v for _, v in cells}, path.name
        assert "the rest" not in text_of(path), path.name  # the operator's last step
        assert "TelcoPL Spółka Akcyjna" in text_of(path)  # the issuer, by its legal name


# --- Together: one invoice per customer -----------------------------------------------------


def test_c1001_invoice_consolidates_every_product_and_partner(run_dir: Path, documents: Path) -> None:
    path = documents / "invoice-2026-03-C-1001.html"
    cells, lang = amounts(path)
    assert lang == "pl"
    lines = [ln for ln in read_csv(run_dir / "invoice_lines.csv") if ln["party"] == "C-1001"]
    by_contract = {ln["contract_id"]: ln for ln in lines}
    assert sorted(by_contract) == ["GS-2026", "SP-2026"]
    assert by_contract["GS-2026"]["records"] == "270"
    gross = line_cells(cells, "gross")
    assert gross == {
        by_contract["SP-2026"]["line_id"]: Decimal("47.97"),
        by_contract["GS-2026"]["line_id"]: Decimal("7281.60"),
    }
    assert totals(cells, "gross") == {"PLN": Decimal("7329.57")}
    assert totals(cells, "vat") == {"PLN": Decimal("1370.57")}
    assert totals(cells, "net") == {"PLN": Decimal("5959.00")}
    text = text_of(path)
    assert "GameStudio content Ceny zawierają VAT" in text
    assert "StreamPlus Premium" in text
    assert "Do zapłaty 7 329,57 zł" in text


# --- discounts and withholding tax ----------------------------------------------------------

DISCOUNT = (
    '    clause "6.1 Payment currency"',
    """    clause "3.2 Loyalty discount" "10% off the retail price." {
      discount 10% on clause "3.1 Retail price"
      round each line half up to 0.01
    }

    clause "8 Tax" "Tax is withheld at source." {
      withhold 10% tax from streamco
    }

    clause "6.1 Payment currency\"""",
)
WITHHOLDING = (
    '    clause "7.1 Distribution"',
    """    clause "9 Tax" "Tax is withheld from PayHub at source." {
      withhold 10% tax from payhub
    }

    clause "7.1 Distribution\"""",
)


@pytest.fixture(scope="module")
def taxed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A StreamPlus discount and withholding tax from StreamCo (paid in EUR) and PayHub."""
    base = workspace(tmp_path_factory.mktemp("taxed"), {"streamplus": DISCOUNT, "gamestudio": WITHHOLDING})
    return base / RUN_NAME, render(base, tmp_path_factory.mktemp("taxed-documents"), lang="en")


def rows(path: Path) -> list[tuple[str, str]]:
    """(class, line id) of each row of the lines table, in order."""
    cells, _ = amounts(path)
    seen: dict[tuple[str, str], None] = {}
    for a, _ in cells:
        if a.get("row-data-line-id"):
            seen[(a.get("row-class", ""), a["row-data-line-id"])] = None
    return list(seen)


def test_discount_line_says_what_it_discounts(taxed: tuple[Path, Path]) -> None:
    run, docs = taxed
    (discount,) = [
        ln
        for ln in read_csv(run / "invoice_lines.csv")
        if ln["party"] == "C-1001" and ln["clause"] == "3.2 Loyalty discount"
    ]
    cells, _ = amounts(docs / "invoice-2026-03-C-1001.html")
    assert line_cells(cells, "net")[discount["line_id"]] == Decimal("-3.90")
    assert line_cells(cells, "gross")[discount["line_id"]] == Decimal("-4.80")
    assert totals(cells, "gross") == {"PLN": Decimal("7329.57") - Decimal("4.80")}
    text = text_of(docs / "invoice-2026-03-C-1001.html")
    assert "Discount of 10% on PLN 39.00 (Clause 3.1 Retail price)" in text
    assert "-PLN 3.90" in text


def test_withholding_sits_under_its_payout_with_rate_and_basis(taxed: tuple[Path, Path]) -> None:
    run, docs = taxed
    payouts = read_csv(run / "payout_lines.csv")
    for partner, paid, withheld, payable in (
        ("streamco", {"EUR": Decimal("19.21")}, {"EUR": Decimal("-1.92")}, {"EUR": Decimal("17.29")}),
        ("payhub", {"PLN": Decimal("2289.20")}, {"PLN": Decimal("-228.92")}, {"PLN": Decimal("2060.28")}),
    ):
        mine = {ln["kind"]: ln for ln in payouts if ln["party"] == partner}
        path = docs / f"self-billing-2026-03-{partner}.html"
        assert rows(path) == [
            ("line", mine["payout"]["line_id"]),
            ("withholding", mine["withholding"]["line_id"]),
        ]
        cells, _ = amounts(path)
        assert totals(cells, "paid") == paid
        assert totals(cells, "withheld") == withheld
        assert totals(cells, "payable") == payable
    streamco = text_of(docs / "self-billing-2026-03-streamco.html")
    assert "8 Tax Withholding tax" in streamco
    assert "PLN 81.65 10% -PLN 8.17 1 EUR = 4.2500 PLN -€1.92" in streamco
    payhub = text_of(docs / "self-billing-2026-03-payhub.html")
    assert "PLN 2,289.20 10% -PLN 228.92" in payhub
    assert "Currency conversion" not in payhub  # nothing is converted: no conversion columns
    assert "Tax is withheld from PayHub at source." in payhub


# --- a real browser -------------------------------------------------------------------------


def test_fleetiot_invoice_in_a_headless_browser(documents: Path, tmp_path: Path) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip(
            "chromium is not installed (.ci/run installs Debian's chromium; apt-get install chromium)"
        )
    page = (documents / "invoice-2026-03-B-2001.html").resolve().as_uri()
    dom = browser(binary, tmp_path / "profile", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = TextParser()
    parser.feed(dom.stdout)
    text = " ".join(" ".join(parser.text).split()).replace("\xa0", " ")
    assert "Rechnung" in text and "FleetIoT GmbH" in text
    assert "Zu zahlender Betrag 10.200,00 €" in text


# --- other distribution steps ---------------------------------------------------------------

CHAIN = """\
contract CH-1 "A B2B2B2X chain" {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in PLN, time zone Europe/Warsaw
  operator telcopl "TelcoPL S.A."  currency PLN  country PL  language pl
  partner  agg     "Aggregator"    currency PLN  country PL  language en
  partner  ref     "Referrer"      currency PLN  country PL  language en
  partner  studio  "Studio"        currency PLN  country PL  language en
  usage fields {
    service text
    amount  decimal
  }
  product games "Games" {
    matches service = "game"
    clause "1 Price" {
      charge customer the value of amount in PLN
      round each line half up to 0.01
    }
    clause "2 Chain" {
      distribute the period's net {
        telcopl keeps 0.10 PLN per transaction as "transaction fee"
        pay agg 10% of the remainder as "aggregator fee", round half up to 0.01
        pay ref 5% of "aggregator fee" as "referral", round half up to 0.01
        pay studio 70% of the remainder as "studio share", round half up to 0.01
        telcopl keeps the rest
      }
    }
  }
}
"""


def test_steps_per_transaction_and_of_an_earlier_step(tmp_path: Path) -> None:
    (tmp_path / "chain.contract").write_text(CHAIN, encoding="utf-8")
    (tmp_path / "usage.csv").write_text(
        "record_id,timestamp,customer_id,service,amount\n"
        "G1,2026-03-02T10:00:00+01:00,C1,game,60.00\n"
        "G2,2026-03-03T10:00:00+01:00,C2,game,40.00\n"
        "G3,2026-03-04T10:00:00+01:00,C2,game,0.00\n",
        encoding="utf-8",
    )
    with inside(tmp_path):
        plans, _ = clearline.load_plans(["chain.contract"])
        clearline.run(plans, ["usage.csv"], "2026-03", out="run")
        render_reports(Path("run"), Path("docs"), formats=["html"])
    # net 100.00; 3 x 0.10 kept; 10% of 99.70 = 9.97; 5% of 9.97 = 0.50; 70% of 89.23 = 62.46
    referrer, _ = amounts(tmp_path / "docs" / "self-billing-2026-03-ref.html")
    assert totals(referrer, "payable") == {"PLN": Decimal("0.50")}
    assert steps(referrer) == [Decimal("100.00"), Decimal("99.70"), Decimal("9.97")]
    text = text_of(tmp_path / "docs" / "self-billing-2026-03-ref.html")
    assert "1 transaction fee Net revenue PLN 100.00 PLN 0.10 per transaction" in text
    assert "3 referral (this statement) Amount of step aggregator fee PLN 9.97 5%" in text
    studio, _ = amounts(tmp_path / "docs" / "self-billing-2026-03-studio.html")
    assert totals(studio, "payable") == {"PLN": Decimal("62.46")}
    assert steps(studio) == [Decimal("100.00"), Decimal("99.70"), Decimal("9.97"), Decimal("89.23")]
    assert "Remainder: PLN 89.23 70% PLN 62.46" in text_of(
        tmp_path / "docs" / "self-billing-2026-03-studio.html"
    )
