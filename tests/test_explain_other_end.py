"""`clearline explain RUN --record ID | --party P | --customer C` on the demo's March run.

Figures, by hand (the bundled data, contracts/):
- DCB-00001 is a 24.60 PLN purchase with VAT included: 24.60 / 1.23 = 20.00 net of
  C-1002's GameStudio line, 5,980.00 PLN: 20.00 / 5,980.00 = 0.334% -> 0.33%; the
  waterfall lines (2 payouts, 2 retained) are computed from that line.
- CDR-0001, 61 s to 4860, increments 30/6: 66 s x 0.0150 / 60 + 0.0010 = 0.0175 EUR;
  CDR-0002, 7 s: 30 s x 0.0150 / 60 + 0.0010 = 0.0085; the 4860 line sums 0.0260 -> 0.03,
  and CDR-0001 is 0.0175 / 0.0260 = 67.307...% -> 67.31% of it.
- C-1002 (Piotr Nowak): GameStudio 5,980.00 + StreamPlus 39.00 = 6,019.00 PLN net;
  gross 7,355.40 + 39.00 x 1.23 = 47.97 -> 7,403.37.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearline.cli import app
from conftest import ROOT


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("demo")
    shutil.copytree(ROOT / "contracts", base / "contracts")
    data = base / "contracts" / "data"
    usage = [
        "streamplus-subscriptions.csv",
        "nordcarrier-cdrs.csv",
        "fleetiot-usage.csv",
        "dcb-purchases.csv",
    ]
    argv = ["simulate", str(base / "contracts"), *[a for u in usage for a in ("--usage", str(data / u))]]
    argv += [
        "--period",
        "2026-03",
        "--fx",
        str(data / "fx-rates.csv"),
        "--customers",
        str(data / "customers.csv"),
    ]
    result = CliRunner().invoke(app, [*argv, "--out", str(base / "run")])
    assert result.exit_code == 3, result.output  # the two DCB purchases of 1 April
    return base / "run"


def explain(*argv: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["explain", *argv])
    return result.exit_code, result.output.splitlines()


def test_a_purchase_fed_its_invoice_line_and_the_waterfall_from_it(run: Path) -> None:
    code, lines = explain(str(run), "--record", "DCB-00001")
    assert code == 0, lines
    assert lines[0] == "DCB-00001 fed 1 line(s):"
    assert lines[1].startswith(
        '  I-6661952eed  invoice C-1002  GS-2026 "5.1 Purchases"  2026-03  5980.00 PLN: '
    )
    assert lines[1].endswith(
        "this record 20.00 (0.33% of the line's unrounded sum 5980.00); billed quantity 1"
    )
    assert lines[2] == "4 line(s) computed from those:"
    derived = sorted(line.split()[1:3] for line in lines[3:7])
    assert derived == [
        ["payout", "gamestudio"],
        ["payout", "payhub"],
        ["retained", "telcopl"],
        ["retained", "telcopl"],
    ]
    assert all(line.endswith("from I-6661952eed") for line in lines[3:7])
    assert lines[-1] == f"explain a line: clearline explain {run} LINE_ID"


def test_a_call_is_two_thirds_of_its_prefix_line(run: Path) -> None:
    code, lines = explain(str(run), "--record", "CDR-0001")
    assert code == 0, lines
    assert (
        '"5.1 Termination rates"  2026-03  0.03 EUR: '
        "this record 0.0175 (67.31% of the line's unrounded sum 0.0260)" in lines[1]
    )
    assert lines[1].endswith("billed quantity 66")
    assert lines[2] == "1 line(s) computed from those:"
    assert " retained telcopl  NC-2026  2026-03 " in lines[3]


def test_a_subscription_event_claims_no_share_of_a_monthly_price(run: Path) -> None:
    """SP-0004 activates on 17 March: 15 active days; the price is per subscriber-month,
    so the record has no amount of its own and none is made up."""
    code, lines = explain(str(run), "--record", "SP-0004")
    assert code == 0, lines
    assert lines[0] == "SP-0004 fed 2 line(s):"
    assert all(
        "priced for the period, not per record" in line and line.endswith("billed quantity 15")
        for line in lines[1:3]
    )
    assert "%" not in "\n".join(lines)


def test_a_rejected_record_says_why_it_fed_nothing(run: Path) -> None:
    code, lines = explain(str(run), "--record", "DCB-00185")
    assert code == 1
    assert lines[0].startswith("error[E0401]: DCB-00185 fed no line: it was rejected (")
    assert "dcb-purchases.csv:186): outside the settled period 2026-03" in lines[0]


def test_a_partner_s_lines_with_their_total(run: Path) -> None:
    code, lines = explain(str(run), "--party", "streamco")
    assert code == 0, lines
    assert lines == [
        "streamco (StreamCo Ltd): 1 line(s)",
        '  P-39c41c12e8  payout streamco  SP-2026 "4.2 Revenue share"  2026-03  81.65 PLN (paid 19.21 EUR)',
        "total payout: 81.65 PLN, paid 19.21 EUR (1 line(s))",
        f"explain a line: clearline explain {run} LINE_ID",
    ]


def test_a_customer_s_invoice_lines_with_net_and_gross(run: Path) -> None:
    code, lines = explain(str(run), "--customer", "C-1002")
    assert code == 0, lines
    assert lines[0] == "C-1002 (Piotr Nowak): 2 line(s)"
    assert sorted(line.split('"')[1] for line in lines[1:3]) == ["3.1 Retail price", "5.1 Purchases"]
    assert lines[3] == "total invoice: 6019.00 PLN, gross 7403.37 PLN (2 line(s))"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--customer", "C-1009"], "error[E0401]: no lines of the customer C-1009"),
        (["--party", "streamcoo"], "error[E0401]: no lines of the party streamcoo"),
        (["--record", "CDR-O001"], "error[E0401]: no rated record CDR-O001"),
    ],
)
def test_unknown_ids_name_the_nearest(run: Path, argv: list[str], message: str) -> None:
    code, lines = explain(str(run), *argv)
    assert code == 1
    assert lines[0].startswith(message)
    assert lines[1].startswith("   = hint: did you mean `")


def test_one_question_at_a_time(run: Path) -> None:
    code, lines = explain(str(run), "--record", "CDR-0001", "--party", "streamco")
    assert code == 2
    text = " ".join(" ".join(line.strip("│ ").split()) for line in lines)  # inside rich's error box
    assert "give one of: a LINE_ID, --record ID, --party PARTY or --customer CUSTOMER" in text


def test_a_damaged_line_file_is_a_diagnostic(run: Path, tmp_path: Path) -> None:
    """A payout file without its amount column: a coded message, no traceback."""
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    (damaged / "payout_lines.csv").write_text("line_id,kind,party\nP-1,payout,streamco\n", encoding="utf-8")
    code, lines = explain(str(damaged), "--party", "streamco")
    assert code == 1
    assert lines[0].startswith(f"error[E0501]: {damaged} is damaged: a line file has no column")
    assert "Traceback" not in "\n".join(lines)
