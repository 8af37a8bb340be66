"""Language constructs settled end to end, each with hand-computed figures."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import clearline
from clearline.source import SourceFile
from conftest import CONTRACTS, DATA, read_csv

HEADER = """\
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in {cur}, time zone Europe/Warsaw
  operator telcopl "TelcoPL S.A." currency PLN
"""


def contract(cid: str, cur: str, body: str) -> str:
    return f'contract {cid} "test" {{\n{HEADER.format(cur=cur)}{textwrap.dedent(body)}\n}}\n'


def settle(
    tmp_path: Path, text: str, usage: dict[str, str], fx: str | None = None, customers: str | None = None
) -> Path:
    (tmp_path / "c.contract").write_text(text, encoding="utf-8")
    files = []
    for name, content in usage.items():
        (tmp_path / name).write_text(textwrap.dedent(content), encoding="utf-8")
        files.append(tmp_path / name)
    if fx:
        (tmp_path / "fx.csv").write_text(textwrap.dedent(fx), encoding="utf-8")
    if customers:
        (tmp_path / "customers.csv").write_text(textwrap.dedent(customers), encoding="utf-8")
    plan = clearline.plan(SourceFile.read(tmp_path / "c.contract"))
    out = tmp_path / "out"
    clearline.run(
        [plan],
        files,
        "2026-03",
        fx=tmp_path / "fx.csv" if fx else None,
        customers=tmp_path / "customers.csv" if customers else None,
        out=out,
    )
    return out


RETAIL = contract(
    "RV-1",
    "PLN",
    """
  partner acme "Acme Ltd" currency EUR
  usage fields {
    service text
    zone    text
  }
  product calls "Calls" {
    matches service = "voice"
    measured in seconds
    clause "2.1 Call price" {
      charge customer 0.30 PLN per minute, increments 60/60, connect fee 0.10 PLN
      round each record half up to 0.01
      round each line half up to 0.01
      vat 23%
      one line per zone
    }
    clause "3.1 Share" {
      pay acme 10% of gross
      round each line half even to 0.01
    }
    clause "3.2 Currency" {
      pay acme in EUR at the rate of the record date, round half up to 0.01
    }
  }
""",
)

RETAIL_USAGE = """\
    record_id,timestamp,customer_id,service,zone,quantity
    R1,2026-03-02T10:00:00+01:00,C1,voice,A,61
    R2,2026-03-02T11:00:00+01:00,C1,voice,B,0
    R3,2026-03-03T09:00:00+01:00,C2,voice,A,30
    R4,2026-03-31T23:30:00+02:00,C2,voice,A,90
    R5,2026-04-01T00:10:00+02:00,C2,voice,A,90
"""

RETAIL_FX = """\
    date,from,to,rate
    2026-03-02,EUR,PLN,4.30
    2026-03-03,EUR,PLN,4.25
    2026-03-31,EUR,PLN,4.20
