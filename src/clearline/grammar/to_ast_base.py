"""What every part of the Lark tree -> AST transformer shares: spans of tree nodes
and tokens, identifiers, and quoted texts unquoted (`to_ast` is the transformer)."""

from __future__ import annotations

from lark import Token
from lark.tree import Meta

from clearline.grammar import ast
from clearline.source import Span

__all__: list[str] = []


def _unquote(token: str) -> str:
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append("\n" if nxt == "n" else nxt)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _Spans:
    """Spans and identifiers, for the transformer's parts (mixins of `to_ast._Builder`)."""

    file: str

    # spans ------------------------------------------------------------------
    def span(self, meta: Meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def tspan(self, tok: Token) -> Span:
        return Span(
            self.file,
            tok.line or 1,
            tok.column or 1,
            tok.end_line or tok.line or 1,
            tok.end_column or tok.column or 1,
        )

    def ident(self, tok: Token) -> ast.Ident:
        return ast.Ident(str(tok), self.tspan(tok))
