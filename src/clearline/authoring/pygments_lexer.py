"""Contract text -> highlighted tokens: a Pygments lexer and a TextMate grammar.

Input: clearline.lark (the words are read from the grammar itself, so a keyword
added to the language is highlighted without touching this module). Output:
`ClearlineLexer`, registered with Pygments as `clearline` (the entry point in
pyproject.toml), and `textmate_grammar()`, the JSON written to
editors/vscode/syntaxes/clearline.tmLanguage.json (a test keeps it in step).
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any, ClassVar

from pygments.lexer import RegexLexer, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text

__all__ = ["KEYWORDS", "WORDS", "ClearlineLexer", "textmate_grammar"]


def _grammar_words() -> tuple[list[str], list[str]]:
    """(keywords written as strings in the grammar, fixed words of its word terminals such as
    ROLE or ROUND_MODE), each longest first so `half up` wins over `up`."""
    grammar = resources.files("clearline.grammar").joinpath("clearline.lark").read_text("utf-8")
    code = "\n".join(line.split("//")[0] for line in grammar.splitlines())
    keywords = {w for w in re.findall(r'"([A-Za-z][A-Za-z\' ]*)"', code)}
    fixed: set[str] = set()
    for body in re.findall(r"/\(((?:[A-Za-z' \-]+\??\|?)+)\)\(\?!", code):
        for word in body.split("|"):
            fixed |= {word[:-2], word[:-1]} if word.endswith("s?") else {word}

    def key(w: str) -> tuple[int, str]:
        return -len(w), w

    return sorted(keywords, key=key), sorted(fixed - keywords, key=key)


KEYWORDS, WORDS = _grammar_words()
_END = r"(?![A-Za-z0-9_\-])"


class ClearlineLexer(RegexLexer):  # type: ignore[misc]  # Pygments is untyped
    """Clearline contracts, amendments and libraries."""

    name = "Clearline"
    aliases: ClassVar[list[str]] = ["clearline"]
    filenames: ClassVar[list[str]] = ["*.contract"]
    mimetypes: ClassVar[list[str]] = ["text/x-clearline"]

    tokens: ClassVar[dict[str, list[tuple[Any, Any]]]] = {
        "root": [
            (r"\s+", Text),
            (r"#[^\n]*", Comment.Single),
            (r'"(?:[^"\\\n]|\\["\\n])*"', String.Double),
            (r"[0-9]{4}-[0-9]{2}-[0-9]{2}", Number.Other),  # dates
            (r"[0-9]{4}-(?:[0-9]{2}|Q[1-4]|W[0-9]{2})(?![0-9])", Number.Other),  # periods
            (r"[0-9]+(?:\.[0-9]+)?%", Number.Float),
            (r"[0-9]+(?:\.[0-9]+)?", Number),
            (words(KEYWORDS, suffix=_END), Keyword),
            (words(WORDS, suffix=_END), Keyword.Constant),
            (r"[A-Z]{3}(?![A-Za-z0-9_])", Name.Constant),  # currencies
            (r"[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)+", Name.Constant),  # time zones
            (r"[A-Z]{2}(?![A-Za-z0-9_])", Name.Constant),  # countries
            (r"[A-Za-z][A-Za-z0-9_.\-]*", Name),  # names, contract ids
            (r"!=|<=|>=|[=<>+\-*/]", Operator),
            (r"[{}(),]", Punctuation),
            (r"'", Punctuation),
        ]
    }


def _alternatives(items: list[str]) -> str:
    return "|".join(re.escape(w).replace("\\ ", " ") for w in items)


def textmate_grammar() -> dict[str, Any]:
    """The TextMate grammar of the VS Code extension, from the same words as the lexer."""
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "Clearline",
        "scopeName": "source.clearline",
        "fileTypes": ["contract"],
        "patterns": [
            {"name": "comment.line.number-sign.clearline", "match": "#.*$"},
            {"name": "string.quoted.double.clearline", "match": r'"(?:[^"\\]|\\["\\n])*"'},
            {"name": "constant.numeric.date.clearline", "match": r"\b[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?\b"},
            {"name": "constant.numeric.percent.clearline", "match": r"\b[0-9]+(?:\.[0-9]+)?%"},
            {"name": "constant.numeric.clearline", "match": r"\b[0-9]+(?:\.[0-9]+)?\b"},
            {
                "name": "keyword.other.clearline",
                "match": rf"\b(?:{_alternatives(KEYWORDS)})(?![A-Za-z0-9_\-])",
            },
            {
                "name": "constant.language.clearline",
                "match": rf"\b(?:{_alternatives(WORDS)})(?![A-Za-z0-9_\-])",
            },
            {"name": "support.constant.currency.clearline", "match": r"\b[A-Z]{3}\b"},
            {"name": "variable.other.clearline", "match": r"\b[a-z_][a-z0-9_]*\b"},
            {"name": "keyword.operator.clearline", "match": r"!=|<=|>=|[=<>+\-*/]"},
        ],
    }