"""


def test_usage_charge_with_increments_connect_fee_vat_and_groups(tmp_path: Path) -> None:
    out = settle(tmp_path, RETAIL, {"u.csv": RETAIL_USAGE}, fx=RETAIL_FX)
    rated = {
        r["record_id"]: (r["billed_quantity"], r["amount"])
        for r in read_csv(out / "rated_records.csv")
        if r["clause"] == "2.1 Call price"
    }
    # 61 s at 60/60 bills 120 s: 120 x 0.30 / 60 + 0.10 connect = 0.70; 0 s is unanswered: 0.00.
    assert rated == {"R1": ("120", "0.70"), "R2": ("0", "0.00"), "R3": ("60", "0.40"), "R4": ("120", "0.70")}
    invoices = {
        (r["party"], r["description"].split(":")[0]): (r["amount"], r["vat_amount"], r["gross_amount"])
        for r in read_csv(out / "invoice_lines.csv")
    }
    assert invoices == {
        ("C1", "Calls, zone A"): ("0.70", "0.16", "0.86"),
        ("C1", "Calls, zone B"): ("0.00", "0.00", "0.00"),
        ("C2", "Calls, zone A"): ("1.10", "0.25", "1.35"),
    }


def test_share_of_gross_and_record_date_conversion(tmp_path: Path) -> None:
    out = settle(tmp_path, RETAIL, {"u.csv": RETAIL_USAGE}, fx=RETAIL_FX)
    (payout,) = read_csv(out / "payout_lines.csv")
    # 10% of gross per record: 0.0861 + 0 + 0.0492 + 0.0861 = 0.2214 -> 0.22 (half even)
    assert payout["amount"] == "0.22"
    # each day at its own rate: 0.0861/4.30 + 0.0492/4.25 + 0.0861/4.20 = 0.0520997... -> 0.05 EUR
    assert (payout["paid_amount"], payout["paid_currency"]) == ("0.05", "EUR")
    assert payout["fx_rate"] == ""  # several rates: see the trace
    trace = next(
        json.loads(t)
        for t in (out / "trace.jsonl").read_text().splitlines()
        if json.loads(t)["line_id"] == payout["line_id"]
    )
    assert trace["fx"]["arithmetic"] == [
        "2026-03-02: 0.08610 PLN / 4.30 = 0.020023255813953488372093023255813953488372093023256",
        "2026-03-03: 0.04920 PLN / 4.25 = 0.011576470588235294117647058823529411764705882352941",
        "2026-03-31: 0.08610 PLN / 4.20 = 0.0205",
    ]
    (retained,) = read_csv(out / "retained_lines.csv")
    assert retained["amount"] == "1.58"  # 1.80 net revenue - 0.22


def test_out_of_period_record_is_rejected_with_the_period(tmp_path: Path) -> None:
    out = settle(tmp_path, RETAIL, {"u.csv": RETAIL_USAGE}, fx=RETAIL_FX)
    (reject,) = read_csv(out / "rejects.csv")
    assert (reject["record_id"], reject["line"], reject["field"]) == ("R5", "6", "timestamp")
    assert reject["reason"].startswith("outside the settled period 2026-03")


SMS = contract(
    "SMS-1",
    "EUR",
    """
  partner carrier "Carrier" currency EUR
  usage fields {
    service text
    zone    text
  }
  rate table sms by value of zone {
    "EU"   0.05 EUR per event
    "ROW"  0.20 EUR per event
  }
  product sms "SMS" {
    matches service = "sms"
    clause "1 SMS" {
      pay carrier the rate from table sms
      round each line half up to 0.01
    }
  }
""",
)


def test_value_keyed_table_and_missing_rate(tmp_path: Path) -> None:
    usage = """\
        record_id,timestamp,customer_id,service,zone
        S1,2026-03-01T00:00:00+01:00,C1,sms,EU
        S2,2026-03-01T00:00:01+01:00,C1,sms,EU
        S3,2026-03-01T00:00:02+01:00,C1,sms,EU
        S4,2026-03-01T00:00:03+01:00,C1,sms,ROW
        S5,2026-03-01T00:00:04+01:00,C1,sms,XX
        S6,2026-03-01T00:00:05+01:00,C1,mms,EU
    """
    out = settle(tmp_path, SMS, {"u.csv": usage})
    (payout,) = read_csv(out / "payout_lines.csv")
    assert payout["amount"] == "0.35"
    (reject,) = read_csv(out / "rejects.csv")
    assert reject["reason"] == "no rate in table sms for zone XX"
    (unmatched,) = read_csv(out / "unmatched.csv")
    assert unmatched["record_id"] == "S6"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] | {"lines": None} == {
        "read": 6,
        "rated": 4,
        "rejected": 1,
        "unmatched": 1,
        "routed": 0,
        "reconciled": True,
        "lines": None,
    }
    assert manifest["status"] == "completed with rejects"


def test_jsonl_usage_gives_the_same_lines_as_csv(tmp_path: Path) -> None:
    rows = [("S1", "EU"), ("S2", "ROW")]
    csv_text = "record_id,timestamp,customer_id,service,zone\n" + "".join(
        f"{r},2026-03-05T12:00:00+01:00,C1,sms,{z}\n" for r, z in rows
    )
    jsonl = "".join(
        json.dumps(
            {
                "record_id": r,
                "timestamp": "2026-03-05T12:00:00+01:00",
                "customer_id": "C1",
                "service": "sms",
                "zone": z,
            }
        )
        + "\n"
        for r, z in rows
    )
    a = settle(tmp_path / "a", SMS, {"u.csv": csv_text}) if (tmp_path / "a").mkdir() is None else None
    b = settle(tmp_path / "b", SMS, {"u.jsonl": jsonl}) if (tmp_path / "b").mkdir() is None else None
    assert a is not None and b is not None
    assert (a / "payout_lines.csv").read_bytes() == (b / "payout_lines.csv").read_bytes()
    assert read_csv(a / "payout_lines.csv")[0]["amount"] == "0.25"


SUBS = contract(
    "SUB-1",
    "EUR",
    """
  usage fields {
    product text
    event   text
  }
  product box "TV box" {
    matches product = "box"
    subscription starts when event = "on", ends when event = "off"
    clause "1 Rental" {
      charge customer 1.00 EUR per day
      round each line half up to 0.01
    }
    clause "2 Service" {
      charge customer 10.00 EUR per month
      round each line half up to 0.01
    }
  }
