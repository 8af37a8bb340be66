"""Time bands (issue 9, item 8): named bands of the week on a declared clock, a clause
priced `during` a band, and calls across a band's end split when the contract says so.

The figures are hand-computed in each docstring. 16 March 2026 is a Monday and
Europe/Warsaw is at +01:00 until 29 March.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clearline
from clearline import codes
from clearline.compiler.printer import format_plan
from clearline.source import SourceFile
from conftest import read_csv

BANDS = """contract VB-1 "Voice by band" {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone UTC
  operator op "Operator" currency EUR
  partner carrier "Carrier" currency EUR
  SPLIT
  time bands in Europe/Warsaw {
    peak "Peak" monday to friday 08:00 to 20:00
    off_peak "Off-peak" otherwise
  }
  usage fields { service text }
  product calls "Calls" {
    matches service = "call"
    measured in seconds
    clause "1.1 Peak calls" during peak {
      charge customer 0.10 EUR per minute, increments 60/60
      round each line half up to 0.01
    }
    clause "1.2 Off-peak calls" during off_peak {
      charge customer 0.04 EUR per minute, increments 60/60
      round each line half up to 0.01
    }
    clause "2 Carrier share" {
      pay carrier 50% of net
      round each line half up to 0.01
    }
  }
}
"""
SPLIT = "split records at rate changes, increments per part"


def _check(text: str) -> list[tuple[str, str]]:
    source = SourceFile("c.contract", text)
    return [(d.code, d.message) for d in clearline.check(clearline.parse(source)) if d.is_error]


def _settle(tmp_path: Path, text: str, rows: list[str], name: str = "run") -> Path:
    (tmp_path / f"{name}.contract").write_text(text, encoding="utf-8")
    usage = tmp_path / f"{name}.csv"
    usage.write_text("record_id,timestamp,customer_id,service,quantity\n" + "\n".join(rows) + "\n")
    plans, _ = clearline.load_plans([tmp_path / f"{name}.contract"])
    out = tmp_path / name
    clearline.run(plans, [usage], "2026-03", out=out)
    return out


def _invoice(out: Path) -> list[tuple[str, str, str, str]]:
    return sorted(
        (ln["clause"], ln["description"], ln["quantity"], ln["amount"])
        for ln in read_csv(out / "invoice_lines.csv")
    )


def test_a_call_across_eight_pm_is_split_into_peak_and_off_peak(tmp_path: Path) -> None:
    """K1: a 20-minute call 19:50-20:10 on Monday 16 March (Warsaw). Split: 600 s peak =
    10 min × 0.10 = 1.00 on the peak line, 600 s off-peak = 10 min × 0.04 = 0.40 on the
    off-peak line: 1.40. The carrier's 50% of net follows each part: 0.50 + 0.20 = 0.70."""
    out = _settle(tmp_path, BANDS.replace("SPLIT", SPLIT), ["K1,2026-03-16T19:50:00+01:00,C1,call,1200"])
    assert _invoice(out) == [
        ("1.1 Peak calls", "Calls, Peak: 1 record(s), 600 seconds", "600", "1.00"),
        ("1.2 Off-peak calls", "Calls, Off-peak: 1 record(s), 600 seconds", "600", "0.40"),
    ]
    (payout,) = read_csv(out / "payout_lines.csv")
    assert payout["amount"] == "0.70"
    rated = [(r["clause"], r["billed_quantity"], r["amount"]) for r in read_csv(out / "rated_records.csv")]
    assert rated == [
        ("1.1 Peak calls", "600", "1.00"),
        ("2 Carrier share", "600", "0.500"),  # exact: the line rounds
        ("1.2 Off-peak calls", "600", "0.40"),
        ("2 Carrier share", "600", "0.200"),
    ]
    traces = [json.loads(t) for t in (out / "trace.jsonl").read_text().splitlines()]
    shown = {t["clause"]["label"]: t["units"]["shown"] for t in traces if t["kind"] == "invoice"}
    assert shown["1.1 Peak calls"][0] | {"arithmetic": ""} == {
        "unit": "K1", "arithmetic": "", "amount": "1.00", "band": "peak",
        "clock": "2026-03-16T19:50:00+01:00",
    }  # fmt: skip
    assert shown["1.2 Off-peak calls"][0]["clock"] == "2026-03-16T20:00:00+01:00"


def test_without_splitting_the_band_at_the_start_prices_the_whole_call(tmp_path: Path) -> None:
    """The same call unsplit: it starts in peak, so 20 min × 0.10 = 2.00, all on the peak line."""
    out = _settle(tmp_path, BANDS.replace("SPLIT", ""), ["K1,2026-03-16T19:50:00+01:00,C1,call,1200"])
    assert _invoice(out) == [("1.1 Peak calls", "Calls, Peak: 1 record(s), 1200 seconds", "1200", "2.00")]


