"""A re-settlement's partner adjustments go on the partner's next self-billing statement.

The close of a re-settlement leaves the partner's adjustment pending; the next close of
a later period of the same issuer carries it onto the partner's statement ("adjustment
for 2026-03" with its reason), and `clearline report --ledger` renders it there, in
every format. Graduated shares of 60% up to 30,000.00 and 70% above (the issue's
example); both back ends.
"""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.ledger import open_ledger
from clearline.ledger.closing import close_run
from clearline.ledger.resettle import prior_for
from clearline.reports import render_reports
from conftest import read_csv
from ledger_support import HEADER, sales, settle_share

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}


def _resettle(ledger_url: str, folder: Path, name: str, text: str) -> Path:
    plans, _ = clearline.load_plans([folder / "share.contract"])
    usage = folder / f"{name}.csv"
    usage.write_text(text, encoding="utf-8")
    with open_ledger(ledger_url) as ledger:
        prior = prior_for(ledger, plans, [usage], "2026-03")
    out = folder / name
    clearline.run(plans, [usage], "2026-03", out=out, prior=prior)
    return out


def _march_and_late(ledger_url: str, tmp_path: Path, late: str) -> None:
    """March: 8 sales of 5,000.00 = 40,000.00, the studio 60% x 30,000.00 + 70% x
    10,000.00 = 25,000.00 (SB/2026/03/00001), closed; then `late` re-settles it, closed."""
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["5000.00"] * 8)})
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
    again = _resettle(ledger_url, tmp_path, "late", late)
    with open_ledger(ledger_url) as ledger:
        close_run(again, ledger)


def _statement(path: Path) -> str:
    """A document's text, its no-break spaces (PLN\u00a01,300.00) as spaces."""
    return path.read_text(encoding="utf-8").replace("\u00a0", " ").replace("\u202f", " ")


