"""The documents of a run: golden invoices, statements and audit reports in
several languages, complete catalogs, escaping, totals read back from the
HTML, and one invoice opened in a real headless browser.

Golden files live in tests/golden/reports/; after an intended change, rewrite
them with `CLEARLINE_UPDATE_GOLDENS=1 pytest tests/test_reports.py` and
review the diff.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import struct
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.diagnostics import ClearlineError
from clearline.reports import SUPPORTED_LANGUAGES, render_reports
from clearline.reports.i18n import Formatter, Language, catalog_path, language_for
from clearline.reports.render import md_escape
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

REPORTS_SRC = ROOT / "src" / "clearline" / "reports"


def settle(out: Path, contracts: list[str], usage: list[str], customers: str) -> Path:
    """A run with the paths written relative to the repository, as the README runs it."""
    plans, _ = clearline.load_plans(contracts)
    clearline.run(plans, usage, "2026-03", fx="contracts/data/fx-rates.csv", customers=customers, out=out)
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("run") / "2026-03"
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        settle(
            out,
            ["contracts/streamplus.contract", "contracts/nordcarrier.contract"],
            ["contracts/data/streamplus-subscriptions.csv", "contracts/data/nordcarrier-cdrs.csv"],
            "contracts/data/customers.csv",
        )
        yield out
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def documents(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("documents")
    cwd = Path.cwd()
    os.chdir(ROOT)  # the manifest names the customers and contracts relative to the repository
    try:
        result = render_reports(run_dir, out, run_name=RUN_NAME)
    finally:
        os.chdir(cwd)
    assert result.notes == []
    return out


@pytest.fixture(scope="module")
def german(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("documents-de")
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        render_reports(run_dir, out, lang="de", run_name=RUN_NAME)
    finally:
        os.chdir(cwd)
    return out


# --- golden documents -------------------------------------------------------------------

GOLDEN_DEFAULT = [
    "invoice-2026-03-C-1001.md",  # Polish
    "invoice-2026-03-C-1001.html",
    "invoice-2026-03-C-1003.md",  # English
    "invoice-2026-03-C-1003.html",
    "self-billing-2026-03-streamco.md",  # English, revenue share paid in EUR
    "self-billing-2026-03-streamco.html",
    "self-billing-2026-03-nordcarrier.md",  # English, per-prefix rate table
    "audit-2026-03.md",  # Polish: the operator's language
    "audit-2026-03.html",
]
GOLDEN_GERMAN = [
    "invoice-2026-03-C-1001.md",
    "self-billing-2026-03-streamco.md",
    "self-billing-2026-03-streamco.html",
]


@pytest.mark.parametrize("name", GOLDEN_DEFAULT)
def test_golden_documents(documents: Path, name: str) -> None:
    check_golden(name, (documents / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", GOLDEN_GERMAN)
def test_golden_documents_in_german(german: Path, name: str) -> None:
    check_golden(f"de/{name}", (german / name).read_text(encoding="utf-8"))


def test_one_invoice_per_customer_and_one_statement_per_partner(documents: Path) -> None:
    names = sorted(p.name for p in documents.iterdir() if p.name != "documents.json")
    assert names == sorted(
        [f"invoice-2026-03-C-100{i}.{fmt}" for i in range(1, 6) for fmt in ("html", "md")]
        + [f"self-billing-2026-03-{p}.{fmt}" for p in ("nordcarrier", "streamco") for fmt in ("html", "md")]
        + ["audit-2026-03.html", "audit-2026-03.md"]
    )


def test_documents_are_in_each_partys_language(documents: Path) -> None:
    assert '<html lang="pl">' in (documents / "invoice-2026-03-C-1001.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in (documents / "invoice-2026-03-C-1003.html").read_text(encoding="utf-8")
    statement = (documents / "self-billing-2026-03-streamco.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in statement and "Self-billing" in statement
    assert "Samofakturowanie" in (documents / "audit-2026-03.md").read_text(encoding="utf-8")


def test_self_billing_label_per_language(german: Path, run_dir: Path, tmp_path: Path) -> None:
    assert "Gutschrift" in (german / "self-billing-2026-03-streamco.html").read_text(encoding="utf-8")
    render_reports(run_dir, tmp_path, formats=["html"], lang="pl")
    polish = (tmp_path / "self-billing-2026-03-streamco.html").read_text(encoding="utf-8")
    assert 'id="self-billing">Samofakturowanie<' in polish


def test_rendering_is_deterministic(run_dir: Path, documents: Path, tmp_path: Path) -> None:
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        render_reports(run_dir, tmp_path, run_name=RUN_NAME)
    finally:
        os.chdir(cwd)
    for path in documents.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_html_is_self_contained(documents: Path) -> None:
    for path in documents.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "<style>" in text
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text), path.name
        assert "<link" not in text and "<script" not in text and "@import" not in text, path.name
        assert "@media print" in text


# --- catalogs ---------------------------------------------------------------------------


def used_messages() -> dict[str, tuple[str, ...]]:
    """Every message the templates and the code use: id -> plural forms (or the id)."""
    options = {"trim_blocks": "True", "lstrip_blocks": "True"}
    method_map = [
        ("templates/**.html", "jinja2.ext:babel_extract"),
        ("templates/**.md", "jinja2.ext:babel_extract"),
        ("**.py", "python"),
    ]
    found: dict[str, tuple[str, ...]] = {}
    for _, _, message, _, _ in extract_from_dir(
        str(REPORTS_SRC), method_map, options_map={"templates/**.html": options, "templates/**.md": options}
    ):
        forms = (message,) if isinstance(message, str) else tuple(message)
        found[forms[0]] = forms
    return found


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text))


def test_messages_are_found() -> None:
    used = used_messages()
    assert {"Invoice", "Self-billing", "Total due", "Withholding tax", "contract", "prefix"} <= set(used)
    assert len(used) > 100


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_label_is_in_every_catalog(language: str) -> None:
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    used = used_messages()
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    missing = sorted(set(used) - set(entries))
    assert missing == [], f"{language}.po lacks {missing}"
    unused = sorted(set(entries) - set(used))
    assert unused == [], f"{language}.po has labels nothing uses: {unused}"
    for key, message in entries.items():
        assert not message.fuzzy, (language, key)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(strings), f"{language}.po: {key!r} is not translated"
        if isinstance(message.id, tuple):
            assert len(strings) == catalog.num_plurals, (language, key)
        for s in strings:
            assert placeholders(s) == placeholders(key), (language, key, s)


def test_catalogs_are_installed_with_the_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"reports/locale/*.po"' in pyproject and '"reports/templates/*.html"' in pyproject
    for language in SUPPORTED_LANGUAGES:
        assert Language.load(language).gettext("Invoice")


# --- locale formatting ------------------------------------------------------------------


def fmt(language: str) -> Formatter:
    return Language.load(language).fmt


def test_money_per_locale() -> None:
    amount = Decimal("1234.56")
    assert fmt("pl").money(amount, "PLN") == "1\xa0234,56\xa0zł"
    assert fmt("en").money(amount, "EUR") == "€1,234.56"
    assert fmt("de").money(amount, "EUR") == "1.234,56\xa0€"
    assert fmt("en").money(Decimal("-0.08"), "EUR") == "-€0.08"
    assert fmt("en").money(amount, "PLN") == "PLN\xa01,234.56"


def test_money_uses_iso_4217_minor_units_and_never_rounds() -> None:
    assert fmt("en").money(Decimal("1234"), "JPY") == "¥1,234"
    assert fmt("de").money(Decimal("1234.567"), "BHD") == "1.234,567\xa0BHD"
    assert fmt("en").money(Decimal("0"), "BHD") == "BHD\xa00.000"
    assert fmt("en").money(Decimal("0.0150"), "EUR") == "€0.0150"  # a rate keeps its digits
    assert fmt("pl").money(Decimal("39"), "PLN") == "39,00\xa0zł"


def test_numbers_units_and_dates_per_locale() -> None:
    import datetime as dt

    assert fmt("pl").quantity(Decimal(31), "day") == "31 dni"
    assert fmt("de").quantity(Decimal(1), "day") == "1 Tag"
    assert fmt("en").quantity(Decimal(5), "subscriber") == "5 subscribers"
    assert fmt("pl").quantity(Decimal(5), "subscriber") == "5 abonentów"
    assert fmt("de").percent(Decimal("0.23")) == "23\xa0%"
    assert fmt("en").percent(Decimal("0.055")) == "5.5%"
    assert fmt("de").number(Decimal("4.2500")) == "4,2500"
    assert fmt("pl").interval(dt.date(2026, 3, 1), dt.date(2026, 3, 31)) == "1–31 marca 2026"
    assert fmt("de").date("2026-03-31") == "31. März 2026"
    assert fmt("pl").unit_price(Decimal("39.00"), "PLN", "month") == "39,00\xa0zł na miesiąc"


def test_language_fallback() -> None:
    assert language_for("pl") == ("pl", False)
    assert language_for("de_AT") == ("de", False)
    assert language_for("sv") == ("en", True)
    assert language_for("") == ("en", True)


# --- escaping ---------------------------------------------------------------------------

NASTY = "<script>alert('x')</script> \"Zoë\" Łódź 東京 & <b>Co</b> | *x*"


def md_unescape(text: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


@pytest.fixture(scope="module")
def nasty_documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A customer and a partner whose names (and legal names, addresses) try to break out of the markup."""
    base = tmp_path_factory.mktemp("nasty")
    contract = (ROOT / "contracts" / "streamplus.contract").read_text(encoding="utf-8")
    quoted = NASTY.replace("\\", "\\\\").replace('"', '\\"')
    assert '"StreamCo Ltd"' in contract and '"StreamCo Limited"' in contract
    for name in ('"StreamCo Ltd"', '"StreamCo Limited"', '"1 Grand Canal Square"'):
        contract = contract.replace(name, f'"{quoted}"')
    (base / "sp.contract").write_text(contract, encoding="utf-8")
    customers = read_csv(ROOT / "contracts" / "data" / "customers.csv")
    with (base / "customers.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(customers[0]), lineterminator="\n")
        writer.writeheader()
        for row in customers:
            nasty = {"name": NASTY, "address": NASTY, "city": NASTY}
            writer.writerow({**row, **nasty} if row["customer_id"] == "C-1001" else row)
    run = settle(
        base / "run",
        [str(base / "sp.contract")],
        [str(ROOT / "contracts" / "data" / "streamplus-subscriptions.csv")],
        str(base / "customers.csv"),
    )
    out = base / "documents"
    assert render_reports(run, out).notes == []
    return out


@pytest.mark.parametrize(
    "name", ["invoice-2026-03-C-1001.html", "self-billing-2026-03-streamco.html", "audit-2026-03.html"]
)
def test_names_are_escaped_and_intact_in_html(nasty_documents: Path, name: str) -> None:
    text = (nasty_documents / name).read_text(encoding="utf-8")
    assert "<script" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text
    parser = TextParser()
    parser.feed(text)
    assert "script" not in parser.tags and "b" not in parser.tags
    assert NASTY in "".join(parser.text)


@pytest.mark.parametrize(
    "name", ["invoice-2026-03-C-1001.md", "self-billing-2026-03-streamco.md", "audit-2026-03.md"]
)
def test_names_are_escaped_and_intact_in_markdown(nasty_documents: Path, name: str) -> None:
    text = (nasty_documents / name).read_text(encoding="utf-8")
    assert "<script>" not in text.replace("\\<script>", "")
    assert md_escape(NASTY) in text
    assert NASTY in md_unescape(text)


# --- totals read back from the HTML -----------------------------------------------------


def test_invoice_totals_equal_the_line_files(run_dir: Path, documents: Path) -> None:
    lines = read_csv(run_dir / "invoice_lines.csv")
    customers = sorted({ln["party"] for ln in lines})
    assert customers == [f"C-100{i}" for i in range(1, 6)]
    for customer in customers:
        mine = [ln for ln in lines if ln["party"] == customer]
        cells, _ = amounts(documents / f"invoice-2026-03-{customer}.html")
        for key, column in (("net", "amount"), ("vat", "vat_amount"), ("gross", "gross_amount")):
            expected: dict[str, Decimal] = {}
            for ln in mine:
                expected[ln["currency"]] = expected.get(ln["currency"], Decimal(0)) + Decimal(ln[column])
            assert totals(cells, key) == expected, (customer, key)
        shown = {a["row-data-line-id"] for a, _ in cells if a.get("row-data-line-id")}
        assert shown == {ln["line_id"] for ln in mine}


def test_invoice_c1001_matches_the_scenario(documents: Path) -> None:
    cells, lang = amounts(documents / "invoice-2026-03-C-1001.html")
    assert lang == "pl"
    assert totals(cells, "gross") == {"PLN": Decimal("47.97")}
    assert totals(cells, "vat") == {"PLN": Decimal("8.97")}


def test_statement_totals_equal_the_line_files(run_dir: Path, documents: Path) -> None:
    lines = read_csv(run_dir / "payout_lines.csv")
    for partner in sorted({ln["party"] for ln in lines}):
        mine = [ln for ln in lines if ln["party"] == partner]
        cells, _ = amounts(documents / f"self-billing-2026-03-{partner}.html")
        settled: dict[str, Decimal] = {}
        payable: dict[str, Decimal] = {}
        for ln in mine:
            settled[ln["currency"]] = settled.get(ln["currency"], Decimal(0)) + Decimal(ln["amount"])
            currency = ln["paid_currency"] or ln["currency"]
            paid = Decimal(ln["paid_amount"] or ln["amount"])
            payable[currency] = payable.get(currency, Decimal(0)) + paid
        assert totals(cells, "settled") == settled, partner
        assert totals(cells, "payable") == payable, partner
    streamco, _ = amounts(documents / "self-billing-2026-03-streamco.html")
    assert totals(streamco, "payable") == {"EUR": Decimal("19.21")}
    nordcarrier, _ = amounts(documents / "self-billing-2026-03-nordcarrier.html")
    assert totals(nordcarrier, "payable") == {"EUR": Decimal("0.08")}


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
    assert checks[("SP-2026", "net-revenue")] == Decimal("148.45")
    assert checks[("SP-2026", "payouts")] == Decimal("81.65")
    assert checks[("SP-2026", "retained")] == Decimal("66.80")


def test_audit_links_every_line_to_its_explanation(run_dir: Path, documents: Path) -> None:
    text = (documents / "audit-2026-03.html").read_text(encoding="utf-8")
    ids = [ln["line_id"] for n in ("invoice_lines.csv", "payout_lines.csv", "retained_lines.csv")
           for ln in read_csv(run_dir / n)]  # fmt: skip
    assert len(ids) == 11
    for lid in ids:
        assert f'href="#trace-{lid}"' in text and f'id="trace-{lid}"' in text, lid
    assert "81.6475" in text and "4.2500" in text  # the sum before rounding and the FX rate


# --- parties without a supported language, future line columns -------------------------


def test_unsupported_language_falls_back_to_english_and_says_so(tmp_path: Path) -> None:
    customers = read_csv(ROOT / "contracts" / "data" / "customers.csv")
    with (tmp_path / "customers.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(customers[0]), lineterminator="\n")
        writer.writeheader()
        for row in customers:
            writer.writerow({**row, "language": "sv"} if row["customer_id"] == "C-1002" else row)
    run = settle(
        tmp_path / "run",
        [str(ROOT / "contracts" / "streamplus.contract")],
        [str(ROOT / "contracts" / "data" / "streamplus-subscriptions.csv")],
        str(tmp_path / "customers.csv"),
    )
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    assert "Piotr Nowak: no catalog for its language 'sv', invoice in English" in result.output
    invoice = (tmp_path / "docs" / "invoice-2026-03-C-1002.md").read_text(encoding="utf-8")
    assert invoice.startswith("# Invoice ")
    assert "is in English because its recipient's language (sv) is not available" in invoice
    audit = (tmp_path / "docs" / "audit-2026-03.md").read_text(encoding="utf-8")
    assert "en (zamiast sv)" in audit


def test_reverse_charge_and_withholding_columns_are_shown(run_dir: Path, tmp_path: Path) -> None:
    """Columns a later engine will write: `reverse_charge` on invoice lines,
    `withholding_amount`/`withholding_rate` on payout lines, and lines of kind
    `withholding` (negative amounts, as the engine builds them) in a line file."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    invoice = read_csv(run / "invoice_lines.csv")
    for ln in invoice:
        ln["reverse_charge"] = "yes" if ln["party"] == "C-1003" else ""
    payout = read_csv(run / "payout_lines.csv")
    for ln in payout:
        ln["withholding_amount"] = "1.92" if ln["party"] == "streamco" else ""
        ln["withholding_rate"] = "10%" if ln["party"] == "streamco" else ""
    withholding = [{**payout[0], "line_id": "W-0001", "kind": "withholding", "amount": "-0.01"}]
    for name, rows in (
        ("invoice_lines.csv", invoice),
        ("payout_lines.csv", payout),
        ("withholding_lines.csv", withholding),
    ):
        with (run / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        # art. 226(4): a reverse-charged invoice shows the customer's VAT id; C-1003 has none
        with pytest.raises(ClearlineError) as caught:
            render_reports(run, tmp_path / "docs", formats=["html"])
        [diag] = caught.value.diagnostics
        assert diag.code == "E0908" and "to C-1003 (John Smith) is reverse-charged" in diag.message
        assert not (tmp_path / "docs").exists() or not any((tmp_path / "docs").iterdir())  # nothing written
        # ... so the run's recorded customers get one (the manifest pins the new file's hash)
        recorded = json.loads((run / "customers.json").read_text(encoding="utf-8"))
        for row in recorded["customers"]:
            row["vat_id"] = "PL5260250274" if row["id"] == "C-1003" else row["vat_id"]
        (run / "customers.json").write_text(json.dumps(recorded), encoding="utf-8")
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        digest = hashlib.sha256((run / "customers.json").read_bytes()).hexdigest()
        manifest["outputs"]["customers.json"] = digest
        (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        result = render_reports(run, tmp_path / "docs", formats=["html"])
    finally:
        os.chdir(cwd)
    assert any("invoice_lines.csv does not match" in n for n in result.notes)
    c1003 = (tmp_path / "docs" / "invoice-2026-03-C-1003.html").read_text(encoding="utf-8")
    assert 'id="reverse-charge"' in c1003 and "Article 196" in c1003
    c1001 = (tmp_path / "docs" / "invoice-2026-03-C-1001.html").read_text(encoding="utf-8")
    assert 'id="reverse-charge"' not in c1001
    streamco, _ = amounts(tmp_path / "docs" / "self-billing-2026-03-streamco.html")
    assert totals(streamco, "paid") == {"EUR": Decimal("19.21")}
    assert totals(streamco, "withheld") == {"EUR": Decimal("-1.92")}
    assert totals(streamco, "payable") == {"EUR": Decimal("17.29")}
    nordcarrier, _ = amounts(tmp_path / "docs" / "self-billing-2026-03-nordcarrier.html")
    assert totals(nordcarrier, "payable") == {"EUR": Decimal("0.07")}


# --- the command ------------------------------------------------------------------------


def test_report_command(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert "8 document file(s)" in result.output
    assert sorted(p.suffix for p in tmp_path.iterdir() if p.name != "documents.json") == [".md"] * 8
    # A second rendering of another kind keeps these, a stale document goes.
    (tmp_path / "invoice-2026-03-C-9999.md").write_text("old", encoding="utf-8")
    result = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path), "--format", "md"])
    assert not (tmp_path / "invoice-2026-03-C-9999.md").exists()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--lang", "xx"], 2, "no catalog"),
        (["--format", "odt"], 2, "not one of"),
        (["--issue-date", "2026-13-01"], 2, "is not a date"),
    ],
)
def test_report_command_rejects_bad_options(run_dir: Path, argv: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir), *argv])
    assert result.exit_code == code
    assert message in result.output


def test_report_command_on_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a complete run folder" in result.output
    assert "Traceback" not in result.output


def test_report_needs_none_of_the_runs_inputs(run_dir: Path, tmp_path: Path) -> None:
    """Run from elsewhere, the manifest's input paths resolve to nothing (a manifest
    without absolute paths, read from another directory): the documents are the same,
    since they render from the recorded plans and customers.json alone."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["inputs"]:
        del entry["absolute"]
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = render_reports(run, tmp_path / "docs", formats=["md"])
    finally:
        os.chdir(cwd)
    assert not any("not found" in n or "English" in n for n in result.notes), result.notes
    invoice = (tmp_path / "docs" / "invoice-2026-03-C-1001.md").read_text(encoding="utf-8")
    assert invoice.startswith("# Faktura") and "Anna Kowalska" in invoice


# --- a real browser ---------------------------------------------------------------------


def test_invoice_in_a_headless_browser(documents: Path, tmp_path: Path) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip(
            "chromium is not installed (.ci/run installs Debian's chromium; apt-get install chromium)"
        )
    page = (documents / "invoice-2026-03-C-1001.html").resolve().as_uri()
    dom = browser(binary, tmp_path / "profile-dom", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = TextParser()
    parser.feed(dom.stdout)
    text = " ".join(" ".join(parser.text).split())
    assert "Faktura" in text and "Anna Kowalska" in text and "TelcoPL Spółka Akcyjna" in text
    assert "Do zapłaty 47,97 zł" in text.replace("\xa0", " ")
    shot = tmp_path / "invoice.png"
    result = browser(
        binary, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1024,1400", page
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1024, 1400)
    assert len(data) > 20_000  # a blank page is a few kB; the invoice has text and rules
