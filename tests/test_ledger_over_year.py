"""Tiers over the year: the bands count the earlier periods' amounts, which the ledger
holds (their exact partial sums), whichever month crosses a band."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import clearline
from clearline import codes
from clearline.ledger import open_ledger
from clearline.ledger.closing import close_run
from clearline.ledger.resettle import prior_for
from clearline.source import SourceFile
from ledger_support import SHARE_CONTRACT, sales

OVER_THE_YEAR = SHARE_CONTRACT.replace(
    "tiers studio_share graduated {", "tiers studio_share graduated over the year {"
)


def _month(ledger_url: str, folder: Path, month: str, amounts: list[str]) -> clearline.Settlement:
    plans, _ = clearline.load_plans([folder / "year.contract"])
    usage = folder / f"{month}.csv"
    usage.write_text(sales(f"R{month}", month, amounts), encoding="utf-8")
    with open_ledger(ledger_url) as ledger:
        prior = prior_for(ledger, plans, [usage], month)
    return clearline.run(plans, [usage], month, out=folder / month, prior=prior)


def _studio(result: clearline.Settlement) -> Decimal:
    (line,) = [ln for ln in result.lines if ln.party == "studio"]
    return line.amount


def test_the_share_rises_in_the_month_the_year_crosses_the_band(ledger_url: str, tmp_path: Path) -> None:
    """60% of the year's net up to 30,000.00, 70% above. January 20,000.00: 12,000.00.
    February 20,000.00, the year at 40,000.00: 60% x 30,000.00 + 70% x 10,000.00 =
    25,000.00 for the year, less January's 12,000.00 = 13,000.00 (12,000.00 if the tiers
    restarted). March 10,000.00, all above 30,000.00: 7,000.00."""
    (tmp_path / "year.contract").write_text(OVER_THE_YEAR, encoding="utf-8")
    january = _month(ledger_url, tmp_path, "2026-01", ["10000.00"] * 2)
    assert _studio(january) == Decimal("12000.00")
    with open_ledger(ledger_url) as ledger:
        close_run(tmp_path / "2026-01", ledger)
    february = _month(ledger_url, tmp_path, "2026-02", ["10000.00"] * 2)
    assert _studio(february) == Decimal("13000.00")
    assert clearline.verify.verify_run(tmp_path / "2026-02").ok  # the earlier periods travel with the run
    with open_ledger(ledger_url) as ledger:
        close_run(tmp_path / "2026-02", ledger)
    march = _month(ledger_url, tmp_path, "2026-03", ["10000.00"])
    assert _studio(march) == Decimal("7000.00")


def test_a_later_month_without_the_ledger_is_refused(tmp_path: Path) -> None:
    plans = [clearline.plan(SourceFile("year.contract", OVER_THE_YEAR))]
    usage = tmp_path / "feb.csv"
    usage.write_text(sales("F", "2026-02", ["10.00"]), encoding="utf-8")
    with pytest.raises(clearline.ClearlineError) as error:
        clearline.run(plans, [usage], "2026-02")
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == codes.BAD_OPTION
    assert "tiers studio_share run over the year, so 2026-02 needs the earlier periods" in diagnostic.message
    january = tmp_path / "jan.csv"
    january.write_text(sales("J", "2026-01", ["10.00"]), encoding="utf-8")
    assert clearline.run(plans, [january], "2026-01").rated == 1  # the year's first month needs none


def test_tiers_over_the_year_in_a_waterfall_are_refused() -> None:
    text = (Path(__file__).resolve().parent.parent / "contracts" / "gamestudio.contract").read_text(
        encoding="utf-8"
    )
    text = text.replace("tiers studio_share graduated {", "tiers studio_share graduated over the year {")
    found = [d for d in clearline.check(clearline.parse(SourceFile("gs.contract", text))) if d.is_error]
    assert [(d.code, d.message) for d in found] == [
        (
            codes.MISPLACED_RULE,
            "tiers studio_share run over more than one period, which a waterfall step does not take",
        )
    ]