def test_the_issues_example_on_the_partners_next_statement(ledger_url: str, tmp_path: Path) -> None:
    """1,000.00 of late March revenue (2 x 500.00) and 5 re-sent records: the studio's
    share 18,000.00 + 70% x 11,000.00 = 25,700.00, +700.00, pending. April: 1,000.00 of
    sales, the studio 60% = 600.00; its April statement 600.00 + 700.00 = 1,300.00."""
    resent = "".join(ln + "\n" for ln in sales("M", "2026-03", ["5000.00"] * 5).splitlines()[1:])
    _march_and_late(ledger_url, tmp_path, sales("L", "2026-03", ["500.00"] * 2) + resent)
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["1000.00"])})
    # before April's close: a draft, with the pending adjustment it would carry
    render_reports(april, tmp_path / "draft", ["md"], lang="en", ledger=ledger_url)
    draft = _statement(tmp_path / "draft" / "self-billing-2026-04-studio.md")
    assert "(DRAFT)" in draft
    assert "| adjustment for 2026-03 | late usage | SB/2026/03/00001, Line P-" in draft
    assert "| **Total payable** | **PLN 1,300.00** |" in draft
    result = CliRunner().invoke(
        app, ["close", str(april), "--ledger", ledger_url, "--issue-date", "2026-05-04"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "SB/2026/04/00002 carries A-" in result.output
        and "adjustment for 2026-03 (late usage)" in result.output
    )
    with open_ledger(ledger_url) as ledger:
        doc, lines = ledger.document("SB/2026/04/00002")
        assert (doc.net, doc.vat, doc.gross, doc.refers_to) == (
            "1300.00",
            "0.00",
            "1300.00",
            "SB/2026/03/00001",
        )
        assert [(ln.period, ln.amount) for ln in lines] == [("2026-04", "600.00"), ("2026-03", "700.00")]
        assert ledger.pending() == [] and ledger.verify() == []
    formats = ["md", "html", "en16931"]
    for lang, adjustment, total in (
        ("en", "| adjustment for 2026-03 | late usage |", "| **Total payable** | **PLN 1,300.00** |"),
        (
            "pl",
            "| korekta za 2026-03 | dane o użyciu dostarczone po zamknięciu okresu |",
            "| **Razem do wypłaty** | **1 300,00 zł** |",
        ),
    ):
        out = tmp_path / f"issued-{lang}"
        render_reports(april, out, formats, lang=lang, ledger=ledger_url)
        md = _statement(out / "self-billing-2026-04-studio.md")
        assert "SB/2026/04/00002" in md and "DRAF" not in md and "PROJEKT" not in md
        assert adjustment in md and total in md
        html = _statement(out / "self-billing-2026-04-studio.html")
        assert 'data-period="2026-03"' in html and 'data-total="payable"' in html
    root = ET.parse(tmp_path / "issued-en" / "self-billing-2026-04-studio.xml").getroot()
    assert root.findtext("rsm:ExchangedDocument/ram:ID", namespaces=NS) == "SB/2026/04/00002"
    assert root.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "389"
    assert root.findtext(".//ram:GrandTotalAmount", namespaces=NS) == "1300.00"
    totals = [
        li.findtext(".//ram:LineTotalAmount", namespaces=NS)
        for li in root.iter(f"{{{NS['ram']}}}IncludedSupplyChainTradeLineItem")
    ]
    assert totals == ["600.00", "700.00"]
    pytest.importorskip("weasyprint", reason="the pdf extra (WeasyPrint) is not installed")
    render_reports(april, tmp_path / "pdf", ["pdf"], lang="de", ledger=ledger_url)
    pdf = (tmp_path / "pdf" / "self-billing-2026-04-studio.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")


def test_a_statement_whose_total_goes_negative_says_the_partner_owes(ledger_url: str, tmp_path: Path) -> None:
    """March: 4 sales of 10,000.00, the studio 25,000.00. A refund of 5,000.00: the studio
    18,000.00 + 70% x 5,000.00 = 21,500.00, -3,500.00 pending. April: 1,000.00 of sales,
    the studio 60% = 600.00; its statement 600.00 - 3,500.00 = -2,900.00: the partner owes
    2,900.00, said so on the document (never a "total payable" below zero), paid into the
    operator's account; its e-invoice a self-billed credit note (261) of 2,900.00."""
    from test_ledger_refunds import REFUNDS, _file

    (tmp_path / "refunds.contract").write_text(REFUNDS, encoding="utf-8")
    plans, _ = clearline.load_plans([tmp_path / "refunds.contract"])

    def settle(name: str, period: str, rows: list[str]) -> Path:
        usage = _file(tmp_path / f"{name}.csv", rows)
        with open_ledger(ledger_url) as ledger:
            prior = prior_for(ledger, plans, [usage], period)
        clearline.run(plans, [usage], period, out=tmp_path / name, prior=prior)
        return tmp_path / name

    march = [f"M-{i},2026-03-0{i}T10:00:00+01:00,C{(i % 2) + 1},sale,10000.00," for i in range(1, 5)]
    with open_ledger(ledger_url) as ledger:
        close_run(settle("march", "2026-03", march), ledger)
    refund = settle("refund", "2026-03", ["R-1,2026-03-20T10:00:00+01:00,C1,sale,-5000.00,M-2"])
    april = settle("april", "2026-04", ["A-1,2026-04-02T10:00:00+02:00,C1,sale,1000.00,"])
    with open_ledger(ledger_url) as ledger:
        close_run(refund, ledger)
        assert [(p.party, p.amount) for p in ledger.pending()] == [("studio", "-3500.00")]
        closed = close_run(april, ledger, issue_date="2026-05-04")
        statement = next(d for d in closed.outcome.documents if d.series == "self-billing")
        assert (closed.outcome.numbers[statement.key], statement.net) == ("SB/2026/04/00002", "-2900.00")
        assert ledger.verify() == []
    render_reports(april, tmp_path / "docs", ["md", "html", "en16931"], lang="en", ledger=ledger_url)
    md = _statement(tmp_path / "docs" / "self-billing-2026-04-studio.md")
    assert "| adjustment for 2026-03 | late usage | SB/2026/03/00001, Line P-" in md
    assert "| -PLN 3,500.00 |" in md
    assert "| **Total owed by the supplier** | **PLN 2,900.00** |" in md and "Total payable" not in md
    assert "the supplier owes the amount above to the issuer" in md
    # never a payment to the partner: the operator's account, when it has one
    assert "Payment to" not in md or "TelcoPL" in md.split("Payment to")[1]
    html = _statement(tmp_path / "docs" / "self-billing-2026-04-studio.html")
    assert 'data-total="owed"' in html and 'data-total="payable"' not in html
    root = ET.parse(tmp_path / "docs" / "self-billing-2026-04-studio.xml").getroot()
    assert root.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "261"
    assert root.findtext(".//ram:GrandTotalAmount", namespaces=NS) == "2900.00"


def test_a_partner_with_only_adjustments_gets_a_statement_of_them(ledger_url: str, tmp_path: Path) -> None:
    """March +700.00 pending (as above, without the re-sent records); April has no sale:
    its close still issues the studio a statement, with only the adjustment, 700.00."""
    _march_and_late(ledger_url, tmp_path, sales("L", "2026-03", ["500.00"] * 2))
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER, encoding="utf-8")
    plans, _ = clearline.load_plans([tmp_path / "share.contract"])
    april = tmp_path / "april"
    clearline.run(plans, [empty], "2026-04", out=april)
    with open_ledger(ledger_url) as ledger:
        closed = close_run(april, ledger)
        (doc,) = closed.outcome.documents
        number = closed.outcome.numbers[doc.key]
        assert (number, doc.kind, doc.party, doc.net) == (
            "SB/2026/04/00002",
            "self-billing",
            "studio",
            "700.00",
        )
        assert ledger.verify() == []
    render_reports(april, tmp_path / "docs", ["md"], lang="en", ledger=ledger_url)
    md = _statement(tmp_path / "docs" / "self-billing-2026-04-studio.md")
    assert "# Self-billing statement SB/2026/04/00002" in md
    assert "| adjustment for 2026-03 | late usage |" in md and "| **Total payable** | **PLN 700.00** |" in md


