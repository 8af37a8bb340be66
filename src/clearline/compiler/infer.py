"""Typing amounts: an amount expression -> its money type (a currency or a plain
number), reporting every type error on the way.

Input: an `ast.Expr` of a rule, the `Checker` and the product it prices. Output:
a `MoneyType`; diagnostics go to the checker.
"""

from __future__ import annotations

from decimal import Decimal

from clearline import codes
from clearline.compiler import units
from clearline.compiler.checker import Checker, MoneyType
from clearline.diagnostics import did_you_mean
from clearline.grammar import ast

__all__ = ["check_block", "check_share_base", "infer", "infer_model", "tier_table"]


def _fmt(value: Decimal | None) -> str:
    return "∞" if value is None else format(value, "f")


def tier_table(ck: Checker, ident: ast.Ident) -> ast.TierTable | None:
    table = next((t for t in ck.c.tiers if t.name.name == ident.name), None)
    if table is None:
        ck.error(
            codes.UNKNOWN_NAME,
            f"unknown tier table `{ident.name}`",
            ident.span,
            did_you_mean(ident.name, [t.name.name for t in ck.c.tiers])
            or "declare it with `tiers NAME graduated { from 0 to ... at ... }`",
        )
    return table


def infer_model(expr: ast.Expr, ck: Checker, product: ast.Product) -> MoneyType | None:
    """Types of the model atoms (tiers, record values, aggregates); None for other nodes."""
    if isinstance(expr, ast.TierRef) and expr.base is not None:
        table = tier_table(ck, expr.table)
        if table is not None and not all(b.percent for b in table.bands):
            ck.error(
                codes.WRONG_KIND_OF_AMOUNT,
                f"tiers {table.name.name} price units; a tiered share needs percentage bands",
                expr.table.span,
                "write bands like `from 0.00 PLN to 10000.00 PLN at 70%`",
            )
        return MoneyType(ck.currency)
    if isinstance(expr, ast.TierRef):
        table = tier_table(ck, expr.table)
        if table is None:
            return MoneyType(ck.currency)
        if any(b.percent for b in table.bands):
            ck.error(
                codes.WRONG_KIND_OF_AMOUNT,
                f"tiers {table.name.name} are shares; they apply to an amount in a waterfall",
                expr.span,
                "use `tiers NAME of the remainder` inside `distribute`, or price units in the tiers",
            )
        if product.subscription:
            ck.error(
                codes.MISPLACED_RULE,
                "tiers price a period's usage; this product is a subscription",
                expr.span,
                None,
            )
        measure = units.canonical(product.measured[0][0], ck.units_declared) if product.measured else "event"
        for band in table.bands:
            if band.unit and units.dimension(
                units.canonical(band.unit, ck.units_declared)
            ) != units.dimension(measure):
                ck.error(
                    codes.UNIT_MISMATCH,
                    f"the product is measured in {units.plural(measure)}; the band from "
                    f"{_fmt(band.lower)} is priced per {band.unit}",
                    band.span,
                    f"price per {measure}, or change `measured in`",
                )
        currencies = sorted({b.currency for b in table.bands if b.currency})
        if len(currencies) > 1:
            ck.error(
                codes.CURRENCY_MISMATCH,
                f"tiers {table.name.name} mix {' and '.join(currencies)}",
                table.span,
                "state every band in one currency",
            )
        return MoneyType(currencies[0] if currencies else ck.currency)
    if isinstance(expr, ast.FieldValue):
        ftype = ck.field(expr.field)
        if ftype is not None and ftype not in {"decimal", "integer"}:
            ck.error(
                codes.WRONG_KIND_OF_AMOUNT,
                f"`{expr.field.name}` is a {ftype} field; an amount is read from a decimal field",
                expr.field.span,
                f"declare it as `{expr.field.name} decimal`",
            )
        ck.known_currency(expr.currency, expr.span)
        return MoneyType(expr.currency)
    if isinstance(expr, ast.Aggregate):
        ftype = ck.field(expr.field)
        if ftype is not None and ftype not in {"decimal", "integer"}:
            ck.error(
                codes.WRONG_KIND_OF_AMOUNT,
                f"the {expr.func} of `{expr.field.name}` needs a number field; it is {ftype}",
                expr.field.span,
                f"declare it as `{expr.field.name} integer` or `decimal`",
            )
        if product.subscription:
            ck.error(codes.MISPLACED_RULE, "aggregates over records apply to usage products", expr.span, None)
        return MoneyType(None)
    return None


def check_block(ck: Checker, money: ast.Money) -> None:
    if money.block is not None and money.block <= 0:
        ck.error(
            codes.INVALID_INCREMENTS,
            f"a block of {money.block} {money.per} is empty",
            money.span,
            "write the block size as a positive number, e.g. `per block of 100 MB`",
        )


