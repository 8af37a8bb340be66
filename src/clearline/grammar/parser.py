"""Source text -> AST, or syntax diagnostics.

Parsing stops at the first syntax error, explained in the writer's words by
`syntax_errors`; inputs that would make the later, recursive stages too deep
(parentheses nested past MAX_NESTING, trees deeper than MAX_DEPTH) are
diagnostics too, never a RecursionError; so are numbers with more digits than
the decimal context holds, which no run could compute with.
"""

from __future__ import annotations

from lark import Token, Tree, UnexpectedInput
from lark.exceptions import VisitError

from clearline import codes
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.grammar import ast
from clearline.grammar.lalr import lalr
from clearline.grammar.syntax_errors import span_at, syntax_diagnostic
from clearline.grammar.text_scan import code_chars, position
from clearline.grammar.to_ast import build
from clearline.money import CONTEXT
from clearline.source import SourceFile, Span

__all__ = ["MAX_DEPTH", "MAX_NESTING", "parse_source"]

# Deepest parenthesis nesting, and deepest syntax tree, Clearline accepts. The
# tree limit keeps the recursive stages after parsing far from Python's stack
# limit (a sum of a thousand terms is a tree a thousand deep).
MAX_NESTING = 64
MAX_DEPTH = 150


def _too_nested(source: SourceFile) -> Diagnostic | None:
    depth = best = where = 0
    for offset, ch in code_chars(source.text):
        if ch == "(":
            depth += 1
            if depth > best:
                best, where = depth, offset
        elif ch == ")":
            depth -= 1
    if best <= MAX_NESTING:
        return None
    line, col = position(source.text, where)
    return Diagnostic(
        codes.NESTING_TOO_DEEP,
        f"parentheses are nested {best} deep; Clearline reads at most {MAX_NESTING}",
        span_at(source.name, line, col),
        "write the amount with fewer parentheses, or split it over several rules",
    )


def _too_deep(tree: Tree[Token], file: str) -> Diagnostic | None:
    """A diagnostic if the tree is deeper than MAX_DEPTH (walked without recursion)."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            line, col = getattr(meta, "line", 1), getattr(meta, "column", 1)
            return Diagnostic(
                codes.NESTING_TOO_DEEP,
                "this is too long or too deeply nested for Clearline to read",
                Span(file, line, col, getattr(meta, "end_line", line), getattr(meta, "end_column", col + 1)),
                "split it over several simpler rules",
            )
        stack += [(child, depth + 1) for child in node.children if isinstance(child, Tree)]
    return None


_NUMBERS = {"NUMBER", "PERCENT", "INT"}


def _out_of_range(tree: Tree[Token], file: str) -> Diagnostic | None:
    """A diagnostic for the first number with more digits than the decimal context holds
    (the range records are read in, `money.parse_decimal`): the arithmetic on it would fail
    at run time, on every record."""
    for token in tree.scan_values(lambda v: isinstance(v, Token) and v.type in _NUMBERS):
        whole, _, decimals = str(token).rstrip("%").partition(".")
        digits = len((whole + decimals).lstrip("0")) or 1
        if digits <= CONTEXT.prec and len(decimals) <= CONTEXT.prec:
            continue
        too_many = (
            f"{len(decimals)} decimals" if len(decimals) > CONTEXT.prec else f"{digits} significant digits"
        )
        line, col = token.line or 1, token.column or 1
        return Diagnostic(
            codes.INVALID_NUMBER,
            f"this number has {too_many}; Clearline reads at most {CONTEXT.prec}",
            Span(file, line, col, token.end_line or line, token.end_column or col + 1),
            "write a number of at most a few dozen digits",
        )
    return None


def parse_source(source: SourceFile) -> ast.Document:
    """Parse one file (contract, amendment or library); raise ClearlineError with syntax diagnostics."""
    nested = _too_nested(source)
    if nested is not None:
        raise ClearlineError([nested])
    try:
        tree = lalr().parse(source.text)
    except UnexpectedInput as err:
        raise ClearlineError([syntax_diagnostic(err, source)]) from None
    deep = _too_deep(tree, source.name) or _out_of_range(tree, source.name)
    if deep is not None:
        raise ClearlineError([deep])
    try:
        return build(tree, source.name)
    except VisitError as err:  # unwrap errors raised inside the builder
        if isinstance(err.orig_exc, ValueError):
            # int() refuses numbers of thousands of digits
            meta = getattr(err.obj, "meta", None)
            line, col = getattr(meta, "line", 1), getattr(meta, "column", 1)
            raise ClearlineError(
                [
                    Diagnostic(
                        codes.INVALID_NUMBER,
                        "this number is too long",
                        span_at(source.name, line, col),
                        "write a number of at most a few dozen digits",
                    )
                ]
            ) from None
        raise err.orig_exc from None