def test_no_later_close_leaves_them_pending_until_issued(ledger_url: str, tmp_path: Path) -> None:
    _march_and_late(ledger_url, tmp_path, sales("L", "2026-03", ["500.00"] * 2))
    runner = CliRunner()
    listed = runner.invoke(app, ["ledger", ledger_url, "documents"])
    assert listed.exit_code == 0 and "Pending partner adjustments" in listed.output
    assert "+700.00" in listed.output and "late usage" in listed.output
    periods = runner.invoke(app, ["ledger", ledger_url, "periods"])
    assert "+700.00 PLN" in periods.output
    issued = runner.invoke(app, ["ledger", ledger_url, "issue-adjustments", "--issue-date", "2026-04-30"])
    assert issued.exit_code == 0, issued.output
    assert "SB/2026/03/00002" in issued.output and "self-billing adjustment" in issued.output
    again = runner.invoke(app, ["ledger", ledger_url, "issue-adjustments"])
    assert "nothing issued" in again.output
    shown = runner.invoke(app, ["ledger", ledger_url, "show", "SB/2026/03/00002"])
    assert "adjustment for 2026-03: late usage" in shown.output
    # the re-settlement's report renders it as the adjustment statement the ledger issued
    render_reports(tmp_path / "late", tmp_path / "docs", ["md"], lang="en", ledger=ledger_url)
    md = _statement(tmp_path / "docs" / "self-billing-adjustment-2026-03-studio.md")
    assert "SB/2026/03/00002" in md and "DRAFT" not in md
    with open_ledger(ledger_url) as ledger:
        assert ledger.verify() == []


