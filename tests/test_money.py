"""Money that is never silently wrong (issue 9): conversions on every payout,
declared VAT extraction points, exact share sums, equal and fractional splits.

Every figure is computed by hand in the test's docstring.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import clearline
from clearline import codes
from clearline.compiler.printer import format_plan
from clearline.source import SourceFile
from conftest import read_csv
from test_language import contract, settle

FX = """\
    date,from,to,rate
    2026-03-31,EUR,USD,1.0921
    2026-03-31,EUR,JPY,158.4410
"""

PARTNERS = """
  partner usco "US Co" currency USD
  partner jpco "JP Co" currency JPY
  partner euco "EU Co" currency EUR
  usage fields { service text }
"""

ONE_DEAL = """\
    record_id,timestamp,customer_id,service,quantity
    R1,2026-03-10T10:00:00+01:00,C1,deal,1
"""


def _traces(out: Path) -> dict[str, dict[str, object]]:
    return {str(t["line_id"]): t for t in map(json.loads, (out / "trace.jsonl").read_text().splitlines())}


def _check(text: str) -> list[clearline.Diagnostic]:
    source = SourceFile("c.contract", text)
    return list(clearline.check(clearline.parse(source)))


def test_a_conversion_applies_to_every_split_share(tmp_path: Path) -> None:
    """900.00 EUR split equally three ways: 300.00 each (exact, no residual).
    usco is paid in USD at 1.0921: 300.00 × 1.0921 = 327.63 USD; jpco in JPY at
    158.4410: 300.00 × 158.4410 = 47,532.30 -> 47,532 JPY (0 minor digits, half up);
    euco is paid in EUR, the settlement currency: no conversion."""
    text = contract(
        "FX-1",
        "EUR",
        PARTNERS
        + """
  product deals "Deals" {
    matches service = "deal"
    clause "1 Price" {
      charge customer 900.00 EUR
      round each line half up to 0.01
    }
    clause "2 Split" {
      split the period's net equally between usco, jpco and euco
    }
    clause "3 Currencies" {
      pay usco in USD at the rate of the period end
      pay jpco in JPY at the rate of the period end
    }
  }
""",
    )
    out = settle(tmp_path, text, {"u.csv": ONE_DEAL}, fx=FX)
    payouts = {
        r["party"]: (r["amount"], r["paid_amount"], r["paid_currency"], r["fx_rate"], r["fx_date"])
        for r in read_csv(out / "payout_lines.csv")
    }
    assert payouts == {
        "usco": ("300.00", "327.63", "USD", "1.0921", "2026-03-31"),
        "jpco": ("300.00", "47532", "JPY", "158.4410", "2026-03-31"),
        "euco": ("300.00", "", "", "", ""),
    }
    traces = _traces(out)
    usco = next(r for r in read_csv(out / "payout_lines.csv") if r["party"] == "usco")
    fx = traces[usco["line_id"]]["fx"]
    assert isinstance(fx, dict)
    assert (fx["rate"], fx["date"], fx["table"], fx["result"]) == (
        "1.0921",
        "2026-03-31",
        "fx.csv",
        "327.63 USD",
    )
    assert fx["clause"]["label"] == "3 Currencies"


def test_a_conversion_applies_to_waterfall_steps_minimums_and_withholding(tmp_path: Path) -> None:
    """Net 1,000.00 EUR. The waterfall pays usco 10% of the net: 100.00 EUR ->
    100.00 × 1.0921 = 109.21 USD. Withholding 10% of it: 10.00 EUR, paid
    -(109.21 × 10%) = -10.921 -> -10.92 USD. A second product pays jpco 1% of net
    with a minimum guarantee of 50.00 EUR per period: 1% of 1,000.00 is 10.00, raised
    to 50.00 EUR -> 50.00 × 158.4410 = 7,922.05 -> 7,922 JPY."""
    text = contract(
        "FX-2",
        "EUR",
        PARTNERS
        + """
  product deals "Deals" {
    matches service = "deal"
    clause "1 Price" {
      charge customer 1000.00 EUR
      round each line half up to 0.01
    }
    clause "2 Chain" {
      distribute the period's net {
        pay usco 10% of the net as "fee", round half up to 0.01
        telcopl keeps the rest
      }
    }
    clause "3 Tax" {
      withhold 10% tax from usco
    }
    clause "4 Currencies" {
      pay usco in USD at the rate of the period end
      pay jpco in JPY at the rate of the period end
    }
  }
  product extras "Extras" {
    matches service = "extra"
    clause "5 Price" {
      charge customer 1000.00 EUR
      round each line half up to 0.01
    }
    clause "6 Share" {
      pay jpco 1% of net, at least 50.00 EUR per period
      round each line half up to 0.01
    }
  }
""",
    )
    usage = ONE_DEAL + "    R2,2026-03-11T10:00:00+01:00,C1,extra,1\n"
    out = settle(tmp_path, text, {"u.csv": usage}, fx=FX)
    rows = {
        (r["kind"], r["party"]): (r["amount"], r["paid_amount"], r["paid_currency"])
        for r in read_csv(out / "payout_lines.csv")
    }
    assert rows == {
        ("payout", "usco"): ("100.00", "109.21", "USD"),
        ("withholding", "usco"): ("-10.00", "-10.92", "USD"),
        ("payout", "jpco"): ("50.00", "7922", "JPY"),
    }
    traces = _traces(out)
    for r in read_csv(out / "payout_lines.csv"):
        fx = traces[r["line_id"]]["fx"]
        assert isinstance(fx, dict) and fx["rate"] and fx["date"] == "2026-03-31", r


def test_a_partner_with_its_own_currency_and_no_conversion_is_warned() -> None:
    """usco declares USD and is paid by a split share with no conversion: W0103
    names the party, its currency and the clause."""
    text = contract(
        "FX-3",
        "EUR",
        """
  partner usco "US Co" currency USD
  usage fields { service text }
  product deals "Deals" {
    matches service = "deal"
    clause "1 Price" {
      charge customer 900.00 EUR
      round each line half up to 0.01
    }
    clause "2 Split" {
      split the period's net { usco 50% telcopl 50% }
    }
  }
