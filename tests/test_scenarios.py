"""The worked scenarios of SCENARIOS.md: every figure, asserted exactly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from conftest import read_csv


def by(rows: list[dict[str, str]], **match: str) -> list[dict[str, str]]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


# --- Scenario 1: StreamPlus ---------------------------------------------------------

STREAMPLUS_INVOICES = {
    # customer: (active days, net, VAT, gross)
    "C-1001": ("31", "39.00", "8.97", "47.97"),
    "C-1002": ("31", "39.00", "8.97", "47.97"),
    "C-1003": ("31", "39.00", "8.97", "47.97"),
    "C-1004": ("15", "18.87", "4.34", "23.21"),
    "C-1005": ("10", "12.58", "2.89", "15.47"),
}


def test_streamplus_invoice_lines(march_run: Path) -> None:
    lines = by(read_csv(march_run / "invoice_lines.csv"), contract_id="SP-2026")
    got = {r["party"]: (r["quantity"], r["amount"], r["vat_amount"], r["gross_amount"]) for r in lines}
    assert got == STREAMPLUS_INVOICES
    assert {r["vat_rate"] for r in lines} == {"23%"}
    assert {r["clause"] for r in lines} == {"3.1 Retail price"}
    assert by(lines, party="C-1001")[0]["party_name"] == "Anna Kowalska"


def test_streamplus_payout_and_conversion(march_run: Path) -> None:
    (payout,) = by(read_csv(march_run / "payout_lines.csv"), party="streamco")
    assert payout["amount"] == "81.65"
    assert payout["currency"] == "PLN"
    assert payout["paid_amount"] == "19.21"
    assert payout["paid_currency"] == "EUR"
    assert payout["fx_rate"] == "4.2500"
    assert payout["fx_date"] == "2026-03-31"
    assert payout["clause"] == "4.2 Revenue share"


def test_streamplus_payout_trace_shows_unrounded_sum(march_run: Path) -> None:
    import json

    (payout,) = by(read_csv(march_run / "payout_lines.csv"), party="streamco")
    traces = [json.loads(t) for t in (march_run / "trace.jsonl").read_text().splitlines()]
    (trace,) = [t for t in traces if t["line_id"] == payout["line_id"]]
    assert trace["sum"] == "81.6475"
    assert trace["rounding"][-1] == {
        "point": "line",
        "mode": "half up",
        "quantum": "0.01",
        "before": "81.6475",
        "after": "81.65",
        "declared": "yes",
    }
    amounts = {u["unit"]: Decimal(u["amount"]) for u in trace["units"]["shown"]}
    assert amounts == {
        "C-1001": Decimal("21.45"),
        "C-1002": Decimal("21.45"),
        "C-1003": Decimal("21.45"),
        "C-1004": Decimal("10.3785"),
        "C-1005": Decimal("6.919"),
    }
    assert trace["fx"]["result"] == "19.21 EUR"
    assert trace["clause"]["span"].endswith("streamplus.contract:25:5")


def test_streamplus_retained_and_conservation(march_run: Path) -> None:
    (retained,) = by(read_csv(march_run / "retained_lines.csv"), contract_id="SP-2026")
    assert retained["party"] == "telcopl"
    assert retained["amount"] == "66.80"
    import json

    manifest = json.loads((march_run / "manifest.json").read_text())
    check = next(c for c in manifest["conservation"]["checks"] if c["contract_id"] == "SP-2026")
    assert check == {
        "contract_id": "SP-2026",
        "period": "2026-03",
        "currency": "PLN",
        "net_revenue": "148.45",
        "payouts": "81.65",
        "retained": "66.80",
        "ok": True,
    }


# --- Scenario 3: NordCarrier --------------------------------------------------------

NORDCARRIER_RECORDS = {
    # record: (billed seconds, amount)
    "CDR-0001": ("66", "0.0175"),
    "CDR-0002": ("30", "0.0085"),
    "CDR-0003": ("60", "0.0090"),
    "CDR-0004": ("180", "0.0270"),
    "CDR-0005": ("45", "0.0090"),
    "CDR-0006": ("0", "0.0000"),
}


def test_nordcarrier_rated_records(march_run: Path) -> None:
    rows = [r for r in read_csv(march_run / "rated_records.csv") if r["record_id"].startswith("CDR-")]
    got = {r["record_id"]: (r["billed_quantity"], r["amount"]) for r in rows}
    assert got == NORDCARRIER_RECORDS


def test_nordcarrier_payout_per_prefix(march_run: Path) -> None:
    lines = by(read_csv(march_run / "payout_lines.csv"), party="nordcarrier")
    got = {r["description"].split(",")[1].split(":")[0].strip(): r["amount"] for r in lines}
    assert got == {"prefix 4860": "0.03", "prefix 48": "0.04", "prefix 49": "0.01"}
    assert {r["currency"] for r in lines} == {"EUR"}
    rated = read_csv(march_run / "rated_records.csv")
    for line in lines:
        parts = [Decimal(r["amount"]) for r in rated if r["line_id"] == line["line_id"]]
        assert len(parts) == int(line["records"]) == 2


# --- the whole run ------------------------------------------------------------------


def test_every_record_is_accounted_for(march_run: Path) -> None:
    import json

    counts = json.loads((march_run / "manifest.json").read_text())["counts"]
    assert counts["read"] == 12
    assert counts["rated"] == 12
    assert counts["rejected"] == 0
    assert counts["unmatched"] == 0
    assert counts["reconciled"] is True