@settings(
    max_examples=5,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # each example settles 5 runs: no slow shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    amounts=st.lists(st.sampled_from(["900.00", "4000.00", "7500.00", "12000.00"]), min_size=2, max_size=6),
    late=st.lists(st.booleans(), min_size=6, max_size=6),
    april=st.sampled_from([[], ["1000.00"], ["20000.00", "15000.00"]]),
)
def test_issued_statements_with_carried_adjustments_equal_settling_at_once(
    amounts: list[str], late: list[bool], april: list[str]
) -> None:
    """For a random split of March into on time and late, and a random April: the nets of
    the studio's issued statements (March's and April's, the adjustment carried) add up
    to its share of all of March settled at once plus April's; each series is gapless."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'ledger.sqlite'}"
        rows = sales("M", "2026-03", amounts).splitlines(keepends=True)
        # the first record always on time: March's close settles something
        on_time = [
            r for i, (r, is_late) in enumerate(zip(rows[1:], late, strict=False)) if i == 0 or not is_late
        ]
        later = [r for i, (r, is_late) in enumerate(zip(rows[1:], late, strict=False)) if i > 0 and is_late]
        whole = settle_share(folder, "whole", "2026-03", {"all.csv": "".join(rows)})
        march = settle_share(folder, "march", "2026-03", {"m.csv": HEADER + "".join(on_time)})
        with open_ledger(url) as ledger:
            close_run(march, ledger)
        if later:
            again = _resettle(url, folder, "late", HEADER + "".join(later))
            with open_ledger(url) as ledger:
                close_run(again, ledger)
        month = settle_share(
            folder, "april", "2026-04", {"a.csv": sales("A", "2026-04", april) if april else HEADER}
        )
        alone = settle_share(
            folder, "april-alone", "2026-04", {"b.csv": sales("A", "2026-04", april) if april else HEADER}
        )
        with open_ledger(url) as ledger:
            close_run(month, ledger)
            issued = sum(Decimal(d.net) for d in ledger.documents() if d.series == "self-billing")
            assert ledger.pending() == [] and ledger.verify() == []
            per_series: dict[str, list[int]] = {}
            for d in ledger.documents():
                per_series.setdefault(d.series, []).append(d.seq)
            assert all(sorted(s) == list(range(1, len(s) + 1)) for s in per_series.values())
        expected = sum(
            (Decimal(r["amount"]) for run in (whole, alone) for r in read_csv(run / "payout_lines.csv")),
            Decimal(0),
        )
        assert issued == expected


def test_a_close_just_before_midnight_utc_issues_one_document_on_one_day(
    ledger_url: str, tmp_path: Path
) -> None:
    """April is closed at 23:30 UTC on 4 May, which is already 5 May in Warsaw (the
    contract's zone). The studio's statement (600.00 of April and the carried +700.00 of
    March) is issued under its number on one day, 5 May: the carried line takes its
    document's day. Before, the carried line's day was taken in UTC (4 May), the two days
    made it look like two documents, and the statement rendered as a draft."""
    import sqlalchemy as sa

    resent = "".join(ln + "\n" for ln in sales("M", "2026-03", ["5000.00"] * 5).splitlines()[1:])
    _march_and_late(ledger_url, tmp_path, sales("L", "2026-03", ["500.00"] * 2) + resent)
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["1000.00"])})
    with open_ledger(ledger_url) as ledger:
        outcome = close_run(april, ledger).outcome
        with ledger.engine.begin() as conn:  # as if the close had run at 23:30 UTC
            conn.execute(
                sa.text("UPDATE closes SET closed_at = :at WHERE seq = :seq"),
                {"at": "2026-05-04T23:30:00+00:00", "seq": outcome.seq},
            )
    result = render_reports(april, tmp_path / "issued", ["md"], lang="en", ledger=ledger_url)
    assert not [n for n in result.notes if "rendered as a draft" in n], result.notes
    md = _statement(tmp_path / "issued" / "self-billing-2026-04-studio.md")
    assert "SB/2026/04/00002" in md and "DRAFT" not in md
    assert "2026-05-05" in md or "5 May 2026" in md or "May 5, 2026" in md
