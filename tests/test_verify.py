"""`clearline verify`: a run is reproduced from its manifest, byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearline.cli import app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "contracts",
            "--usage",
            "contracts/data/nordcarrier-cdrs.csv",
            "--usage",
            "contracts/data/streamplus-subscriptions.csv",
            "--period",
            "2026-03",
            "--fx",
            "contracts/data/fx-rates.csv",
            "--out",
            "run",
        ],
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def test_a_run_verifies(run: Path) -> None:
    result = CliRunner().invoke(app, ["verify", str(run)])
    assert result.exit_code == 0, result.output
    # 19 outputs: no routed.csv / routed.jsonl in a run without --out-of-period route,
    # and the plan of each of the four contracts
    assert result.output.startswith(
        "verified: 7 input(s) unchanged, 19 output(s) reproduced byte for byte, "
        "8 manifest claim(s) recomputed"
    )


def test_an_edited_output_is_found(run: Path) -> None:
    with (run / "payout_lines.csv").open("a", encoding="utf-8") as handle:
        handle.write("forged,line\n")
    result = CliRunner().invoke(app, ["verify", str(run)])
    assert result.exit_code == 1
    assert (
        "error[E0507]: payout_lines.csv (the file in the run folder was changed) does not reproduce"
        in result.output
    )


def test_a_changed_input_is_named(run: Path) -> None:
    fx = run.parent / "contracts" / "data" / "fx-rates.csv"
    fx.write_text(fx.read_text(encoding="utf-8").replace("4.2500", "4.2600"), encoding="utf-8")
    result = CliRunner().invoke(app, ["verify", str(run)])
    assert result.exit_code == 1
    assert "error[E0506]: input changed since the run: contracts/data/fx-rates.csv" in result.output


def test_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 1
    assert "error[E0501]" in result.output
