"""docs/operations.md is tested: its two-month tutorial runs command by command in a
copy of the contracts, each output holds the lines the document shows after it,
and the figures are asserted here once more, with their arithmetic."""

from __future__ import annotations

import re
import shlex
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearline.cli import app
from conftest import read_csv

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def steps() -> list[tuple[list[str], list[str], list[str]]]:
    """(command, lines its output must hold, lines rejects.csv must hold), in order."""
    found: list[tuple[list[str], list[str], list[str]]] = []
    for lang, body in re.findall(r"```(console|text|csv)\n(.*?)```", GUIDE, flags=re.S):
        if lang == "console":
            for line in body.splitlines():
                if line.startswith("$ "):
                    found.append((shlex.split(line[2:]), [], []))
        elif found:
            (found[-1][1] if lang == "text" else found[-1][2]).extend(ln for ln in body.splitlines() if ln)
    return found


def test_the_tutorial_runs_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    exits = []
    for argv, shown, rejects in steps():
        assert argv[0] == "clearline"
        result = runner.invoke(app, argv[1:])
        exits.append(result.exit_code)
        assert "Traceback" not in result.output
        for line in shown:
            assert line in result.output, (argv, line, result.output)
        if rejects:
            out = Path(argv[argv.index("--out") + 1])
            text = (out / "rejects.csv").read_text(encoding="utf-8")
            for line in rejects:
                assert line in text
    # April's run completes with the three re-sent purchases rejected (3); all else clean
    assert exits == [0, 0, 3, 0, 0, 0, 0, 0, 0, 0]
    runs = tmp_path / "runs"
    # the late records, March as a whole: 898.80 + 6,347.26 = 7,246.06 kept by the operator
    whole = {
        (r["kind"], r["party"], r["amount"]) for r in read_csv(runs / "2026-03-late" / "payout_lines.csv")
    }
    assert whole == {("payout", "payhub", "2324.90"), ("payout", "gamestudio", "20389.04")}
    adjusted = read_csv(runs / "2026-03-late" / "adjustment_lines.csv")
    assert sum(Decimal(a["amount"]) for a in adjusted if a["kind"] != "invoice") == Decimal("500.00")
    assert {a["party"]: a["amount"] for a in adjusted if a["kind"] == "invoice"} == {
        f"C-100{i}": "100.00" for i in range(1, 6)
    }
    # April alone: net 2 x 20.00 = 40.00; 3% = 1.20; PayHub 8% of 38.80 = 3.10;
    # GameStudio 70% of 35.70 = 24.99; the operator 1.20 + 10.71 = 11.91
    april = {(r["party"], r["amount"]) for r in read_csv(runs / "2026-04" / "payout_lines.csv")}
    assert april == {("payhub", "3.10"), ("gamestudio", "24.99")}
    assert len(read_csv(runs / "2026-04" / "routed.csv")) == 25
    # April's statements carry March's pending partner adjustments:
    # GameStudio 24.99 + 356.96 = 381.95, PayHub 3.10 + 38.80 = 41.90
    from clearline.ledger import open_ledger

    with open_ledger(f"sqlite:///{runs / 'ledger.sqlite'}") as ledger:
        april_sb = {d.party: (d.number, d.net, d.refers_to) for d in ledger.documents() if d.close_seq == 3}
        assert april_sb["gamestudio"] == ("SB/2026/04/00003", "381.95", "SB/2026/03/00001")
        assert april_sb["payhub"] == ("SB/2026/04/00004", "41.90", "SB/2026/03/00002")
        assert not [d for d in ledger.documents() if d.kind == "self-billing adjustment"]
        assert ledger.pending() == [] and ledger.verify() == []
    statement = (runs / "2026-04" / "documents" / "self-billing-2026-04-gamestudio.md").read_text(
        encoding="utf-8"
    )
    statement = statement.replace("\u00a0", " ")
    assert "# Self-billing statement SB/2026/04/00003" in statement
    assert (
        "| adjustment for 2026-03 | late usage | SB/2026/03/00001, Line P-81f7eec4a9 | PLN 356.96 |"
        in statement
    )
    assert "| **Total payable** | **PLN 381.95** |" in statement
