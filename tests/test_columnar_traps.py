"""The traps of columnar libraries' decimal arithmetic, pinned.

A columnar engine must give the figures money.round_money gives, and the
libraries measured for it (benchmarks/README.md, "Choosing the columnar
library") round, truncate and divide otherwise in places. Each test pins what
the library does (so an upgrade that changes it is noticed) beside what the
contract means (money.round_money), so that nobody reaches for the library's
operator where it differs. The way round each trap: scaled integers
(Int64/Int128, the amount times 10^scale) with the rounding done in integer
arithmetic, never the library's round, cast or `/`.

The libraries run in one child process (`observed`): polars and DuckDB
would add 100 MB to the test process, whose peak memory a forked child
inherits in its own peak (tests/test_usage_catalogue.py measures a child's).
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from clearline.money import Rounding, round_money

HALF_UP_CENT = Rounding("half up", Decimal("0.01"))
UNIT = Rounding("half up", Decimal("1"))

# Each expression's value, as text (Decimals and floats by str), in a fresh interpreter.
_PROBE = r"""
import json
from decimal import Decimal as D
import polars as pl, pyarrow as pa, pyarrow.compute as pc, duckdb

def dec(texts, scale):
    return pl.Series([D(t) for t in texts], dtype=pl.Decimal(18, scale))

