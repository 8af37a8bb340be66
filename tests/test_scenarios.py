"""The worked scenarios of SCENARIOS.md: every figure, asserted exactly."""

from __future__ import annotations

import csv
import datetime as dt
import zoneinfo
from decimal import Decimal
from pathlib import Path

import pytest

import clearline
from conftest import CONTRACTS, DATA, PERIOD, read_csv


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


# --- Scenarios 2 and 4, and one invoice per customer ----------------------------------


ALL = ["streamplus", "nordcarrier", "fleetiot", "gamestudio"]
USAGE = ["streamplus-subscriptions.csv", "nordcarrier-cdrs.csv", "fleetiot-usage.csv", "dcb-purchases.csv"]


def _settle(out: Path, dcb: Path) -> Path:
    plans, _ = clearline.load_plans([CONTRACTS / f"{name}.contract" for name in ALL])
    usage = [DATA / name for name in USAGE[:3]] + [dcb]
    clearline.run(plans, usage, PERIOD, fx=DATA / "fx-rates.csv", customers=DATA / "customers.csv", out=out)
    return out


@pytest.fixture(scope="module")
def raw_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four agreements on the data exactly as delivered."""
    return _settle(tmp_path_factory.mktemp("raw"), DATA / "dcb-purchases.csv")


@pytest.fixture(scope="module")
def corrected_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four agreements, with the DCB timestamps stamped with Warsaw's real offset.

    The delivered file stamps every purchase +01:00, also after the switch to
    summer time on 29 March; two purchases at 23:05 and 23:17 "+01:00" on
    31 March are 00:05 and 00:17 on 1 April in Warsaw. SCENARIOS.md counts all
    1,350 in March, i.e. reads the wall-clock times as Warsaw time.
    """
    folder = tmp_path_factory.mktemp("corrected")
    warsaw = zoneinfo.ZoneInfo("Europe/Warsaw")
    rows = read_csv(DATA / "dcb-purchases.csv")
    for row in rows:
        wall = dt.datetime.fromisoformat(row["timestamp"]).replace(tzinfo=None)
        row["timestamp"] = wall.replace(tzinfo=warsaw).isoformat()
    fixed = folder / "dcb-purchases.csv"
    with fixed.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return _settle(folder / "run", fixed)


def test_fleetiot_invoice(raw_run: Path) -> None:
    lines = by(read_csv(raw_run / "invoice_lines.csv"), party="B-2001")
    got = {r["clause"]: r["amount"] for r in lines}
    assert got == {"2.1 SIM fee": "1200.00", "2.2 Data": "7130.00", "2.3 Commitment": "1870.00"}
    assert sum(Decimal(r["amount"]) for r in lines) == Decimal("10200.00")
    assert {(r["vat_rate"], r["vat_amount"], r["reverse_charge"]) for r in lines} == {("0%", "0.00", "yes")}
    (data,) = by(lines, clause="2.2 Data")
    assert data["quantity"] == "2350000"  # each record rounded up to a whole MB
    (sims,) = by(lines, clause="2.1 SIM fee")
    assert (sims["quantity"], sims["unit"]) == ("1500", "active_sims (maximum)")


def test_fleetiot_under_volume_pricing(tmp_path: Path) -> None:
    text = (CONTRACTS / "fleetiot.contract").read_text(encoding="utf-8")
    (tmp_path / "fleetiot.contract").write_text(text.replace("graduated", "volume"), encoding="utf-8")
    plans, _ = clearline.load_plans([tmp_path / "fleetiot.contract"])
    clearline.run(plans, [DATA / "fleetiot-usage.csv"], PERIOD, out=tmp_path / "out")
    got = {r["clause"]: r["amount"] for r in read_csv(tmp_path / "out" / "invoice_lines.csv")}
    assert got == {"2.1 SIM fee": "1200.00", "2.2 Data": "4230.00", "2.3 Commitment": "4770.00"}


