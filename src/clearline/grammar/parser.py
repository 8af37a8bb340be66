"""Source text -> AST, or syntax diagnostics.

The Lark LALR parser is built once per process (cached; it holds no state
between parses). Raw Lark errors are translated into messages about what the
writer meant: first by matching the failing state against a table of known
mistakes (`match_examples`), then by naming what would have been valid there
(`interactive_parser.accepts()`), in words rather than token names.
"""

from __future__ import annotations

import functools
from importlib import resources

from lark import Lark, Token, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import VisitError

from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.grammar import ast
from clearline.grammar.to_ast import build
from clearline.source import SourceFile, Span

__all__ = ["MAX_NESTING", "parse_source"]

MAX_NESTING = 64

# What each terminal means, in the words a contract writer uses.
_TERMINAL_WORDS: dict[str, str] = {
    "CONTRACT_ID": "a contract id like SP-2026",
    "NAME": "a lower-case name like streamco",
    "CURRENCY": "a currency code like EUR",
    "COUNTRY": "a country code like PL",
    "LANG": "a language code like en",
    "TZ": "a time zone like Europe/Warsaw",
    "DATE": "a date like 2026-01-01",
    "PERCENT": "a percentage like 55%",
    "NUMBER": "a number like 39.00",
    "INT": "a whole number",
    "STRING": 'a quoted text like "4.2 Revenue share"',
    "PERIOD_KIND": "daily, weekly, monthly or quarterly",
    "ROLE": "operator or partner",
    "FIELD_TYPE": "text, decimal, integer, date or timestamp",
    "ROUND_MODE": "half up, half even, half down, down or up",
    "BASE": "net or gross",
    "UNIT": "a unit like minute, second, month or MB",
    "COMPARE": "a comparison like = or >",
    "LBRACE": "{",
    "RBRACE": "}",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "SLASH": "/",
    "PLUS": "+",
    "MINUS": "-",
    "STAR": "*",
    "$END": "the end of the file",
}

# Known mistakes: (message, hint, example texts that fail the same way).
_EXAMPLES: list[tuple[str, str, list[str]]] = [
    (
        'a contract starts with `contract ID "title" {`',
        'write e.g. `contract SP-2026 "StreamPlus" {`',
        ["version 1", 'partner x "X"', "{"],
    ),
    (
        "a percentage needs the base it is taken of",
        "write `55% of net` or `55% of gross`",
        [
            'contract A { product p { clause "1" { pay x 55% } } }',
            'contract A { product p { clause "1" { pay x 55% net } } }',
        ],
    ),
    (
        "`pay` needs the party it pays",
        "write `pay streamco 55% of net`, naming a declared party",
        [
            'contract A { product p { clause "1" { pay 55% of net } } }',
            'contract A { product p { clause "1" { pay 1.00 EUR } } }',
        ],
    ),
    (
        "an amount of money needs its currency",
        "write the ISO currency code after the number, e.g. `39.00 PLN`",
        [
            'contract A { product p { clause "1" { charge customer 39.00 per month } } }',
            'contract A { product p { clause "1" { pay x 39.00 per month } } }',
            'contract A { product p { clause "1" { charge customer 39.00 } } }',
        ],
    ),
    (
        "a clause needs a label in quotes",
        'write e.g. `clause "4.2 Revenue share" { ... }`',
        ["contract A { product p { clause { } } }", "contract A { product p { clause x { } } }"],
    ),
    (
        "the effective interval needs both dates",
        "write `effective 2026-01-01 until 2027-01-01`",
        ["contract A { effective 2026-01-01 }", "contract A { effective 2026-01-01 version"],
    ),
    (
        "a rounding needs its mode and quantum",
        "write e.g. `round each line half up to 0.01`",
        [
            'contract A { product p { clause "1" { round each line to 0.01 } } }',
            'contract A { product p { clause "1" { round half up 0.01 } } }',
        ],
    ),
]


