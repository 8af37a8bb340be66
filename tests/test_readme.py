"""The README and the language guide are tested: every `clearline` command
they show runs, every contract they show validates, and the diagnostic they
show is what Clearline prints."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LANGUAGE = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[list[str]]:
    found = []
    for block in blocks(text, "console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append(shlex.split(line[2:]))
    return found


def test_quickstart_has_exactly_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert commands(quickstart) == [["python3", "dev.py", "demo"], ["python3", "dev.py", "test"]]


def test_demo_runs_the_readme_simulate_command() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import dev
    finally:
        sys.path.pop(0)
    simulate = next(c for c in commands(README) if c[:2] == ["clearline", "simulate"])
    assert ["clearline", *dev.DEMO] == simulate


def test_readme_clearline_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for argv in commands(README):
        if argv[0] != "clearline":
            continue
        result = runner.invoke(app, argv[1:])
        # validate of the broken example: 1; simulate of the demo: 3, for the two DCB purchases
        # stamped with the winter offset that fall on 1 April in Warsaw (see test_scenarios.py);
        # 0 when they are routed to April, and for April's run over them
        line = " ".join(argv)
        routed = "--out-of-period route" in line or "routed-2026-04" in line
        rejects = argv[1] == "simulate" and "dcb-purchases" in line and not routed
        expected = 1 if "mixed-currency" in line else 3 if rejects else 0
        assert result.exit_code == expected, (argv, result.output)
        assert "Traceback" not in result.output


def test_readme_diagnostic_is_what_validate_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    shown = next(b for b in blocks(README, "text") if "error[E0301]" in b)
    result = CliRunner().invoke(app, ["validate", "docs/examples/mixed-currency.contract"])
    assert result.exit_code == 1
    assert result.output == shown


@pytest.mark.parametrize(
    "text",
    [
        b
        for b in blocks(README, "clearline") + blocks(LANGUAGE, "clearline")
        if b.lstrip("# \n").startswith("contract") or "\ncontract " in b
    ],
)
def test_documented_contracts_validate(text: str) -> None:
    contract = clearline.parse(SourceFile("doc.contract", text))
    errors = [d for d in clearline.check(contract) if d.is_error]
    assert errors == []