def test_increments_apply_to_each_part_and_weekends_are_off_peak(tmp_path: Path) -> None:
    """K1 07:59:30-08:00:30 Tuesday 17 March: 30 s off-peak -> 60 s (0.04) and 30 s peak ->
    60 s (0.10); whole it would be 60 s off-peak = 0.04. K2 Saturday 14 March 12:00, 61 s ->
    120 s off-peak = 0.08. K3 a 13-hour call from Friday 20 March 19:00 (Warsaw): 3,600 s
    peak to 20:00 = 6.00, then 43,200 s off-peak to Saturday 08:00 (still off-peak: the
    weekend) = 720 min × 0.04 = 28.80. Peak 0.10 + 6.00 = 6.10; off-peak 0.04 + 0.08 +
    28.80 = 28.92."""
    rows = [
        "K1,2026-03-17T07:59:30+01:00,C1,call,60",
        "K2,2026-03-14T12:00:00+01:00,C1,call,61",
        "K3,2026-03-20T18:00:00+00:00,C1,call,46800",
    ]
    out = _settle(tmp_path, BANDS.replace("SPLIT", SPLIT), rows)
    amounts = [(clause, amount) for clause, _, _, amount in _invoice(out)]
    assert amounts == [("1.1 Peak calls", "6.10"), ("1.2 Off-peak calls", "28.92")]


def test_bands_follow_their_own_clock_across_the_summer_time_change(tmp_path: Path) -> None:
    """Summer time starts 29 March in Warsaw: Monday 30 March 07:30 UTC is 09:30 local, peak
    (0.10 for 60 s); 18:30 UTC is 20:30 local, off-peak (0.04)."""
    rows = ["K1,2026-03-30T07:30:00+00:00,C1,call,60", "K2,2026-03-30T18:30:00+00:00,C1,call,60"]
    out = _settle(tmp_path, BANDS.replace("SPLIT", SPLIT), rows)
    assert [(c, a) for c, _, _, a in _invoice(out)] == [
        ("1.1 Peak calls", "0.10"),
        ("1.2 Off-peak calls", "0.04"),
    ]


def test_a_call_across_an_amendment_and_a_band_is_cut_at_both(tmp_path: Path) -> None:
    """Version 2 from 17 March (00:00 UTC, the contract's zone) halves the peak price (0.05).
    K1: 1,800 s from 16 March 23:50 UTC (00:50 Tuesday in Warsaw, off-peak): 600 s on version
    1 = 10 min × 0.04 = 0.40, then 1,200 s on version 2 = 0.80, both off-peak. K2: 17 March
    18:50 UTC = 19:50 Warsaw, 1,200 s on version 2: 600 s peak × 0.05/min = 0.50 and 600 s
    off-peak = 0.40. Version 2 off-peak: 0.80 + 0.40 = 1.20."""
    text = BANDS.replace("SPLIT", SPLIT)
    amendment = """amendment of VB-1 from 2026-03-17 "Cheaper peak" {
  version 2
  replace clause "1.1 Peak calls" during peak {
    charge customer 0.05 EUR per minute, increments 60/60
    round each line half up to 0.01
  }
}
"""
    (tmp_path / "vb.contract").write_text(text, encoding="utf-8")
    (tmp_path / "vb-2.contract").write_text(amendment, encoding="utf-8")
    usage = tmp_path / "u.csv"
    usage.write_text(
        "record_id,timestamp,customer_id,service,quantity\n"
        "K1,2026-03-16T23:50:00+00:00,C1,call,1800\n"
        "K2,2026-03-17T18:50:00+00:00,C1,call,1200\n"
    )
    plans, _ = clearline.load_plans([tmp_path / "vb.contract", tmp_path / "vb-2.contract"])
    clearline.run(plans, [usage], "2026-03", out=tmp_path / "out")
    got = sorted(
        (ln["contract_version"], ln["clause"], ln["amount"])
        for ln in read_csv(tmp_path / "out" / "invoice_lines.csv")
    )
    assert got == [
        ("1", "1.2 Off-peak calls", "0.40"),
        ("2", "1.1 Peak calls", "0.50"),
        ("2", "1.2 Off-peak calls", "1.20"),
    ]


def test_compile_prints_the_bands_and_the_clause_they_price() -> None:
    plan = clearline.plan(SourceFile("c.contract", BANDS.replace("SPLIT", SPLIT)))
    text = format_plan(plan)
    assert 'peak "Peak": Monday 08:00 to 20:00; Tuesday 08:00 to 20:00;' in text
    assert 'off_peak "Off-peak": Monday 00:00 to 08:00; Monday 20:00 to Tuesday 08:00;' in text
    assert "Friday 20:00 to Sunday 24:00" in text
    assert "a record running into the next band is split there, increments per part" in text
    assert "[1.1 Peak calls] during peak" in text


