"""docs/authoring.md is tested: its formatter example is what `clearline fmt` makes of the
contract shown, and every `clearline` command it shows runs and prints what it shows."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from typer.testing import CliRunner

import clearline
from clearline.authoring.formatter import format_text
from clearline.cli import app
from clearline.source import SourceFile
from conftest import ROOT
from test_fmt import meaning

DOC = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
# what each command shown exits with: a diff that changes money (or anything) exits 1
EXIT = {"fmt": 0, "diff": 1}


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


def shown_commands() -> list[tuple[list[str], str]]:
    """(argv, the output shown under it) for each `$ clearline` line."""
    found = []
    for block in blocks("console"):
        for chunk in re.split(r"^(?=\$ )", block, flags=re.M):
            if not chunk.startswith("$ "):
                continue
            command, _, output = chunk.partition("\n")
            found.append((shlex.split(command[2:], comments=True), output))
    return found


def test_the_formatter_example_is_what_fmt_prints() -> None:
    before, after = blocks("clearline")[:2]
    assert format_text(SourceFile("before.contract", before)) == after
    assert format_text(SourceFile("after.contract", after)) == after
    assert meaning(clearline.plan(SourceFile("x.contract", before))) == meaning(
        clearline.plan(SourceFile("x.contract", after))
    )


def test_the_commands_shown_run_and_print_what_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for argv, output in shown_commands():
        if argv[0] != "clearline" or argv[1] not in EXIT or "OLD" in argv:
            continue  # pip, pygmentize (below), the server (tests/test_lsp.py), synopses
        result = CliRunner().invoke(app, argv[1:])
        assert result.exit_code == EXIT[argv[1]], (argv, result.output)
        if output:
            assert result.output == output, argv
        ran += 1
    assert ran == 5


def test_pygmentize_with_the_clearline_lexer() -> None:
    argv = next(a for a, _ in shown_commands() if a[0] == "pygmentize")
    text = (ROOT / argv[-1]).read_text(encoding="utf-8")
    html = highlight(text, get_lexer_by_name(argv[argv.index("-l") + 1]), HtmlFormatter())
    assert '<span class="k">settle</span>' in html and 'class="err"' not in html
