"""What `clearline validate` tells a contract writer, pinned in golden files.

Each `tests/diagnostics/<name>.contract` is a realistic contract with one
kind of mistake (its first line says which); `<name>.expected` next to it is
exactly what `clearline validate` prints for it, as rendered by
`clearline.diagnostics.render_all`. The name starts with the code the
fixture shows, so every code validate can report has at least one.

When a change to the messages is intended, rewrite the goldens and read the
diff as a partner manager would:

    CLEARLINE_UPDATE_GOLDENS=1 .venv/bin/pytest tests/test_diagnostics.py
    git diff tests/diagnostics/

Paths in the output are relative to the repository root, where the tests run.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.diagnostics import CODES, ClearlineError, Diagnostic, render_all
from clearline.errors_doc import ENTRIES, render_errors_doc
from clearline.grammar import mistakes, parser
from clearline.source import SourceFile
from conftest import CONTRACTS, ROOT

FIXTURES = Path(__file__).resolve().parent / "diagnostics"
UPDATE_GOLDENS = os.environ.get("CLEARLINE_UPDATE_GOLDENS") == "1"
CASES = sorted(p.stem for p in FIXTURES.glob("*.contract"))

# Codes that `validate` cannot produce: they come from linking several files
# (imports, amendments, versions), from `clearline test`, or from a run.
# E0110 (a contract over the size limit) is tested in test_bounded_inputs: its fixture would be 10 MB
NOT_FROM_VALIDATE = {"E0110", "E0406", "E0407", "E0408", "E0409", "E0410", "E0412"} | {
    c
    for c in CODES
    # runs, the ledger, records' rejects, and issuing documents
    if c.startswith(("E05", "E07", "E08")) or c in {"E0908", "E0909", "E0910", "E0911", "E0912"}
}

# What a writer must never see: Python, Lark's names for tokens, grammar words.
LEAKS = re.compile(
    r"Traceback|__ANON|\$END|\b(RBRACE|LBRACE|RPAR|LPAR|COMMA|NAME|STRING|NUMBER|CURRENCY|PERCENT|"
    r"CONTRACT_ID|INT|DATE|TZ|UNIT|BASE)\b|Token\(|terminal|grammar|rule `"
)


def validate(relative: str) -> tuple[list[Diagnostic], dict[str, SourceFile]]:
    """The diagnostics and sources of one file, as `clearline validate` finds them."""
    try:
        source = clearline.read_source(relative)
    except ClearlineError as err:
        return err.diagnostics, {}
    try:
        found = clearline.check(clearline.parse(source))
    except ClearlineError as err:
        found = err.diagnostics
    return found, {source.name: source}


def rendered(name: str) -> tuple[str, list[Diagnostic]]:
    diagnostics, sources = validate(f"tests/diagnostics/{name}.contract")
    return render_all(diagnostics, sources) + "\n", diagnostics


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    output, diagnostics = rendered(name)
    golden = FIXTURES / f"{name}.expected"
    if UPDATE_GOLDENS:
        golden.write_text(output, encoding="utf-8")
    assert golden.is_file(), f"no golden for {name}: run with CLEARLINE_UPDATE_GOLDENS=1"
    assert output == golden.read_text(encoding="utf-8")
    # The fixture shows the code its name starts with, and only mistakes of that kind
    # (several_mistakes aside).
    code = name.split("_")[0]
    if code in CODES:
        assert {d.code for d in diagnostics} == {code}, output
    assert not LEAKS.search(output), output


def test_every_code_validate_can_report_has_a_fixture() -> None:
    shown = {name.split("_")[0] for name in CASES}
    assert sorted(set(CODES) - NOT_FROM_VALIDATE - shown) == []


def test_every_fixture_has_a_golden_and_every_golden_a_fixture() -> None:
    goldens = {p.stem for p in FIXTURES.glob("*.expected")}
    assert goldens == set(CASES)


def test_every_diagnostic_has_a_hint_and_points_at_text() -> None:
    for name in CASES:
        _, diagnostics = rendered(name)
        for d in diagnostics:
            if d.code == "E0104":  # an unreadable file has no text to point at
                continue
            assert d.hint, (name, d)
            assert d.span is not None and (d.span.end_col > d.span.col or d.span.end_line > d.span.line)


def test_validate_prints_the_golden_and_fails() -> None:
    name = "E0301_add_eur_to_pln"
    result = CliRunner().invoke(app, ["validate", f"tests/diagnostics/{name}.contract"])
    assert result.exit_code == 1
    golden = (FIXTURES / f"{name}.expected").read_text(encoding="utf-8")
    assert result.stderr == golden + "1 error(s), 0 warning(s)\n"
    assert result.stdout == ""


def no_details(ids: str) -> str:
    """What validate says of contracts that give no party's particulars."""
    return (
        f"note: no `details of PARTY {{ ... }}` in {ids}: the invoices and statements lack the"
        " particulars art. 226 asks (legal names, addresses, VAT ids) and stay drafts (docs/reports.md)\n"
    )


def late_default(ids: str) -> str:
    """What validate says of the contracts that rely on the default late-usage window."""
    return (
        f"default: late usage is taken until 1 later period is closed, for {ids}"
        " (`accept late usage for N periods` changes it)\n"
    )


