"""`clearline diff`: what an amendment or a new version changes, in words and in money."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import clearline
from clearline.authoring.formatter import format_text
from clearline.authoring.semantic import contract_changes
from clearline.cli import app
from clearline.source import SourceFile
from conftest import CONTRACTS, DATA
from test_amendments import RAISE_SHARE
from test_fmt import laid_out_at_random
from test_properties import RandomContract, random_contracts

MARCH = ["--period", "2026-03", "--fx", str(DATA / "fx-rates.csv")]


def nordcarrier(tmp_path: Path, price: str) -> Path:
    text = (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8")
    path = tmp_path / f"nc-{price}.contract"
    path.write_text(text.replace('"4860"  0.0150 EUR', f'"4860"  {price} EUR'), encoding="utf-8")
    return path


def test_a_reformatted_contract_has_no_changes(tmp_path: Path) -> None:
    messy = tmp_path / "gs.contract"
    text = (CONTRACTS / "gamestudio.contract").read_text(encoding="utf-8")
    messy.write_text(text.replace("  ", "    ").replace(" at ", "   at "), encoding="utf-8")
    result = CliRunner().invoke(app, ["diff", str(CONTRACTS / "gamestudio.contract"), str(messy)])
    assert result.exit_code == 0, result.output
    assert "no changes: both settle the same way" in result.output


def test_an_amendment_is_shown_in_the_contracts_words(tmp_path: Path) -> None:
    amendment = tmp_path / "sp-a1.contract"
    amendment.write_text(RAISE_SHARE, encoding="utf-8")
    result = CliRunner().invoke(app, ["diff", str(CONTRACTS / "streamplus.contract"), str(amendment)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("SP-2026 version 3 (")
    assert (
        f'clause "4.2 Revenue share" in product streamplus: changed  '
        f"({CONTRACTS / 'streamplus.contract'}:25:5 -> {amendment}:3:11)\n"
        '  - "StreamCo receives 55% of net revenue, at least 18.00 PLN per subscriber-month."\n'
        "  - pay streamco the larger of 55% of net and 18.00 PLN per subscriber-month, "
        "prorated by active days\n"
        '  + "StreamCo receives 60% of net revenue."\n'
        "  + pay streamco the larger of 60% of net and 18.00 PLN per subscriber-month, "
        "prorated by active days\n"
    ) in result.output
    # the rounding did not change, so it is not shown; the versions' dates did
    assert "round the period total" not in result.output
    assert "contract effective: changed" in result.output


def test_the_amendment_on_marchs_traffic_costs_streamco_742_pln(tmp_path: Path) -> None:
    """Both versions settle all of March. StreamCo's share per subscriber is the larger of the
    share of net and 18.00 PLN x active days / 31:
    old 55%: 3 x 21.45 + max(10.3785, 8.7097) + max(6.919, 5.8065) = 81.6475 -> 81.65 PLN;
    new 60%: 3 x 23.40 + max(11.322, 8.7097) + max(7.548, 5.8065) = 89.07 PLN; delta +7.42.
    Paid in EUR at 4.25: 81.65 / 4.25 = 19.2118 -> 19.21; 89.07 / 4.25 = 20.9576 -> 20.96.
    Retained: net 148.45 - payouts: 66.80 -> 59.38. Invoices do not change."""
    amendment = tmp_path / "sp-a1.contract"
    amendment.write_text(RAISE_SHARE, encoding="utf-8")
    usage = ["--usage", str(DATA / "streamplus-subscriptions.csv")]
    args = ["diff", str(CONTRACTS / "streamplus.contract"), str(amendment), *usage, *MARCH]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert (
        '  payout streamco  streamplus "4.2 Revenue share": 81.65 -> 89.07 PLN (+7.42); '
        "paid 19.21 -> 20.96 EUR (+1.75)\n"
        "  retained telcopl  streamplus: 66.80 -> 59.38 PLN (-7.42)\n"
    ) in result.output
    assert "  5 other line key(s) unchanged\n" in result.output  # the five customers' invoices
    assert "  streamco: 19.21 -> 20.96 EUR (+1.75)\n  streamco: 81.65 -> 89.07 PLN (+7.42)\n" in result.output
    assert result.output.endswith("the amounts differ\n")

    data = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    payout = next(x for x in data["impact"]["lines"] if x["kind"] == "payout")
    assert payout == {
        "party": "streamco",
        "kind": "payout",
        "product": "streamplus",
        "clause": "4.2 Revenue share",
        "currency": "PLN",
        "old": "81.65",
        "new": "89.07",
        "delta": "7.42",
        "paid": {"currency": "EUR", "old": "19.21", "new": "20.96", "delta": "1.75"},
    }
    totals = {(t["party"], t["currency"]): t["delta"] for t in data["impact"]["totals"]}
    assert totals[("telcopl", "PLN")] == "-7.42"
    assert data["impact"]["differs"] is True
    clause = next(c for c in data["changes"] if c["what"] == "clause")
    assert clause["name"] == '"4.2 Revenue share"' and clause["change"] == "changed"


def test_a_rate_change_that_moves_no_money_exits_0(tmp_path: Path) -> None:
    """4860 at 0.0200 EUR/min: CDR-0001 61 s billed 66 s (30/6): 66 x 0.02 / 60 + 0.0010 = 0.0230;
    CDR-0002 7 s billed 30 s: 0.0100 + 0.0010 = 0.0110; line 0.0340 -> 0.03, as at 0.0150
    (0.0175 + 0.0085 = 0.0260 -> 0.03). At 0.0600: 0.0670 + 0.0310 = 0.0980 -> 0.10 (+0.07)."""
    old = str(CONTRACTS / "nordcarrier.contract")
    usage = ["--usage", str(DATA / "nordcarrier-cdrs.csv"), *MARCH]
    same = CliRunner().invoke(app, ["diff", old, str(nordcarrier(tmp_path, "0.0200")), *usage])
    assert same.exit_code == 0, same.output
    assert (
        'rate table termination row "4860": changed\n'
        '  - "4860" 0.0150 EUR per minute, increments 30/6, connect fee 0.0010 EUR\n'
        '  + "4860" 0.0200 EUR per minute, increments 30/6, connect fee 0.0010 EUR\n'
    ) in same.output
    assert same.output.endswith("no money difference\n")
    dearer = CliRunner().invoke(app, ["diff", old, str(nordcarrier(tmp_path, "0.0600")), *usage])
    assert dearer.exit_code == 1
    assert '  payout nordcarrier  voice "5.1 Termination rates": 0.08 -> 0.15 EUR (+0.07)\n' in dearer.output
    assert "  telcopl: -0.08 -> -0.15 EUR (-0.07)\n" in dearer.output


def test_a_contract_with_errors_gets_its_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.contract"
    bad.write_text("contract X {\n  versoin 1\n}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["diff", str(CONTRACTS / "nordcarrier.contract"), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2:3: error[E0101]: unknown word `versoin`" in result.stderr


def test_tier_bands_and_waterfall_steps_are_shown_as_written(tmp_path: Path) -> None:
    """GameStudio's content share from 70% to 75% on the first band (a tier table a waterfall
    step uses) and the bad-debt allowance from 3% to 2%."""
    text = (CONTRACTS / "gamestudio.contract").read_text(encoding="utf-8")
    new = tmp_path / "gs.contract"
    new.write_text(text.replace("at 70%", "at 75%").replace("keeps 3% of", "keeps 2% of"), encoding="utf-8")
    result = CliRunner().invoke(app, ["diff", str(CONTRACTS / "gamestudio.contract"), str(new)])
    assert result.exit_code == 1
    assert (
        f"tiers studio_share: changed  ({CONTRACTS / 'gamestudio.contract'}:17:3 -> {new}:17:3)\n"
        "  - from 0.00 PLN to 10000.00 PLN at 70%\n"
        "  + from 0.00 PLN to 10000.00 PLN at 75%\n"
    ) in result.output
    assert (
        '  - telcopl keeps 3% of the net as "bad-debt allowance", round half up to 0.01\n'
        '  + telcopl keeps 2% of the net as "bad-debt allowance", round half up to 0.01\n'
    ) in result.output


BANDED = """contract VB-1 "Voice by band" {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone UTC
  operator op "Operator" currency EUR
  time bands in Europe/Warsaw {
    peak "Peak" monday to friday 08:00 to 20:00
    off_peak "Off-peak" otherwise
  }
  usage fields { service text }
  product calls "Calls" {
    matches service = "call"
    measured in seconds
    clause "1.1 Peak calls" during peak {
      charge customer 0.10 EUR per minute
      round each line half up to 0.01
    }
    clause "1.2 Off-peak calls" during off_peak {
      charge customer 0.04 EUR per minute
      round each line half up to 0.01
    }
  }
}
"""


def test_a_change_of_the_time_bands_is_shown_as_compile_prints_them() -> None:
    """Peak ends at 19:00 instead of 20:00: the diff shows both weeks as `compile` prints
    bands (the off-peak night runs Monday 20:00 to Tuesday 08:00). Before, the diff saw no
    change at all, and a contract with time bands made it fail."""
    old = clearline.plan(SourceFile("a.contract", BANDED))
    new = clearline.plan(SourceFile("b.contract", BANDED.replace("08:00 to 20:00", "08:00 to 19:00")))
    (change,) = contract_changes(old, new)
    assert (change.what, change.name, change.change) == ("contract", "time bands", "changed")
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
    nights = ", ".join(f"{d} 20:00 to {n} 08:00" for d, n in itertools.pairwise(days))
    assert change.old == (
        'time bands in Europe/Warsaw: peak "Peak" '
        + ", ".join(f"{d} 08:00 to 20:00" for d in days)
        + f'; off_peak "Off-peak" Monday 00:00 to 08:00, {nights}, Friday 20:00 to Sunday 24:00',
    )
    (now,) = change.new
    assert "Friday 08:00 to 19:00" in now and "Friday 19:00 to Sunday 24:00" in now
    assert contract_changes(old, clearline.plan(SourceFile("c.contract", BANDED))) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), contract=random_contracts(1))
def test_a_contract_laid_out_otherwise_has_no_changes(data: st.DataObject, contract: RandomContract) -> None:
    """Over the generated contracts, laid out at random with comments and then formatted:
    the semantic diff sees no change (it compares plans, not text)."""
    messy, _ = data.draw(laid_out_at_random(contract.text, with_comments=True))
    plans = [
        clearline.plan(SourceFile(f"{name}.contract", text))
        for name, text in (
            ("generated", contract.text),
            ("messy", messy),
            ("formatted", format_text(SourceFile("f", messy))),
        )
    ]
    assert contract_changes(plans[0], plans[1]) == []
    assert contract_changes(plans[1], plans[2]) == []
