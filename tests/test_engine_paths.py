"""The engine's fast paths give the same bytes as its reference path.

The engine rates ordinary records through memoised fast paths and everything
else through the reference path, which checks each record in order;
`benchmarks/check.py` settles the example agreements and generated usage both
ways and compares every file. This runs it small enough for the suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("shuffled", [False, True], ids=["ids-in-order", "ids-shuffled"])
def test_fast_and_reference_paths_agree(shuffled: bool, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import check
    finally:
        sys.path.remove(str(BENCHMARKS))
    args = ["--cdrs", "4000", "--events", "600"] + (["--shuffled-ids"] if shuffled else [])
    assert check.main(args) == 0, capsys.readouterr().out
    assert capsys.readouterr().out.splitlines() == ["examples: identical", "generated: identical"]