""",
)


def test_subscription_per_day_and_unprorated_month(tmp_path: Path) -> None:
    usage = """\
        record_id,timestamp,customer_id,product,event
        B1,2026-03-05T10:00:00+01:00,C1,box,on
        B2,2026-03-15T10:00:00+01:00,C1,box,off
        B3,2026-03-20T10:00:00+01:00,C1,box,on
        B4,2026-02-01T10:00:00+01:00,C2,box,on
        B5,2026-02-10T10:00:00+01:00,C2,box,off
    """
    out = settle(tmp_path, SUBS, {"u.csv": usage})
    lines = {
        (r["party"], r["clause"]): (r["quantity"], r["amount"]) for r in read_csv(out / "invoice_lines.csv")
    }
    # C1: 5..14 March (10 days) and 20..31 March (12 days) = 22 days; C2 ended in February.
    assert lines == {("C1", "1 Rental"): ("22", "22.00"), ("C1", "2 Service"): ("22", "10.00")}
    (retained,) = read_csv(out / "retained_lines.csv")
    assert retained["amount"] == "32.00"


def test_duplicate_across_files_names_the_first(tmp_path: Path) -> None:
    one = "record_id,timestamp,customer_id,service,zone\nS1,2026-03-05T12:00:00+01:00,C1,sms,EU\n"
    two = "record_id,timestamp,customer_id,service,zone\nS1,2026-03-06T12:00:00+01:00,C1,sms,EU\n"
    out = settle(tmp_path, SMS, {"one.csv": one, "two.csv": two})
    (reject,) = read_csv(out / "rejects.csv")
    assert reject["file"].endswith("two.csv")
    assert reject["reason"].startswith("duplicate record id: first read at ")
    assert reject["reason"].endswith("one.csv:2")


def test_unknown_customer_is_rejected_when_customers_are_given(tmp_path: Path) -> None:
    usage = "record_id,timestamp,customer_id,service,zone\nS1,2026-03-05T12:00:00+01:00,C9,sms,EU\n"
    customers = "customer_id,name,country,language,currency\nC1,Anna,PL,pl,PLN\n"
    out = settle(tmp_path, SMS, {"u.csv": usage}, customers=customers)
    (reject,) = read_csv(out / "rejects.csv")
    assert reject["reason"] == "customer C9 is not in the customers file"


def test_missing_fx_rate_fails_the_run_with_a_diagnostic(tmp_path: Path) -> None:
    with pytest.raises(clearline.ClearlineError) as info:
        settle(tmp_path, RETAIL, {"u.csv": RETAIL_USAGE}, fx="date,from,to,rate\n2026-03-02,EUR,PLN,4.30\n")
    (diag,) = info.value.diagnostics
    assert diag.code == "E0503"
    assert diag.message == "no EUR/PLN rate for 2026-03-03 in fx.csv"
    assert not (tmp_path / "out" / "manifest.json").exists()


# --- allowances, blocks, limits, discounts, splits, withholding -------------------------

DATA_USAGE = """\
    record_id,timestamp,customer_id,service,sim,quantity
    D1,2026-03-02T10:00:00+01:00,C1,data,A,150
    D2,2026-03-03T10:00:00+01:00,C1,data,A,30
    D3,2026-03-04T10:00:00+01:00,C1,data,B,50
    D4,2026-03-05T10:00:00+01:00,C1,data,C,300
