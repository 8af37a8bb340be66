"""Every amount form in every place: what validates settles, without an internal error.

docs/language.md's table of what may stand where, held by brute force: each of the
language's amount atoms, alone and combined (`+`, `the larger of`, `* 2`), as a charge
and as a payout, in a usage product and in a subscription. A combination the checker
accepts must settle (a figure or a diagnostic); before, `tiers t + the value of amount`
and `the value of amount` in a subscription validated and then failed inside the engine.
The figures of each form are pinned elsewhere (tests/test_language.py, test_money.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import clearline
from clearline.diagnostics import ClearlineError
from clearline.source import SourceFile

HEADER = """contract X-1 "t" {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in PLN, time zone Europe/Warsaw
  operator telcopl "TelcoPL S.A." currency PLN
  partner acme "Acme" currency PLN
  partner bolt "Bolt" currency PLN
  usage fields { service text
                 event text
                 amount decimal
                 sims integer }
  tiers tp graduated {
    from 0 to 100 at 0.01 PLN per minute
    from 100 at 0.005 PLN per minute
  }
  tiers ts graduated {
    from 0.00 PLN to 10.00 PLN at 50%
    from 10.00 PLN at 60%
  }
  rate table r by value of service {
    "x" 0.01 PLN per minute
  }
"""
USAGE_P = """  product p "P" {
    matches service = "x"
    measured in minutes
    clause "1" {
      charge customer 1.00 PLN
      round each line half up to 0.01
    }
    clause "2" {
      pay bolt 10% of net
      round each line half up to 0.01
    }
    clause "3" {
      RULE
      round each line half up to 0.01
    }
  }
}
"""
SUB_P = """  product p "P" {
    matches service = "x"
    subscription starts when event = "on", ends when event = "off"
    clause "1" {
      charge customer 30.00 PLN per month, prorated by active days
      round each line half up to 0.01
    }
    clause "2" {
      pay bolt 10% of net
      round each line half up to 0.01
    }
    clause "3" {
      RULE
      round each line half up to 0.01
    }
  }
}
"""
ATOMS = [
    "2.00 PLN",
    "0.02 PLN per minute",
    "3.00 PLN per month",
    "0.10 PLN per day",
    "the rate from table r",
    "the value of amount in PLN",
    "55% of net",
    "net",
    "gross",
    "10% of gross",
    "50% of net after deductions",
    "the payout to bolt",
    "tiers tp",
    "tiers ts of net",
    "the maximum of sims * 1.00 PLN",
    "the sum of amount * 1 PLN",
    "15% of billed net",
    "0.50 PLN per block of 10 minutes",
    "10% of (2.00 PLN)",
    "net after deductions",
    'the remainder after "2"',
    '10% of the remainder after "2"',
    "net minus the payout to bolt",
]
FORMS = ["{a}", "{a} + {b}", "the larger of {a} and {b}", "{a} * 2"]
USAGE = (
    "record_id,timestamp,customer_id,service,event,quantity,amount,sims\n"
    "A,2026-03-02T10:00:00+01:00,C1,x,on,50,2.00,3\n"
    "B,2026-03-03T10:00:00+01:00,C1,x,,100,3.00,4\n"
    "C,2026-03-20T10:00:00+01:00,C2,x,on,7,1.50,1\n"
)


def _rules() -> list[tuple[str, str]]:
    found = []
    for kind in ("usage", "subscription"):
        for who in ("charge customer", "pay acme"):
            for form in FORMS:
                if "{b}" in form:
                    pairs = [(a, ATOMS[0]) for a in ATOMS] + [(ATOMS[0], a) for a in ATOMS[1:]]
                else:
                    pairs = [(a, "") for a in ATOMS]
                found += [(kind, f"{who} " + form.format(a=a, b=b)) for a, b in pairs]
    return found


def test_every_form_that_validates_settles(tmp_path: Path) -> None:
    usage = tmp_path / "u.csv"
    usage.write_text(USAGE, encoding="utf-8")
    settled = refused = 0
    for kind, rule in _rules():
        product = USAGE_P if kind == "usage" else SUB_P
        try:
            plan = clearline.plan(SourceFile("c.contract", HEADER + product.replace("RULE", rule)))
        except ClearlineError:
            refused += 1
            continue
        try:
            clearline.run([plan], [usage], "2026-03")
        except ClearlineError:
            pass  # a diagnostic: settled as far as the data allows
        except Exception as err:  # an internal error: the checker let through what the engine cannot do
            pytest.fail(f"{kind}: `{rule}` validates, then settling raises {type(err).__name__}: {err}")
        settled += 1
    # both outcomes occur: the grid is not all refused, nor all accepted
    assert settled > 200 and refused > 200, (settled, refused)


MODIFIERS = [
    "at least 0.05 PLN", "at most 2.00 PLN", "capped at 3.00 PLN per period", "at least 5.00 PLN per period",
    "first 10 minutes free", "first 10 minutes free for each service",
    "first 10 minutes free for each service, pooled", "increments 60/60", "connect fee 0.10 PLN",
    "prorated by active days", "one line per service",
]  # fmt: skip
PRICED = [
    "2.00 PLN", "0.02 PLN per minute", "3.00 PLN per month", "55% of net", "tiers tp",
    "the maximum of sims * 1.00 PLN", "the rate from table r", "the value of amount in PLN",
]  # fmt: skip


def _modified() -> list[tuple[str, str]]:
    found = []
    for kind in ("usage", "subscription"):
        for who in ("charge customer", "pay acme"):
            for amount in PRICED:
                for first in MODIFIERS:
                    found.append((kind, f"{who} {amount}, {first}"))
                    if amount in ("0.02 PLN per minute", "the value of amount in PLN"):
                        found += [(kind, f"{who} {amount}, {first}, {m}") for m in MODIFIERS if m != first]
    return found


def test_every_modifier_that_validates_settles(tmp_path: Path) -> None:
    """The modifiers alone and in pairs on each kind of amount. Free units price a rule once
    per line: with a record's value or a table's row it validated and then failed inside
    the engine; now E0405."""
    usage = tmp_path / "u.csv"
    usage.write_text(USAGE, encoding="utf-8")
    settled = refused = 0
    for kind, rule in _modified():
        product = USAGE_P if kind == "usage" else SUB_P
        try:
            plan = clearline.plan(SourceFile("c.contract", HEADER + product.replace("RULE", rule)))
        except ClearlineError:
            refused += 1
            continue
        try:
            clearline.run([plan], [usage], "2026-03")
        except ClearlineError:
            pass
        except Exception as err:
            pytest.fail(f"{kind}: `{rule}` validates, then settling raises {type(err).__name__}: {err}")
        settled += 1
    assert settled > 100 and refused > 100, (settled, refused)