""",
    )
    (diag,) = _check(text)
    assert diag.code == codes.PAID_IN_ANOTHER_CURRENCY
    assert diag.message == (
        '`usco` declares currency USD but is paid in EUR by clause "2 Split", '
        "and no clause converts its payouts"
    )


def test_a_conversion_of_a_split_share_at_the_record_date_is_an_error() -> None:
    """A split share is a period total: there is no record date to take a rate from."""
    text = contract(
        "FX-4",
        "EUR",
        """
  partner usco "US Co" currency USD
  usage fields { service text }
  product deals "Deals" {
    matches service = "deal"
    clause "1 Price" {
      charge customer 900.00 EUR
      round each line half up to 0.01
    }
    clause "2 Split" {
      split the period's net { usco 50% telcopl 50% }
    }
    clause "3 Currency" {
      pay usco in USD at the rate of the record date
    }
  }
""",
    )
    (diag,) = _check(text)
    assert diag.code == codes.MISPLACED_RULE
    assert "split share" in diag.message and diag.span is not None and diag.span.line == 19  # the conversion


PURCHASES = """
  usage fields {{
    service text
    amount  decimal
  }}
  product purchases "Purchases" {{
    matches service = "purchase"
    clause "1 Purchases" {{
      charge customer the value of amount in PLN
      vat 23% included
{record}      round each line half up to 0.01
    }}
  }}
"""


def _purchases(tmp_path: Path, record: str) -> dict[str, str]:
    rows = "".join(f"    P{i:04d},2026-03-10T10:00:00+01:00,C1,purchase,1,2.99\n" for i in range(1000))
    usage = "    record_id,timestamp,customer_id,service,quantity,amount\n" + rows
    text = contract("VAT-1", "PLN", PURCHASES.format(record=record))
    out = settle(tmp_path, text, {"u.csv": usage})
    (line,) = read_csv(out / "invoice_lines.csv")
    return line


def test_vat_included_is_extracted_per_record_when_the_contract_rounds_each_record(
    tmp_path: Path,
) -> None:
    """1,000 purchases of 2.99 PLN incl. 23% VAT, `round each record half up to 0.01`:
    each net is 2.99 / 1.23 = 2.43089... -> 2.43; the line's net 1,000 × 2.43 =
    2,430.00; VAT = 2,990.00 paid - 2,430.00 = 560.00."""
    line = _purchases(tmp_path, "      round each record half up to 0.01\n")
    assert (line["amount"], line["vat_amount"], line["gross_amount"]) == ("2430.00", "560.00", "2990.00")


def test_vat_included_is_extracted_from_the_line_without_a_record_rounding(tmp_path: Path) -> None:
    """The same 1,000 purchases with no record rounding: the net is extracted from the
    line, 2,990.00 / 1.23 = 2,430.8943... -> 2,430.89; VAT = 2,990.00 - 2,430.89 = 559.11.
    Validation says which point applies (W0104), and so does `compile`."""
    line = _purchases(tmp_path, "")
    assert (line["amount"], line["vat_amount"], line["gross_amount"]) == ("2430.89", "559.11", "2990.00")
    text = contract("VAT-1", "PLN", PURCHASES.format(record=""))
    (diag,) = _check(text)
    assert diag.code == codes.VAT_EXTRACTED_FROM_LINE
    printed = format_plan(clearline.plan(SourceFile("c.contract", text)))
    assert (
        "vat       23% included: each line's net is its total / 1.23, rounded half up to 0.01 "
        "(the line rounding; no record rounding)" in printed
    )


def _split_diags(shares: str) -> list[clearline.Diagnostic]:
    text = contract(
        "SPLIT-1",
        "EUR",
        f"""
  partner a "A" currency EUR
  partner b "B" currency EUR
  usage fields {{ service text }}
  product deals "Deals" {{
    matches service = "deal"
    clause "1 Price" {{
      charge customer 100.00 EUR
      round each line half up to 0.01
    }}
    clause "2 Split" {{
      split the period's net {{ {shares} }}
    }}
  }}
""",
    )
    return [d for d in _check(text) if d.severity == "error"]


def test_share_sums_are_checked_exactly() -> None:
    """Thirds sum to exactly 1; 33.3333333333333333333333333333% three times (30
    digits, past the default 28-digit context, where the sum rounded to 100) is
    99.9999999999999999999999999999%, not the whole."""
    assert _split_diags("a 1/3 b 1/3 telcopl 1/3") == []
    assert _split_diags("1/3 to a  2/3 to b") == []
    third = "33.3333333333333333333333333333%"
    (diag,) = _split_diags(f"a {third} b {third} telcopl {third}")
    assert diag.message == "the shares of the split add up to 99.9999999999999999999999999999%, not 100%"
    (diag,) = _split_diags("a 1/2 b 2/3")
    assert diag.code == codes.SHARES_EXCEED_BASE
    assert diag.message == "the shares of the split add up to 7/6, not 100%"


def test_fractional_shares_split_the_period_total_once(tmp_path: Path) -> None:
    """Three records of 100.00 EUR, split 1/3 to a, 1/3 to b, 1/3 to the operator:
    the period's net is 300.00, each third is exactly 100.00 — not 33.33 + 33.33 +
    33.34 per record (which would give a 100.02 over three records)."""
    text = contract(
        "SPLIT-2",
        "EUR",
        """
  partner a "A" currency EUR
  partner b "B" currency EUR
  usage fields { service text }
  product deals "Deals" {
    matches service = "deal"
    clause "1 Price" {
      charge customer 100.00 EUR
      round each line half up to 0.01
    }
    clause "2 Split" {
      split the period's net { 1/3 to a  1/3 to b  1/3 to telcopl }
    }
  }