"""


def data_contract(charge: str, extra: str = "") -> str:
    return contract(
        "MD-1",
        "EUR",
        f"""
      partner acme "Acme" currency EUR
      partner bolt "Bolt" currency EUR
      usage fields {{
        service text
        sim     text
      }}
      product data "Data" {{
        matches service = "data"
        measured in MB
        clause "1 Data" {{
          {charge}
          round each line half up to 0.01
          vat 20%
        }}
        {extra}
      }}
    """,
    )


@pytest.mark.parametrize(
    ("allowance", "amount"),
    [
        ("first 100 MB free", "4.30"),  # 530 - 100 = 430 MB
        ("first 100 MB free for each sim", "2.80"),  # A 180 - 100, B 50 - 50, C 300 - 100 = 280 MB
        ("first 100 MB free for each sim, pooled", "2.30"),  # 530 - 3 x 100 = 230 MB
    ],
)
def test_allowances(tmp_path: Path, allowance: str, amount: str) -> None:
    out = settle(
        tmp_path, data_contract(f"charge customer 0.01 EUR per MB, {allowance}"), {"u.csv": DATA_USAGE}
    )
    (line,) = read_csv(out / "invoice_lines.csv")
    assert line["amount"] == amount


def test_price_per_started_block(tmp_path: Path) -> None:
    out = settle(
        tmp_path, data_contract("charge customer 0.50 EUR per block of 100 MB"), {"u.csv": DATA_USAGE}
    )
    rated = [r["amount"] for r in read_csv(out / "rated_records.csv")]
    assert rated == ["1.00", "0.50", "0.50", "1.50"]  # 150 MB: 2 blocks; 30 and 50: 1; 300: 3


def test_discount_and_split_with_largest_remainder(tmp_path: Path) -> None:
    extra = """
        clause "3 Discount" {
          discount 10% on clause "1 Data"
          round each line half up to 0.01
        }
        clause "4 Split" {
          split the period's net {
            acme 33.33%
            bolt 33.33%
            telcopl 33.34%
          }
        }
    """
    text = data_contract("charge customer 0.01 EUR per MB, first 100 MB free for each sim", extra)
    out = settle(tmp_path, text, {"u.csv": DATA_USAGE})
    invoices = {
        r["clause"]: (r["amount"], r["vat_amount"], r["gross_amount"])
        for r in read_csv(out / "invoice_lines.csv")
    }
    assert invoices == {"1 Data": ("2.80", "0.56", "3.36"), "3 Discount": ("-0.28", "-0.06", "-0.34")}
    # net 2.52: exact shares 0.839916, 0.839916, 0.840168; rounded down 0.83, 0.83, 0.84 (2.50);
    # the two residual cents go to the largest remainders: acme and bolt
    payouts = {r["party"]: r["amount"] for r in read_csv(out / "payout_lines.csv")}
    assert payouts == {"acme": "0.84", "bolt": "0.84"}
    (kept,) = read_csv(out / "retained_lines.csv")
    assert (kept["party"], kept["amount"]) == ("telcopl", "0.84")


def test_split_with_a_named_residual_party(tmp_path: Path) -> None:
    extra = """
        clause "4 Split" {
          split the period's net {
            acme 33.33%
            bolt 33.33%
            telcopl 33.34%
            residual to telcopl
          }
        }
    """
    text = data_contract("charge customer 0.01 EUR per MB, first 100 MB free for each sim", extra)
    out = settle(tmp_path, text, {"u.csv": DATA_USAGE})
    amounts = {
        r["party"]: r["amount"]
        for r in read_csv(out / "payout_lines.csv") + read_csv(out / "retained_lines.csv")
    }
    assert amounts == {"acme": "0.93", "bolt": "0.93", "telcopl": "0.94"}  # net 2.80: 0.9332.. down


FEES = contract(
    "FEE-1",
    "EUR",
    """
  partner payhub "PayHub" currency EUR
  usage fields {
    service text
    amount  decimal
  }
  product buys "Purchases" {
    matches service = "buy"
    clause "1 Price" {
      charge customer the value of amount in EUR
      round each line half up to 0.01
    }
    clause "2 Fee" {
      pay payhub 2.5% of net + 0.10 EUR, at least 0.20 EUR, at most 1.00 EUR%LIMIT%
      round each record half up to 0.01
      round each line half up to 0.01
    }
    %EXTRA%
  }
