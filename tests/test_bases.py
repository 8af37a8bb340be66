"""Bases in any expression (issue 9, item 9): `the remainder after "CLAUSE"`, `net minus
the payout to P`, and `net after deductions` / `the allocated net of C` standing alone
inside `the larger of`, parentheses and arithmetic; and where a base cannot stand.

Figures are hand-computed in each docstring.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clearline
from clearline import codes
from clearline.source import SourceFile
from conftest import read_csv
from test_language import contract, settle

GAMES = """
  partner studio "Studio" currency PLN
  partner ref    "Referrer" currency PLN
  partner pub    "Publisher" currency PLN
  usage fields { service text
                 amount decimal }
  product games "Games" {
    matches service = "game"
    deduction fee "Store fee" is 1.00 PLN
    clause "1 Price" {
      charge customer the value of amount in PLN
      round each line half up to 0.01
    }
    clause "2 Studio" {
      pay studio 70% of net
      round each line half up to 0.01
    }
    clause "3 Referrer" {
      REFERRER
      round each line half up to 0.01
    }
  }
"""
USAGE = """\
    record_id,timestamp,customer_id,service,amount
    G1,2026-03-02T10:00:00+01:00,C1,game,10.00
    G2,2026-03-03T10:00:00+01:00,C1,game,25.00