def test_gamestudio_waterfall_on_the_scenario_data(corrected_run: Path) -> None:
    invoices = by(read_csv(corrected_run / "invoice_lines.csv"), contract_id="GS-2026")
    assert sum(Decimal(r["gross_amount"]) for r in invoices) == Decimal("36285.00")
    assert sum(Decimal(r["amount"]) for r in invoices) == Decimal("29500.00")
    assert sum(Decimal(r["vat_amount"]) for r in invoices) == Decimal("6785.00")
    assert sum(int(r["records"]) for r in invoices) == 1350
    payouts = {
        r["party"]: r["amount"]
        for r in by(read_csv(corrected_run / "payout_lines.csv"), contract_id="GS-2026")
    }
    assert payouts == {"payhub": "2289.20", "gamestudio": "20060.64"}
    retained = by(read_csv(corrected_run / "retained_lines.csv"), contract_id="GS-2026")
    assert sorted(r["amount"] for r in retained) == ["6265.16", "885.00"]
    assert sum(Decimal(r["amount"]) for r in retained) == Decimal("7150.16")
    assert Decimal("2289.20") + Decimal("20060.64") + Decimal("7150.16") == Decimal("29500.00")


def test_gamestudio_on_the_delivered_data_puts_two_purchases_in_april(raw_run: Path) -> None:
    rejects = by(read_csv(raw_run / "rejects.csv"), field="timestamp")
    assert [r["record_id"] for r in rejects] == ["DCB-00185", "DCB-00929"]
    assert rejects[0]["reason"] == (
        "outside the settled period 2026-03 (2026-03-01T00:00:00+01:00 to 2026-04-01T00:00:00+02:00): "
        "it is 2026-04-01T00:05:00+02:00 in Europe/Warsaw; note that the record's offset +01:00 is not "
        "Europe/Warsaw's offset on that date (+02:00)"
    )
    invoices = by(read_csv(raw_run / "invoice_lines.csv"), contract_id="GS-2026")
    assert sum(Decimal(r["amount"]) for r in invoices) == Decimal("29460.00")  # 29,500.00 - 2 x 20.00
    payouts = {
        r["party"]: r["amount"] for r in by(read_csv(raw_run / "payout_lines.csv"), contract_id="GS-2026")
    }
    assert payouts == {"payhub": "2286.10", "gamestudio": "20032.08"}


def test_one_invoice_per_customer_consolidates_every_product(corrected_run: Path) -> None:
    lines = by(read_csv(corrected_run / "invoice_lines.csv"), party="C-1001")
    gross = {r["contract_id"]: r["gross_amount"] for r in lines}
    assert gross == {"SP-2026": "47.97", "GS-2026": "7281.60"}
    (dcb,) = by(lines, contract_id="GS-2026")
    assert dcb["records"] == "270"
    wholesale = by(read_csv(corrected_run / "invoice_lines.csv"), party="B-2001")
    assert {r["contract_id"] for r in wholesale} == {"FI-2026"}


def test_conservation_holds_for_every_agreement(corrected_run: Path) -> None:
    import json

    manifest = json.loads((corrected_run / "manifest.json").read_text())
    assert manifest["conservation"]["ok"] is True
    assert {c["contract_id"] for c in manifest["conservation"]["checks"]} == {
        "SP-2026",
        "NC-2026",
        "FI-2026",
        "GS-2026",
    }


def test_invoice_totals_per_customer_and_vat_rate(corrected_run: Path) -> None:
    totals = {r["customer"]: r for r in read_csv(corrected_run / "invoice_totals.csv")}
    c1001 = totals["C-1001"]
    assert (c1001["vat_rate"], c1001["lines"]) == ("23%", "2")
    assert Decimal(c1001["gross"]) == Decimal("47.97") + Decimal("7281.60")
    fleet = totals["B-2001"]
    assert (fleet["vat_rate"], fleet["reverse_charge"], fleet["net"], fleet["vat"], fleet["gross"]) == (
        "0%",
        "yes",
        "10200.00",
        "0.00",
        "10200.00",
    )
