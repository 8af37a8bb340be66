"""`clearline test`: the worked examples inside contracts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.examples import run_examples
from clearline.grammar import ast

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = sorted((ROOT / "contracts").glob("*.contract"))


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda p: p.name)
def test_every_bundled_contract_carries_an_example(path: Path) -> None:
    document = clearline.parse(clearline.read_source(path))
    assert isinstance(document, ast.Contract)
    assert document.examples


def test_bundled_examples_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["test", "contracts"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "4 passed, 0 failed"


def test_a_wrong_expectation_shows_a_diff(tmp_path: Path) -> None:
    text = (ROOT / "contracts" / "streamplus.contract").read_text(encoding="utf-8")
    wrong = text.replace(
        '"4.2 Revenue share" 10.38 PLN paid 2.44 EUR', '"4.2 Revenue share" 10.37 PLN paid 2.44 EUR'
    )
    wrong = wrong.replace('expect retained "telcopl" 8.49 PLN', 'expect invoice "C-1005" 1.00 PLN')
    assert wrong != text
    (tmp_path / "sp.contract").write_text(wrong, encoding="utf-8")
    (result,) = run_examples([tmp_path / "sp.contract"])
    assert not result.passed
    assert result.diff == [
        '- invoice "C-1005" 1.00 PLN   (expected, not produced)',
        '- payout "streamco" for "4.2 Revenue share" 10.37 PLN',
        '+ payout "streamco" for "4.2 Revenue share" 10.38 PLN',
    ]
    cli = CliRunner().invoke(app, ["test", str(tmp_path / "sp.contract")])
    assert cli.exit_code == 1
    assert "FAIL SP-2026 example" in cli.output
    assert "0 passed, 1 failed" in cli.output


def test_an_example_whose_record_is_rejected_fails(tmp_path: Path) -> None:
    text = (ROOT / "contracts" / "streamplus.contract").read_text(encoding="utf-8")
    broken = text.replace("EX-1,2026-03-17T12:00:00+01:00", "EX-1,2026-03-17T12:00:00")
    (tmp_path / "sp.contract").write_text(broken, encoding="utf-8")
    (result,) = run_examples([tmp_path / "sp.contract"])
    assert result.problems[0].startswith(
        "record EX-1 was rejected: `timestamp` 2026-03-17T12:00:00 has no UTC offset"
    )


def test_no_examples_is_an_error(tmp_path: Path) -> None:
    text = (ROOT / "contracts" / "nordcarrier.contract").read_text(encoding="utf-8")
    (tmp_path / "nc.contract").write_text(text.split("  example ")[0] + "}\n", encoding="utf-8")
    cli = CliRunner().invoke(app, ["test", str(tmp_path / "nc.contract")])
    assert cli.exit_code == 1
    assert "no examples found" in cli.output
