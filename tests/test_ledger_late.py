"""Late usage: a run over a closed period settles the period as a whole (the ledger's
exact partial sums plus the late records) into adjustment lines; its close issues
supplementary invoices, and the partner's adjustment goes on its next self-billing
statement ("adjustment for 2026-03"). Both back ends."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import clearline
from clearline import codes
from clearline.ledger import LedgerError, open_ledger
from clearline.ledger.closing import close_run
from clearline.ledger.resettle import prior_for
from conftest import CONTRACTS, read_csv
from ledger_support import HEADER, sales, settle_share

SCENARIOS = Path(__file__).resolve().parents[2] / "shared" / "scenarios" / "data"
if not SCENARIOS.is_dir():
    SCENARIOS = Path("/work/shared/scenarios/data")


def _resettle(ledger_url: str, folder: Path, name: str, usage: dict[str, str]) -> Path:
    """Settle March again with the ledger's prior, from the CLI's own code path."""
    plans, _ = clearline.load_plans([folder / "share.contract"])
    paths = []
    for file, text in usage.items():
        (folder / file).write_text(text, encoding="utf-8")
        paths.append(folder / file)
    with open_ledger(ledger_url) as ledger:
        prior = prior_for(ledger, plans, paths, "2026-03")
    out = folder / name
    clearline.run(plans, paths, "2026-03", out=out, prior=prior)
    return out


def test_late_revenue_in_the_upper_band_adjusts_by_its_rate(ledger_url: str, tmp_path: Path) -> None:
    """The issue's example. March: 8 sales of 5,000.00 = 40,000.00; the studio gets
    60% x 30,000.00 + 70% x 10,000.00 = 25,000.00 (closed). Late: 2 sales of 500.00 and
    5 re-sent March records. The period's net becomes 41,000.00 and the studio's
    share 18,000.00 + 70% x 11,000.00 = 25,700.00: adjustment +700.00, all in the 70%
    band; the operator +300.00; each customer's invoice +500.00; 5 duplicates."""
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["5000.00"] * 8)})
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
    late_rows = sales("L", "2026-03", ["500.00"] * 2) + "".join(
        line + "\n" for line in sales("M", "2026-03", ["5000.00"] * 5).splitlines()[1:]
    )
    late = _resettle(ledger_url, tmp_path, "late", {"late.csv": late_rows})
    rejects = read_csv(late / "rejects.csv")
    assert [r["record_id"] for r in rejects] == ["M-1", "M-2", "M-3", "M-4", "M-5"]
    # M-1 is C2's, on the second invoice (C1's is numbered first)
    assert rejects[0]["reason"] == (
        f"duplicate record id: already settled in 2026-03, document INV/2026/03/00002 (run {march})"
    )
    adjustments = {(a["kind"], a["party"]): a for a in read_csv(late / "adjustment_lines.csv")}
    assert {k: a["amount"] for k, a in adjustments.items()} == {
        ("invoice", "C1"): "500.00",
        ("invoice", "C2"): "500.00",
        ("payout", "studio"): "700.00",
        ("retained", "telcopl"): "300.00",
    }
    payout = adjustments[("payout", "studio")]
    assert (payout["issued"], payout["total"], payout["document"]) == (
        "25000.00",
        "25700.00",
        "SB/2026/03/00001",
    )
    assert payout["period"] == "2026-03" and payout["reason"] == "late usage"
    # the run's own lines are March as a whole; the issued lines are untouched
    (studio,) = read_csv(late / "payout_lines.csv")
    assert studio["amount"] == "25700.00"
    assert clearline.verify.verify_run(late).ok  # reproduced from the run folder alone
    with open_ledger(ledger_url) as ledger:
        issued_before = [tuple(ln) for ln in ledger.lines() if ln.close_seq == 1]
        closed = close_run(late, ledger)
        assert closed.close.kind == "adjustment"
        docs = {
            d.number: (d.kind, d.party, d.net, d.refers_to) for d in ledger.documents() if d.close_seq == 2
        }
        assert docs == {
            "INV/2026/03/00003": ("supplementary", "C1", "500.00", "INV/2026/03/00001"),
            "INV/2026/03/00004": ("supplementary", "C2", "500.00", "INV/2026/03/00002"),
        }
        # the studio's +700.00 waits for its next statement
        (waiting,) = ledger.pending()
        assert (waiting.party, waiting.period, waiting.amount, waiting.corrects, waiting.reason) == (
            "studio",
            "2026-03",
            "700.00",
            "SB/2026/03/00001",
            "late usage",
        )
        assert [tuple(ln) for ln in ledger.lines() if ln.close_seq == 1] == issued_before
        assert sorted(ledger.settled(["L-1", "L-2"])) == ["L-1", "L-2"]
        assert ledger.verify() == []
        (period,) = ledger.periods()  # still one closed period, now with two closes
        assert period.close_seq == 1
    # a second batch of late records adjusts from the new totals: 1,000.00 more at 70% = 700.00
    again = _resettle(ledger_url, tmp_path, "later", {"later.csv": sales("K", "2026-03", ["1000.00"])})
    amounts = {(a["kind"], a["party"]): a["amount"] for a in read_csv(again / "adjustment_lines.csv")}
    assert amounts[("payout", "studio")] == "700.00"
    (studio,) = read_csv(again / "payout_lines.csv")
    assert studio["amount"] == "26400.00"  # 18,000.00 + 70% x 12,000.00
    # April: 1,000.00 of sales, the studio's 60% = 600.00; its April statement carries
    # March's +700.00: 600.00 + 700.00 = 1,300.00
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["1000.00"])})
    with open_ledger(ledger_url) as ledger:
        closed = close_run(april, ledger)
        statement = next(d for d in closed.outcome.documents if d.party == "studio")
        assert (statement.kind, statement.period, statement.net, statement.refers_to) == (
            "self-billing",
            "2026-04",
            "1300.00",
            "SB/2026/03/00001",
        )
        number = closed.outcome.numbers[statement.key]
        assert number == "SB/2026/04/00002"  # the series goes on from March's statement
        (carried,) = closed.outcome.carried
        assert (carried.pending.line_id, carried.pending.adjusts) == (waiting.line_id, waiting.adjusts)
        doc, lines = ledger.document(number)
        assert doc.net == "1300.00"
        assert [(ln.period, ln.amount, ln.adjusts) for ln in lines][-1] == (
            "2026-03",
            "700.00",
            waiting.adjusts,
        )
        assert ledger.pending() == []
        assert ledger.verify() == []
        assert close_run(april, ledger).outcome.already  # closing it again: a no-op
        assert len(ledger.documents()) == 7  # March 3, its corrections 2, April 2