""",
)

FEE_USAGE = """\
    record_id,timestamp,customer_id,service,amount
    F1,2026-03-02T10:00:00+01:00,C1,buy,2.00
    F2,2026-03-03T10:00:00+01:00,C1,buy,10.00
    F3,2026-03-04T10:00:00+01:00,C1,buy,50.00
"""


@pytest.mark.parametrize(
    ("limit", "extra", "payout"),
    [
        ("", "", "1.55"),  # 0.15 -> 0.20 (at least), 0.35, 1.35 -> 1.00 (at most)
        (", capped at 1.00 EUR per period", "", "1.00"),
        (", at least 5.00 EUR per period", "", "5.00"),
    ],
)
def test_per_transaction_fee_clamped_then_summed(tmp_path: Path, limit: str, extra: str, payout: str) -> None:
    out = settle(tmp_path, FEES.replace("%LIMIT%", limit).replace("%EXTRA%", extra), {"u.csv": FEE_USAGE})
    fees = [r["amount"] for r in read_csv(out / "rated_records.csv") if r["clause"] == "2 Fee"]
    assert fees == ["0.20", "0.35", "1.00"]
    (line,) = [r for r in read_csv(out / "payout_lines.csv") if r["kind"] == "payout"]
    assert line["amount"] == payout


def test_withholding_is_a_line_under_the_payout(tmp_path: Path) -> None:
    extra = 'clause "9 Tax" {\n      withhold 10% tax from payhub\n    }'
    out = settle(tmp_path, FEES.replace("%LIMIT%", "").replace("%EXTRA%", extra), {"u.csv": FEE_USAGE})
    lines = {r["kind"]: r["amount"] for r in read_csv(out / "payout_lines.csv")}
    assert lines == {"payout": "1.55", "withholding": "-0.16"}  # 10% of 1.55 = 0.155 -> 0.16
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["conservation"]["ok"] is True
    assert manifest["counts"]["lines"]["withholding"] == 1


# --- revenue-share bases -----------------------------------------------------------------

BUNDLE = contract(
    "BN-1",
    "PLN",
    """
  partner tvco    "TV Co"    currency PLN
  partner musicco "Music Co" currency PLN
  usage fields {
    product text
    event   text
  }
  product family "Family bundle" {
    matches product = "family"
    subscription starts when event = "on", ends when event = "off"
    components tv 30.00 PLN, music 20.00 PLN, cloud 10.00 PLN
    deduction platform "Platform fee" is 2.00 PLN per month
    deduction bad_debt "Bad-debt allowance" is 3% of net

    clause "1 Price" {
      charge customer 49.99 PLN per month
      round each line half up to 0.01
      vat 23%
    }
    clause "5.1 TV" {
      pay tvco 60% of the allocated net of tv
      round each line half up to 0.01
    }
    clause "5.2 Music" {
      pay musicco 50% of net after deductions
      round each line half up to 0.01
    }
  }