""",
    )
    usage = ONE_DEAL + (
        "    R2,2026-03-11T10:00:00+01:00,C1,deal,1\n    R3,2026-03-12T10:00:00+01:00,C1,deal,1\n"
    )
    out = settle(tmp_path, text, {"u.csv": usage})
    payouts = {r["party"]: (r["amount"], r["description"]) for r in read_csv(out / "payout_lines.csv")}
    assert payouts == {
        "a": ("100.00", "Deals: 1/3 of the period's net 300.00"),
        "b": ("100.00", "Deals: 1/3 of the period's net 300.00"),
    }
    (kept,) = [r for r in read_csv(out / "retained_lines.csv") if r["party"] == "telcopl"]
    assert kept["amount"] == "100.00"


def test_equal_shares_place_the_residual_once_by_largest_remainder(tmp_path: Path) -> None:
    """100.00 EUR split equally between a, b and the operator: 33.333... each, rounded
    down to 33.33; the one residual cent goes by largest remainder, ties by declaration
    order, to a: 33.34 + 33.33 + 33.33 = 100.00."""
    text = contract(
        "SPLIT-3",
        "EUR",
        """
  partner a "A" currency EUR
  partner b "B" currency EUR
  usage fields { service text }
  product deals "Deals" {
    matches service = "deal"
    clause "1 Price" {
      charge customer 100.00 EUR
      round each line half up to 0.01
    }
    clause "2 Split" {
      split the period's net equally between a, b, telcopl
    }
  }
""",
    )
    out = settle(tmp_path, text, {"u.csv": ONE_DEAL})
    payouts = {r["party"]: r["amount"] for r in read_csv(out / "payout_lines.csv")}
    assert payouts == {"a": "33.34", "b": "33.33"}
    (kept,) = [r for r in read_csv(out / "retained_lines.csv") if r["party"] == "telcopl"]
    assert kept["amount"] == "33.33"


def test_a_csv_row_with_more_cells_than_the_header_is_rejected(tmp_path: Path) -> None:
    """`destination` holds an unquoted comma in R2: 7 cells under a 6-column header.
    Read as it stands, every later field would shift; it is a reject with the reason,
    and only R1 is rated: 1 × 2.50 EUR = 2.50 EUR. The same holds when every line is
    long (no short line sends the reader down its careful path)."""
    text = contract(
        "CSV-1",
        "EUR",
        """
  usage fields {
    service     text
    destination text
  }
  product calls "Calls" {
    matches service = "call"
    clause "1 Price" {
      charge customer 2.50 EUR
      round each line half up to 0.01
    }
  }
""",
    )
    usage = """\
    record_id,timestamp,customer_id,service,destination,quantity
    R1,2026-03-10T10:00:00+01:00,C1,call,Warsaw,1
    R2,2026-03-10T11:00:00+01:00,C1,call,Warsaw, PL,1
"""
    out = settle(tmp_path, text, {"u.csv": usage})
    (reject,) = read_csv(out / "rejects.csv")
    assert (reject["record_id"], reject["reason"]) == (
        "R2",
        "the line has 7 cells, the header 6: a field may hold an unquoted comma",
    )
    (line,) = read_csv(out / "invoice_lines.csv")
    assert line["amount"] == "2.50"
    long_lines = "    record_id,timestamp,customer_id,service,destination,quantity\n" + "".join(
        f"    R{i},2026-03-10T11:00:00+01:00,C1,call,Warsaw, PL,1\n" for i in range(5)
    )
    (tmp_path / "all").mkdir()
    out = settle(tmp_path / "all", text, {"u.csv": long_lines})
    assert len(read_csv(out / "rejects.csv")) == 5
    assert read_csv(out / "invoice_lines.csv") == []


def test_a_negative_value_of_amount_is_a_reject_unless_the_product_accepts_refunds(tmp_path: Path) -> None:
    """P2 pays -2.99 PLN: a refund, but the product does not `accept refunds`, so it is a
    reject with its reason, not a credit of 2.43 PLN netted silently. The line is P1 and
    P3 only: 2 × 2.99 = 5.98 paid, 5.98 / 1.23 = 4.8617... -> 4.86 net, 1.12 VAT."""
    usage = """\
    record_id,timestamp,customer_id,service,quantity,amount
    P1,2026-03-10T10:00:00+01:00,C1,purchase,1,2.99
    P2,2026-03-10T11:00:00+01:00,C1,purchase,1,-2.99
    P3,2026-03-10T12:00:00+01:00,C1,purchase,1,2.99
