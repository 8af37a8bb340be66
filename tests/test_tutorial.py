"""docs/tutorial.md is run end to end, as a reader follows it, in an empty folder.

The tutorial is read top to bottom: each `$ clearline ...` line of a console
block runs and must print exactly the lines under it (and exit 1 where it
prints a FAIL, else 0); each "change `A` to `B`" edits acme.contract (A must
occur exactly once); each "as `NAME.csv`" before a csv block saves that file;
the markdown block must be in the partner's rendered statement. Only the
contract's SHA-256 is masked (it changes with every word of the template).

The figures it shows, by hand: 39.00 x 15 / 31 = 18.87 for a subscriber from
17 March; at 60%: 23.400 + 11.322 = 34.722 -> 34.72 for the partner, and
57.87 - 34.72 = 23.15 for the operator (the example: 60% of 18.87 = 11.322 ->
11.32, 18.87 - 11.32 = 7.55).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearline.cli import app
from conftest import ROOT

TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
STATEMENT = Path("out/acme-2026-03/documents/self-billing-2026-03-partnerco.md")

EVENT = re.compile(
    r"```console\n(?P<console>.*?)```"
    r"|as `(?P<name>[\w.-]+\.csv)`[^`]*?```csv\n(?P<csv>.*?)```"
    r"|change\s+`(?P<old>[^`]+)`\s+to\s+`(?P<new>[^`]+)`"
    r"|```markdown\n(?P<markdown>.*?)```",
    re.S,
)


def normal(text: str) -> list[str]:
    """Lines without trailing blanks, the narrow and no-break spaces of locale formatting
    as spaces, and the contract's hash masked."""
    text = re.sub(r"sha256:[0-9a-f]{16}", "sha256:<hash>", text)
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def console(block: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines shown under it) of a console block."""
    found: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        else:
            found[-1][1].append(line)
    return found


def test_the_tutorial_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ran: list[str] = []
    for event in EVENT.finditer(TUTORIAL):
        if event["console"] is not None:
            for command, shown in console(event["console"]):
                argv = shlex.split(command)
                assert argv[0] == "clearline", command
                result = runner.invoke(app, argv[1:])
                expected = 1 if any(line.startswith("FAIL ") for line in shown) else 0
                assert result.exit_code == expected, (command, result.output)
                assert normal(result.output) == normal("\n".join(shown)), command
                ran.append(command)
        elif event["name"] is not None:
            Path(event["name"]).write_text(event["csv"], encoding="utf-8")
        elif event["old"] is not None:
            text = Path("acme.contract").read_text(encoding="utf-8")
            assert text.count(event["old"]) == 1, event["old"]
            Path("acme.contract").write_text(text.replace(event["old"], event["new"]), encoding="utf-8")
        else:
            statement = "\n".join(normal(STATEMENT.read_text(encoding="utf-8")))
            assert "\n".join(normal(event["markdown"])) in statement
    assert ran[0] == "clearline new contract acme.contract"
    assert ran.count("clearline test acme.contract") == 3  # passes, fails after the edit, passes again
    assert any(c.startswith("clearline simulate") for c in ran)
    assert any(c.startswith("clearline explain out/acme-2026-03 --record") for c in ran)
    # "The invoices are in Polish, the customers' language."
    invoice = Path("out/acme-2026-03/documents/invoice-2026-03-C-1.md").read_text(encoding="utf-8")
    assert invoice.startswith("# Faktura INV-2026-03-C-1-")
