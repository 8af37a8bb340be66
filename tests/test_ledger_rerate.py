"""Re-rating: a new version effective inside a closed period (a retroactive change)
re-settles the period only when asked (`--rerate`), from the records the period's closes
read, into adjustment lines that name the version that caused them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

import clearline
from clearline import codes
from clearline.cli import app
from clearline.ledger import LedgerError, open_ledger
from clearline.ledger.closing import close_run
from clearline.ledger.resettle import prior_for
from conftest import read_csv
from ledger_support import sales, settle_share

AMENDMENT = """\
amendment of RS-2026 from 2026-03-06 "80% from 6 March" {
  version 2
  replace clause "2 Share" {
    pay studio 80% of net
    round each line half up to 0.01
  }
}
"""


def test_a_retroactive_version_rerates_the_closed_period(ledger_url: str, tmp_path: Path) -> None:
    """March: M-1..M-8 of 5,000.00 on 2..9 March (C2, C1, ...), closed under version 1:
    the studio 60% x 30,000.00 + 70% x 10,000.00 = 25,000.00, the operator 15,000.00.
    Version 2 (80%, from 6 March) is written later. Re-rated: M-1..M-4 (2..5 March,
    20,000.00) under version 1, 60% = 12,000.00; M-5..M-8 (20,000.00) under version 2,
    80% = 16,000.00. The studio 28,000.00 (+3,000.00), the operator 8,000.00 + 4,000.00 =
    12,000.00 (-3,000.00); each customer's 20,000.00 moves between the versions' lines (0.00)."""
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["5000.00"] * 8)})
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
    (tmp_path / "v2.contract").write_text(AMENDMENT, encoding="utf-8")
    plans, _ = clearline.load_plans([tmp_path / "share.contract", tmp_path / "v2.contract"])
    with open_ledger(ledger_url) as ledger:
        with pytest.raises(LedgerError) as error:
            prior_for(ledger, plans, [], "2026-03")
        assert error.value.diagnostics[0].code == codes.RERATE_NEEDED
        assert "RS-2026 version 2 takes effect inside the closed period 2026-03" in str(error.value)
    runner = CliRunner()
    out = tmp_path / "rerated"
    result = runner.invoke(
        app,
        [
            "simulate",
            str(tmp_path / "share.contract"),
            str(tmp_path / "v2.contract"),
            "--period",
            "2026-03",
            "--ledger",
            ledger_url,
            "--rerate",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    adjusted: dict[tuple[str, str], Decimal] = {}
    for a in read_csv(out / "adjustment_lines.csv"):
        adjusted[(a["kind"], a["party"])] = adjusted.get((a["kind"], a["party"]), Decimal(0)) + Decimal(
            a["amount"]
        )
        assert a["reason"] == "re-rated: RS-2026 version 2 from 2026-03-06"
    assert adjusted == {
        ("invoice", "C1"): Decimal("0.00"),
        ("invoice", "C2"): Decimal("0.00"),
        ("payout", "studio"): Decimal("3000.00"),
        ("retained", "telcopl"): Decimal("-3000.00"),
    }
    assert read_csv(out / "rejects.csv") == []  # March's own records are re-rated, not duplicates
    with open_ledger(ledger_url) as ledger:
        closed = close_run(out, ledger)
        assert closed.close.kind == "rerate"
        # the studio's +3,000.00 waits for its next statement, its reason naming the version
        # (version 1's line and version 2's: the version is part of a line)
        waiting = ledger.pending()
        assert {p.party for p in waiting} == {"studio"}
        assert sum(Decimal(p.amount) for p in waiting) == Decimal("3000.00")
        assert {p.reason for p in waiting} == {"re-rated: RS-2026 version 2 from 2026-03-06"}
        assert {p.corrects for p in waiting} <= {"SB/2026/03/00001", ""}
        assert ledger.verify() == []
    # late records after the re-rating settle on the re-rated sums: 1,000.00 at 80% = 800.00
    late = tmp_path / "late.csv"
    late.write_text(sales("L", "2026-03", ["1000.00"]).replace("2026-03-02", "2026-03-20"), encoding="utf-8")
    with open_ledger(ledger_url) as ledger:
        prior = prior_for(ledger, plans, [late], "2026-03")
    again = clearline.run(plans, [late], "2026-03", prior=prior)
    payouts = {a.party: a.amount for a in again.adjustments if a.kind == "payout"}
    assert payouts == {"studio": Decimal("800.00")}