"""
    text = contract("VAT-1", "PLN", PURCHASES.format(record=""))
    out = settle(tmp_path, text, {"u.csv": usage})
    (reject,) = read_csv(out / "rejects.csv")
    assert (reject["record_id"], reject["reason"]) == (
        "P2",
        "`amount` is negative: -2.99 (a refund; the product does not `accept refunds`)",
    )
    (line,) = read_csv(out / "invoice_lines.csv")
    assert (line["quantity"], line["amount"], line["vat_amount"]) == ("2", "4.86", "1.12")


def test_a_negative_amount_among_many_ordinary_records_is_still_a_reject(tmp_path: Path) -> None:
    """999 purchases of 2.99 PLN and one of -2.99 (P0500), so the fast paths rate the
    rest: the negative one is a reject; the line is 999 × 2.99 = 2,987.01 paid,
    2,987.01 / 1.23 = 2,428.4634... -> 2,428.46 net, 558.55 VAT."""
    rows = "".join(
        f"    P{i:04d},2026-03-10T10:00:00+01:00,C1,purchase,1,{'-2.99' if i == 500 else '2.99'}\n"
        for i in range(1000)
    )
    usage = "    record_id,timestamp,customer_id,service,quantity,amount\n" + rows
    out = settle(tmp_path, contract("VAT-1", "PLN", PURCHASES.format(record="")), {"u.csv": usage})
    assert [r["record_id"] for r in read_csv(out / "rejects.csv")] == ["P0500"]
    (line,) = read_csv(out / "invoice_lines.csv")
    assert (line["quantity"], line["amount"], line["vat_amount"]) == ("999", "2428.46", "558.55")


# --- every ISO 4217 currency (from Babel's CLDR data), XDR -----------------------------------

# the hand list the currencies replaced, with its ISO 4217 minor units: none may change
EARLIER = dict(
    AED=2, ARS=2, AUD=2, BGN=2, BHD=3, BRL=2, CAD=2, CHF=2, CLP=0, CNY=2, CZK=2, DKK=2, EGP=2,
    EUR=2, GBP=2, HKD=2, HUF=2, IDR=2, ILS=2, INR=2, ISK=0, JOD=3, JPY=0, KRW=0, KWD=3, MAD=2,
    MXN=2, MYR=2, NGN=2, NOK=2, NZD=2, OMR=3, PHP=2, PLN=2, QAR=2, RON=2, RSD=2, RUB=2, SAR=2,
    SEK=2, SGD=2, THB=2, TND=3, TRY=2, TWD=2, UAH=2, USD=2, VND=0, ZAR=2,
)  # fmt: skip


def test_the_currency_table_is_generated_from_babel_and_up_to_date() -> None:
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("gen_currencies", ROOT / "scripts" / "gen_currencies.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--check"]) == 0, "run: .venv/bin/python scripts/gen_currencies.py"


def test_every_currency_keeps_its_iso_4217_minor_units() -> None:
    """CLDR shows HUF and IDR without decimals; ISO 4217 (and every earlier figure) has 2.
    KES, not in the earlier list, has 2; IQD has ISO's 3 (CLDR: 0); XDR, CLDR's 2."""
    from clearline.money import MINOR_UNITS

    assert {c: MINOR_UNITS[c] for c in EARLIER} == EARLIER
    assert (MINOR_UNITS["KES"], MINOR_UNITS["IQD"], MINOR_UNITS["XDR"]) == (2, 3, 2)
    assert len(MINOR_UNITS) > 150


def test_a_contract_may_settle_in_any_current_currency_and_in_xdr(tmp_path: Path) -> None:
    """A Kenyan-shilling deal: 1,000.00 KES, no diagnostic. XDR: an IOT tariff in special
    drawing rights, 0.0525 XDR per minute, 3 minutes -> 0.1575 -> 0.16 XDR (half up, 2
    digits). A code that is no currency is still an error, with a did-you-mean."""
    deal = """
  usage fields { service text }
  product deals "Deals" {
    matches service = "deal"
    clause "1 Price" {
      charge customer 1000.00 KES
      round each line half up to 0.01
    }
  }
"""
    assert _check(contract("KE-1", "KES", deal)) == []
    iot = """
  usage fields { service text }
  product roam "Roaming" {
    matches service = "voice"
    measured in seconds
    clause "1 IOT" {
      charge customer 0.0525 XDR per minute
      round each line half up to 0.01
    }
  }
"""
    text = contract("IOT-1", "XDR", iot)
    assert [d for d in _check(text) if d.is_error] == []
    usage = """\
        record_id,timestamp,customer_id,service,quantity
        V1,2026-03-10T10:00:00+01:00,C1,voice,180
    """
    out = settle(tmp_path, text, {"u.csv": usage})
    (line,) = read_csv(out / "invoice_lines.csv")
    assert (line["amount"], line["currency"]) == ("0.16", "XDR")
    wrong = [d for d in _check(contract("KE-2", "KSE", deal)) if d.is_error]
    assert wrong and wrong[0].code == codes.UNKNOWN_CURRENCY


# --- units of account ---------------------------------------------------------------------

IOT = """
  unit of account XDR "Special drawing right", 4 digits, converted at the rate of the period end
  partner acme "Acme" currency EUR
  usage fields { service text }
  product roam "Roaming" {
    matches service = "voice"
    measured in seconds
    clause "1 IOT" {
      charge customer 0.0525 XDR per minute
      round each line half up to 0.01
    }
    clause "2 Share" {
      pay acme 50% of net
      round each line half up to 0.01
    }
  }
"""

CALLS = """\
    record_id,timestamp,customer_id,service,quantity
    V1,2026-03-10T10:00:00+01:00,C1,voice,180
    V2,2026-03-11T10:00:00+01:00,C1,voice,90
    V3,2026-03-12T10:00:00+01:00,C1,voice,30