"""


def _payouts(tmp_path: Path, rule: str) -> tuple[dict[str, str], Path]:
    tmp_path.mkdir(exist_ok=True)
    out = settle(tmp_path, contract("GS-1", "PLN", GAMES.replace("REFERRER", rule)), {"u.csv": USAGE})
    return {r["party"]: r["amount"] for r in read_csv(out / "payout_lines.csv")}, out


def _errors(rule: str, body: str = GAMES) -> list[tuple[str, str]]:
    text = contract("GS-1", "PLN", body.replace("REFERRER", rule))
    return [
        (d.code, d.message)
        for d in clearline.check(clearline.parse(SourceFile("c.contract", text)))
        if d.is_error
    ]


def test_a_share_of_the_remainder_after_a_clause(tmp_path: Path) -> None:
    """Purchases of 10.00 and 25.00; the studio gets 70%: 7.00 + 17.50 = 24.50. The referrer
    gets 10% of the remainder after "2 Studio": 10% × 3.00 + 10% × 7.50 = 0.30 + 0.75 = 1.05,
    the same as `10% of (net - the payout to studio)`; the operator keeps 35.00 - 25.55 = 9.45."""
    paid, out = _payouts(tmp_path, 'pay ref 10% of the remainder after "2 Studio"')
    assert paid == {"ref": "1.05", "studio": "24.50"}
    (kept,) = read_csv(out / "retained_lines.csv")
    assert kept["amount"] == "9.45"
    traces = {t["party"]: t for t in map(json.loads, (out / "trace.jsonl").read_text().splitlines())}
    assert traces["ref"]["units"]["shown"][0]["arithmetic"] == (
        '10% × (the remainder after "2 Studio" 3.000) = 0.3000'
    )


def test_minus_and_plus_are_words_for_the_signs(tmp_path: Path) -> None:
    """`10% of (net minus the payout to studio)`: 0.30 + 0.75 = 1.05, as with `-`."""
    paid, _ = _payouts(tmp_path, "pay ref 10% of (net minus the payout to studio)")
    assert paid["ref"] == "1.05"


def test_net_after_deductions_stands_in_the_larger_of(tmp_path: Path) -> None:
    """`the larger of 20% of (net after deductions) and 1.50 PLN`: G1 20% × (10.00 - 1.00)
    = 1.80, G2 20% × (25.00 - 1.00) = 4.80; both above 1.50: 6.60. With 2.00 instead the
    first is 2.00: 2.00 + 4.80 = 6.80. `10% of (net after deductions minus 5.00 PLN)`:
    10% × (10.00 - 1.00 - 5.00) + 10% × (25.00 - 1.00 - 5.00) = 0.40 + 1.90 = 2.30."""
    paid, _ = _payouts(tmp_path / "a", "pay ref the larger of 20% of (net after deductions) and 1.50 PLN")
    assert paid["ref"] == "6.60"
    paid, _ = _payouts(tmp_path / "b", "pay ref the larger of 20% of (net after deductions) and 2.00 PLN")
    assert paid["ref"] == "6.80"
    paid, out = _payouts(tmp_path / "c", "pay ref 10% of (net after deductions minus 5.00 PLN)")
    assert paid["ref"] == "2.30"  # 10% × 4.00 + 10% × 19.00 = 0.40 + 1.90
    traces = {t["party"]: t for t in map(json.loads, (out / "trace.jsonl").read_text().splitlines())}
    assert traces["ref"]["units"]["shown"][0]["arithmetic"] == (
        "10% × (((net 10.00) - (1.00 PLN) = 9.00) - (5.00 PLN) = 4.00) = 0.400"
    )


def test_the_allocated_net_of_a_component_stands_in_arithmetic(tmp_path: Path) -> None:
    """A bundle of 49.99 split 30:20:10 gives tv 25.00 (largest remainder; see docs). `pay
    tvco the allocated net of tv minus 5.00 PLN` pays 25.00 - 5.00 = 20.00; `the smaller of
    the allocated net of tv and 20.00 PLN` pays 20.00 as well, and 30.00 PLN would pay 25.00."""
    body = """
      partner tvco "TV Co" currency PLN
      usage fields { product text
                     event text }
      product family "Family" {
        matches product = "family"
        subscription starts when event = "on", ends when event = "off"
        components tv 30.00 PLN, music 20.00 PLN, cloud 10.00 PLN
        clause "1 Price" {
          charge customer 49.99 PLN per month
          round each line half up to 0.01
        }
        clause "2 TV" {
          RULE
          round each line half up to 0.01
        }
      }
    """
    usage = """\
        record_id,timestamp,customer_id,product,event
        S1,2026-02-20T10:00:00+01:00,C1,family,on
    """
    for name, rule, expected in [
        ("minus", "pay tvco the allocated net of tv minus 5.00 PLN", "20.00"),
        ("smaller", "pay tvco the smaller of the allocated net of tv and 20.00 PLN", "20.00"),
        ("whole", "pay tvco the smaller of the allocated net of tv and 30.00 PLN", "25.00"),
    ]:
        (tmp_path / name).mkdir()
        out = settle(tmp_path / name, contract("FB-1", "PLN", body.replace("RULE", rule)), {"u.csv": usage})
        (line,) = read_csv(out / "payout_lines.csv")
        assert line["amount"] == expected, name


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            'pay ref 10% of the remainder after "3 Referrer"',
            [
                (
                    codes.UNKNOWN_NAME,
                    'no clause before this one in product games is "3 Referrer" with a pay rule',
                )
            ],
        ),
        (
            'pay ref 10% of the remainder after "2 Studi"',
            [(codes.UNKNOWN_NAME, 'no clause before this one in product games is "2 Studi" with a pay rule')],
        ),
        (
            'pay ref 10% of the remainder after "1 Price"',
            [(codes.UNKNOWN_NAME, 'no clause before this one in product games is "1 Price" with a pay rule')],
        ),
        (
            "pay ref 10% of (net after deductions minus the allocated net of tv)",
            [(codes.UNKNOWN_NAME, "product games has no component `tv`")],
        ),
        (
            'pay ref 40% of the remainder after "2 Studio" + 80% of net',
            [
                (
                    codes.SHARES_EXCEED_BASE,
                    "the shares of net paid in product games add up to 162%, more than all of it",
                )
            ],
        ),
    ],
)
def test_misplaced_bases_are_diagnostics(rule: str, expected: list[tuple[str, str]]) -> None:
    """The 100% check: the studio's 70% plus the referrer's 40% of what is left after it
    (at most 30% of net: 12%) plus 80% of net: 70 + 12 + 80 = 162%."""
    assert _errors(rule) == expected


def test_a_charge_cannot_be_the_remainder_and_a_line_priced_once_cannot_read_it() -> None:
    charged = GAMES.replace("the value of amount in PLN", 'the remainder after "2 Studio"')
    assert (
        codes.MISPLACED_RULE,
        'a customer charge cannot be the remainder after "2 Studio"',
    ) in _errors("pay ref 10% of net", charged)
    billed = 'pay ref 10% of billed net + 10% of the remainder after "2 Studio"'
    assert (
        codes.MISPLACED_RULE,
        "`the remainder after` is read per rating unit; this rule is priced once per period",
    ) in _errors(billed)