""",
)

BUNDLE_USAGE = """\
    record_id,timestamp,customer_id,product,event
    B1,2026-02-01T00:00:00+01:00,C1,family,on
    B2,2026-02-01T00:00:00+01:00,C2,family,on
"""


def test_bundle_allocation_and_deductions(tmp_path: Path) -> None:
    # 49.99 by 30:20:10 -> 24.995, 16.663.., 8.331..: down 24.99, 16.66, 8.33 (49.98), one cent to the
    # largest remainder (tv: 0.005) -> tv 25.00; 60% of it = 15.00 per subscriber, 30.00 for two
    # music: 50% of (49.99 - 2.00 - 3% of 49.99 = 46.4903) = 23.24515 per subscriber, 46.4903 for two
    out = settle(tmp_path, BUNDLE, {"u.csv": BUNDLE_USAGE})
    payouts = {r["party"]: r["amount"] for r in read_csv(out / "payout_lines.csv")}
    assert payouts == {"tvco": "30.00", "musicco": "46.49"}
    trace = next(
        json.loads(t)
        for t in (out / "trace.jsonl").read_text().splitlines()
        if json.loads(t)["party"] == "musicco"
    )
    assert trace["units"]["shown"][0]["arithmetic"] == (
        "50% × (((net 49.99) - (2.00 PLN per month) = 47.99) - (3% × net 49.99 = 1.4997) = 46.4903)"
        " = 23.24515"
    )


STUDIO = contract(
    "ST-1",
    "PLN",
    """
  partner studio "Studio" currency PLN
  usage fields {
    service text
    amount  decimal
  }
  tiers studio_share graduated {
    from 0.00 PLN   to 100.00 PLN  at 70%
    from 100.00 PLN                at 80%
  }
  product games "Games" {
    matches service = "game"
    clause "1 Price" {
      charge customer the value of amount in PLN
      round each line half up to 0.01
    }
    clause "2 Share" {
      pay studio tiers studio_share of net
      round each line half up to 0.01
    }
  }
""",
)


def test_tiered_revenue_share_on_the_period_net(tmp_path: Path) -> None:
    usage = """\
        record_id,timestamp,customer_id,service,amount
        G1,2026-03-02T10:00:00+01:00,C1,game,60.00
        G2,2026-03-03T10:00:00+01:00,C2,game,90.00
    """
    out = settle(tmp_path, STUDIO, {"u.csv": usage})
    (line,) = read_csv(out / "payout_lines.csv")
    assert line["amount"] == "110.00"  # 70% of the first 100.00 + 80% of the next 50.00, on the line's 150.00
    (kept,) = read_csv(out / "retained_lines.csv")
    assert kept["amount"] == "40.00"


# --- commitments prorated, waterfall steps per transaction and of a named step -------------


def test_a_commitment_is_prorated_when_the_contract_starts_mid_period(tmp_path: Path) -> None:
    text = (CONTRACTS / "fleetiot.contract").read_text(encoding="utf-8")
    text = text.replace("effective 2026-01-01 until 2027-01-01", "effective 2026-03-16 until 2027-01-01")
    text = text.replace('on clause "2.2 Data"', 'on clause "2.2 Data", prorated by active days')
    text = text.split("  example ")[0] + "}\n"
    usage = (
        "record_id,timestamp,customer_id,service,quantity,unit,active_sims\n"
        "X1,2026-03-20T12:00:00+01:00,B-2001,data,100000,MB,10\n"
    )
    out = settle(tmp_path, text, {"u.csv": usage})
    got = {r["clause"]: r["amount"] for r in read_csv(out / "invoice_lines.csv")}
    # 16 of 31 days in force: 9,000.00 x 16 / 31 = 4,645.16...; data 100,000 x 0.0040 = 400.00
    assert got == {"2.1 SIM fee": "8.00", "2.2 Data": "400.00", "2.3 Commitment": "4245.16"}
    # the description states the commitment as written and prorated, not with 50 digits
    (true_up,) = [r for r in read_csv(out / "invoice_lines.csv") if r["clause"] == "2.3 Commitment"]
    assert "(9000.00 × 16/31 contract days committed, 400.00 charged)" in true_up["description"]


PRORATED_MINIMUMS = contract(
    "TV-1",
    "PLN",
    """
  usage fields {
    product text
    event   text
  }
  product tv "TV" {
    matches product = "tv"
    subscription starts when event = "activate", ends when event = "deactivate"
    clause "1 Price" {
      charge customer 31.00 PLN per month, prorated by active days, at least 40.00 PLN per period
      round each line half up to 0.01
    }
    clause "2 Commitment" {
      minimum spend 62.00 PLN per month on clause "1 Price", prorated by active days
      round each line half up to 0.01
    }
  }