def _bands(body: str) -> str:
    return BANDS.replace("SPLIT", SPLIT).replace(
        '    peak "Peak" monday to friday 08:00 to 20:00\n    off_peak "Off-peak" otherwise\n', body
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    peak monday to friday 08:00 to 20:00\n    off_peak monday to sunday 19:00 to 24:00\n",
            [
                "the time bands `peak` and `off_peak` overlap: Monday 19:00 to 20:00 is in both",
            ],
        ),
        (
            "    peak monday to friday 08:00 to 20:00\n    off_peak monday to friday 20:00 to 24:00\n",
            [
                "the time bands leave hours of the week in no band: Monday 00:00 to 08:00; "
                "Tuesday 00:00 to 08:00; Wednesday 00:00 to 08:00; Thursday 00:00 to 08:00; "
                "Friday 00:00 to 08:00; Saturday 00:00 to Sunday 24:00",
            ],
        ),
        (
            "    peak monday to friday 20:00 to 08:00\n    off_peak otherwise\n",
            ["the hours 20:00 to 08:00 run backwards or are empty"],
        ),
        (
            "    peak monday to friday 08:00 to 25:00\n    off_peak otherwise\n",
            ["a time band's hours are 00:00 to 24:00"],
        ),
        (
            "    peak friday to monday 08:00 to 20:00\n    off_peak otherwise\n",
            ["the days Friday to Monday run backwards"],
        ),
        (
            "    peak otherwise\n    off_peak otherwise\n",
            ["two bands say `otherwise`"],
        ),
    ],
)
def test_bands_that_do_not_divide_the_week_are_refused(body: str, expected: list[str]) -> None:
    assert _check(_bands(body)) == [(codes.TIME_BANDS, m) for m in expected]


def test_misused_bands_each_get_a_diagnostic() -> None:
    text = BANDS.replace("SPLIT", SPLIT)
    unknown = text.replace("during off_peak", "during offpeak")
    assert _check(unknown) == [(codes.UNKNOWN_NAME, "`offpeak` is not a time band")]
    weekend = text.replace(
        '    off_peak "Off-peak" otherwise\n',
        '    off_peak "Off-peak" otherwise\n    weekend "Weekend" saturday to sunday 00:00 to 24:00\n',
    )
    assert _check(weekend) == [
        (codes.MISSING_DECLARATION, "the time band `weekend` has no price: no clause is priced during it")
    ]
    zone = text.replace("time bands in Europe/Warsaw", "time bands in Europe/Warsw")
    assert _check(zone) == [(codes.UNKNOWN_TIME_ZONE, "`Europe/Warsw` is not a time zone")]
    undeclared = text.replace(text[text.index("  time bands") : text.index("  usage fields")], "")
    assert [c for c, _ in _check(undeclared)] == [codes.UNKNOWN_NAME, codes.UNKNOWN_NAME]
    period_rule = text.replace(
        "      charge customer 0.04 EUR per minute, increments 60/60\n",
        "      charge customer 0.04 EUR per minute, increments 60/60\n      withhold 10% tax from carrier\n",
    )
    assert (
        codes.MISPLACED_RULE,
        "a rule of the whole period cannot stand in a clause priced during `off_peak`",
    ) in _check(period_rule)


def test_bands_on_a_subscription_are_refused() -> None:
    text = """contract SB-1 {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone UTC
  operator op "Operator" currency EUR
  time bands in UTC {
    all_day otherwise
  }
  usage fields { event text }
  product tv "TV" {
    matches event in ("on", "off")
    subscription starts when event = "on", ends when event = "off"
    clause "1 Fee" during all_day {
      charge customer 10.00 EUR per month
    }
  }
}
"""
    (problem,) = _check(text)
    assert problem[0] == codes.MISPLACED_RULE
    assert "tv is a subscription: its units are periods, not moments of the day" in problem[1]


def test_splitting_without_a_timed_product_still_has_no_effect() -> None:
    """Bands on a product measured in events: the band at the record's time prices it; the
    split line would split nothing, as before (E0405)."""
    text = (
        BANDS.replace("SPLIT", SPLIT)
        .replace("    measured in seconds\n", "")
        .replace("per minute, increments 60/60", "per event")
    )
    assert _check(text) == [
        (
            codes.MISPLACED_RULE,
            "`split records at rate changes` has no effect: no product is measured in time",
        )
    ]