"""


def test_prices_in_a_unit_of_account_are_converted_at_the_period_end(tmp_path: Path) -> None:
    """XDR -> EUR 1.1520 on 31 March: 0.0525 XDR per minute is 0.0525 × 1.1520 =
    0.06048 EUR per minute. 180 + 90 + 30 s = 5 minutes: 0.18144 + 0.09072 + 0.03024 =
    0.3024 EUR (= 0.2625 XDR × 1.1520), line 0.30 EUR. Acme's 50% of net: 0.1512 -> 0.15."""
    fx = "date,from,to,rate\n2026-03-31,XDR,EUR,1.1520\n"
    out = settle(tmp_path, contract("IOT-1", "EUR", IOT), {"u.csv": CALLS}, fx=fx)
    (line,) = read_csv(out / "invoice_lines.csv")
    assert (line["amount"], line["currency"]) == ("0.30", "EUR")
    (payout,) = read_csv(out / "payout_lines.csv")
    assert payout["amount"] == "0.15"
    trace = _traces(out)[line["line_id"]]
    assert Decimal(str(trace["sum"])) == Decimal("0.3024")
    assert trace["units_of_account"] == [
        {
            "unit": "XDR",
            "name": "Special drawing right",
            "into": "EUR",
            "rate": "1.1520",
            "date": "2026-03-31",
            "table": "fx.csv",
            "arithmetic": "price in XDR × 1.1520 = price in EUR",
        }
    ]
    assert trace["rule"]["text"].endswith("0.0525 XDR per minute")  # as written
    plan = json.loads(next(out.glob("plan-*.json")).read_text(encoding="utf-8"))
    assert "0.0525" in json.dumps(plan) and plan["units_of_account"][0]["code"] == "XDR"
    # two worker processes convert alike: the same line file, byte for byte
    plans = [clearline.plan(SourceFile.read(tmp_path / "c.contract"))]
    again = tmp_path / "two"
    clearline.run(plans, [tmp_path / "u.csv"], "2026-03", fx=tmp_path / "fx.csv", out=again, workers=2)
    assert (again / "invoice_lines.csv").read_bytes() == (out / "invoice_lines.csv").read_bytes()


def test_a_rate_published_the_other_way_divides(tmp_path: Path) -> None:
    """EUR -> XDR 0.8000: 0.0525 / 0.8000 = 0.065625 EUR per minute; 5 minutes 0.328125 -> 0.33."""
    fx = "date,from,to,rate\n2026-03-31,EUR,XDR,0.8000\n"
    out = settle(tmp_path, contract("IOT-1", "EUR", IOT), {"u.csv": CALLS}, fx=fx)
    (line,) = read_csv(out / "invoice_lines.csv")
    assert line["amount"] == "0.33"
    assert Decimal(str(_traces(out)[line["line_id"]]["sum"])) == Decimal("0.328125")


