"""Documents that can be sent: issue date, due date, payment reference, the ledger's legal
number once the period is closed (DRAFT before), and every art. 226 particular of the
seller and the buyer.

StreamPlus March (scenario 1): C-1001's invoice is 39.00 PLN net + 8.97 VAT = 47.97 PLN;
StreamCo's statement 81.65 PLN paid as 19.21 EUR. TelcoPL's terms are 14 days, so an
invoice issued on 2 April 2026 is due on 16 April 2026 (2 + 14).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearline.cli import app

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("sqlalchemy", reason="the ledger extra (sqlalchemy) is not installed")


class _Ids(HTMLParser):
    """The text of each element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs).get("id")
        self._open.append(found or "")
        if found:
            self.ids[found] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for name in self._open:
            if name:
                self.ids[name] += data


def ids(path: Path) -> dict[str, str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return {k: " ".join(v.split()) for k, v in parser.ids.items()}


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """StreamPlus March, settled and closed into a new SQLite ledger."""
    base = tmp_path_factory.mktemp("issue")
    run, ledger = base / "2026-03", f"sqlite:///{base / 'ledger.sqlite'}"
    runner = CliRunner()
    args = ["simulate", str(ROOT / "contracts" / "streamplus.contract"), "--period", "2026-03"]
    args += ["--usage", str(ROOT / "contracts" / "data" / "streamplus-subscriptions.csv")]
    args += ["--fx", str(ROOT / "contracts" / "data" / "fx-rates.csv")]
    args += ["--customers", str(ROOT / "contracts" / "data" / "customers.csv"), "--out", str(run)]
    done = runner.invoke(app, args)
    assert done.exit_code in {0, 3}, done.output
    done = runner.invoke(app, ["close", str(run), "--ledger", ledger])
    assert done.exit_code == 0, done.output
    return run, ledger


def test_before_the_close_a_document_is_a_draft_with_its_issue_and_due_dates(
    closed: tuple[Path, str], tmp_path: Path
) -> None:
    run, _ = closed
    done = CliRunner().invoke(
        app, ["report", str(run), "--out", str(tmp_path), "--format", "html", "--issue-date", "2026-04-02"]
    )
    assert done.exit_code == 0, done.output
    invoice = tmp_path / "invoice-2026-03-C-1001.html"
    shown = ids(invoice)
    assert shown["issue-date"] == "2 kwietnia 2026"
    assert shown["due-date"] == "16 kwietnia 2026"  # 2 April + 14 days
    assert shown["supply-period"] == "1–31 marca 2026"
    assert shown["number"].startswith("INV-2026-03-C-1001-")
    assert shown["payment-reference"] == shown["number"]
    assert shown["draft"].startswith("PROJEKT")
    assert shown["iban"] == "PL60 1020 1026 0000 0422 7020 1111"  # the operator's, to pay into
    text = invoice.read_text(encoding="utf-8")
    for particular in ("TelcoPL Spółka Akcyjna", "ul. Marszałkowska 142", "00-061 Warszawa", "PL5260250274"):
        assert particular in text  # the seller (art. 226 points 3 and 5)
    for particular in ("Anna Kowalska", "ul. Kwiatowa 12 m. 4", "02-495 Warszawa"):
        assert particular in text  # the buyer (point 5)
    statement = ids(tmp_path / "self-billing-2026-03-streamco.html")
    assert statement["draft"].startswith("DRAFT")  # StreamCo reads English
    assert statement["iban"] == "IE29 AIBK 9311 5212 3456 78"  # the partner's, where it is paid


def test_after_the_close_documents_carry_the_ledgers_numbers(
    closed: tuple[Path, str], tmp_path: Path
) -> None:
    run, ledger = closed
    done = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path), "--ledger", ledger])
    assert done.exit_code == 0, done.output
    invoice = ids(tmp_path / "invoice-2026-03-C-1001.html")
    assert invoice["number"] == "INV/2026/03/00001"  # C-1001 is the first customer of the series
    assert invoice["payment-reference"] == "INV/2026/03/00001"
    assert "draft" not in invoice
    # issued on the close's day, in the contract's time zone; due 14 days later
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Warsaw")).date()
    assert invoice["issue-date"] in {_pl(today), _pl(today - dt.timedelta(days=1))}
    statement = ids(tmp_path / "self-billing-2026-03-streamco.html")
    assert statement["number"] == "SB/2026/03/00001"
    md = (tmp_path / "invoice-2026-03-C-1001.md").read_text(encoding="utf-8")
    assert md.startswith("# Faktura INV/2026/03/00001\n") and "PROJEKT" not in md
    # the audit report lists the documents under their legal numbers
    assert "INV/2026/03/00005" in (tmp_path / "audit-2026-03.html").read_text(encoding="utf-8")


def test_an_issue_date_overrides_the_close_day(closed: tuple[Path, str], tmp_path: Path) -> None:
    run, ledger = closed
    args = [
        "report",
        str(run),
        "--out",
        str(tmp_path),
        "-f",
        "html",
        "--ledger",
        ledger,
        "--issue-date",
        "2026-04-30",
    ]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    invoice = ids(tmp_path / "invoice-2026-03-C-1001.html")
    assert (invoice["issue-date"], invoice["due-date"]) == ("30 kwietnia 2026", "14 maja 2026")