""",
)


def test_minimums_of_a_subscription_are_prorated_by_each_subscribers_active_days(tmp_path: Path) -> None:
    """March 2026 has 31 days. A is active all month (since February), B from 22 March
    (10 days: 22..31).

    A: 31.00 per month, raised to the minimum 40.00; committed 62.00, true-up 62.00 - 40.00 = 22.00.
    B: 31.00 × 10 / 31 = 10.00, below its minimum 40.00 × 10 / 31 = 12.9032... -> 12.90;
       committed 62.00 × 10 / 31 = 20.00, true-up 20.00 - 12.90 = 7.10.
    (Without proration per subscriber, B paid the whole 40.00 and a true-up of 22.00.)"""
    usage = """\
        record_id,timestamp,customer_id,product,event
        E1,2026-02-10T09:00:00+01:00,A,tv,activate
        E2,2026-03-22T00:00:00+01:00,B,tv,activate
    """
    out = settle(tmp_path, PRORATED_MINIMUMS, {"u.csv": usage})
    got = {(r["party"], r["clause"]): r["amount"] for r in read_csv(out / "invoice_lines.csv")}
    assert got == {
        ("A", "1 Price"): "40.00",
        ("A", "2 Commitment"): "22.00",
        ("B", "1 Price"): "12.90",
        ("B", "2 Commitment"): "7.10",
    }
    lines = {(r["party"], r["clause"]): r for r in read_csv(out / "invoice_lines.csv")}
    description = lines[("B", "2 Commitment")]["description"]
    assert "(62.00 × 10/31 active days committed, 12.90 charged)" in description
    assert "(62.00 committed, 40.00 charged)" in lines[("A", "2 Commitment")]["description"]
    traces = {t["line_id"]: t for t in map(json.loads, (out / "trace.jsonl").read_text().splitlines())}
    price = traces[lines[("B", "1 Price")]["line_id"]]
    shown = json.dumps(price, ensure_ascii=False)
    assert "raised to the minimum of 40.00 × 10/31 active days = 12.9032258" in shown
    true_up = traces[lines[("B", "2 Commitment")]["line_id"]]
    assert true_up["arithmetic"].startswith("62.00 × 10 / 31 active days = 20")


def test_compile_says_minimums_are_prorated_per_subscriber(tmp_path: Path) -> None:
    from clearline.compiler.printer import format_plan

    (tmp_path / "c.contract").write_text(PRORATED_MINIMUMS, encoding="utf-8")
    text = format_plan(clearline.plan(SourceFile.read(tmp_path / "c.contract")))
    assert "at least  40.00 per line and period × the subscriber's active days / the period's" in text
    assert "prorated by each subscriber's active days" in text


CHAIN = contract(
    "CH-1",
    "PLN",
    """
  partner agg    "Aggregator" currency PLN
  partner ref    "Referrer"   currency PLN
  partner studio "Studio"     currency PLN
  usage fields {
    service text
    amount  decimal
  }
  product games "Games" {
    matches service = "game"
    clause "1 Price" {
      charge customer the value of amount in PLN
      round each line half up to 0.01
    }
    clause "2 Chain" {
      distribute the period's net {
        telcopl keeps 0.10 PLN per transaction as "transaction fee"
        pay agg 10% of the remainder as "aggregator fee", round half up to 0.01
        pay ref 5% of "aggregator fee" as "referral", round half up to 0.01
        pay studio 70% of the remainder, round half up to 0.01
        telcopl keeps the rest
      }
    }
  }