def test_a_unit_of_account_without_its_rate_settles_nothing(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(clearline.ClearlineError) as error:
        settle(tmp_path, contract("IOT-1", "EUR", IOT), {"u.csv": CALLS})
    assert error.value.diagnostics[0].code == codes.MISSING_REFERENCE_DATA
    assert "need a XDR/EUR rate for 2026-03-31" in error.value.diagnostics[0].message
    assert not (tmp_path / "out" / "manifest.json").exists()
    with pytest.raises(clearline.ClearlineError):
        settle(tmp_path, contract("IOT-1", "EUR", IOT), {"u.csv": CALLS}, fx="date,from,to,rate\n")


def test_misused_units_of_account_are_errors() -> None:
    def errors(text: str) -> list[tuple[str, str]]:
        return [(d.code, d.message) for d in _check(contract("IOT-1", "EUR", text)) if d.is_error]

    five = IOT.replace("0.0525 XDR per minute", "0.05255 XDR per minute")
    assert errors(five) == [
        (codes.UNIT_OF_ACCOUNT, "0.05255 XDR has 5 decimals; the unit of account XDR is declared with 4")
    ]
    itself = IOT.replace("unit of account XDR", "unit of account EUR").replace("XDR per", "EUR per")
    assert [c for c, _ in errors(itself)] == [codes.UNIT_OF_ACCOUNT]
    record = IOT.replace("the rate of the period end", "the rate of the record date")
    assert errors(record) == [
        (codes.UNIT_OF_ACCOUNT, "prices in a unit of account are converted at the rate of the period end")
    ]
    fee = IOT.replace("0.0525 XDR per minute", "0.0525 XDR per minute, connect fee 0.0100 XDR")
    assert [c for c, _ in errors(fee)] == [codes.CURRENCY_MISMATCH]
    undeclared = IOT.replace('  unit of account XDR "Special drawing right", 4 digits,'
                             " converted at the rate of the period end\n", "")  # fmt: skip
    assert [c for c, _ in errors(undeclared)] == [codes.CURRENCY_MISMATCH]
    tiered = (
        IOT.replace("charge customer 0.0525 XDR per minute", "charge customer tiers iot")
        + "  tiers iot graduated {\n    from 0 to 100 at 0.0500 XDR per minute\n  }\n"
    )
    not_converted = (codes.UNIT_OF_ACCOUNT, "tier bands in the unit of account XDR are not converted")
    assert not_converted in errors(tiered)


def test_the_service_refuses_a_contract_in_a_unit_of_account() -> None:
    from clearline.service.core import units_of_account_refused

    plan = clearline.plan(SourceFile("iot.contract", contract("IOT-1", "EUR", IOT)))
    (refused,) = units_of_account_refused([plan])
    assert refused.code == codes.UNIT_OF_ACCOUNT
    assert "cannot rate it before the period ends" in refused.message


# --- the contract's own units -----------------------------------------------------------------

SEATS = """
  unit seat
  usage fields { service text }
  product office "Office suite" {
    matches service = "office"
    measured in seats
    clause "1 Seats" {
      charge customer 12.50 PLN per seat, first 2 seats free
      round each line half up to 0.01
    }
  }
"""


def test_a_contract_prices_per_a_unit_of_its_own(tmp_path: Path) -> None:
    """`unit seat`: 3 + 4 = 7 seats, the first 2 free: 5 × 12.50 = 62.50 PLN."""
    usage = """\
        record_id,timestamp,customer_id,service,quantity
        S1,2026-03-02T10:00:00+01:00,C1,office,3
        S2,2026-03-03T10:00:00+01:00,C1,office,4
    """
    out = settle(tmp_path, contract("OF-1", "PLN", SEATS), {"u.csv": usage})
    (line,) = read_csv(out / "invoice_lines.csv")
    assert (line["amount"], line["quantity"], line["unit"]) == ("62.50", "7", "seats")
    assert "measured in seats" in format_plan(clearline.plan(SourceFile.read(tmp_path / "c.contract")))
    from clearline.reports import render_reports

    render_reports(out, tmp_path / "docs", formats=["md"])
    invoice = (tmp_path / "docs" / "invoice-2026-03-C1.md").read_text(encoding="utf-8").replace("\xa0", " ")
    assert "| 7 seats | PLN 12.50/seat | PLN 62.50 |" in invoice  # the unit by its name, never dropped


def test_units_of_its_own_are_checked() -> None:
    def errors(text: str) -> list[tuple[str, str, str | None]]:
        return [(d.code, d.message, d.hint) for d in _check(contract("OF-1", "PLN", text)) if d.is_error]

    typo = SEATS.replace("12.50 PLN per seat", "12.50 PLN per seet")
    assert errors(typo) == [(codes.UNKNOWN_NAME, "unknown unit `seet`", "did you mean `seat`?")]
    undeclared = SEATS.replace("  unit seat\n", "")
    assert sorted((c, m) for c, m, _ in errors(undeclared)) == [
        (codes.UNKNOWN_NAME, "unknown unit `seat`"),
        (codes.UNKNOWN_NAME, "unknown unit `seats`"),
        (codes.UNKNOWN_NAME, "unknown unit `seats`"),
    ]
    builtin = SEATS.replace("  unit seat\n", "  unit seat\n  unit minute\n")
    assert [(c, m) for c, m, _ in errors(builtin)] == [(codes.DUPLICATE_NAME, "`minute` is a built-in unit")]
    other = SEATS.replace("12.50 PLN per seat", "12.50 PLN per minute")
    assert [c for c, _, _ in errors(other)] == [codes.UNIT_MISMATCH]


def test_a_package_price_shows_as_per_block_on_the_invoice(tmp_path: Path) -> None:
    """0.50 PLN per started block of 100 MB, counted per record: C1's 150 MB are 2 blocks,
    1.00 PLN; C2's 30 + 30 MB are 1 + 1 blocks, 1.00 PLN. The invoice says 'per block of
    100 MB' (it said 'per megabyte', and 150 MB × 0.50 is not 1.00)."""
    from clearline.reports import render_reports

    body = """
  usage fields { service text }
  product data "Data" {
    matches service = "data"
    measured in MB
    clause "1 Data" {
      charge customer 0.50 PLN per block of 100 MB
      round each line half up to 0.01
    }
  }
"""
    usage = """\
        record_id,timestamp,customer_id,service,quantity
        D1,2026-03-02T10:00:00+01:00,C1,data,150
        D2,2026-03-03T10:00:00+01:00,C2,data,30
        D3,2026-03-04T10:00:00+01:00,C2,data,30
    """
    customers = "customer_id,name,country,language,currency\nC1,Jan,PL,pl,PLN\nC2,John,PL,en,PLN\n"
    out = settle(tmp_path, contract("DB-1", "PLN", body), {"u.csv": usage}, customers=customers)
    render_reports(out, tmp_path / "docs", formats=["md"])

    def row(name: str) -> str:
        text = (tmp_path / "docs" / name).read_text(encoding="utf-8").replace("\xa0", " ")
        return next(line for line in text.splitlines() if line.startswith("| Data"))

    assert "| 150 MB | 0,50 zł za pakiet 100 MB | 1,00 zł |" in row("invoice-2026-03-C1.md")
    assert "| 60 MB | PLN 0.50 per block of 100 MB | PLN 1.00 |" in row("invoice-2026-03-C2.md")


# --- a share of the billed net ------------------------------------------------------------------

BILLED = """
  partner acme "Acme" currency PLN
  partner bolt "Bolt" currency PLN
  usage fields { service text }
  product apps "Apps" {
    matches service = "app"
    clause "1 Price" {
      charge customer 100.00 PLN
      round each line half up to 0.01
    }
    clause "2 Discount" {
      discount 10% on clause "1 Price"
      round each line half up to 0.01
    }
    clause "3 Shares" {
      pay acme 15% of billed net
      pay bolt 15% of net
      round each line half up to 0.01
    }
  }
"""


def test_a_share_of_the_billed_net_follows_the_discounts(tmp_path: Path) -> None:
    """10 purchases of 100.00 (C1 6, C2 4): charges 1,000.00, discounts 10% -60.00 and
    -40.00, billed net 900.00. Acme, 15% of the billed net: 900.00 × 15% = 135.00. Bolt,
    15% of net (each record's charge, before discounts): 10 × 15.00 = 150.00. The operator
    keeps 900.00 - 135.00 - 150.00 = 615.00."""
    rows = [f"R{i},2026-03-{i + 1:02d}T10:00:00+01:00,C{1 if i <= 6 else 2},app,1" for i in range(1, 11)]
    usage = "record_id,timestamp,customer_id,service,quantity\n" + "\n".join(rows) + "\n"
    out = settle(tmp_path, contract("AP-1", "PLN", BILLED), {"u.csv": usage})
    payouts = {r["party"]: r for r in read_csv(out / "payout_lines.csv")}
    assert {p: r["amount"] for p, r in payouts.items()} == {"acme": "135.00", "bolt": "150.00"}
    assert payouts["acme"]["description"] == "Apps: 15% of the period's billed net 900.00"
    (kept,) = read_csv(out / "retained_lines.csv")
    assert kept["amount"] == "615.00"
    trace = _traces(out)[payouts["acme"]["line_id"]]
    assert trace["arithmetic"] == "900.00 × 15% = 135.0000"
    assert len(trace["from_lines"]["discounts"]) == 2
    text = format_plan(clearline.plan(SourceFile.read(tmp_path / "c.contract")))
    assert "15% of the period's billed net (its invoice lines after the product's discounts)" in text


def test_the_billed_net_computes_only_with_amounts_fixed_for_the_period() -> None:
    """A rule that reads the billed net is priced once for the period: beside it, only
    money not priced per unit, numbers, arithmetic and comparisons; no modifiers; and a
    charge cannot read it (it is what the charges come to)."""

    def errors(text: str) -> list[tuple[str, str]]:
        return [(d.code, d.message) for d in _check(contract("AP-1", "PLN", text)) if d.is_error]

    per_record = (
        codes.MISPLACED_RULE,
        "a rule that reads the billed net is priced once for the period; this amount is read "
        "per record or subscriber",
    )
    once = (
        codes.MISPLACED_RULE,
        "a share of the billed net is priced once for the period; it takes no modifiers",
    )
    rule = "pay acme 15% of billed net"
    for fixed in (" + 1.00 PLN", " * 2", " - 10% of billed gross"):
        assert errors(BILLED.replace(rule, rule + fixed)) == [], fixed
    assert errors(BILLED.replace(rule, "pay acme the larger of 15% of billed net and 100.00 PLN")) == []
    assert errors(BILLED.replace(rule, rule + " + 10% of net")) == [per_record]
    assert errors(BILLED.replace(rule, rule + " + 0.10 PLN per event")) == [per_record]
    assert errors(BILLED.replace(rule, rule + " - the payout to bolt")) == [
        (codes.MISPLACED_RULE, "`the payout to` is read per rating unit; this rule is priced once per period")
    ]
    assert errors(BILLED.replace(rule, rule + ", capped at 100.00 PLN per period")) == [once]
    charged = BILLED.replace("charge customer 100.00 PLN", "charge customer 10% of billed net")
    assert (
        codes.MISPLACED_RULE,
        "a share of the billed net is what the charges come to after the discounts; a charge cannot read it",
    ) in errors(charged)


def test_the_billed_net_in_arithmetic_and_the_larger_of(tmp_path: Path) -> None:
    """The purchases of the test above: charges 1,000.00, discounts -100.00, billed net
    900.00 (no VAT: billed gross 900.00 too). Worked out once for the period, then rounded:
    - `the larger of 15% of billed net and 150.00 PLN`: 135.00 < 150.00, so 150.00;
    - `10% of billed net - 20.00 PLN`: 90.00 - 20.00 = 70.00;
    - `(5% of billed gross) * 3`: 45.00 × 3 = 135.00.
    The operator keeps 900.00 - 150.00 - 70.00 - 135.00 - 150.00 (bolt) = 395.00."""
    text = BILLED.replace(
        "pay acme 15% of billed net",
        "pay acme the larger of 15% of billed net and 150.00 PLN\n"
        "      pay acme 10% of billed net - 20.00 PLN\n"
        "      pay acme (5% of billed gross) * 3",
    )
    rows = [f"R{i},2026-03-{i + 1:02d}T10:00:00+01:00,C{1 if i <= 6 else 2},app,1" for i in range(1, 11)]
    usage = "record_id,timestamp,customer_id,service,quantity\n" + "\n".join(rows) + "\n"
    out = settle(tmp_path, contract("AP-1", "PLN", text), {"u.csv": usage})
    acme = sorted(r["amount"] for r in read_csv(out / "payout_lines.csv") if r["party"] == "acme")
    assert acme == ["135.00", "150.00", "70.00"]
    (kept,) = read_csv(out / "retained_lines.csv")
    assert kept["amount"] == "395.00"
    traces = _traces(out)
    larger = next(
        t for t in traces.values() if str(t.get("formula", "")).startswith("the larger of 15% of billed net")
    )
    assert larger["amount"] == "150.00"
    assert str(larger["arithmetic"]).startswith("billed net 900.00, billed gross 900.00: ")
    assert larger["shares"] == [{"rate": "0.15", "of": "net"}]
    text_plan = format_plan(clearline.plan(SourceFile.read(tmp_path / "c.contract")))
    assert "amount    10% of billed net - 20.00 PLN, once per period" in text_plan


# --- the payout to a party, as a base ----------------------------------------------------------

CHAINED = """
  partner studio "Studio" currency PLN
  partner ref    "Referrer" currency PLN
  usage fields { service text
                 amount decimal }
  product games "Games" {
    matches service = "game"
    clause "1 Price" {
      charge customer the value of amount in PLN
      round each line half up to 0.01
    }
    clause "2 Studio" {
      pay studio 70% of net
      round each line half up to 0.01
    }
    clause "3 Referrer" {
      pay ref 10% of (net - the payout to studio)
      round each line half up to 0.01
    }
  }
"""


def test_a_payout_can_be_a_share_of_what_is_left_after_another(tmp_path: Path) -> None:
    """Purchases of 10.00 and 25.00: the studio gets 70% of each, 7.00 + 17.50 = 24.50;
    the referrer 10% of the net less the studio's payout, 10% × 3.00 + 10% × 7.50 =
    0.30 + 0.75 = 1.05; the operator keeps 35.00 - 24.50 - 1.05 = 9.45."""
    usage = """\
        record_id,timestamp,customer_id,service,amount
        G1,2026-03-02T10:00:00+01:00,C1,game,10.00
        G2,2026-03-03T10:00:00+01:00,C1,game,25.00
    """
    out = settle(tmp_path, contract("GS-1", "PLN", CHAINED), {"u.csv": usage})
    payouts = {r["party"]: r for r in read_csv(out / "payout_lines.csv")}
    assert {p: r["amount"] for p, r in payouts.items()} == {"ref": "1.05", "studio": "24.50"}
    (kept,) = read_csv(out / "retained_lines.csv")
    assert kept["amount"] == "9.45"
    shown = _traces(out)[payouts["ref"]["line_id"]]["units"]["shown"]  # type: ignore[index]
    # each record's arithmetic, exact (the lines round): 70% of 10.00 is 7.000 before rounding
    assert shown[0]["arithmetic"] == "10% × ((net 10.00) - (the payout to studio 7.000) = 3.000) = 0.3000"


def test_the_payout_to_a_party_must_be_paid_before() -> None:
    def errors(text: str) -> list[tuple[str, str]]:
        return [(d.code, d.message) for d in _check(contract("GS-1", "PLN", text)) if d.is_error]

    after = CHAINED.replace("the payout to studio", "the payout to ref")
    assert errors(after) == [(codes.UNKNOWN_NAME, "no pay rule before this one pays ref per rating unit")]
    charged = CHAINED.replace("the value of amount in PLN", "the payout to studio")
    assert (codes.MISPLACED_RULE, "a customer charge cannot be the payout to studio") in errors(charged)


def test_a_rule_priced_once_per_line_reads_no_single_record() -> None:
    """`tiers t + the value of amount in PLN` is priced once per line, from the line's
    totals, where no one record's value is: it was an internal error at settlement, and is
    now E0405 at validation; so is a rate table's row. A price per minute there is E0307
    saying why (it said 'a subscription is priced per month')."""
    body = """
  partner acme "Acme" currency PLN
  usage fields { service text
                 amount decimal }
  tiers t graduated {
    from 0 to 100 at 0.01 PLN per minute
    from 100 at 0.005 PLN per minute
  }
  rate table r by value of service {
    "x" 0.01 PLN per minute
  }
  product p "P" {
    matches service = "x"
    measured in minutes
    clause "1" {
      charge customer 1.00 PLN
      round each line half up to 0.01
    }
    clause "2" {
      RULE
      round each line half up to 0.01
    }
  }
"""

    def errors(rule: str) -> list[tuple[str, str]]:
        text = contract("X-1", "PLN", body.replace("RULE", rule))
        return [(d.code, d.message) for d in _check(text) if d.is_error]

    assert errors("pay acme tiers t + the value of amount in PLN") == [
        (
            codes.MISPLACED_RULE,
            "`the value of amount` is one record's; this rule is priced once per line from its totals"
            " (it uses tiers or an aggregate)",
        )
    ]
    assert [c for c, _ in errors("pay acme tiers t + the rate from table r")] == [codes.MISPLACED_RULE]
    (per_minute,) = errors("pay acme tiers t + 0.01 PLN per minute")
    assert per_minute[0] == codes.UNIT_MISMATCH and "priced once per line" in per_minute[1]


# --- records that span a rate change ------------------------------------------------------------

CALLS_CONTRACT = """contract VO-1 "Voice" {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone UTC
  operator op "Operator" currency EUR
  SPLIT
  usage fields { service text }
  rate table voice by value of service {
    "call" 0.0600 EUR per minute, increments 60/60
  }
  product calls "Calls" {
    matches service = "call"
    measured in seconds
    clause "1 Calls" {
      charge customer the rate from table voice
      round each line half up to 0.01
    }
  }
}
"""
AMENDMENT = """amendment of VO-1 from 2026-03-15 "Cheaper calls" {
  version 2
  change table voice {
    "call" 0.0300 EUR per minute, increments 60/60
  }
}
"""


def _calls(tmp_path: Path, split: bool) -> dict[str, list[dict[str, str]]]:
    said = "split records at rate changes, increments per part" if split else ""
    text = CALLS_CONTRACT.replace("SPLIT", said)
    (tmp_path / "vo.contract").write_text(text, encoding="utf-8")
    (tmp_path / "vo-2.contract").write_text(AMENDMENT, encoding="utf-8")
    (tmp_path / "u.csv").write_text(
        "record_id,timestamp,customer_id,service,quantity\n"
        "K1,2026-03-14T23:50:00+00:00,C1,call,1500\n"  # 25 minutes across midnight
        "K2,2026-03-10T10:00:00+00:00,C1,call,61\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([tmp_path / "vo.contract", tmp_path / "vo-2.contract"])
    out = tmp_path / ("split" if split else "whole")
    clearline.run(plans, [tmp_path / "u.csv"], "2026-03", out=out)
    return {"lines": read_csv(out / "invoice_lines.csv"), "rated": read_csv(out / "rated_records.csv")}


def test_a_call_across_a_rate_change_is_split_when_the_contract_says_so(tmp_path: Path) -> None:
    """K1 starts 23:50 on 14 March and lasts 1,500 s; version 2 (0.03 a minute, from
    15 March) replaces 0.06. By default the rate at the start prices it whole: 1,500 s ->
    1,500 s billed (25 whole minutes) × 0.06 = 1.50, plus K2 61 s -> 120 s × 0.06 = 0.12:
    version 1's line 1.62. Split: 600 s before midnight at 0.06 = 0.60 (+ K2 0.12 = 0.72 on
    version 1) and 900 s after it at 0.03 = 0.45 on version 2, increments per part."""
    whole = _calls(tmp_path, split=False)
    assert [(ln["contract_version"], ln["amount"]) for ln in whole["lines"]] == [("1", "1.62")]
    split = _calls(tmp_path, split=True)
    got = sorted((ln["contract_version"], ln["quantity"], ln["amount"]) for ln in split["lines"])
    assert got == [("1", "720", "0.72"), ("2", "900", "0.45")]
    k1 = [r for r in split["rated"] if r["record_id"] == "K1"]
    assert len(k1) == 2  # one record, a part on each version's line


def test_split_at_rate_changes_without_a_timed_product_has_no_effect() -> None:
    text = (
        CALLS_CONTRACT.replace("SPLIT", "split records at rate changes, increments per part")
        .replace("    measured in seconds\n", "")
        .replace('"call" 0.0600 EUR per minute, increments 60/60', '"call" 0.0600 EUR per event')
    )
    errors = [(d.code, d.message) for d in _check(text) if d.is_error]
    said = "`split records at rate changes` has no effect: no product is measured in time"
    assert errors == [(codes.MISPLACED_RULE, said)]