def test_validate_warnings_alone_pass() -> None:
    name = "W0101_default_rounding"
    result = CliRunner().invoke(app, ["validate", f"tests/diagnostics/{name}.contract"])
    assert result.exit_code == 0
    golden = (FIXTURES / f"{name}.expected").read_text(encoding="utf-8")
    assert result.stderr == golden + "0 error(s), 1 warning(s)\n"
    assert result.stdout == "1 contract(s) OK\n" + no_details("SP-2026") + late_default("SP-2026")


def test_validate_the_example_contracts() -> None:
    result = CliRunner().invoke(app, ["validate", "contracts"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    count = len(list(CONTRACTS.rglob("*.contract")))
    assert result.stdout == f"{count} contract(s) OK\n" + late_default("FI-2026, GS-2026, NC-2026, SP-2026")


@pytest.mark.parametrize(
    "expr",
    [
        "55% of net" + " + 1.00 PLN" * 1000,  # a long sum is a deep tree, not deep parentheses
        "(" * (parser.MAX_NESTING + 1) + "55% of net" + ")" * (parser.MAX_NESTING + 1),
    ],
)
def test_too_deep_is_a_diagnostic_not_a_crash(expr: str) -> None:
    text = (FIXTURES / "E0301_add_eur_to_pln.contract").read_text(encoding="utf-8")
    source = SourceFile("deep.contract", text.replace("55% of net + 1.00 EUR", expr))
    with pytest.raises(ClearlineError) as info:
        clearline.parse(source)
    assert [d.code for d in info.value.diagnostics] == ["E0105"]


def test_a_very_long_number_is_a_diagnostic() -> None:
    text = (FIXTURES / "E0301_add_eur_to_pln.contract").read_text(encoding="utf-8")
    source = SourceFile("long.contract", text.replace("version 3", "version " + "9" * 5000))
    with pytest.raises(ClearlineError) as info:
        clearline.parse(source)
    assert [d.code for d in info.value.diagnostics] == ["E0207"]


def test_every_known_mistake_example_gets_its_message() -> None:
    for mistake in mistakes.KNOWN_MISTAKES:
        for example in mistake.examples:
            with pytest.raises(ClearlineError) as info:
                clearline.parse(SourceFile("example.contract", example))
            (diag,) = info.value.diagnostics
            assert diag.code == "E0101", example
            assert diag.message.startswith(mistake.message.split("{")[0]), (example, diag.message)


def _mutations(text: str, rng: random.Random, count: int) -> list[str]:
    """Texts one edit away from `text`: a word dropped, doubled, swapped, or a stray character."""
    words = list(re.finditer(r'"[^"\n]*"|\S+', text))
    out = []
    for _ in range(count):
        m = rng.choice(words)
        other = rng.choice(words).group()
        op = rng.randrange(4)
        if op == 0:
            out.append(text[: m.start()] + text[m.end() :])
        elif op == 1:
            out.append(text[: m.start()] + other + " " + text[m.start() :])
        elif op == 2:
            out.append(text[: m.start()] + other + text[m.end() :])
        else:
            at = rng.randrange(len(text))
            out.append(text[:at] + rng.choice('{}()",;%§€x1.-\t') + text[at:])
    return out


@pytest.mark.parametrize("path", sorted(CONTRACTS.glob("*.contract")), ids=lambda p: p.stem)
def test_one_edit_away_never_crashes_or_leaks(path: Path) -> None:
    """Any contract one edit away from an example gets diagnostics a writer can read."""
    rng = random.Random(path.stem)
    limit = sys.getrecursionlimit()
    for text in _mutations(path.read_text(encoding="utf-8"), rng, 150):
        source = SourceFile("edited.contract", text)
        try:
            found = clearline.check(clearline.parse(source))
        except ClearlineError as err:
            found = err.diagnostics
        output = render_all(found, {source.name: source})
        assert not LEAKS.search(output), output
        assert all(d.code in CODES for d in found)
    assert sys.getrecursionlimit() == limit


# The error guide ---------------------------------------------------------------------------


def test_every_code_has_a_guide_entry_with_an_example() -> None:
    assert sorted(set(CODES) - set(ENTRIES)) == [], "add an entry to clearline/errors_doc.py"
    assert sorted(set(ENTRIES) - set(CODES)) == [], "an entry for a code the registry lacks"
    for code, entry in ENTRIES.items():
        assert entry.wrote.strip(), f"{code}: no example of what the writer wrote"
        assert entry.wrong.strip() and entry.fix.strip(), code


def test_every_code_in_the_source_is_registered() -> None:
    used = set()
    for path in (ROOT / "src" / "clearline").rglob("*.py"):
        used |= set(re.findall(r"\b([EW]0[1-9]\d\d)\b", path.read_text(encoding="utf-8")))
    assert sorted(used - set(CODES)) == []


def test_the_error_guide_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_errors_doc", ROOT / "scripts" / "gen_errors_doc.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--check"]) == 0, "run: .venv/bin/python scripts/gen_errors_doc.py"
    assert (ROOT / "docs" / "errors.md").read_text(encoding="utf-8") == render_errors_doc()
