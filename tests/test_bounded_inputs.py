"""Bounded resources on every input: a header with no line end, /dev/zero, a
contract over the size limit, a diagnostic on a very long line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from conftest import CONTRACTS, DATA, PERIOD

NORD = CONTRACTS / "nordcarrier.contract"


def test_a_header_without_a_line_end_is_read_at_most_one_mebibyte(tmp_path: Path) -> None:
    """A 32 MiB first line: a diagnostic naming the header, and Python's allocations
    peak far below the line's size (the readers stop after 1 MiB)."""
    usage = tmp_path / "header.csv"
    with usage.open("wb") as handle:
        handle.write(b"record_id," + b"x" * (32 << 20))
    plans, _ = clearline.load_plans([NORD])
    tracemalloc.start()
    try:
        with pytest.raises(clearline.ClearlineError) as caught:
            clearline.run(plans, [usage], PERIOD)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E0501"
    assert "header" in diagnostic.message and "1 MiB" in diagnostic.message
    assert peak < 8 << 20, peak


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("role", ["usage", "fx", "customers", "contract"])
def test_dev_zero_is_a_diagnostic_not_an_internal_error(tmp_path: Path, role: str) -> None:
    """An endless input of NULs, named like the file each option wants: exit 1 with a
    diagnostic (E0501 for data, E0104 for a contract: it is not a regular file), in
    seconds."""
    zero = tmp_path / ("zero.contract" if role == "contract" else "zero.csv")
    zero.symlink_to("/dev/zero")
    args = {"usage": str(DATA / "nordcarrier-cdrs.csv"), "contract": str(NORD)}
    args[role] = str(zero)
    command = ["simulate", args["contract"], "-u", args["usage"], "-p", PERIOD, "-o", str(tmp_path / "o")]
    if role in {"fx", "customers"}:
        command += [f"--{role}", str(zero)]
    started = time.monotonic()
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert ("error[E0104]" if role == "contract" else "error[E0501]") in result.output
    assert time.monotonic() - started < 30


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in its own process: parsing megabytes would leave this one large
    (and a child forked from it later would count that in its peak memory)."""
    command = [sys.executable, "-m", "clearline.cli", *args]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "200"}
    )


def test_a_contract_over_the_size_limit_gets_a_diagnostic(tmp_path: Path) -> None:
    """An 11 MB contract (a valid one with an 11 MB comment): E0110 by default (10 MB);
    validated with --max-contract-size 12."""
    big = tmp_path / "big.contract"
    big.write_text(NORD.read_text(encoding="utf-8") + "# " + "x" * 11_000_000 + "\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["validate", str(big)])
    assert refused.exit_code == 1
    assert "error[E0110]" in refused.output and "10 MB" in refused.output
    assert "--max-contract-size" in refused.output
    allowed = cli("validate", str(big), "--max-contract-size", "12")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    small = CliRunner().invoke(
        app, ["simulate", str(big), "-u", str(DATA / "nordcarrier-cdrs.csv"), "-p", PERIOD]
    )
    assert small.exit_code == 1 and "error[E0110]" in small.output


def test_a_diagnostic_on_a_very_long_line_is_clipped_around_the_caret(tmp_path: Path) -> None:
    """A 5 MB one-line contract with an unknown character half-way (column 2,500,019):
    the excerpt shows 100 characters either side of it, cut with `...`, the caret
    under it; the whole output is a few hundred bytes, not 5 MB."""
    text = 'contract X-1 "' + "a" * 2_500_000 + '" { ! ' + "b" * 2_500_000 + " }\n"
    path = tmp_path / "long.contract"
    path.write_text(text, encoding="utf-8")
    result = cli("validate", str(path))
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"{path}:1:2500019: error[E0103]" in output
    assert len(output) < 1_000, len(output)
    lines = output.splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("1 | "))
    source, caret = lines[number], lines[number + 1]
    assert source == "1 | ..." + "a" * 96 + '" { ! ' + "b" * 99 + "..."
    assert caret.index("^") == source.index("!") and caret.count("^") == 1
