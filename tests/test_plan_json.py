"""A compiled plan (`clearline compile --json`) runs on its own, without the contract file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearline.cli import app

ROOT = Path(__file__).resolve().parent.parent


def test_simulate_from_a_json_plan_matches_the_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    compiled = runner.invoke(app, ["compile", "contracts/nordcarrier.contract", "--json"])
    assert compiled.exit_code == 0
    plan = tmp_path / "nordcarrier.plan.json"
    plan.write_text(compiled.stdout, encoding="utf-8")
    usage = ["--usage", "contracts/data/nordcarrier-cdrs.csv", "--period", "2026-03"]
    from_plan = runner.invoke(app, ["simulate", str(plan), *usage, "--out", str(tmp_path / "a")])
    from_text = runner.invoke(
        app, ["simulate", "contracts/nordcarrier.contract", *usage, "--out", str(tmp_path / "b")]
    )
    assert from_plan.exit_code == from_text.exit_code == 0
    for name in ("payout_lines.csv", "retained_lines.csv", "rated_records.csv", "trace.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_broken_plan_file_is_a_diagnostic(tmp_path: Path) -> None:
    plan = tmp_path / "broken.json"
    plan.write_text('{"schema": 99}', encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", str(plan), "--usage", "x.csv", "--period", "2026-03"])
    assert result.exit_code == 1
    assert "error[E0104]: cannot load the plan" in result.output
    assert "plan schema 99 is not supported" in result.output
    assert "Traceback" not in result.output
