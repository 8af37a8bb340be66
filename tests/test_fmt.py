"""`clearline fmt`: canonical layout, every comment kept, meaning unchanged.

The properties run over the grammar-directed contract generator of
test_properties, laid out at random (extra spaces, indentation, blank lines,
comments): the formatter is idempotent, undoes the random layout, keeps every
comment and leaves the plan as it was (the plan JSON without the places it
quotes the source: spans, excerpts, the file's hash).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import clearline
from clearline.authoring.files import write_atomic
from clearline.authoring.formatter import KNOWN_RULES, format_text
from clearline.cli import app
from clearline.compiler import ir
from clearline.grammar.concrete import concrete_tree, tokens
from clearline.source import SourceFile
from conftest import CONTRACTS
from test_properties import RandomContract, random_contracts

MESSY = """

# leading comment
contract   X-1 "Messy"
{
version 1   # trailing
        effective 2026-01-01 until 2027-01-01
  settle monthly in EUR , time zone Europe/Warsaw



  operator op "Op" currency EUR   # the operator
    partner   pa "Partner A" currency EUR country PL
  # a comment between
  usage fields {



     service text    product text
  }
  rate table t by value of service { "a" 0.5 EUR per minute , increments 030 / 6
  "bbbb" 10.25 EUR per minute }
  product calls "Calls" {
    matches service = "voice" and ( service != "x" )
    measured in seconds
    answered when quantity > 0
    clause "1" "prose text" {
      charge customer the rate from table t,
        connect fee 0.01 EUR
      round each line half up to 0.01
    }
    clause "2" {
      pay pa 10% of net
      # before close
    }
  }
  example "e" { period 2026-03
  usage { "record_id,timestamp,customer_id,service,quantity"
  }
  expect retained "op" - 0.00 EUR }
}
"""

TIDY = """# leading comment
contract X-1 "Messy" {
  version 1  # trailing
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone Europe/Warsaw

  operator op "Op"         currency EUR  # the operator
  partner  pa "Partner A"  currency EUR  country PL
  # a comment between
  usage fields {
    service text
    product text
  }
  rate table t by value of service {
    "a"     0.5   EUR per minute, increments 30/6
    "bbbb"  10.25 EUR per minute
  }
  product calls "Calls" {
    matches service = "voice" and (service != "x")
    measured in seconds
    answered when quantity > 0
    clause "1" "prose text" {
      charge customer the rate from table t,
        connect fee 0.01 EUR
      round each line half up to 0.01
    }
    clause "2" {
      pay pa 10% of net
      # before close
    }
  }
  example "e" {
    period 2026-03
    usage {
      "record_id,timestamp,customer_id,service,quantity"
    }
    expect retained "op" -0.00 EUR
  }
}
"""

PLACES = {"span", "excerpt", "sha256", "file", "sources"}


def meaning(plan: ir.ContractPlan) -> Any:
    """The plan JSON without where it quotes the source (spans, excerpts, hashes, file
    names); a rule's quoted text compared word for word, not by its spacing."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: "".join(v.split()) if k == "text" and isinstance(v, str) else strip(v)
                for k, v in value.items()
                if k not in PLACES
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(json.dumps(ir.to_json(plan))))


def fmt(text: str, name: str = "x.contract") -> str:
    return format_text(SourceFile(name, text))


def test_a_messy_contract_gets_the_canonical_layout_and_keeps_its_comments() -> None:
    """Indentation by blocks, one statement a line, columns of parties, fields and rate rows
    aligned, `030` spelled `30`, blank-line groups kept (one blank line at most)."""
    assert fmt(MESSY) == TIDY
    assert fmt(TIDY) == TIDY


def test_formatting_keeps_the_plan() -> None:
    assert meaning(clearline.plan(SourceFile("x.contract", MESSY))) == meaning(
        clearline.plan(SourceFile("x.contract", TIDY))
    )


def test_a_rule_the_formatter_does_not_know_keeps_its_own_spacing() -> None:
    """A construct added to the grammar later is re-indented, never re-spaced: here rate rows
    stand for it (the formatter is told it does not know them)."""
    out = format_text(
        SourceFile("x.contract", MESSY), KNOWN_RULES - {"rate_row", "increments", "money", "unit"}
    )
    assert '    "a" 0.5 EUR per minute , increments 030 / 6\n' in out
    assert '    "bbbb" 10.25 EUR per minute\n' in out


def test_bundled_contracts_are_formatted() -> None:
    result = CliRunner().invoke(app, ["fmt", "--check", str(CONTRACTS)])
    assert result.exit_code == 0, result.output
    assert "0 file(s) would be reformatted, 4 left as they were" in result.output


