"""Tiers and waterfalls: hand-computed figures, band boundaries and the laws."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline.money import Rounding
from clearline.runtime.settlement.waterfall import Step, run_waterfall
from clearline.tiers import Band, apply_tiers

FLEET = [
    Band(D(0), D(500000), D("0.0040")),
    Band(D(500000), D(2000000), D("0.0030")),
    Band(D(2000000), None, D("0.0018")),
]


@pytest.mark.parametrize(
    ("quantity", "graduated", "volume"),
    [
        (0, "0", "0"),
        (1, "0.0040", "0.0040"),
        (499999, "1999.9960", "1999.9960"),
        (500000, "2000.0000", "1500.0000"),  # exactly at a band's lower bound
        (2000000, "6500.0000", "3600.0000"),
        (2350000, "7130.0000", "4230.0000"),  # scenario 2
    ],
)
def test_fleetiot_bands(quantity: int, graduated: str, volume: str) -> None:
    assert apply_tiers(D(quantity), FLEET, "graduated")[0] == D(graduated)
    assert apply_tiers(D(quantity), FLEET, "volume")[0] == D(volume)


def test_graduated_breakdown_names_each_band() -> None:
    _, uses = apply_tiers(D(2350000), FLEET, "graduated")
    assert [(u.quantity, u.amount) for u in uses] == [
        (D(500000), D("2000.0000")),
        (D(1500000), D("4500.0000")),
        (D(350000), D("630.0000")),
    ]


def test_usage_only_in_the_last_band_of_a_volume_tier() -> None:
    assert apply_tiers(D(3000000), FLEET, "volume")[0] == D(3000000) * D("0.0018")


quantities = st.decimals(min_value=0, max_value=10**8, places=3, allow_nan=False, allow_infinity=False)


@given(quantities, quantities)
def test_graduated_is_monotone(a: D, b: D) -> None:
    lo, hi = sorted((a, b))
    assert apply_tiers(lo, FLEET, "graduated")[0] <= apply_tiers(hi, FLEET, "graduated")[0]


@given(st.decimals(min_value=0, max_value=499999, places=3, allow_nan=False, allow_infinity=False))
def test_volume_and_graduated_agree_inside_the_first_band(q: D) -> None:
    assert apply_tiers(q, FLEET, "volume")[0] == apply_tiers(q, FLEET, "graduated")[0]


CENT = Rounding("half up", D("0.01"))
STUDIO = (Band(D(0), D(10000), D("0.70")), Band(D(10000), None, D("0.80")))


def test_gamestudio_waterfall() -> None:
    steps = [
        Step("7.1a", "telcopl", "base", D("0.03"), rounding=CENT),
        Step("7.1b", "payhub", "remainder", D("0.08"), rounding=CENT),
        Step("7.1c", "gamestudio", "tiers", bands=STUDIO, rounding=CENT),
        Step("7.1d", "telcopl", "rest"),
    ]
    results = run_waterfall(D("29500.00"), steps)
    assert [r.amount for r in results] == [D("885.00"), D("2289.20"), D("20060.64"), D("6265.16")]
    assert [r.basis for r in results] == [D("29500.00"), D("28615.00"), D("26325.80"), D("6265.16")]
    assert results[-1].remainder == 0


def test_a_fixed_step_never_takes_more_than_remains() -> None:
    results = run_waterfall(D("10.00"), [Step("fee", "x", "fixed", D("12.00")), Step("rest", "op", "rest")])
    assert [r.amount for r in results] == [D("10.00"), D("0.00")]
    assert results[0].capped


fractions = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)
roundings = st.sampled_from(
    [Rounding(m, q) for m in ("half up", "half even", "down", "up") for q in (D("0.01"), D("1"))]
)


@given(
    st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False),
    st.lists(
        st.tuples(st.sampled_from(["base", "remainder", "fixed", "tiers"]), fractions, roundings), max_size=5
    ),
)
def test_every_waterfall_sums_to_its_base(base: D, spec: list[tuple[str, D, Rounding]]) -> None:
    steps = [
        Step(f"s{i}", "p", kind, value * 100 if kind == "fixed" else value, bands=STUDIO, rounding=r)
        for i, (kind, value, r) in enumerate(spec)
    ]
    results = run_waterfall(base, [*steps, Step("rest", "op", "rest")])
    assert sum((r.amount for r in results), D(0)) == base
    assert all(r.amount >= 0 for r in results)


def test_the_trace_carries_the_bands_a_tiered_line_used(tmp_path: Path) -> None:
    """FleetIoT's data line, 2,350,000 MB graduated: 500,000 × 0.0040 = 2,000.0000,
    1,500,000 × 0.0030 = 4,500.0000, 350,000 × 0.0018 = 630.0000; 7,130.0000 in all.
    The trace gives them as data, so a document (or another tool) needs no tier code."""
    import json

    import clearline
    from conftest import CONTRACTS, DATA

    plans, _ = clearline.load_plans([CONTRACTS / "fleetiot.contract"])
    out = tmp_path / "run"
    clearline.run(plans, [DATA / "fleetiot-usage.csv"], "2026-03", out=out)
    traces = [json.loads(t) for t in (out / "trace.jsonl").read_text(encoding="utf-8").splitlines()]
    (data,) = [t for t in traces if (t.get("clause") or {}).get("label") == "2.2 Data"]
    (tiers,) = data["tiers"]
    assert (tiers["table"], tiers["mode"], tiers["of"], tiers["total"], tiers["amount"]) == (
        "data_price", "graduated", "quantity", "2350000", "7130.0000"
    )  # fmt: skip
    assert [(b["from"], b["to"], b["quantity"], b["rate"], b["amount"]) for b in tiers["bands"]] == [
        ("0", "500000", "500000", "0.0040", "2000.0000"),
        ("500000", "2000000", "1500000", "0.0030", "4500.0000"),
        ("2000000", "", "350000", "0.0018", "630.0000"),
    ]