def check_share_base(ck: Checker, share: ast.Share | ast.BaseAmount, product: ast.Product) -> None:
    """`... after deductions` needs deductions; `the allocated net of X` needs component X."""
    if share.after_deductions and not product.deductions:
        ck.error(
            codes.MISSING_DECLARATION,
            f"product {product.name.name} declares no deductions",
            share.span,
            'declare them in the product, e.g. `deduction bad_debt "Bad-debt allowance" is 3% of net`',
        )
    if share.component is not None:
        names = [c.name for c, _ in product.components]
        if share.component.name not in names:
            ck.error(
                codes.UNKNOWN_NAME,
                f"product {product.name.name} has no component `{share.component.name}`",
                share.component.span,
                did_you_mean(share.component.name, names)
                or "declare the bundle's components: `components tv 30.00 PLN, music 20.00 PLN`",
            )


def infer(
    expr: ast.Expr, ck: Checker, product: ast.Product, is_charge: bool, line_level: bool = False
) -> MoneyType:
    """The money type of `expr`, reporting every type error on the way.

    `line_level`: the rule is priced once per line from the period's totals
    (it uses tiers or an aggregate), so a usage product may price per month.
    """
    modelled = infer_model(expr, ck, product)
    if modelled is not None:
        return modelled
    subscription = bool(product.subscription) or line_level
    if isinstance(expr, ast.Money):
        ck.check_money(expr)
        check_block(ck, expr)
        if expr.per is not None:
            unit = units.canonical(expr.per, ck.units_declared)
            if subscription and unit not in units.PERIOD_UNITS:
                ck.error(
                    codes.UNIT_MISMATCH,
                    f"a subscription is priced per month or per day, not per {expr.per}"
                    if product.subscription
                    else f"this rule is priced once per line from its totals (it uses tiers or an "
                    f"aggregate): a price per {expr.per} belongs in a rule of its own",
                    expr.span,
                    "write e.g. `39.00 PLN per month`"
                    if product.subscription
                    else f"price per {expr.per} in a rule of its own, or in the tiers' bands",
                )
            elif not subscription and unit in units.PERIOD_UNITS:
                ck.error(
                    codes.UNIT_MISMATCH,
                    f"a usage product is priced per unit of usage, not per {expr.per}",
                    expr.span,
                    "make the product a subscription, or price per minute, MB, event, ...",
                )
            elif not subscription:
                measure = (
                    units.canonical(product.measured[0][0], ck.units_declared)
                    if product.measured
                    else "event"
                )
                if units.dimension(unit) != units.dimension(measure):
                    ck.error(
                        codes.UNIT_MISMATCH,
                        f"the product is measured in {units.plural(measure)}; "
                        f"a price per {expr.per} cannot apply",
                        expr.span,
                        f"price per {measure}, or change `measured in`",
                    )
            elif unit == "month" and ck.c.settle and ck.c.settle[0].period != "monthly":
                ck.error(
                    codes.UNIT_MISMATCH,
                    f"a price per month needs monthly settlement; this contract settles "
                    f"{ck.c.settle[0].period}",
                    expr.span,
                    "price per day, or settle monthly",
                )
        return MoneyType(expr.currency)
    if isinstance(expr, ast.Number):
        return MoneyType(None)
    if isinstance(expr, ast.Share):
        if not 0 <= expr.percent <= 100:
            ck.error(
                codes.PERCENTAGE_OUT_OF_RANGE,
                f"{expr.percent}% is more than the whole",
                expr.span,
                "a share is a percentage between 0% and 100%",
            )
        if is_charge:
            ck.error(
                codes.MISPLACED_RULE,
                f"a customer charge cannot be a share of its own {expr.base}",
                expr.span,
                "shares of net or gross are for `pay` rules",
            )
        check_share_base(ck, expr, product)
        return MoneyType(ck.currency)
    if isinstance(expr, ast.ShareOf):
        if not 0 <= expr.percent <= 100:
            ck.error(
                codes.PERCENTAGE_OUT_OF_RANGE,
                f"{expr.percent}% is more than the whole",
                expr.span,
                "a share is a percentage between 0% and 100%",
            )
        inner = infer(expr.amount, ck, product, is_charge, line_level)
        if inner.currency is None:
            ck.error(
                codes.WRONG_KIND_OF_AMOUNT,
                "a percentage is taken of an amount of money, not of a plain number",
                expr.amount.span,
                None,
            )
        return MoneyType(inner.currency or ck.currency)
    if isinstance(expr, ast.PayoutTo):
        if is_charge:
            ck.error(
                codes.MISPLACED_RULE,
                f"a customer charge cannot be the payout to {expr.party.name}",
                expr.span,
                "`the payout to PARTY` is a base of `pay` rules",
            )
        return MoneyType(ck.currency)
    if isinstance(expr, ast.RemainderAfter):
        if is_charge:
            ck.error(
                codes.MISPLACED_RULE,
                f'a customer charge cannot be the remainder after "{expr.label}"',
                expr.span,
                '`the remainder after "CLAUSE"` is a base of `pay` rules',
            )
        return MoneyType(ck.currency)
    if isinstance(expr, ast.BaseAmount):
        check_share_base(ck, expr, product)
        if is_charge:
            ck.error(
                codes.MISPLACED_RULE,
                f"a customer charge cannot be its own {expr.base}",
                expr.span,
                "net and gross are bases for `pay` rules and deductions",
            )
        return MoneyType(ck.currency)
    if isinstance(expr, ast.TableRate):
        table = ck.tables.get(expr.table.name)
        if table is None:
            ck.error(
                codes.UNKNOWN_NAME,
                f"unknown rate table `{expr.table.name}`",
                expr.table.span,
                did_you_mean(expr.table.name, ck.tables)
                or f"declare it, e.g. `rate table {expr.table.name} by longest prefix of "
                "destination { ... }`",
            )
            return MoneyType(ck.currency)
        if product.subscription:
            ck.error(
                codes.MISPLACED_RULE,
                "rate tables price usage; this product is a subscription",
                expr.span,
                None,
            )
        measure = units.canonical(product.measured[0][0], ck.units_declared) if product.measured else "event"
        currencies = sorted({r.price.currency for r in table.rows})
        for row in table.rows:
            assert row.price.per is not None
            unit = units.canonical(row.price.per, ck.units_declared)
            if unit not in units.PERIOD_UNITS and units.dimension(unit) != units.dimension(measure):
                ck.error(
                    codes.UNIT_MISMATCH,
                    f"the product is measured in {units.plural(measure)}; "
                    f'the rate for "{row.key}" is per {row.price.per}',
                    row.price.span,
                    f"price per {measure}, or change `measured in`",
                )
        if len(currencies) > 1:
            ck.error(
                codes.CURRENCY_MISMATCH,
                f"rate table {table.name.name} mixes {' and '.join(currencies)}",
                table.span,
                "state every rate of one table in one currency",
            )
        return MoneyType(currencies[0] if currencies else ck.currency)
    if isinstance(expr, ast.Add):
        left = infer(expr.left, ck, product, is_charge, line_level)
        right = infer(expr.right, ck, product, is_charge, line_level)
        if left.currency != right.currency:
            if left.currency and right.currency:
                word = "add" if expr.op == "+" else "subtract"
                ck.error(
                    codes.CURRENCY_MISMATCH,
                    f"cannot {word} {right.currency} {'to' if expr.op == '+' else 'from'} {left.currency}",
                    expr.right.span,
                    "state both amounts in one currency; conversions apply to payouts after the split",
                )
            else:
                ck.error(
                    codes.WRONG_KIND_OF_AMOUNT,
                    f"cannot {'add' if expr.op == '+' else 'subtract'} {right} and {left}",
                    expr.span,
                    "give the number a currency",
                )
        return left if left.currency else right
    if isinstance(expr, ast.Mul):
        left = infer(expr.left, ck, product, is_charge, line_level)
        right = infer(expr.right, ck, product, is_charge, line_level)
        if left.currency and right.currency:
            ck.error(
                codes.MONEY_TIMES_MONEY,
                f"cannot {'multiply' if expr.op == '*' else 'divide'} money by money "
                f"({left.currency} {expr.op} {right.currency})",
                expr.span,
                "multiply an amount by a plain number or a percentage",
            )
        if expr.op == "/" and right.currency and not left.currency:
            ck.error(
                codes.MONEY_TIMES_MONEY,
                "cannot divide a plain number by an amount of money",
                expr.span,
                "divide the amount of money by the number instead",
            )
        if expr.op == "/" and isinstance(expr.right, ast.Number) and expr.right.value == 0:
            ck.error(
                codes.INVALID_NUMBER,
                "cannot divide by zero",
                expr.right.span,
                "divide by a number other than 0",
            )
        return left if left.currency else right
    assert isinstance(expr, ast.Larger)
    left = infer(expr.left, ck, product, is_charge, line_level)
    right = infer(expr.right, ck, product, is_charge, line_level)
    if left.currency != right.currency:
        ck.error(
            codes.CURRENCY_MISMATCH,
            f"cannot compare {left} with {right}",
            expr.right.span,
            "state both amounts in one currency",
        )
    return left