out = {
    "polars round": dec(["0.125", "0.135", "-0.125"], 3).round(2).to_list(),
    "polars cast scale": dec(["2.555", "2.565", "-2.565"], 3).cast(pl.Decimal(18, 2)).to_list(),
    "polars cast int": dec(["2.7", "-2.7"], 1).cast(pl.Int64).to_list(),
    "polars product": (dec(["0.05"], 2) * dec(["0.5"], 1)).to_list(),
    "polars floordiv": (pl.Series([-7, 7]) // 2).to_list(),
    "polars mod": (pl.Series([-7, 7]) % 2).to_list(),
    "polars half up by magnitude": (
        ((pl.Series([-725, 725, -724]).abs() + 5) // 10) * pl.Series([-725, 725, -724]).sign()
    ).to_list(),
    "polars int64 wraps": (pl.Series([2**62], dtype=pl.Int64) * 4).to_list(),
    "polars int128 sums": pl.DataFrame(
        {"l": [0, 0], "n": pl.Series([60000, 60000], dtype=pl.UInt32), "v": [2**62 - 1, 2**62 - 1]}
    ).group_by("l").agg((pl.col("n").cast(pl.Int128) * pl.col("v").cast(pl.Int128)).sum())["n"].to_list(),
    "pyarrow half_up": pc.round(
        pa.array([D("2.5"), D("-2.5")], pa.decimal128(5, 1)), ndigits=0, round_mode="half_up"
    ).to_pylist(),
    "pyarrow half_towards_infinity": pc.round(
        pa.array([D("2.5"), D("-2.5")], pa.decimal128(5, 1)), ndigits=0, round_mode="half_towards_infinity"
    ).to_pylist(),
    "pyarrow unsafe cast": pc.cast(
        pa.array([D("2.59")], pa.decimal128(5, 2)), pa.decimal128(5, 1), safe=False
    ).to_pylist(),
    "duckdb": list(duckdb.connect().sql(
        "select typeof(1.00::decimal(10,2) / 3.00::decimal(10,2)), "
        "1.00::decimal(10,2) / 3.00::decimal(10,2), "
        "typeof(7.50::decimal(10,2) // 2.00::decimal(10,2)), "
        "7.50::decimal(10,2) // 2.00::decimal(10,2), -7 // 2"
    ).fetchall()[0]),
}
print(json.dumps({k: [str(v) for v in vs] for k, vs in out.items()}))
"""


@pytest.fixture(scope="module")
def observed() -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=False)
    if "No module named" in done.stderr:
        pytest.skip(f"a columnar library is not installed (the `dev` extra has them): {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    values: dict[str, list[str]] = json.loads(done.stdout)
    return values


def test_polars_decimal_round_is_half_even(observed: dict[str, list[str]]) -> None:
    """0.125 and -0.125 lie half way between cents: half up (away from zero) makes
    0.13 and -0.13; polars' Decimal round makes 0.12 and -0.12 (half even)."""
    assert observed["polars round"] == ["0.120", "0.140", "-0.120"]
    meant = [round_money(Decimal(t), HALF_UP_CENT) for t in ("0.125", "0.135", "-0.125")]
    assert meant == [Decimal("0.13"), Decimal("0.14"), Decimal("-0.13")]


def test_polars_cast_to_a_smaller_scale_rounds_half_even(observed: dict[str, list[str]]) -> None:
    """A cast from scale 3 to scale 2 rounds too, half even: 2.565 -> 2.56, where
    half up gives 2.57 (2.555 -> 2.56 both ways)."""
    assert observed["polars cast scale"] == ["2.56", "2.56", "-2.56"]
    assert round_money(Decimal("2.565"), HALF_UP_CENT) == Decimal("2.57")


def test_polars_decimal_to_integer_cast_truncates(observed: dict[str, list[str]]) -> None:
    """Decimal -> Int64 drops the fraction toward zero: 2.7 -> 2 and -2.7 -> -2
    (half up to a unit would be 3 and -3)."""
    assert observed["polars cast int"] == ["2", "-2"]
    assert [round_money(Decimal(t), UNIT) for t in ("2.7", "-2.7")] == [Decimal("3"), Decimal("-3")]


def test_polars_decimal_product_keeps_the_larger_scale(observed: dict[str, list[str]]) -> None:
    """0.05 x 0.5 = 0.025 exactly, but polars gives the product the larger of the two
    scales (2), so it comes out 0.02: precision is lost before any declared rounding."""
    assert observed["polars product"] == ["0.02"]
    assert Decimal("0.05") * Decimal("0.5") == Decimal("0.025")


def test_polars_integer_floor_division_and_modulo_floor(observed: dict[str, list[str]]) -> None:
    """Integer // and % floor (as Python's do): -7 // 2 = -4, -7 % 2 = 1. Rounding
    scaled integers half up away from zero must therefore work on the magnitude:
    -725 (-7.25 at scale 2) to one place is -((725 + 5) // 10) = -73, i.e. -7.3."""
    assert observed["polars floordiv"] == ["-4", "3"]
    assert observed["polars mod"] == ["1", "1"]
    assert observed["polars half up by magnitude"] == ["-73", "73", "-72"]
    assert round_money(Decimal("-7.25"), Rounding("half up", Decimal("0.1"))) == Decimal("-7.3")


def test_polars_int64_products_wrap_int128_sums_do_not(observed: dict[str, list[str]]) -> None:
    """An Int64 product past 2^63 wraps without an error: 2^62 x 4 = 2^64 comes out 0.
    So scaled integers that are multiplied or summed past 2^63 (columnar_vector's line
    sums) are cast to Int128 first: 2 x 60,000 x (2^62 - 1) =
    553,402,322,211,286,548,360,000 exactly."""
    assert observed["polars int64 wraps"] == ["0"]
    assert observed["polars int128 sums"] == [str(2 * 60000 * (2**62 - 1))]
    assert 2 * 60000 * (2**62 - 1) == 553402322211286548360000


def test_pyarrow_half_up_rounds_negative_halves_toward_zero(observed: dict[str, list[str]]) -> None:
    """pyarrow's round_mode="half_up" goes toward +infinity: -2.5 -> -2, where the
    contract's half up (money.round_money, away from zero) gives -3; the mode that
    matches is "half_towards_infinity"."""
    assert observed["pyarrow half_up"] == ["3.0", "-2.0"]
    assert observed["pyarrow half_towards_infinity"] == ["3.0", "-3.0"]
    assert round_money(Decimal("-2.5"), UNIT) == Decimal("-3")


def test_pyarrow_unsafe_cast_truncates(observed: dict[str, list[str]]) -> None:
    """An unsafe cast to a smaller scale drops digits: 2.59 -> 2.5 (half up: 2.6)."""
    assert observed["pyarrow unsafe cast"] == ["2.5"]
    assert round_money(Decimal("2.59"), Rounding("half up", Decimal("0.1"))) == Decimal("2.6")


def test_duckdb_decimal_division_is_a_double(observed: dict[str, list[str]]) -> None:
    """DuckDB's `/` on two DECIMALs returns a DOUBLE (1.00 / 3.00 = 0.333...3 as a
    binary float), and so does `//` on DECIMALs (7.50 // 2.00 = 3.75, not 3); on
    integers `//` truncates toward zero (-7 // 2 = -3, where Python's is -4)."""
    kind, quotient, floor_kind, floor_value, int_div = observed["duckdb"]
    assert (kind, floor_kind) == ("DOUBLE", "DOUBLE")
    assert quotient == str(1 / 3)  # a float's digits, not 0.33 nor 0.3333333333
    assert (floor_value, int_div) == ("3.75", "-3")
