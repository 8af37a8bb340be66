"""Lark tree -> AST, the declarations: parties and their particulars, usage fields,
rate tables and their rows (a mixin of `to_ast._Builder`)."""

from __future__ import annotations

from typing import Any

from lark import Token, v_args
from lark.tree import Meta

from clearline.grammar import ast
from clearline.grammar.to_ast_base import _Spans, _unquote
from clearline.source import Span

__all__: list[str] = []


class _DeclarationBuilder(_Spans):
    @v_args(meta=True)
    def party(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        role, name, title = children[0], children[1], children[2]
        attrs: dict[str, str] = {}
        for kind, value in children[3:]:
            attrs.setdefault(kind, value)
        return (
            "party",
            ast.Party(
                role=str(role),
                name=self.ident(name),
                title=_unquote(title),
                currency=attrs.get("currency"),
                country=attrs.get("country"),
                language=attrs.get("language"),
                span=self.span(meta),
            ),
        )

    @v_args(meta=True)
    def details(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        name, *items = children
        return ("details", ast.Details(self.ident(name), tuple(items), self.span(meta)))

    def _detail(self, key: str, meta: Meta, children: list[Token]) -> ast.Detail:
        value = children[0]
        text = _unquote(value) if value.type == "STRING" else str(value)
        return ast.Detail(key, text, self.span(meta), self.tspan(value))

    @v_args(meta=True)
    def detail_legal_name(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("legal name", meta, children)

    @v_args(meta=True)
    def detail_address(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("address", meta, children)

    @v_args(meta=True)
    def detail_postcode(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("postcode", meta, children)

    @v_args(meta=True)
    def detail_city(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("city", meta, children)

    @v_args(meta=True)
    def detail_country(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("country", meta, children)

    @v_args(meta=True)
    def detail_vat_id(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("vat id", meta, children)

    @v_args(meta=True)
    def detail_registration(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("registration", meta, children)

    @v_args(meta=True)
    def detail_iban(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("iban", meta, children)

    @v_args(meta=True)
    def detail_bic(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("bic", meta, children)

    @v_args(meta=True)
    def detail_payment_due(self, meta: Meta, children: list[Token]) -> ast.Detail:
        return self._detail("payment due", meta, children)

    def party_currency(self, children: list[Token]) -> tuple[str, str]:
        return ("currency", str(children[0]))

    def party_country(self, children: list[Token]) -> tuple[str, str]:
        return ("country", str(children[0]))

    def party_language(self, children: list[Token]) -> tuple[str, str]:
        return ("language", str(children[0]))

    def usage_fields(self, children: list[ast.FieldDecl]) -> tuple[str, Any]:
        return ("fields", tuple(children))

    @v_args(meta=True)
    def field_decl(self, meta: Meta, children: list[Any]) -> ast.FieldDecl:
        labels = children[2] if len(children) > 2 else ()
        return ast.FieldDecl(self.ident(children[0]), str(children[1]), self.span(meta), labels)

    def field_labels(self, children: list[Token]) -> tuple[tuple[str, str, Span], ...]:
        first, rest = children[0], children[1:]
        found = [("", _unquote(first), self.tspan(first))]
        pairs = zip(rest[::2], rest[1::2], strict=True)
        found += [(str(lang), _unquote(text), self.tspan(lang)) for lang, text in pairs]
        return tuple(found)

    # rate tables ---------------------------------------------------------------
    @v_args(meta=True)
    def rate_table(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        name, key_kind, field, *rows = children
        return (
            "table",
            ast.RateTable(self.ident(name), key_kind, self.ident(field), tuple(rows), self.span(meta)),
        )

    def key_prefix(self, children: list[Any]) -> str:
        return "prefix"

    def key_value(self, children: list[Any]) -> str:
        return "value"

    @v_args(meta=True)
    def rate_row(self, meta: Meta, children: list[Any]) -> ast.RateRow:
        key, money, unit, *options = children
        price = ast.Money(money.amount, money.currency, unit, money.span)  # the caret under the price
        increments = next((o for o in options if isinstance(o, ast.Increments)), None)
        connect = next((o for o in options if isinstance(o, ast.ConnectFee)), None)
        return ast.RateRow(_unquote(key), price, increments, connect, self.span(meta))

    @v_args(meta=True)
    def increments(self, meta: Meta, children: list[Token]) -> ast.Increments:
        return ast.Increments(int(children[0]), int(children[1]), self.span(meta))

    @v_args(meta=True)
    def connect_fee(self, meta: Meta, children: list[Any]) -> ast.ConnectFee:
        return ast.ConnectFee(children[0], self.span(meta))