""",
)


def test_a_b2b2b2x_chain_with_a_fee_per_transaction_and_a_share_of_an_earlier_step(tmp_path: Path) -> None:
    usage = """\
        record_id,timestamp,customer_id,service,amount
        G1,2026-03-02T10:00:00+01:00,C1,game,60.00
        G2,2026-03-03T10:00:00+01:00,C2,game,40.00
        G3,2026-03-04T10:00:00+01:00,C2,game,0.00
    """
    out = settle(tmp_path, CHAIN, {"u.csv": usage})
    # net 100.00; 3 x 0.10 = 0.30; 10% of 99.70 = 9.97; 5% of 9.97 = 0.4985 -> 0.50;
    # 70% of 89.23 = 62.461 -> 62.46; the rest 26.77
    payouts = {r["party"]: r["amount"] for r in read_csv(out / "payout_lines.csv")}
    assert payouts == {"agg": "9.97", "ref": "0.50", "studio": "62.46"}
    kept = sorted(r["amount"] for r in read_csv(out / "retained_lines.csv"))
    assert kept == ["0.30", "26.77"]


def test_one_call_rated_by_a_retail_and_a_wholesale_contract(tmp_path: Path) -> None:
    retail = contract(
        "RT-1",
        "EUR",
        """
      usage fields {
        service     text
        destination text
      }
      product voice "Retail voice" {
        matches service = "voice-out"
        measured in seconds
        clause "1 Calls" {
          charge customer 0.06 EUR per minute, increments 60/60
          round each line half up to 0.01
        }
      }
    """,
    )
    (tmp_path / "retail.contract").write_text(retail, encoding="utf-8")
    (tmp_path / "nc.contract").write_text(
        (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8"), encoding="utf-8"
    )
    plans, _ = clearline.load_plans([tmp_path / "retail.contract", tmp_path / "nc.contract"])
    out = tmp_path / "out"
    clearline.run(plans, [DATA / "nordcarrier-cdrs.csv"], "2026-03", out=out)
    rows = read_csv(out / "rated_records.csv")
    assert len(rows) == 12  # every CDR twice: once per contract
    assert {r["record_id"] for r in rows if r["clause"] == "1 Calls"} == {f"CDR-000{i}" for i in range(1, 7)}
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["counts"]["read"], manifest["counts"]["rated"]) == (6, 6)


def test_a_discount_on_the_whole_invoice_spans_the_contracts_products(tmp_path: Path) -> None:
    text = contract(
        "INV-1",
        "EUR",
        """
      usage fields {
        service text
      }
      product calls "Calls" {
        matches service = "voice"
        clause "1 Calls" {
          charge customer 10.00 EUR
          round each line half up to 0.01
          vat 20%
        }
      }
      product texts "Texts" {
        matches service = "sms"
        clause "2 Texts" {
          charge customer 5.00 EUR
          round each line half up to 0.01
          vat 10%
        }
        clause "9 Loyalty" {
          discount 10% on the invoice
          round each line half up to 0.01
        }
      }
    """,
    )
    usage = """\
        record_id,timestamp,customer_id,service
        V1,2026-03-02T10:00:00+01:00,C1,voice
        S1,2026-03-02T11:00:00+01:00,C1,sms
    """
    out = settle(tmp_path, text, {"u.csv": usage})
    discounts = {
        r["vat_rate"]: (r["amount"], r["vat_amount"])
        for r in read_csv(out / "invoice_lines.csv")
        if r["clause"] == "9 Loyalty"
    }
    # one line per VAT rate of the discounted lines: 10% of 10.00 at 20%, 10% of 5.00 at 10%
    assert discounts == {"20%": ("-1.00", "-0.20"), "10%": ("-0.50", "-0.05")}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["conservation"]["ok"] is True