def test_check_prints_a_unified_diff_exits_1_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "messy.contract"
    path.write_text(MESSY, encoding="utf-8")
    result = CliRunner().invoke(app, ["fmt", "--check", str(path)])
    assert result.exit_code == 1
    assert f"--- {path} (as written)\n+++ {path} (formatted)\n" in result.output
    assert (
        '-  rate table t by value of service { "a" 0.5 EUR per minute , increments 030 / 6\n' in result.output
    )
    assert '+    "a"     0.5   EUR per minute, increments 30/6\n' in result.output
    assert path.read_text(encoding="utf-8") == MESSY
    result = CliRunner().invoke(app, ["fmt", str(path)])
    assert result.exit_code == 0
    assert path.read_text(encoding="utf-8") == TIDY
    assert CliRunner().invoke(app, ["fmt", "--check", str(path)]).exit_code == 0


def test_bad_input_gets_the_diagnostics_of_validate_and_stays_as_it_was(tmp_path: Path) -> None:
    bad = tmp_path / "bad.contract"
    text = "contract X {\n  versoin 1\n}\n"
    bad.write_text(text, encoding="utf-8")
    runner = CliRunner()
    formatted = runner.invoke(app, ["fmt", str(bad)])
    validated = runner.invoke(app, ["validate", str(bad)])
    assert formatted.exit_code == validated.exit_code == 1
    assert f"{bad}:2:3: error[E0101]: unknown word `versoin`" in formatted.stderr
    assert "did you mean `version`?" in formatted.stderr
    assert formatted.stderr == validated.stderr
    assert bad.read_text(encoding="utf-8") == text


def test_the_rewrite_is_atomic_and_keeps_the_permissions(tmp_path: Path) -> None:
    path = tmp_path / "c.contract"
    path.write_text(MESSY, encoding="utf-8")
    os.chmod(path, 0o640)
    write_atomic(path, TIDY)
    assert path.read_text(encoding="utf-8") == TIDY
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.contract"]  # no temporary file left


@st.composite
def laid_out_at_random(draw: st.DrawFn, text: str, with_comments: bool) -> tuple[str, list[str]]:
    """The same tokens, each line break kept, with random spaces between tokens, random
    indentation, more blank lines where there was one and (optionally) trailing and own-line comments."""
    toks = tokens(concrete_tree(SourceFile("x.contract", text)))
    out: list[str] = []
    notes: list[str] = []
    for prev, tok in zip([None, *toks], toks, strict=False):
        if prev is None:
            out.append(" " * draw(st.integers(0, 3)))
        elif tok.line == prev.end_line:
            out.append(" " * draw(st.integers(1, 3)))
        else:
            if with_comments and draw(st.integers(0, 4)) == 0:
                note = f"# note {len(notes)}"
                notes.append(note)
                out.append(" " + note)
            gap = tok.line - prev.end_line  # a blank line may grow, not appear
            out.append("\n" * (gap + (draw(st.integers(0, 2)) if gap > 1 else 0)))
            if with_comments and draw(st.integers(0, 6)) == 0:
                note = f"# own line {len(notes)}"
                notes.append(note)
                out.append(note + "\n")
            out.append(" " * draw(st.integers(0, 8)))
        out.append(tok.value)
    return "".join(out) + "\n" * draw(st.integers(0, 3)), notes


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=st.data(), contract=random_contracts(1))
def test_fmt_undoes_any_layout_and_is_idempotent(data: st.DataObject, contract: RandomContract) -> None:
    messy, _ = data.draw(laid_out_at_random(contract.text, with_comments=False))
    once = fmt(messy)
    assert fmt(once) == once
    assert once == fmt(contract.text)


@PROPERTY
@given(data=st.data(), contract=random_contracts(1))
def test_fmt_keeps_the_plan_and_every_comment(data: st.DataObject, contract: RandomContract) -> None:
    messy, notes = data.draw(laid_out_at_random(contract.text, with_comments=True))
    once = fmt(messy)
    assert fmt(once) == once
    for note in notes:
        assert once.count(note + "\n") == 1, note
    before = clearline.plan(SourceFile("x.contract", messy))
    after = clearline.plan(SourceFile("x.contract", once))
    assert meaning(before) == meaning(after)
    assert meaning(clearline.plan(SourceFile("x.contract", contract.text))) == meaning(after)


def test_amendments_and_libraries_are_formatted_too() -> None:
    from test_amendments import LIBRARY, RAISE_SHARE

    messy = RAISE_SHARE.replace("  version 4", "version   4").replace("    pay", "pay")
    assert fmt(messy) == RAISE_SHARE
    assert fmt(LIBRARY) == LIBRARY.replace('"TelcoPL S.A." currency', '"TelcoPL S.A."  currency').replace(
        "currency PLN country PL language pl", "currency PLN  country PL  language pl"
    )


def test_a_folder_with_a_bad_file_formats_the_others_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "good.contract").write_text(MESSY, encoding="utf-8")
    (tmp_path / "bad.contract").write_text("contract X {\n  versoin 1\n}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["fmt", str(tmp_path)])
    assert result.exit_code == 1
    assert (tmp_path / "good.contract").read_text(encoding="utf-8") == TIDY
    assert (tmp_path / "bad.contract").read_text(encoding="utf-8") == "contract X {\n  versoin 1\n}\n"
    assert "1 file(s) reformatted, 0 left as they were" in result.output