@functools.cache
def _lark() -> Lark:
    grammar = resources.files("clearline.grammar").joinpath("clearline.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _span_at(file: str, line: int, col: int, width: int = 1) -> Span:
    return Span(file, line, col, line, col + width)


def _expected_words(names: set[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(n, _keyword(n)) for n in names if not n.startswith("__")})
    if len(words) > 8:
        words = [*words[:8], "..."]
    return ", ".join(words)


def _keyword(name: str) -> str:
    # Anonymous keyword terminals are named after their text, e.g. "PAY" -> `pay`.
    for term in _lark().terminals:
        if term.name == name and term.pattern.type == "str":
            return f"`{term.pattern.value}`"
    return name.lower()


def _token_text(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"`{token}`"


def _syntax_diagnostic(err: UnexpectedInput, source: SourceFile) -> Diagnostic:
    file = source.name
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream or 0
        char = source.text[pos] if pos < len(source.text) else ""
        span = _span_at(file, err.line, err.column)
        if char == '"':
            return Diagnostic(
                "E0102",
                "this text has no closing quote",
                span,
                'close it with `"` on the same line; write \\" for a quote inside the text',
            )
        expected = _expected_words(set(err.allowed or ()))
        return Diagnostic(
            "E0103" if not char.isalnum() else "E0101",
            f"unexpected `{char}` here" if char.strip() else "unexpected character here",
            span,
            f"expected {expected}" if expected else None,
        )
    if isinstance(err, UnexpectedToken):
        token = err.token
        if token.type == "$END":
            lines = source.text.splitlines() or [""]
            span = _span_at(file, len(lines), len(lines[-1]) + 1)
        else:
            span = Span(
                file,
                token.line or 1,
                token.column or 1,
                token.end_line or token.line or 1,
                token.end_column or (token.column or 1) + 1,
            )
        label = err.match_examples(_lark().parse, {msg: ex for msg, _, ex in _EXAMPLES}, use_accepts=True)
        if isinstance(label, str):
            hint = next(h for msg, h, _ in _EXAMPLES if msg == label)
            return Diagnostic("E0101", f"{label}, but found {_token_text(token)}", span, hint)
        try:
            accepts: set[str] = err.interactive_parser.accepts()  # type: ignore[no-untyped-call]  # lark lacks annotations here
        except Exception:  # the interactive parser can fail on a broken state
            accepts = set(err.expected)
        return Diagnostic(
            "E0101",
            f"unexpected {_token_text(token)}",
            span,
            f"expected {_expected_words(set(accepts))}",
        )
    if isinstance(err, UnexpectedEOF):
        lines = source.text.splitlines() or [""]
        return Diagnostic(
            "E0101",
            "the file ends too early",
            _span_at(file, len(lines), len(lines[-1]) + 1),
            f"expected {_expected_words(set(err.expected))}",
        )
    return Diagnostic("E0101", str(err).splitlines()[0], _span_at(file, 1, 1))


def _nesting_depth(text: str) -> tuple[int, int]:
    """Deepest parenthesis nesting and the offset where it is reached."""
    depth = best = where = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
            if depth > best:
                best, where = depth, i
        elif ch == ")":
            depth -= 1
    return best, where


def parse_source(source: SourceFile) -> ast.Document:
    """Parse one file (contract, amendment or library); raise ClearlineError with syntax diagnostics."""
    depth, where = _nesting_depth(source.text)
    if depth > MAX_NESTING:
        line = source.text.count("\n", 0, where) + 1
        col = where - (source.text.rfind("\n", 0, where) + 1) + 1
        raise ClearlineError(
            [
                Diagnostic(
                    "E0105",
                    f"parentheses are nested {depth} deep; Clearline accepts at most {MAX_NESTING}",
                    _span_at(source.name, line, col),
                    "split the expression into simpler rules",
                )
            ]
        )
    try:
        tree = _lark().parse(source.text)
    except UnexpectedInput as err:
        raise ClearlineError([_syntax_diagnostic(err, source)]) from None
    try:
        return build(tree, source.name)
    except VisitError as err:  # unwrap errors raised inside the builder
        raise err.orig_exc from None
