"""Lark tree -> AST, the amounts: deductions, shares and bases, modifiers, discounts,
splits, roundings, money, arithmetic and the predicates of `matches` (a mixin of
`to_ast._Builder`)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from lark import Token, v_args
from lark.tree import Meta

from clearline.grammar import ast
from clearline.grammar.to_ast_base import _Spans, _unquote

__all__: list[str] = []


class _AmountBuilder(_Spans):
    @v_args(meta=True)
    def deduction(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        name = children[0]
        title = _unquote(children[1]) if len(children) == 3 else None
        return ("deduction", ast.Deduction(self.ident(name), title, children[-1], self.span(meta)))

    def components(self, children: list[Any]) -> tuple[str, Any]:
        return ("components", tuple(children))

    def component(self, children: list[Any]) -> tuple[ast.Ident, ast.Money]:
        return (self.ident(children[0]), children[1])

    @v_args(meta=True)
    def share_after(self, meta: Meta, children: list[Token]) -> ast.Share:
        return ast.Share(
            Decimal(str(children[0])[:-1]), str(children[1]), self.span(meta), after_deductions=True
        )

    @v_args(meta=True)
    def share_billed(self, meta: Meta, children: list[Token]) -> ast.Share:
        return ast.Share(Decimal(str(children[0])[:-1]), str(children[1]), self.span(meta), billed=True)

    @v_args(meta=True)
    def share_of(self, meta: Meta, children: list[Any]) -> ast.ShareOf:
        return ast.ShareOf(Decimal(str(children[0])[:-1]), children[1], self.span(meta))

    @v_args(meta=True)
    def share_allocated(self, meta: Meta, children: list[Token]) -> ast.Share:
        return ast.Share(
            Decimal(str(children[0])[:-1]),
            str(children[1]),
            self.span(meta),
            component=self.ident(children[2]),
        )

    @v_args(meta=True)
    def base_amount(self, meta: Meta, children: list[Token]) -> ast.BaseAmount:
        return ast.BaseAmount(str(children[0]), self.span(meta))

    @v_args(meta=True)
    def base_after(self, meta: Meta, children: list[Token]) -> ast.BaseAmount:
        return ast.BaseAmount(str(children[0]), self.span(meta), after_deductions=True)

    @v_args(meta=True)
    def base_allocated(self, meta: Meta, children: list[Token]) -> ast.BaseAmount:
        return ast.BaseAmount(str(children[0]), self.span(meta), component=self.ident(children[1]))

    @v_args(meta=True)
    def share_remainder(self, meta: Meta, children: list[Token]) -> ast.ShareOf:
        label = children[1]
        inner = ast.RemainderAfter(_unquote(label), self.tspan(label), self.span(meta))
        return ast.ShareOf(Decimal(str(children[0])[:-1]), inner, self.span(meta))

    @v_args(meta=True)
    def remainder_after(self, meta: Meta, children: list[Token]) -> ast.RemainderAfter:
        return ast.RemainderAfter(_unquote(children[0]), self.tspan(children[0]), self.span(meta))

    @v_args(meta=True)
    def payout_to(self, meta: Meta, children: list[Token]) -> ast.PayoutTo:
        return ast.PayoutTo(self.ident(children[0]), self.span(meta))

    @v_args(meta=True)
    def tier_share(self, meta: Meta, children: list[Token]) -> ast.TierRef:
        return ast.TierRef(self.ident(children[0]), self.span(meta), base=str(children[1]))

    def per_transaction(self, children: list[Any]) -> tuple[Any, ...]:
        return ("per_transaction", None, children[0], None, None)

    @v_args(meta=True)
    def floor(self, meta: Meta, children: list[Any]) -> ast.Limit:
        return ast.Limit("floor", children[0], self.span(meta))

    @v_args(meta=True)
    def allowance(self, meta: Meta, children: list[Any]) -> ast.Allowance:
        per = self.ident(children[2]) if len(children) > 2 else None
        return ast.Allowance(Decimal(str(children[0])), children[1], per, self.span(meta))

    @v_args(meta=True)
    def pooled(self, meta: Meta, children: list[Any]) -> ast.Pooled:
        return ast.Pooled(self.span(meta))

    @v_args(meta=True)
    def discount(self, meta: Meta, children: list[Any]) -> ast.Discount:
        amount, target = children
        invoice = target == "invoice"
        clauses = () if invoice else target
        if isinstance(amount, Token):
            return ast.Discount(Decimal(str(amount)[:-1]), None, clauses, self.span(meta), invoice)
        return ast.Discount(None, amount, clauses, self.span(meta), invoice)

    def all_charges(self, children: list[Any]) -> tuple[tuple[str, Any], ...]:
        return ()

    def whole_invoice(self, children: list[Any]) -> str:
        return "invoice"

    def clause_list(self, children: list[Token]) -> tuple[tuple[str, Any], ...]:
        return tuple((_unquote(c), self.tspan(c)) for c in children)

    @v_args(meta=True)
    def split(self, meta: Meta, children: list[Any]) -> ast.Split:
        base = str(children[0])
        shares = tuple(c for c in children[1:] if isinstance(c, ast.SplitShare))
        residual = next((self.ident(c) for c in children[1:] if isinstance(c, Token)), None)
        return ast.Split(base, shares, residual, self.span(meta))

    @v_args(meta=True)
    def split_equally(self, meta: Meta, children: list[Any]) -> ast.Split:
        base = str(children[0])
        names = [self.ident(c) for c in children[1:] if isinstance(c, Token)]
        residual = next((c for c in children[1:] if isinstance(c, ast.Ident)), None)
        count = len(names)
        shares = tuple(ast.SplitShare(n, Fraction(1, count), f"1/{count}", n.span) for n in names)
        return ast.Split(base, shares, residual, self.span(meta), equally=True)

    @v_args(meta=True)
    def split_share(self, meta: Meta, children: list[Token]) -> ast.SplitShare:
        name, value = (children[0], children[1]) if children[0].type == "NAME" else (children[1], children[0])
        written = str(value)
        if written.endswith("%"):
            share = Fraction(Decimal(written[:-1])) / 100
        else:
            top, bottom = written.split("/")
            # a zero denominator is reported by the checker, with its span
            share = Fraction(int(top), int(bottom)) if int(bottom) else Fraction(0)
        return ast.SplitShare(self.ident(name), share, written, self.span(meta))

    def equal_residual(self, children: list[Token]) -> ast.Ident:
        return self.ident(children[0])

    @v_args(meta=True)
    def money_block(self, meta: Meta, children: list[Any]) -> ast.Money:
        money, size, unit = children
        return ast.Money(money.amount, money.currency, unit, self.span(meta), Decimal(str(size)))

    @v_args(meta=True)
    def tier_ref(self, meta: Meta, children: list[Token]) -> ast.TierRef:
        return ast.TierRef(self.ident(children[0]), self.span(meta))

    @v_args(meta=True)
    def field_value(self, meta: Meta, children: list[Token]) -> ast.FieldValue:
        return ast.FieldValue(self.ident(children[0]), str(children[1]), self.span(meta))

    @v_args(meta=True)
    def aggregate(self, meta: Meta, children: list[Token]) -> ast.Aggregate:
        return ast.Aggregate(str(children[0]), self.ident(children[1]), self.span(meta))

    @v_args(meta=True)
    def line_per(self, meta: Meta, children: list[Token]) -> ast.LinePer:
        return ast.LinePer(self.ident(children[0]), self.span(meta))

    @v_args(meta=True)
    def prorated(self, meta: Meta, children: list[Any]) -> ast.Prorated:
        return ast.Prorated(self.span(meta))

    @v_args(meta=True)
    def round_clause(self, meta: Meta, children: list[Any]) -> ast.Round:
        if len(children) == 3:
            point, mode, quantum = children
        else:
            point, (mode, quantum) = None, children
        return ast.Round(point, " ".join(str(mode).split()), Decimal(str(quantum)), self.span(meta))

    def at_record(self, children: list[Any]) -> str:
        return "record"

    def at_line(self, children: list[Any]) -> str:
        return "line"

    # amounts ------------------------------------------------------------------------
    @v_args(meta=True)
    def money(self, meta: Meta, children: list[Token]) -> ast.Money:
        return ast.Money(Decimal(str(children[0])), str(children[1]), None, self.span(meta))

    @v_args(meta=True)
    def negative_money(self, meta: Meta, children: list[Any]) -> ast.Money:
        money = children[0]
        return ast.Money(-money.amount, money.currency, money.per, self.span(meta))

    @v_args(meta=True)
    def money_per(self, meta: Meta, children: list[Any]) -> ast.Money:
        money, unit = children
        return ast.Money(money.amount, money.currency, unit, self.span(meta))

    def unit(self, children: list[Token]) -> str:
        return str(children[0])

    @v_args(meta=True)
    def number(self, meta: Meta, children: list[Token]) -> ast.Number:
        return ast.Number(Decimal(str(children[0])), self.span(meta))

    @v_args(meta=True)
    def text(self, meta: Meta, children: list[Token]) -> str:
        return _unquote(children[0])

    @v_args(meta=True)
    def share(self, meta: Meta, children: list[Token]) -> ast.Share:
        return ast.Share(Decimal(str(children[0])[:-1]), str(children[1]), self.span(meta))

    @v_args(meta=True)
    def add(self, meta: Meta, children: list[Any]) -> ast.Add:
        return ast.Add("+", children[0], children[1], self.span(meta))

    @v_args(meta=True)
    def sub(self, meta: Meta, children: list[Any]) -> ast.Add:
        return ast.Add("-", children[0], children[1], self.span(meta))

    @v_args(meta=True)
    def mul(self, meta: Meta, children: list[Any]) -> ast.Mul:
        return ast.Mul("*", children[0], children[1], self.span(meta))

    @v_args(meta=True)
    def div(self, meta: Meta, children: list[Any]) -> ast.Mul:
        return ast.Mul("/", children[0], children[1], self.span(meta))

    @v_args(meta=True)
    def larger(self, meta: Meta, children: list[Any]) -> ast.Larger:
        return ast.Larger(True, children[0], children[1], self.span(meta))

    @v_args(meta=True)
    def smaller(self, meta: Meta, children: list[Any]) -> ast.Larger:
        return ast.Larger(False, children[0], children[1], self.span(meta))

    @v_args(meta=True)
    def table_rate(self, meta: Meta, children: list[Token]) -> ast.TableRate:
        return ast.TableRate(self.ident(children[0]), self.span(meta))

    # predicates ---------------------------------------------------------------------
    @v_args(meta=True)
    def compare(self, meta: Meta, children: list[Any]) -> ast.Compare:
        field, op, value = children
        if isinstance(value, ast.Number):
            value = value.value
        return ast.Compare(self.ident(field), str(op), value, self.span(meta))

    @v_args(meta=True)
    def one_of(self, meta: Meta, children: list[Any]) -> ast.OneOf:
        values = tuple(v.value if isinstance(v, ast.Number) else v for v in children[1:])
        return ast.OneOf(self.ident(children[0]), values, self.span(meta))

    @v_args(meta=True)
    def starts_with(self, meta: Meta, children: list[Token]) -> ast.StartsWith:
        return ast.StartsWith(self.ident(children[0]), _unquote(children[1]), self.span(meta))

    @v_args(meta=True)
    def and_(self, meta: Meta, children: list[Any]) -> ast.And:
        return ast.And(children[0], children[1], self.span(meta))

    @v_args(meta=True)
    def or_(self, meta: Meta, children: list[Any]) -> ast.Or:
        return ast.Or(children[0], children[1], self.span(meta))

    @v_args(meta=True)
    def not_(self, meta: Meta, children: list[Any]) -> ast.Not:
        return ast.Not(children[0], self.span(meta))