def test_the_service_and_columnar_engine_say_how_they_rate_bands() -> None:
    """`compile --paths` says why a banded product runs per record in the columnar engine."""
    from clearline.runtime.rating.columnar_plan import format_columnar
    from clearline.runtime.rating.paths import format_paths

    plan = clearline.plan(SourceFile("c.contract", BANDS.replace("SPLIT", "")))
    assert "product calls: per record: its clauses follow time bands" in format_columnar(plan)
    assert "product calls: fast (record by record, never by columns: each record's band" in format_paths(plan)
    split = clearline.plan(SourceFile("c.contract", BANDS.replace("SPLIT", SPLIT)))
    assert "per record (the product sets split records at rate changes, time bands" in format_paths(split)


def test_the_service_rates_a_call_across_eight_pm_in_two_parts(tmp_path: Path) -> None:
    """`clearline serve` (a real process on loopback) rates the 19:50-20:10 call as the batch
    run does: 1.00 on the peak line and 0.40 on the off-peak one, each part with its clause."""
    from serve_support import Server

    (tmp_path / "vb.contract").write_text(BANDS.replace("SPLIT", SPLIT), encoding="utf-8")
    s = Server(tmp_path, str(tmp_path / "ledger.db"), [tmp_path / "vb.contract"]).start()
    try:
        record = {
            "record_id": "K1",
            "timestamp": "2026-03-16T19:50:00+01:00",
            "customer_id": "C-1001",  # in the service's customers file
            "service": "call",
            "quantity": "1200",
        }
        (answer,) = s.post([record])
    finally:
        s.stop()
    assert answer["status"] == "rated", str(answer)
    got = [
        (r["clause"], r["billed_quantity"], r["amount"]) for r in answer["rated"] if r["kind"] == "invoice"
    ]
    assert got == [("1.1 Peak calls", "600", "1.00"), ("1.2 Off-peak calls", "600", "0.40")]


def test_holidays_the_contract_lists_are_in_their_band_all_day(tmp_path: Path) -> None:
    """Peak Monday to Friday all day, off-peak otherwise and on the listed holidays (Easter
    Monday, 6 April 2026). K1 on Easter Monday at 10:00 Warsaw, 60 s: off-peak 0.04 (peak
    would be 0.10). K2 from Easter Monday 23:50, 1,200 s, split: 600 s off-peak = 0.40 until
    midnight, then 600 s of an ordinary Tuesday, peak = 1.00. K3 on Tuesday 7 April 10:00,
    60 s: peak 0.10. Peak 1.10, off-peak 0.44."""
    text = (
        BANDS.replace("SPLIT", SPLIT)
        .replace("monday to friday 08:00 to 20:00", "monday to friday 00:00 to 24:00")
        .replace(
            'off_peak "Off-peak" otherwise\n',
            'off_peak "Off-peak" otherwise, on holidays\n    holidays 2026-04-06\n',
        )
    )
    (tmp_path / "vb.contract").write_text(text, encoding="utf-8")
    usage = tmp_path / "u.csv"
    usage.write_text(
        "record_id,timestamp,customer_id,service,quantity\n"
        "K1,2026-04-06T10:00:00+02:00,C1,call,60\n"
        "K2,2026-04-06T23:50:00+02:00,C1,call,1200\n"
        "K3,2026-04-07T10:00:00+02:00,C1,call,60\n"
    )
    plans, _ = clearline.load_plans([tmp_path / "vb.contract"])
    clearline.run(plans, [usage], "2026-04", out=tmp_path / "out")
    got = sorted((ln["clause"], ln["amount"]) for ln in read_csv(tmp_path / "out" / "invoice_lines.csv"))
    assert got == [("1.1 Peak calls", "1.10"), ("1.2 Off-peak calls", "0.44")]
    assert "holidays (2026-04-06): off_peak, all day" in format_plan(plans[0])


def test_misused_holidays_each_get_a_diagnostic() -> None:
    text = BANDS.replace("SPLIT", SPLIT)
    taker = text.replace('off_peak "Off-peak" otherwise\n', 'off_peak "Off-peak" otherwise, on holidays\n')
    assert _check(taker) == [
        (codes.MISSING_DECLARATION, "the band `off_peak` is `on holidays`, and the bands list no holidays")
    ]
    unused = text.replace(
        'off_peak "Off-peak" otherwise\n', 'off_peak "Off-peak" otherwise\n    holidays 2026-04-06\n'
    )
    assert _check(unused) == [
        (codes.MISPLACED_RULE, "the holidays have no effect: no band says `on holidays`")
    ]
    bad = taker.replace("on holidays\n", "on holidays\n    holidays 2026-02-30, 2026-04-06, 2026-04-06\n")
    assert _check(bad) == [
        (codes.INVALID_DATE, "2026-02-30 is not a date in the calendar"),
        (codes.DUPLICATE_NAME, "the holiday 2026-04-06 is listed twice"),
    ]
