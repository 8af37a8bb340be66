"""Laws of converted splits (issue 9), over random contracts: for random split
shares (percentages, fractions, equal) and random conversions, each partner's
converted amount is its settlement-currency amount times the rate, rounded once
as declared; and conservation holds in the settlement currency. The columnar
engine (with polars installed) writes the same run folder."""

from __future__ import annotations

import importlib.util
import tempfile
import textwrap
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clearline
from clearline.money import CONTEXT, MINOR_UNITS, Rounding, round_money
from clearline.source import SourceFile
from conftest import read_csv

COLUMNAR = importlib.util.find_spec("polars") is not None  # the columnar extra
TARGETS = ["USD", "JPY", "BHD", "GBP"]  # 2, 0, 3 and 2 minor digits
MODES = ["half up", "half even", "down", "up"]


@dataclass(frozen=True)
class Drawn:
    text: str
    fx: str
    # party -> (currency, published rate, rounding) for each converted partner
    converted: dict[str, tuple[str, Decimal, Rounding]]


def _parts(draw: st.DrawFn, whole: int, count: int) -> list[int]:
    """`count` positive whole numbers that sum to `whole`."""
    if count == 1:
        return [whole]
    between = st.integers(1, whole - 1)
    cuts = sorted(draw(st.lists(between, min_size=count - 1, max_size=count - 1, unique=True)))
    return [b - a for a, b in zip([0, *cuts], [*cuts, whole], strict=True)]


@st.composite
def split_contracts(draw: st.DrawFn) -> Drawn:
    n = draw(st.integers(min_value=1, max_value=4))
    parties = [f"p{i}" for i in range(1, n + 1)]
    who = [*parties, "op"] if draw(st.booleans()) else parties
    style = draw(st.sampled_from(["equally", "fractions", "percent"]))
    if style == "equally" and len(who) > 1:
        split = f"split the period's net equally between {', '.join(who)}"
    elif style == "fractions" or len(who) == 1:
        den = draw(st.integers(min_value=len(who), max_value=12))
        nums = _parts(draw, den, len(who))
        shares = "  ".join(f"{k}/{den} to {p}" for k, p in zip(nums, who, strict=True))
        split = f"split the period's net {{ {shares} }}"
    else:
        hundredths = _parts(draw, 10000, len(who))
        shares = "  ".join(f"{p} {Decimal(h) / 100}%" for p, h in zip(who, hundredths, strict=True))
        split = f"split the period's net {{ {shares} }}"
    if style == "equally" and len(who) > 1 and draw(st.booleans()):
        split += f", residual to {draw(st.sampled_from(who))}"
    converted: dict[str, tuple[str, Decimal, Rounding]] = {}
    rates: dict[str, Decimal] = {}  # one rate per currency and day: its partners share it
    lines = []
    for p in parties:
        if not draw(st.booleans()):
            continue
        cur = draw(st.sampled_from(TARGETS))
        if cur not in rates:
            rates[cur] = draw(st.decimals(min_value=Decimal("0.0100"), max_value=Decimal(300), places=4))
        mode = draw(st.sampled_from(MODES))
        quantum = Decimal(1).scaleb(-MINOR_UNITS[cur])
        converted[p] = (cur, rates[cur], Rounding(mode, quantum))
        lines.append(f"      pay {p} in {cur} at the rate of the period end, round {mode} to {quantum}")
    fx = ["date,from,to,rate", *(f"2026-03-31,EUR,{cur},{rate}" for cur, rate in rates.items())]
    declared = "\n".join(
        f'  partner {p} "Partner {p}" currency {converted[p][0] if p in converted else "EUR"}'
        for p in parties
    )
    currency = "\n".join(lines)
    conversion = f'    clause "3 Currencies" {{\n{currency}\n    }}' if lines else ""
    text = f"""contract SPL-1 "Random split" {{
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone Europe/Warsaw
  operator op "Operator" currency EUR
{declared}
  usage fields {{
    service text
    amount  decimal
  }}
  product deals "Deals" {{
    matches service = "deal"
    clause "1 Price" {{
      charge customer the value of amount in EUR
      round each line half up to 0.01
    }}
    clause "2 Split" {{
      {split}
    }}
{conversion}
  }}
}}
"""
    return Drawn(text, "\n".join(fx) + "\n", converted)


amounts = st.lists(st.decimals(min_value=0, max_value=Decimal("5000"), places=2), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=split_contracts(), values=amounts)
def test_converted_split_shares_are_converted_once_and_money_is_conserved(
    drawn: Drawn, values: list[Decimal]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "c.contract").write_text(drawn.text, encoding="utf-8")
        rows = "".join(f"R{i},2026-03-10T10:00:00+01:00,C1,deal,1,{v}\n" for i, v in enumerate(values))
        (base / "u.csv").write_text("record_id,timestamp,customer_id,service,quantity,amount\n" + rows)
        (base / "fx.csv").write_text(textwrap.dedent(drawn.fx), encoding="utf-8")
        plan = clearline.plan(SourceFile.read(base / "c.contract"))
        result = clearline.run([plan], [base / "u.csv"], "2026-03", fx=base / "fx.csv", out=base / "out")
        assert result.ok
        if COLUMNAR:  # the columnar engine writes the same folder, byte for byte
            clearline.run(
                [plan], [base / "u.csv"], "2026-03", fx=base / "fx.csv", out=base / "col", engine="columnar"
            )
            for path in (base / "out").iterdir():
                assert path.read_bytes() == (base / "col" / path.name).read_bytes(), path.name
        net = sum(values, Decimal(0))
        payouts = read_csv(base / "out" / "payout_lines.csv")
        retained = read_csv(base / "out" / "retained_lines.csv")
        paid = sum((Decimal(r["amount"]) for r in payouts), Decimal(0))
        kept = sum((Decimal(r["amount"]) for r in retained), Decimal(0))
        assert paid + kept == net, drawn.text  # conservation in the settlement currency
        for row in payouts:
            party = row["party"]
            if party not in drawn.converted:
                assert row["paid_amount"] == "" and row["paid_currency"] == ""
                continue
            cur, rate, rounding = drawn.converted[party]
            expected = round_money(CONTEXT.multiply(Decimal(row["amount"]), rate), rounding)
            assert (row["paid_currency"], Decimal(row["paid_amount"])) == (cur, expected), drawn.text
            assert row["fx_rate"] == format(rate, "f") and row["fx_date"] == "2026-03-31"
