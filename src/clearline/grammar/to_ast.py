"""Lark tree -> typed AST. The only module that walks Lark trees."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lark import Token, Transformer, Tree, v_args
from lark.tree import Meta

from clearline.grammar import ast
from clearline.grammar.to_ast_amounts import _AmountBuilder
from clearline.grammar.to_ast_base import _unquote
from clearline.grammar.to_ast_declarations import _DeclarationBuilder
from clearline.source import Span

__all__ = ["build"]


class _Builder(_DeclarationBuilder, _AmountBuilder, Transformer[Token, Any]):
    def __init__(self, file: str) -> None:
        super().__init__(visit_tokens=False)
        self.file = file

    # contract ----------------------------------------------------------------
    @v_args(meta=True)
    def start(self, meta: Meta, children: list[Any]) -> Any:
        return children[0]

    @v_args(meta=True)
    def contract(self, meta: Meta, children: list[Any]) -> ast.Contract:
        cid = children[0]
        rest = children[1:]
        title = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            title = _unquote(rest[0])
            rest = rest[1:]

        def pick(kind: str) -> list[Any]:
            return [c[1] for c in rest if isinstance(c, tuple) and c[0] == kind]

        return ast.Contract(
            id=str(cid),
            title=title,
            versions=tuple(pick("version")),
            effective=tuple(pick("effective")),
            settle=tuple(pick("settle")),
            time_zones=tuple(pick("time_zone")),
            parties=tuple(pick("party")),
            fields=tuple(f for group in pick("fields") for f in group),
            tables=tuple(pick("table")),
            products=tuple(pick("product")),
            span=self.tspan(cid),
            file=self.file,
            tiers=tuple(pick("tiers")),
            imports=tuple(pick("import")),
            examples=tuple(pick("example")),
            numbering=tuple(pick("numbering")),
            late_usage=tuple(pick("late_usage")),
            units_of_account=tuple(pick("unit_of_account")),
            units=tuple(pick("own_unit")),
            split_changes=tuple(pick("split_changes")),
            details=tuple(pick("details")),
            time_bands=tuple(pick("time_bands")),
        )

    @v_args(meta=True)
    def library(self, meta: Meta, children: list[Any]) -> ast.Library:
        lid = children[0]
        rest = children[1:]
        title = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            title = _unquote(rest[0])
            rest = rest[1:]

        def pick(kind: str) -> list[Any]:
            return [c[1] for c in rest if isinstance(c, tuple) and c[0] == kind]

        return ast.Library(
            id=str(lid),
            title=title,
            parties=tuple(pick("party")),
            fields=tuple(f for group in pick("fields") for f in group),
            tables=tuple(pick("table")),
            tiers=tuple(pick("tiers")),
            span=self.tspan(lid),
            file=self.file,
            details=tuple(pick("details")),
        )

    @v_args(meta=True)
    def amendment(self, meta: Meta, children: list[Any]) -> ast.Amendment:
        cid, start = children[0], children[1]
        rest = children[2:]
        title = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            title = _unquote(rest[0])
            rest = rest[1:]
        versions = tuple(c[1] for c in rest if isinstance(c, tuple) and c[0] == "version")
        changes = tuple(c for c in rest if not isinstance(c, tuple))
        return ast.Amendment(
            str(cid), str(start), self.tspan(start), title, versions, changes, self.tspan(cid), self.file
        )

    @v_args(meta=True)
    def replace_clause(self, meta: Meta, children: list[Any]) -> ast.ReplaceClause:
        return ast.ReplaceClause(children[0], self.span(meta))

    @v_args(meta=True)
    def add_clause(self, meta: Meta, children: list[Any]) -> ast.AddClause:
        return ast.AddClause(self.ident(children[0]), children[1], self.span(meta))

    @v_args(meta=True)
    def remove_clause(self, meta: Meta, children: list[Token]) -> ast.RemoveClause:
        return ast.RemoveClause(_unquote(children[0]), self.span(meta))

    @v_args(meta=True)
    def change_table(self, meta: Meta, children: list[Any]) -> ast.ChangeTable:
        return ast.ChangeTable(self.ident(children[0]), tuple(children[1:]), self.span(meta))

    def import_file(self, children: list[Token]) -> tuple[str, Any]:
        return ("import", (_unquote(children[0]), self.tspan(children[0])))

    # examples -------------------------------------------------------------------------
    @v_args(meta=True)
    def example(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        label = _unquote(children[0])
        items = children[1:]
        period = next((i[1] for i in items if i[0] == "period"), None)
        usage = tuple(line for i in items if i[0] == "usage" for line in i[1])
        fx = tuple(i[1] for i in items if i[0] == "fx")
        expects = tuple(i[1] for i in items if i[0] == "expect")
        return ("example", ast.Example(label, period, usage, fx, expects, self.span(meta)))

    def example_period(self, children: list[Token]) -> tuple[str, Any]:
        return ("period", (str(children[0]), self.tspan(children[0])))

    def example_usage(self, children: list[Token]) -> tuple[str, Any]:
        return ("usage", tuple((_unquote(c), self.tspan(c)) for c in children))

    def example_fx(self, children: list[Token]) -> tuple[str, Any]:
        source, target, rate, day = children
        return ("fx", (str(source), str(target), Decimal(str(rate)), str(day)))

    @v_args(meta=True)
    def example_expect(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        kind, party = str(children[0]), _unquote(children[1])
        rest = children[2:]
        clause = None
        if rest and isinstance(rest[0], Token):
            clause = _unquote(rest[0])
            rest = rest[1:]
        amount = rest[0]
        paid = rest[1] if len(rest) > 1 else None
        return ("expect", ast.Expect(kind, party, clause, amount, paid, self.span(meta)))

    # tiers --------------------------------------------------------------------------------
    @v_args(meta=True)
    def tier_table(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        name, mode, *bands = children
        over = next((b[1] for b in bands if isinstance(b, tuple) and b[0] == "over"), None)
        bands = [b for b in bands if not isinstance(b, tuple)]
        return ("tiers", ast.TierTable(self.ident(name), str(mode), tuple(bands), self.span(meta), over))

    def tier_over(self, children: list[Token]) -> tuple[str, str]:
        return ("over", str(children[0]))

    @v_args(meta=True)
    def tier_band(self, meta: Meta, children: list[Any]) -> ast.TierBand:
        lower = children[0]
        upper = children[1] if len(children) == 3 else None
        rate = children[-1]
        currency = lower[1] or (upper[1] if upper else None)
        if rate[0] == "share":
            return ast.TierBand(
                lower[0], upper[0] if upper else None, rate[1], True, currency, None, self.span(meta)
            )
        money, unit = rate[1], rate[2]
        return ast.TierBand(
            lower[0], upper[0] if upper else None, money.amount, False, money.currency, unit, self.span(meta)
        )

    def bound(self, children: list[Token]) -> tuple[Decimal, str | None]:
        return (Decimal(str(children[0])), str(children[1]) if len(children) > 1 else None)

    def band_price(self, children: list[Any]) -> tuple[str, Any, Any]:
        return ("price", children[0], children[1])

    def band_share(self, children: list[Token]) -> tuple[str, Decimal]:
        return ("share", Decimal(str(children[0])[:-1]))

    @v_args(meta=True)
    def version(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("version", (int(children[0]), self.span(meta)))

    @v_args(meta=True)
    def effective(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        start, until = children
        return (
            "effective",
            ast.Effective(str(start), str(until), self.tspan(start), self.tspan(until), self.span(meta)),
        )

    @v_args(meta=True)
    def settle(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        period, currency = children[0], children[1]
        tz = (str(children[2]), self.tspan(children[2])) if len(children) > 2 else None
        return (
            "settle",
            ast.Settle(str(period), str(currency), self.tspan(currency), tz, self.span(meta)),
        )

    @v_args(meta=True)
    def numbering(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        series, text = children
        return ("numbering", ast.NumberFormat(str(series), _unquote(text), self.span(meta)))

    @v_args(meta=True)
    def late_usage(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("late_usage", (int(children[0]), self.span(meta)))

    @v_args(meta=True)
    def split_changes(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("split_changes", self.span(meta))

    @v_args(meta=True)
    def time_bands(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        zone = children[0]
        bands = tuple(c for c in children[1:] if isinstance(c, ast.TimeBand))
        days = tuple(d for c in children[1:] if isinstance(c, tuple) for d in c)
        return ("time_bands", ast.TimeBands(str(zone), self.tspan(zone), bands, self.span(meta), days))

    def band_holidays(self, children: list[Token]) -> tuple[tuple[str, Span], ...]:
        return tuple((str(t), self.tspan(t)) for t in children)

    @v_args(meta=True)
    def band_on_holidays(self, meta: Meta, children: list[Token]) -> Span:
        return self.span(meta)

    @v_args(meta=True)
    def time_band(self, meta: Meta, children: list[Any]) -> ast.TimeBand:
        name, rest = self.ident(children[0]), children[1:]
        label = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            label, rest = _unquote(rest[0]), rest[1:]
        hours = tuple(r for r in rest if isinstance(r, ast.BandHours))
        holidays = next((r for r in rest if isinstance(r, Span)), None)
        return ast.TimeBand(name, label, hours, self.span(meta), holidays)

    @v_args(meta=True)
    def band_hours(self, meta: Meta, children: list[Token]) -> ast.BandHours:
        days = [_WEEKDAYS.index(str(t)) for t in children if t.type == "WEEKDAY"]
        start, end = (_minutes(str(t)) for t in children if t.type == "CLOCK")
        first = days[0]
        return ast.BandHours(first, days[-1], start, end, self.span(meta))

    @v_args(meta=True)
    def band_otherwise(self, meta: Meta, children: list[Token]) -> ast.BandHours:
        return ast.BandHours(None, None, 0, 24 * 60, self.span(meta))

    def clause_band(self, children: list[Token]) -> tuple[str, ast.Ident]:
        return ("band", self.ident(children[0]))

    def own_unit(self, children: list[Token]) -> tuple[str, Any]:
        return ("own_unit", self.ident(children[0]))

    @v_args(meta=True)
    def unit_of_account(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        code, name, digits, fixing = children
        return (
            "unit_of_account",
            ast.UnitOfAccount(str(code), _unquote(name), int(digits), fixing, self.span(meta)),
        )

    @v_args(meta=True)
    def time_zone(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("time_zone", (str(children[0]), self.tspan(children[0])))

    # products --------------------------------------------------------------------
    @v_args(meta=True)
    def product(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        name = children[0]
        rest = children[1:]
        title = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            title = _unquote(rest[0])
            rest = rest[1:]

        def pick(kind: str) -> tuple[Any, ...]:
            return tuple(c[1] for c in rest if isinstance(c, tuple) and c[0] == kind)

        return (
            "product",
            ast.Product(
                name=self.ident(name),
                title=title,
                matches=pick("matches"),
                measured=pick("measured"),
                subscription=pick("subscription"),
                answered=pick("answered"),
                clauses=tuple(c for c in rest if isinstance(c, ast.Clause)),
                span=self.span(meta),
                deductions=pick("deduction"),
                components=tuple(c for group in pick("components") for c in group),
                refunds=pick("refunds"),
            ),
        )

    @v_args(meta=True)
    def refunds(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        field = self.ident(children[0]) if children else None
        return ("refunds", ast.Refunds(field, self.span(meta)))

    def matches(self, children: list[Any]) -> tuple[str, Any]:
        return ("matches", children[0])

    @v_args(meta=True)
    def measured(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return ("measured", (children[0], self.span(meta)))

    @v_args(meta=True)
    def subscription(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return ("subscription", ast.Subscription(children[0], children[1], self.span(meta)))

    def answered(self, children: list[Any]) -> tuple[str, Any]:
        return ("answered", children[0])

    @v_args(meta=True)
    def clause(self, meta: Meta, children: list[Any]) -> ast.Clause:
        label = _unquote(children[0])
        rest = children[1:]
        text = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            text = _unquote(rest[0])
            rest = rest[1:]
        band = next((c[1] for c in rest if isinstance(c, tuple) and c[0] == "band"), None)
        rules = tuple(c for c in rest if not (isinstance(c, tuple) and c[0] == "band"))
        return ast.Clause(label, text, rules, self.span(meta), band)

    # rules ------------------------------------------------------------------------
    @v_args(meta=True)
    def charge(self, meta: Meta, children: list[Any]) -> ast.Charge:
        return ast.Charge(children[0], tuple(children[1:]), self.span(meta))

    @v_args(meta=True)
    def pay(self, meta: Meta, children: list[Any]) -> ast.Pay:
        return ast.Pay(self.ident(children[0]), children[1], tuple(children[2:]), self.span(meta))

    @v_args(meta=True)
    def convert(self, meta: Meta, children: list[Any]) -> ast.Convert:
        party, currency, fixing = children[0], children[1], children[2]
        rounding = children[3] if len(children) > 3 else None
        return ast.Convert(self.ident(party), str(currency), fixing, rounding, self.span(meta))

    def fix_period_end(self, children: list[Any]) -> str:
        return "period end"

    def fix_record_date(self, children: list[Any]) -> str:
        return "record date"

    @v_args(meta=True)
    def vat(self, meta: Meta, children: list[Token]) -> ast.Vat:
        mode = " ".join(str(children[1]).split()) if len(children) > 1 else ""
        return ast.Vat(
            Decimal(str(children[0])[:-1]), mode == "included", mode == "reverse charge", self.span(meta)
        )

    @v_args(meta=True)
    def commit(self, meta: Meta, children: list[Any]) -> ast.Commit:
        money, unit, first, *tail = children
        clauses = [(_unquote(first), self.tspan(first))]
        prorated = False
        for item in tail:
            if isinstance(item, ast.Prorated):
                prorated = True
            else:
                clauses.append(item)
        amount = ast.Money(money.amount, money.currency, unit, money.span)
        return ast.Commit(amount, tuple(clauses), prorated, self.span(meta))

    def commit_clause(self, children: list[Token]) -> tuple[str, Any]:
        return (_unquote(children[0]), self.tspan(children[0]))

    @v_args(meta=True)
    def distribute(self, meta: Meta, children: list[Any]) -> ast.Distribute:
        return ast.Distribute(str(children[0]), tuple(children[1:]), self.span(meta))

    @v_args(meta=True)
    def withhold(self, meta: Meta, children: list[Token]) -> ast.Withhold:
        return ast.Withhold(self.ident(children[1]), Decimal(str(children[0])[:-1]), self.span(meta))

    def _step(self, meta: Meta, children: list[Any], keeps: bool) -> ast.Step:
        party, amount, *rest = children
        label = next((r for r in rest if isinstance(r, str)), None)
        rounding = next((r for r in rest if isinstance(r, ast.Round)), None)
        kind, percent, money, of_step, tiers = amount
        return ast.Step(
            self.ident(party), keeps, kind, percent, money, of_step, tiers, label, rounding, self.span(meta)
        )

    @v_args(meta=True)
    def step_pay(self, meta: Meta, children: list[Any]) -> ast.Step:
        return self._step(meta, children, False)

    @v_args(meta=True)
    def step_keep(self, meta: Meta, children: list[Any]) -> ast.Step:
        return self._step(meta, children, True)

    def step_label(self, children: list[Token]) -> str:
        return _unquote(children[0])

    def of_base(self, children: list[Token]) -> tuple[Any, ...]:
        return ("base", Decimal(str(children[0])[:-1]), None, None, None)

    def of_remainder(self, children: list[Token]) -> tuple[Any, ...]:
        return ("remainder", Decimal(str(children[0])[:-1]), None, None, None)

    def of_step(self, children: list[Token]) -> tuple[Any, ...]:
        return (
            "step",
            Decimal(str(children[0])[:-1]),
            None,
            (_unquote(children[1]), self.tspan(children[1])),
            None,
        )

    def fixed(self, children: list[Any]) -> tuple[Any, ...]:
        return ("fixed", None, children[0], None, None)

    def tiers_step(self, children: list[Token]) -> tuple[Any, ...]:
        return ("tiers", None, None, None, self.ident(children[0]))

    def rest(self, children: list[Any]) -> tuple[Any, ...]:
        return ("rest", None, None, None, None)

    @v_args(meta=True)
    def at_least(self, meta: Meta, children: list[Any]) -> ast.Limit:
        return ast.Limit("minimum", children[0], self.span(meta))

    @v_args(meta=True)
    def at_most(self, meta: Meta, children: list[Any]) -> ast.Limit:
        return ast.Limit("maximum", children[0], self.span(meta))

    @v_args(meta=True)
    def capped(self, meta: Meta, children: list[Any]) -> ast.Limit:
        return ast.Limit("cap", children[0], self.span(meta))


def build(tree: Tree[Token], file: str) -> ast.Document:
    """Turn a parse tree into the AST of one file: a contract, an amendment or a library."""
    result = _Builder(file).transform(tree)
    assert isinstance(result, ast.Contract | ast.Amendment | ast.Library)
    return result


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _minutes(clock: str) -> int:
    """`08:30` -> 510 minutes from midnight; an impossible time (`25:00`) is -1, which
    the checker refuses with its span."""
    hours, minutes = int(clock[:2]), int(clock[3:])
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes):
        return -1
    return hours * 60 + minutes
