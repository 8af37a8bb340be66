"""Highlighting: the Pygments lexer registered as `clearline`, and the TextMate grammar
of editors/vscode kept in step with the language's grammar."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Number, String

from clearline.authoring.pygments_lexer import ClearlineLexer, textmate_grammar
from conftest import CONTRACTS, ROOT

BUNDLED = sorted([*CONTRACTS.glob("*.contract"), *(ROOT / "docs" / "examples").glob("*.contract")])


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_every_bundled_contract_tokenizes_without_error_tokens(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = list(get_lexer_by_name("clearline").get_tokens(text))
    assert [value for kind, value in found if kind in Error] == []
    assert "".join(value for _, value in found) == text  # nothing lost or invented


def test_the_lexer_is_registered_by_name_and_by_file_name() -> None:
    assert isinstance(get_lexer_by_name("clearline"), ClearlineLexer)
    assert isinstance(get_lexer_for_filename("streamplus.contract"), ClearlineLexer)


def test_words_get_their_kinds() -> None:
    text = 'round the period total half up to 0.01  # why\nvat 23% reverse charge "x"'
    kinds = {value: kind for kind, value in ClearlineLexer().get_tokens(text) if value.strip()}
    assert kinds["round"] in Keyword and kinds["period"] in Keyword
    assert kinds["half up"] in Keyword.Constant and kinds["reverse charge"] in Keyword.Constant
    assert kinds["0.01"] in Number and kinds["23%"] in Number
    assert kinds["# why"] in Comment and kinds['"x"'] in String


def test_the_vscode_grammar_is_up_to_date() -> None:
    """Regenerate with `python scripts/gen_textmate.py` after changing the grammar's words."""
    path = ROOT / "editors" / "vscode" / "syntaxes" / "clearline.tmLanguage.json"
    assert json.loads(path.read_text(encoding="utf-8")) == textmate_grammar()
    for pattern in textmate_grammar()["patterns"]:
        re.compile(pattern["match"])  # Oniguruma reads these; Python's re accepts the same subset
    package = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text(encoding="utf-8"))
    assert package["contributes"]["grammars"][0]["scopeName"] == textmate_grammar()["scopeName"]