def test_a_late_run_on_a_stale_ledger_is_refused(ledger_url: str, tmp_path: Path) -> None:
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["100.00"])})
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
    first = _resettle(ledger_url, tmp_path, "late-a", {"a.csv": sales("A", "2026-03", ["10.00"])})
    second = _resettle(ledger_url, tmp_path, "late-b", {"b.csv": sales("B", "2026-03", ["20.00"])})
    with open_ledger(ledger_url) as ledger:
        close_run(first, ledger)
        with pytest.raises(LedgerError) as error:
            close_run(second, ledger)
        assert error.value.diagnostics[0].code == codes.PERIOD_ALREADY_CLOSED
        assert "2026-03 was closed again since this run settled it (then 1 close(s), now 2)" in str(
            error.value
        )


def test_records_of_a_closed_period_are_duplicates_in_a_later_period(ledger_url: str, tmp_path: Path) -> None:
    """April's file re-sends M-1 (settled in March) and brings A-1: one reject, one rated."""
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"] * 2)})
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
    april_file = tmp_path / "april.csv"
    april_file.write_text(
        HEADER + "M-1,2026-04-02T10:00:00+02:00,C2,sale,10.00\nA-1,2026-04-03T10:00:00+02:00,C1,sale,7.00\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([tmp_path / "share.contract"])
    with open_ledger(ledger_url) as ledger:
        prior = prior_for(ledger, plans, [april_file], "2026-04")
    assert not prior.resettles
    result = clearline.run(plans, [april_file], "2026-04", prior=prior, workers=2)
    (reject,) = result.rejects
    assert reject.record_id == "M-1"
    assert (
        reject.reason
        == f"duplicate record id: already settled in 2026-03, document INV/2026/03/00002 (run {march})"
    )
    assert result.rated == 1 and result.adjustments == []


def test_scenario_5_late_march_purchases(ledger_url: str, tmp_path: Path) -> None:
    """SCENARIOS.md, scenario 5. March closed on the delivered file: net 29,460.00,
    PayHub 2,286.10, GameStudio 20,032.08, operator 883.80 + 6,258.02 = 7,141.82. The
    late file: 25 purchases of 20.00 net (24.60 gross) and DCB-00001..3 again. March as a
    whole: net 29,960.00; allowance 3% = 898.80; PayHub 8% of 29,061.20 = 2,324.90;
    GameStudio 70% x 10,000.00 + 80% x 16,736.30 = 20,389.04; operator 6,347.26 + 898.80
    = 7,246.06. Adjustments +38.80, +356.96, +104.24 (= +500.00, the late net); each of
    C-1001..C-1005 a supplementary invoice of 100.00 + 23.00 VAT = 123.00."""
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    customers = SCENARIOS / "customers.csv"
    march = tmp_path / "march"
    result = clearline.run(
        plans, [SCENARIOS / "dcb-purchases.csv"], "2026-03", customers=customers, out=march
    )
    totals = {(ln.kind, ln.party): ln.amount for ln in result.lines if ln.kind != "retained"}
    assert totals[("payout", "payhub")] == Decimal("2286.10")
    assert totals[("payout", "gamestudio")] == Decimal("20032.08")
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
        originals = {d.party: d.number for d in ledger.documents()}
        prior = prior_for(ledger, plans, [SCENARIOS / "dcb-late-march.csv"], "2026-03")
    late = tmp_path / "late"
    again = clearline.run(
        plans, [SCENARIOS / "dcb-late-march.csv"], "2026-03", customers=customers, out=late, prior=prior
    )
    assert sorted(r.record_id for r in again.rejects) == ["DCB-00001", "DCB-00002", "DCB-00003"]
    assert all("already settled in 2026-03" in r.reason for r in again.rejects)
    whole = {}
    for ln in again.lines:
        whole[(ln.kind, ln.party)] = whole.get((ln.kind, ln.party), Decimal(0)) + ln.amount
    assert sum(v for (k, _), v in whole.items() if k == "invoice") == Decimal("29960.00")
    assert whole[("payout", "payhub")] == Decimal("2324.90")
    assert whole[("payout", "gamestudio")] == Decimal("20389.04")
    assert whole[("retained", "telcopl")] == Decimal("7246.06")
    kept = sorted(ln.amount for ln in again.lines if ln.kind == "retained")
    assert kept == [Decimal("898.80"), Decimal("6347.26")]
    adjusted: dict[tuple[str, str], Decimal] = {}
    for a in again.adjustments:
        adjusted[(a.kind, a.party)] = adjusted.get((a.kind, a.party), Decimal(0)) + a.amount
    assert adjusted == {
        **{("invoice", f"C-100{i}"): Decimal("100.00") for i in range(1, 6)},
        ("payout", "payhub"): Decimal("38.80"),
        ("payout", "gamestudio"): Decimal("356.96"),
        ("retained", "telcopl"): Decimal("104.24"),
    }
    assert sum(a.amount for a in again.adjustments if a.kind != "invoice") == Decimal("500.00")
    with open_ledger(ledger_url) as ledger:
        close_run(late, ledger)
        supplementary = [d for d in ledger.documents() if d.kind == "supplementary"]
        assert [(d.party, d.net, d.vat, d.gross, d.refers_to) for d in supplementary] == [
            (f"C-100{i}", "100.00", "23.00", "123.00", originals[f"C-100{i}"]) for i in range(1, 6)
        ]
        assert [d.number for d in supplementary] == [f"INV/2026/03/0000{i}" for i in range(6, 10)] + [
            "INV/2026/03/00010"
        ]
        assert not [d for d in ledger.documents() if d.kind == "self-billing adjustment"]
        partner = {p.party: (p.amount, p.corrects) for p in ledger.pending()}
        assert partner == {
            "gamestudio": ("356.96", originals["gamestudio"]),
            "payhub": ("38.80", originals["payhub"]),
        }
        assert ledger.verify() == []
    manifest = json.loads((late / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["ledger"] == {"prior": "ledger_prior.json", "resettles": True}


def test_the_trap_rating_late_purchases_alone_restarts_the_tiers(tmp_path: Path) -> None:
    """Scenario 5's trap, without the ledger: the 25 late purchases (500.00 net) settled
    on their own: allowance 15.00, PayHub 8% of 485.00 = 38.80, GameStudio 70% of 446.20
    = 312.34, not the 356.96 of the 80% band."""
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    lines = (SCENARIOS / "dcb-late-march.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    only_late = tmp_path / "late-only.csv"
    only_late.write_text("".join(ln for ln in lines if not ln.startswith("DCB-0000")), encoding="utf-8")
    alone = clearline.run(plans, [only_late], "2026-03")
    assert alone.rated == 25
    (studio,) = [ln for ln in alone.lines if ln.party == "gamestudio"]
    assert studio.amount == Decimal("312.34")


def test_a_period_closed_without_records_is_settled_again_by_its_late_records(
    ledger_url: str, tmp_path: Path
) -> None:
    """March closed with no record at all (nothing issued). Then 2 late sales of 500.00
    arrive: the run re-settles the closed March (it is closed, with nothing issued) into
    adjustment lines: each customer +500.00 (their first invoices for March), the studio
    60% × 1,000.00 = +600.00 (all in the first band), the operator +400.00. Before, the
    run took March for an open period and its close was refused as already closed (E0703)."""
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": HEADER})
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
    late = _resettle(ledger_url, tmp_path, "late", {"late.csv": sales("L", "2026-03", ["500.00"] * 2)})
    adjustments = {(a["kind"], a["party"]): a["amount"] for a in read_csv(late / "adjustment_lines.csv")}
    assert adjustments == {
        ("invoice", "C1"): "500.00",
        ("invoice", "C2"): "500.00",
        ("payout", "studio"): "600.00",
        ("retained", "telcopl"): "400.00",
    }
    with open_ledger(ledger_url) as ledger:
        closed = close_run(late, ledger)
        kinds = sorted((d.kind, d.party) for d in closed.close.documents)
    assert kinds == [("invoice", "C1"), ("invoice", "C2")]  # the studio's waits for April
