"""The checker's shared state: the contract being checked, its names, and the
helpers every check reports through (currencies, fields, parties, roundings).

Input: one `ast.Contract`. Output: diagnostics collected on `Checker.diags`. The
checks themselves live by concept: `check` (header, declarations, products,
clauses), `infer` (the money type of an amount), `check_models` (tiers,
waterfalls, splits, commitments...), `check_currency` (payment currencies). Each
imports this module; none imports another's checker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from clearline import codes
from clearline.compiler import units
from clearline.diagnostics import Diagnostic, did_you_mean
from clearline.grammar import ast
from clearline.money import MINOR_UNITS, is_power_of_ten, minor_unit
from clearline.source import Span

__all__ = ["IMPLICIT_FIELDS", "Checker", "MoneyType", "walk_exprs", "walk_preds"]

# Fields every usage record has; a contract may read them without declaring.
IMPLICIT_FIELDS = {
    "record_id": "text",
    "timestamp": "timestamp",
    "customer_id": "text",
    "quantity": "decimal",
}


@dataclass(frozen=True, slots=True)
class MoneyType:
    """The type of an amount expression: money in a currency, or a number."""

    currency: str | None  # None: a plain number

    def __str__(self) -> str:
        return f"an amount in {self.currency}" if self.currency else "a plain number"


def walk_exprs(expr: ast.Expr) -> Iterator[ast.Expr]:
    yield expr
    if isinstance(expr, ast.Add | ast.Mul | ast.Larger):
        yield from walk_exprs(expr.left)
        yield from walk_exprs(expr.right)
    elif isinstance(expr, ast.ShareOf):
        yield from walk_exprs(expr.amount)


def walk_preds(pred: ast.Pred) -> Iterator[ast.Pred]:
    yield pred
    if isinstance(pred, ast.And | ast.Or):
        yield from walk_preds(pred.left)
        yield from walk_preds(pred.right)
    elif isinstance(pred, ast.Not):
        yield from walk_preds(pred.operand)


class Checker:
    """What every check reads (the contract, its settlement currency, fields,
    parties, tables) and the helpers it reports through."""

    def __init__(self, contract: ast.Contract) -> None:
        self.c = contract
        self.diags: list[Diagnostic] = []
        self.currency = contract.settle[0].currency if contract.settle else None
        self.fields = dict(IMPLICIT_FIELDS)
        self.parties = {p.name.name: p for p in contract.parties}
        self.tables = {t.name.name: t for t in contract.tables}
        # units of account prices may be written in (converted before rating)
        self.units = {u.code: u for u in contract.units_of_account}
        # the contract's own units (`unit seat`): the words seat and seats -> seat
        self.units_declared = units.declared_words(u.name for u in contract.units)
        self.unknown_units: set[Span] = set()  # where an unknown unit word is written

    def error(
        self,
        code: str,
        message: str,
        span: Span | None,
        hint: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        if code == codes.UNIT_MISMATCH and span in self.unknown_units:
            return  # the unknown unit is reported where it is written
        if (
            code == codes.CURRENCY_MISMATCH
            and self.currency
            and self.currency not in MINOR_UNITS
            and self.currency in message
        ):
            # An unknown settlement currency is reported once (E0204), not again
            # for every amount that cannot match it.
            return
        self.diags.append(Diagnostic(code, message, span, hint, notes))

    def one(self, items: tuple[object, ...], what: str, example: str) -> None:
        if not items:
            self.error(
                codes.MISSING_DECLARATION,
                f"contract {self.c.id} has no {what}",
                self.c.span,
                f"add `{example}` inside the contract",
            )

    def duplicates(self, spans: list[tuple[str, Span]], what: str) -> None:
        seen: dict[str, Span] = {}
        for name, span in spans:
            if name in seen:
                shown = f'"{name}"' if what == "clause" else f"`{name}`"
                self.error(
                    codes.DUPLICATE_NAME,
                    f"{what} {shown} is declared twice",
                    span,
                    f"the first declaration is at {seen[name]}; remove or rename one",
                )
            else:
                seen[name] = span

    def date(self, text: str, span: Span) -> dt.date | None:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            self.error(
                codes.INVALID_DATE,
                f"{text} is not a date in the calendar",
                span,
                "write a real date as YYYY-MM-DD",
            )
            return None

    def known_currency(self, code: str, span: Span) -> bool:
        if code in MINOR_UNITS:
            return True
        self.error(
            codes.UNKNOWN_CURRENCY,
            f"`{code}` is not a currency Clearline knows",
            span,
            did_you_mean(code, MINOR_UNITS) or "use an ISO 4217 code like EUR",
        )
        return False

    def field(self, ident: ast.Ident) -> str | None:
        if ident.name in self.fields:
            return self.fields[ident.name]
        self.error(
            codes.UNKNOWN_NAME,
            f"unknown usage field `{ident.name}`",
            ident.span,
            did_you_mean(ident.name, self.fields) or f"declare it in `usage fields {{ {ident.name} text }}`",
        )
        return None

    def increments(self, inc: ast.Increments) -> None:
        if inc.first <= 0 or inc.next <= 0:
            self.error(
                codes.INVALID_INCREMENTS,
                f"increments {inc.first}/{inc.next} bill blocks of nothing: both must be at least 1",
                inc.span,
                "write e.g. `increments 60/60`: the first block, then each next block",
            )

    def check_money(self, money: ast.Money) -> None:
        unit = self.units.get(money.currency)
        if unit is None:
            self.known_currency(money.currency, money.span)
            return
        exponent = money.amount.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > unit.digits:
            self.error(
                codes.UNIT_OF_ACCOUNT,
                f"{format(money.amount, 'f')} {unit.code} has {-exponent} decimals; the unit of account "
                f"{unit.code} is declared with {unit.digits}",
                money.span,
                f"write the price with at most {unit.digits} decimals, or declare more digits",
            )

    def rounding(
        self,
        rule: ast.Round,
        point: str,
        amounts: list[ast.Charge | ast.Pay],
        currency: str | None = None,
    ) -> None:
        # The quantum ends the rounding: point at it, as written.
        written = format(rule.quantum, "f")
        span = rule.span
        if span.end_line == span.line and span.end_col - len(written) > span.col:
            span = Span(span.file, span.line, span.end_col - len(written), span.line, span.end_col)
        if not is_power_of_ten(rule.quantum):
            self.error(
                codes.INVALID_ROUNDING_QUANTUM,
                f"cannot round to {written}: amounts are rounded to 1, 0.1, 0.01, 0.001, ...",
                span,
                f"write `to {format(Decimal(1).scaleb(rule.quantum.adjusted() + 1), 'f')}` "
                f"or `to {format(Decimal(1).scaleb(rule.quantum.adjusted()), 'f')}`",
            )
            return
        currency = currency or self.currency
        if point == "line" and currency in MINOR_UNITS and rule.quantum < minor_unit(currency):
            decimals = MINOR_UNITS[currency]
            self.error(
                codes.ROUNDING_FINER_THAN_CURRENCY,
                f"a line in {currency} cannot be rounded to {written}: "
                f"{currency} amounts have {decimals} decimal{'s' if decimals != 1 else ''}",
                span,
                f"round lines to {minor_unit(currency)}; round each record finer if needed",
            )

    def party(self, ident: ast.Ident) -> ast.Party | None:
        party = self.parties.get(ident.name)
        if party is None:
            self.error(
                codes.UNKNOWN_NAME,
                f"unknown party `{ident.name}`",
                ident.span,
                did_you_mean(ident.name, self.parties)
                or f'declare it in the contract, e.g. `partner {ident.name} "Full Name Ltd" currency EUR`',
            )
        return party