def test_a_ledger_that_did_not_close_the_period_leaves_drafts_and_says_so(
    closed: tuple[Path, str], tmp_path: Path
) -> None:
    run, _ = closed
    other = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    done = CliRunner().invoke(
        app, ["report", str(run), "--out", str(tmp_path / "d"), "-f", "md", "--ledger", other]
    )
    assert done.exit_code == 0, done.output
    assert "the ledger has not closed it: rendered as a draft" in done.stderr
    assert "(PROJEKT)" in (tmp_path / "d" / "invoice-2026-03-C-1001.md").read_text(encoding="utf-8")


def test_a_bad_issue_date_is_a_bad_option(closed: tuple[Path, str], tmp_path: Path) -> None:
    run, _ = closed
    done = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path), "--issue-date", "02.04.2026"])
    assert done.exit_code == 2
    assert "'02.04.2026' is not a date (YYYY-MM-DD)" in done.output
    assert not any(tmp_path.iterdir())


def _pl(day: dt.date) -> str:
    months = (
        "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia"
    )
    return f"{day.day} {months.split()[day.month - 1]} {day.year}"


def test_close_refuses_a_reverse_charged_invoice_without_the_customers_vat_id(tmp_path: Path) -> None:
    """FleetIoT's March (scenario 2) is reverse-charged. With a customers file that gives no
    VAT id for B-2001, simulate settles nothing (E0908); a run made without a customers file
    (so without any VAT id) is not closed (art. 226(4)), and the ledger stays empty."""
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "customer_id,name,country,language,currency\nB-2001,FleetIoT GmbH,DE,de,EUR\n", "utf-8"
    )
    run, ledger = tmp_path / "run", f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    runner = CliRunner()
    args = ["simulate", str(ROOT / "contracts" / "fleetiot.contract"), "--period", "2026-03"]
    args += ["--usage", str(ROOT / "contracts" / "data" / "fleetiot-usage.csv"), "--out", str(run)]
    refused = runner.invoke(app, [*args, "--customers", str(customers)])
    assert refused.exit_code == 1 and "error[E0908]" in refused.stderr, refused.output
    assert not (run / "manifest.json").exists()
    done = runner.invoke(app, [*args, "--force"])
    assert done.exit_code in {0, 3}, done.output
    done = runner.invoke(app, ["close", str(run), "--ledger", ledger])
    assert done.exit_code == 1
    assert "error[E0908]" in done.stderr and "the invoices to B-2001 are reverse-charged" in done.stderr
    listed = runner.invoke(app, ["ledger", ledger, "documents"])
    assert "INV/" not in listed.output
    # and report refuses it too, writing nothing
    done = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "docs")])
    assert done.exit_code == 1 and "error[E0908]" in done.stderr
    assert not any((tmp_path / "docs").glob("*.html"))


def test_close_gives_the_documents_their_issue_date(tmp_path: Path) -> None:
    """`close --issue-date 2026-04-03`: the ledger keeps the date (schema 0007, in the
    close's hash) and the documents show it; due 17 April (3 + 14 days)."""
    run, ledger = tmp_path / "2026-03", f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    runner = CliRunner()
    args = ["simulate", str(ROOT / "contracts" / "nordcarrier.contract"), "--period", "2026-03"]
    args += ["--usage", str(ROOT / "contracts" / "data" / "nordcarrier-cdrs.csv"), "--out", str(run)]
    args += ["--customers", str(ROOT / "contracts" / "data" / "customers.csv")]
    done = runner.invoke(app, args)
    assert done.exit_code in {0, 3}, done.output
    bad = runner.invoke(app, ["close", str(run), "--ledger", ledger, "--issue-date", "3.4.2026"])
    assert bad.exit_code == 2 and "is not a date" in bad.output
    done = runner.invoke(app, ["close", str(run), "--ledger", ledger, "--issue-date", "2026-04-03"])
    assert done.exit_code == 0, done.output
    verified = runner.invoke(app, ["ledger", ledger, "verify"])
    assert verified.exit_code == 0, verified.output
    done = runner.invoke(
        app, ["report", str(run), "--out", str(tmp_path / "docs"), "-f", "html", "--ledger", ledger]
    )
    assert done.exit_code == 0, done.output
    statement = ids(tmp_path / "docs" / "self-billing-2026-03-nordcarrier.html")
    assert statement["number"] == "SB/2026/03/00001"
    assert (statement["issue-date"], statement["due-date"]) == ("April 3, 2026", "April 17, 2026")


def test_a_close_of_the_services_intake_takes_an_issue_date_too(tmp_path: Path) -> None:
    """`close --period 2026-03 --issue-date 2026-04-06` over records `clearline serve` took."""
    import random

    from clearline.ledger import open_ledger
    from clearline.service.core import Service
    from serve_support import CONTRACTS, DATA
    from test_serve import _batches, _stream

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with open_ledger(url) as ledger:
        service = Service(
            ledger, sorted(CONTRACTS.glob("*.contract")), DATA / "fx-rates.csv", DATA / "customers.csv"
        )
        try:
            for batch in _batches(_stream(3), random.Random(3)):
                service.submit(batch).result(timeout=120)
        finally:
            service.stop()
    runner = CliRunner()
    args = [
        "close",
        "--ledger",
        url,
        "--period",
        "2026-03",
        "--out",
        str(tmp_path / "run"),
        "--issue-date",
        "2026-04-06",
    ]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    with open_ledger(url) as ledger:
        assert [(c.period, c.issue_date) for c in ledger.closes()] == [("2026-03", "2026-04-06")]
        assert ledger.verify() == []
