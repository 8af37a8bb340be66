"""Refunds: a product that `accepts refunds of FIELD` takes records with a negative
amount or quantity, each naming the record it refunds, checked against the ledger. A
refund of a closed period's purchase re-settles the period on its whole net: a credit
note to the customer and a negative adjustment for the partner."""

from __future__ import annotations

from pathlib import Path

import pytest

import clearline
from clearline import codes
from clearline.ledger import open_ledger
from clearline.ledger.closing import close_run
from clearline.ledger.resettle import prior_for
from clearline.source import SourceFile
from conftest import read_csv
from ledger_support import SHARE_CONTRACT

REFUNDS = SHARE_CONTRACT.replace(
    "    amount  decimal\n", "    amount  decimal\n    refund_of text\n"
).replace(
    '    matches service = "sale"\n', '    matches service = "sale"\n    accepts refunds of refund_of\n'
)
HEAD = "record_id,timestamp,customer_id,service,amount,refund_of\n"


def _file(path: Path, rows: list[str]) -> Path:
    path.write_text(HEAD + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


def _settle(ledger_url: str, folder: Path, name: str, rows: list[str]) -> Path:
    plans, _ = clearline.load_plans([folder / "refunds.contract"])
    usage = _file(folder / f"{name}.csv", rows)
    with open_ledger(ledger_url) as ledger:
        prior = prior_for(ledger, plans, [usage], "2026-03")
    clearline.run(plans, [usage], "2026-03", out=folder / name, prior=prior)
    return folder / name


def test_a_refund_of_a_closed_purchase_is_a_credit_note(ledger_url: str, tmp_path: Path) -> None:
    """March: M-1..M-4 of 10,000.00 (C2, C1, C2, C1): net 40,000.00, the studio
    60% x 30,000.00 + 70% x 10,000.00 = 25,000.00. R-1 refunds M-2 (-5,000.00, C1's):
    net 35,000.00, the studio 18,000.00 + 70% x 5,000.00 = 21,500.00, so -3,500.00; the
    operator 15,000.00 -> 13,500.00, -1,500.00; C1 -5,000.00 on a credit note. R-2
    refunds a record never settled, R-3 refunds M-2 again: both rejected."""
    (tmp_path / "refunds.contract").write_text(REFUNDS, encoding="utf-8")
    march = [f"M-{i},2026-03-0{i}T10:00:00+01:00,C{(i % 2) + 1},sale,10000.00," for i in range(1, 5)]
    with open_ledger(ledger_url) as ledger:
        close_run(_settle(ledger_url, tmp_path, "march", march), ledger)
    late = _settle(
        ledger_url,
        tmp_path,
        "refunds",
        [
            "R-1,2026-03-20T10:00:00+01:00,C1,sale,-5000.00,M-2",
            "R-2,2026-03-21T10:00:00+01:00,C1,sale,-10.00,M-9",
            "R-3,2026-03-22T10:00:00+01:00,C1,sale,-5000.00,M-2",
        ],
    )
    reasons = {r["record_id"]: r["reason"] for r in read_csv(late / "rejects.csv")}
    assert reasons == {
        "R-2": "refunds M-9, which no closed period settled",
        "R-3": "refunds M-2, already refunded by R-1 in this run",
    }
    adjusted = {(a["kind"], a["party"]): a["amount"] for a in read_csv(late / "adjustment_lines.csv")}
    assert adjusted == {
        ("invoice", "C1"): "-5000.00",
        ("payout", "studio"): "-3500.00",
        ("retained", "telcopl"): "-1500.00",
    }
    with open_ledger(ledger_url) as ledger:
        close_run(late, ledger)
        docs = {
            d.number: (d.kind, d.party, d.net, d.refers_to) for d in ledger.documents() if d.close_seq == 2
        }
        assert docs == {"CN/2026/03/00001": ("credit-note", "C1", "-5000.00", "INV/2026/03/00001")}
        # the studio's -3,500.00 waits for its next statement; no later period is closed,
        # so the operator issues it now, on an adjustment statement of its own
        assert [(p.party, p.amount) for p in ledger.pending()] == [("studio", "-3500.00")]
        issued = ledger.issue_pending("2026-04-02")
        assert issued is not None and ledger.pending() == []
        docs = {
            d.number: (d.kind, d.party, d.net, d.refers_to) for d in ledger.documents() if d.close_seq == 3
        }
        assert docs == {
            "SB/2026/03/00002": ("self-billing adjustment", "studio", "-3500.00", "SB/2026/03/00001")
        }
        assert ledger.issue_pending() is None  # nothing left to issue
        assert ledger.refunded(["M-2"])["M-2"].record_id == "R-1"
        assert ledger.verify() == []
    again = _settle(ledger_url, tmp_path, "again", ["R-4,2026-03-23T10:00:00+01:00,C1,sale,-1.00,M-2"])
    (reject,) = read_csv(again / "rejects.csv")
    assert reject["reason"] == "refunds M-2, already refunded by R-1 in 2026-03, document CN/2026/03/00001"
    assert reject["field"] == "refund_of" and reject["value"] == "M-2"


def test_a_refund_without_the_ledger_is_rejected_and_negatives_elsewhere_too(tmp_path: Path) -> None:
    plans = [clearline.plan(SourceFile("r.contract", REFUNDS))]
    usage = _file(tmp_path / "u.csv", ["R-1,2026-03-20T10:00:00+01:00,C1,sale,-5.00,M-2"])
    result = clearline.run(plans, [usage], "2026-03")
    (reject,) = result.rejects
    assert reject.reason == "refunds M-2, which only the ledger can check: settle with --ledger URL"


def test_refunds_are_checked() -> None:
    bad = REFUNDS.replace("accepts refunds of refund_of", "accepts refunds of refunded")
    contract = clearline.parse(SourceFile("bad.contract", bad))
    found = [(d.code, d.message) for d in clearline.check(contract) if d.is_error]
    assert found == [
        (codes.UNKNOWN_NAME, "`accepts refunds of refunded`: refunded is not a text usage field"),
    ]


@pytest.mark.parametrize("measured", [False, True])
def test_a_negative_quantity_is_a_reject_unless_refunds_are_accepted(tmp_path: Path, measured: bool) -> None:
    text = SHARE_CONTRACT.replace(
        '    matches service = "sale"\n', '    matches service = "sale"\n    measured in events\n'
    )
    if measured:
        text = text.replace("    measured in events\n", "    measured in events\n    accepts refunds\n")
    plans = [clearline.plan(SourceFile("q.contract", text))]
    usage = tmp_path / "q.csv"
    usage.write_text(
        "record_id,timestamp,customer_id,service,amount,quantity\nQ-1,2026-03-20T10:00:00+01:00,C1,sale,-5.00,-1\n",
        encoding="utf-8",
    )
    result = clearline.run(plans, [usage], "2026-03")
    if measured:
        assert result.rejects == [] and result.rated == 1
    else:
        assert [r.reason for r in result.rejects] == ["`quantity` is negative: -1"]
