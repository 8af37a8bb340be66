"""The traps of columnar libraries' decimal arithmetic, pinned.

A columnar engine must give the figures money.round_money gives, and the
libraries measured for it (benchmarks/README.md, "Choosing the columnar
library") round, truncate and divide otherwise in places. Each test pins what
the library does (so an upgrade that changes it is noticed) beside what the
contract means (money.round_money), so that nobody reaches for the library's
operator where it differs. The way round each trap: scaled integers
(Int64/Int128, the amount times 10^scale) with the rounding done in integer
arithmetic, never the library's round, cast or `/`.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from clearline.money import Rounding, round_money

pl = pytest.importorskip("polars", reason="polars is in the `columnar` and `dev` extras")
pa = pytest.importorskip("pyarrow", reason="pyarrow is in the `parquet` and `dev` extras")
pc = pytest.importorskip("pyarrow.compute", reason="pyarrow is in the `parquet` and `dev` extras")
duckdb = pytest.importorskip("duckdb", reason="duckdb is in the `dev` extra")

HALF_UP_CENT = Rounding("half up", Decimal("0.01"))


def decimals(texts: list[str], scale: int) -> object:
    return pl.Series([Decimal(t) for t in texts], dtype=pl.Decimal(18, scale))


def test_polars_decimal_round_is_half_even() -> None:
    """0.125 and -0.125 lie half way between cents: half up (away from zero) makes
    0.13 and -0.13; polars' Decimal round makes 0.12 and -0.12 (half even)."""
    got = decimals(["0.125", "0.135", "-0.125"], 3).round(2).to_list()
    assert got == [Decimal("0.120"), Decimal("0.140"), Decimal("-0.120")]
    meant = [round_money(Decimal(t), HALF_UP_CENT) for t in ("0.125", "0.135", "-0.125")]
    assert meant == [Decimal("0.13"), Decimal("0.14"), Decimal("-0.13")]


def test_polars_cast_to_a_smaller_scale_rounds_half_even() -> None:
    """A cast from scale 3 to scale 2 rounds too, half even: 2.565 -> 2.56, where
    half up gives 2.57 (2.555 -> 2.56 both ways)."""
    got = decimals(["2.555", "2.565", "-2.565"], 3).cast(pl.Decimal(18, 2)).to_list()
    assert got == [Decimal("2.56"), Decimal("2.56"), Decimal("-2.56")]
    assert round_money(Decimal("2.565"), HALF_UP_CENT) == Decimal("2.57")


def test_polars_decimal_to_integer_cast_truncates() -> None:
    """Decimal -> Int64 drops the fraction toward zero: 2.7 -> 2 and -2.7 -> -2
    (half up to a unit would be 3 and -3)."""
    assert decimals(["2.7", "-2.7"], 1).cast(pl.Int64).to_list() == [2, -2]
    unit = Rounding("half up", Decimal("1"))
    assert [round_money(Decimal(t), unit) for t in ("2.7", "-2.7")] == [Decimal("3"), Decimal("-3")]


def test_polars_decimal_product_keeps_the_larger_scale() -> None:
    """0.05 x 0.5 = 0.025 exactly, but polars gives the product the larger of the two
    scales (2), so it comes out 0.02: precision is lost before any declared rounding."""
    got = (decimals(["0.05"], 2) * decimals(["0.5"], 1)).to_list()
    assert got == [Decimal("0.02")]
    assert Decimal("0.05") * Decimal("0.5") == Decimal("0.025")


def test_polars_integer_floor_division_and_modulo_floor() -> None:
    """Integer // and % floor (as Python's do): -7 // 2 = -4, -7 % 2 = 1. Rounding
    scaled integers half up away from zero must therefore work on the magnitude:
    -725 (-7.25 at scale 2) to one place is -(725 + 5) // 10 = -73, i.e. -7.3."""
    assert (pl.Series([-7, 7]) // 2).to_list() == [-4, 3]
    assert (pl.Series([-7, 7]) % 2).to_list() == [1, 1]
    scaled = pl.Series([-725, 725, -724])
    rounded = ((scaled.abs() + 5) // 10) * scaled.sign()
    assert rounded.to_list() == [-73, 73, -72]
    one_place = Rounding("half up", Decimal("0.1"))
    assert round_money(Decimal("-7.25"), one_place) == Decimal("-7.3")


def test_pyarrow_half_up_rounds_negative_halves_toward_zero() -> None:
    """pyarrow's round_mode="half_up" goes toward +infinity: -2.5 -> -2, where the
    contract's half up (money.round_money, away from zero) gives -3; the mode that
    matches is "half_towards_infinity"."""
    values = pa.array([Decimal("2.5"), Decimal("-2.5")], pa.decimal128(5, 1))
    assert pc.round(values, ndigits=0, round_mode="half_up").to_pylist() == [Decimal("3.0"), Decimal("-2.0")]
    away = pc.round(values, ndigits=0, round_mode="half_towards_infinity").to_pylist()
    assert away == [Decimal("3.0"), Decimal("-3.0")]
    unit = Rounding("half up", Decimal("1"))
    assert round_money(Decimal("-2.5"), unit) == Decimal("-3")


def test_pyarrow_unsafe_cast_truncates() -> None:
    """An unsafe cast to a smaller scale drops digits: 2.59 -> 2.5 (half up: 2.6)."""
    values = pa.array([Decimal("2.59")], pa.decimal128(5, 2))
    assert pc.cast(values, pa.decimal128(5, 1), safe=False).to_pylist() == [Decimal("2.5")]


def test_duckdb_decimal_division_is_a_double() -> None:
    """DuckDB's `/` on two DECIMALs returns a DOUBLE (1.00 / 3.00 = 0.333...3 as a
    binary float), and so does `//` on DECIMALs (7.50 // 2.00 = 3.75, not 3); on
    integers `//` truncates toward zero (-7 // 2 = -3, where Python's is -4)."""
    con = duckdb.connect()
    (quotient, kind), = con.sql(
        "select 1.00::decimal(10,2) / 3.00::decimal(10,2), typeof(1.00::decimal(10,2) / 3.00::decimal(10,2))"
    ).fetchall()
    assert kind == "DOUBLE" and isinstance(quotient, float)
    (floor_kind, floor_value, int_div), = con.sql(
        "select typeof(7.50::decimal(10,2) // 2.00::decimal(10,2)), "
        "7.50::decimal(10,2) // 2.00::decimal(10,2), -7 // 2"
    ).fetchall()
    assert (floor_kind, floor_value, int_div) == ("DOUBLE", 3.75, -3)
