"""Checks of the settlement models: tier tables, tiered and aggregate prices,
commitments, waterfalls, withholding and per-event limits.

Called by `check._Checker`; each function reports through the checker's
`error` so codes, spans and hints stay in one format.
"""

from __future__ import annotations

import decimal
import itertools
from decimal import Decimal
from fractions import Fraction

from clearline import codes
from clearline.compiler import units
from clearline.compiler.checker import Checker
from clearline.compiler.infer import infer, tier_table
from clearline.diagnostics import did_you_mean
from clearline.grammar import ast
from clearline.source import Span

__all__ = [
    "check_allowance",
    "check_commit",
    "check_discount",
    "check_distribute",
    "check_limit",
    "check_product_models",
    "check_split",
    "check_tier_tables",
    "check_withhold",
    "percent_text",
]


def _fmt(value: Decimal | None) -> str:
    return "∞" if value is None else format(value, "f")


def check_tier_tables(ck: Checker) -> None:
    """Bands sorted, contiguous, non-overlapping, open-ended last; one kind of rate."""
    ck.duplicates([(t.name.name, t.name.span) for t in ck.c.tiers], "tier table")
    for table in ck.c.tiers:
        bands = table.bands
        kinds = {b.percent for b in bands}
        if len(kinds) > 1:
            ck.error(
                codes.TIER_BANDS_OUT_OF_ORDER,
                f"tiers {table.name.name} mix prices and percentages",
                table.span,
                "a tier table either prices units or shares an amount",
            )
        for band in bands:
            if band.currency:
                ck.known_currency(band.currency, band.span)
            if band.percent and not 0 <= band.rate <= 100:
                ck.error(
                    codes.PERCENTAGE_OUT_OF_RANGE,
                    f"{band.rate}% is more than the whole",
                    band.span,
                    "write a percentage between 0% and 100%",
                )
            if band.upper is not None and band.upper <= band.lower:
                ck.error(
                    codes.TIER_BANDS_OUT_OF_ORDER,
                    f"the band from {_fmt(band.lower)} to {_fmt(band.upper)} is empty",
                    band.span,
                    "a band's upper bound is above its lower bound",
                )
        if bands and bands[0].lower != 0:
            ck.error(
                codes.TIER_BANDS_OUT_OF_ORDER,
                f"tiers {table.name.name} start at {_fmt(bands[0].lower)}, not at 0",
                bands[0].span,
                f"add a band from 0 to {_fmt(bands[0].lower)}",
            )
        for before, after in itertools.pairwise(bands):
            if before.upper is None:
                ck.error(
                    codes.TIER_BANDS_OUT_OF_ORDER,
                    f"the band from {_fmt(before.lower)} has no upper bound but is not the last",
                    before.span,
                    f"end it where the next band starts: `to {_fmt(after.lower)}`",
                )
            elif after.lower > before.upper:
                ck.error(
                    codes.TIER_BANDS_OUT_OF_ORDER,
                    f"tiers {table.name.name} leave a gap from {_fmt(before.upper)} to "
                    f"{_fmt(after.lower)} between the band from {_fmt(before.lower)} and the band from "
                    f"{_fmt(after.lower)}",
                    after.span,
                    f"start this band at {_fmt(before.upper)}",
                )
            elif after.lower < before.upper:
                what = "overlaps" if after.lower > before.lower else "is out of order after"
                ck.error(
                    codes.TIER_BANDS_OUT_OF_ORDER,
                    f"the band from {_fmt(after.lower)} {what} the band from "
                    f"{_fmt(before.lower)} to {_fmt(before.upper)}",
                    after.span,
                    "list bands in increasing order, each starting where the previous ends",
                )
        if bands and bands[-1].upper is not None:
            ck.error(
                codes.TIER_BANDS_OUT_OF_ORDER,
                f"the last band of tiers {table.name.name} ends at {_fmt(bands[-1].upper)}",
                bands[-1].span,
                "leave the last band open: `from X at ...` without `to`",
            )


def check_limit(ck: Checker, mod: ast.Limit, kind: str, charge: bool = True) -> None:
    ck.check_money(mod.amount)
    if ck.currency and mod.amount.currency != ck.currency:
        ck.error(
            codes.CURRENCY_MISMATCH,
            f"the limit is in {mod.amount.currency} but the contract settles in {ck.currency}",
            mod.amount.span,
            f"state it in {ck.currency}",
        )
    if mod.kind in ("minimum", "maximum") and kind == "subscription":
        ck.error(
            codes.MISPLACED_RULE,
            "a minimum or maximum per event applies to usage, not subscriptions",
            mod.span,
            "use `at least ... per period` or `capped at ... per period` for a subscriber's line",
        )
    if mod.kind == "floor" and kind == "subscription" and not charge:
        # a subscription's payout line is the partner's, over every subscriber: a minimum
        # per period there would be the partner's, never prorated by anyone's active days
        ck.error(
            codes.MISPLACED_RULE,
            "a minimum per period of a subscription applies to the subscriber's charge, not a payout",
            mod.span,
            "write the partner's minimum per subscriber-month into the payout, as"
            " `the larger of 55% of net and 18.00 PLN per subscriber-month`",
        )


def _charging_clauses(
    ck: Checker, product: ast.Product, refs: tuple[tuple[str, Span], ...], why: str
) -> None:
    """Clauses named by a commitment or discount exist in the product and charge the customer."""
    labels = {c.label: c for c in product.clauses}
    for label, span in refs:
        clause = labels.get(label)
        if clause is None:
            ck.error(
                codes.UNKNOWN_NAME,
                f'product {product.name.name} has no clause "{label}"',
                span,
                did_you_mean(label, labels) or "name a clause of this product that charges the customer",
            )
        elif not any(isinstance(r, ast.Charge) for r in clause.rules):
            ck.error(codes.MISPLACED_RULE, f'clause "{label}" charges no customer; {why}', span, None)


def check_commit(ck: Checker, rule: ast.Commit, product: ast.Product) -> None:
    ck.check_money(rule.amount)
    if ck.currency and rule.amount.currency != ck.currency:
        ck.error(
            codes.CURRENCY_MISMATCH,
            f"the commitment is in {rule.amount.currency} but the contract settles in {ck.currency}",
            rule.amount.span,
            f"state it in {ck.currency}",
        )
    if rule.amount.per and units.canonical(rule.amount.per, ck.units_declared) != "month":
        ck.error(
            codes.UNIT_MISMATCH,
            f"a commitment is per month, not per {rule.amount.per}",
            rule.amount.span,
            'write e.g. `minimum spend 9000.00 EUR per month on clause "2.2 Data"`',
        )
    _charging_clauses(ck, product, rule.clauses, "a commitment counts customer charges")


def check_distribute(ck: Checker, rule: ast.Distribute, product: ast.Product) -> None:
    """Parties known, named steps earlier, shares of the base at most 100%, the rest last."""
    labels: dict[str, ast.Step] = {}
    base_total = Fraction(0)  # exact: see check_split
    base_steps: list[ast.Step] = []
    if not any(isinstance(r, ast.Charge) for c in product.clauses for r in c.rules):
        ck.error(
            codes.MISPLACED_RULE,
            f"product {product.name.name} charges no customer; there is no net to distribute",
            rule.span,
            "add a clause with `charge customer ...`",
        )
    for i, step in enumerate(rule.steps):
        party = ck.party(step.party)
        if party is not None and step.keeps != (party.role == "operator"):
            hint = (
                f"write `{step.party.name} keeps ...`"
                if party.role == "operator"
                else f"write `pay {step.party.name} ...`"
            )
            ck.error(
                codes.MISPLACED_RULE,
                f"`{step.party.name}` is the {party.role}; "
                f"{'it keeps its part' if party.role == 'operator' else 'it is paid'}",
                step.span,
                hint,
            )
        if step.percent is not None and not 0 <= step.percent <= 100:
            ck.error(
                codes.PERCENTAGE_OUT_OF_RANGE,
                f"{step.percent}% is more than the whole",
                step.span,
                "write a percentage between 0% and 100%",
            )
        if step.kind == "base" and step.percent is not None:
            base_total += Fraction(step.percent)
            base_steps.append(step)
        if step.kind == "step" and step.of_step is not None and step.of_step[0] not in labels:
            ck.error(
                codes.UNKNOWN_NAME,
                f'no earlier step is labelled "{step.of_step[0]}"',
                step.of_step[1],
                did_you_mean(step.of_step[0], labels)
                or 'label the step with `as "..."` and refer to it after it',
            )
        if step.kind == "fixed" and step.money is not None:
            ck.check_money(step.money)
            if ck.currency and step.money.currency != ck.currency:
                ck.error(
                    codes.CURRENCY_MISMATCH,
                    f"this step is in {step.money.currency} but the contract settles in {ck.currency}",
                    step.money.span,
                    f"state it in {ck.currency}",
                )
        if step.kind == "tiers" and step.tiers is not None:
            table = tier_table(ck, step.tiers)
            if table is not None and not all(b.percent for b in table.bands):
                ck.error(
                    codes.WRONG_KIND_OF_AMOUNT,
                    f"tiers {table.name.name} price units; a waterfall step needs percentage tiers",
                    step.tiers.span,
                    "write bands like `from 0.00 PLN to 10000.00 PLN at 70%`",
                )
        if step.rounding is not None:
            ck.rounding(step.rounding, "line", [])
        if step.kind == "rest" and i != len(rule.steps) - 1:
            ck.error(
                codes.MISPLACED_RULE,
                "`the rest` is the last step: nothing remains after it",
                step.span,
                "move it to the end",
            )
        if step.label:
            if step.label in labels:
                ck.error(codes.DUPLICATE_NAME, f'step label "{step.label}" is used twice', step.span, None)
            labels[step.label] = step
    if base_total > 100:
        notes = tuple(f"{s.span}: {s.percent}% of the {rule.base} to {s.party.name}" for s in base_steps)
        ck.error(
            codes.SHARES_EXCEED_BASE,
            f"the steps take {percent_text(base_total)} of the period's {rule.base}, more than the whole",
            base_steps[-1].span,
            "lower the percentages so that they total at most 100%",
            notes,
        )
    if rule.steps and not any(step.kind == "rest" for step in rule.steps):
        ck.error(
            codes.MISSING_DECLARATION,
            "the waterfall does not say who gets the rest",
            rule.steps[-1].span,
            "end it with e.g. `telcopl keeps the rest`",
        )


def check_withhold(ck: Checker, rule: ast.Withhold) -> None:
    party = ck.party(rule.party)
    if party is not None and party.role == "operator":
        ck.error(
            codes.MISPLACED_RULE,
            "tax is withheld from a partner's payouts, not the operator's",
            rule.party.span,
            None,
        )
    if not 0 <= rule.percent <= 100:
        ck.error(
            codes.PERCENTAGE_OUT_OF_RANGE,
            f"{rule.percent}% is not a rate of tax",
            rule.span,
            "write a rate between 0% and 100%",
        )


def check_allowance(ck: Checker, rule: ast.Charge | ast.Pay, product: ast.Product) -> None:
    allowances = [m for m in rule.modifiers if isinstance(m, ast.Allowance)]
    pooled = [m for m in rule.modifiers if isinstance(m, ast.Pooled)]
    for extra in allowances[1:]:
        ck.error(
            codes.DUPLICATE_NAME,
            "this rule already has an allowance",
            extra.span,
            "state one allowance per rule",
        )
    if pooled and not any(a.per is not None for a in allowances):
        ck.error(
            codes.MISPLACED_RULE,
            "`pooled` shares per-subscriber allowances; this rule has none",
            pooled[0].span,
            "write e.g. `first 100 MB free for each sim, pooled`",
        )
    for allowance in allowances[:1]:
        if product.subscription:
            ck.error(
                codes.MISPLACED_RULE, "free units apply to usage, not subscriptions", allowance.span, None
            )
            continue
        measure = units.canonical(product.measured[0][0], ck.units_declared) if product.measured else "event"
        unit = units.canonical(allowance.unit, ck.units_declared)
        if unit in units.PERIOD_UNITS or units.dimension(unit) != units.dimension(measure):
            ck.error(
                codes.UNIT_MISMATCH,
                f"the product is measured in {units.plural(measure)}; free {allowance.unit} cannot apply",
                allowance.span,
                f"state the free units in {units.plural(measure)}",
            )
        if allowance.per is not None:
            ck.field(allowance.per)


def check_discount(ck: Checker, rule: ast.Discount, product: ast.Product) -> None:
    if rule.percent is not None and not 0 <= rule.percent <= 100:
        ck.error(
            codes.PERCENTAGE_OUT_OF_RANGE,
            f"a discount of {rule.percent}% is not a percentage",
            rule.span,
            "write a discount between 0% and 100%",
        )
    if rule.money is not None:
        ck.check_money(rule.money)
        if ck.currency and rule.money.currency != ck.currency:
            ck.error(
                codes.CURRENCY_MISMATCH,
                f"the discount is in {rule.money.currency} but the contract settles in {ck.currency}",
                rule.money.span,
                f"state it in {ck.currency}",
            )
    _charging_clauses(ck, product, rule.clauses, "there is nothing to discount")


def percent_text(percent: Fraction) -> str:
    """An exact percentage as written when it is a decimal (25/2 -> 12.5%), else as a
    fraction of a percent (200/3 -> 200/3%)."""
    wide = decimal.Context(prec=200)
    digits = wide.divide(Decimal(percent.numerator), Decimal(percent.denominator))
    if Fraction(digits) == percent:
        return format(wide.normalize(digits), "f") + "%"
    return f"{percent.numerator}/{percent.denominator}%"


def _written(fraction: Fraction) -> str:
    """An exact share as a percentage when it is one (1/8 -> 12.5%), else as a fraction."""
    percent = fraction * 100
    # wide enough for any sum of shares written in the bounded 50-digit context
    wide = decimal.Context(prec=200)
    digits = wide.divide(Decimal(percent.numerator), Decimal(percent.denominator))
    if Fraction(digits) == percent:
        return format(wide.normalize(digits), "f") + "%"
    return f"{fraction.numerator}/{fraction.denominator}"


def check_split(ck: Checker, rule: ast.Split, product: ast.Product) -> None:
    # exact: 1/3 + 1/3 + 1/3 is the whole, and 33.3333333333333333333333333334% (past the
    # default 28 digits) is not
    total = sum((s.share for s in rule.shares), Fraction(0))
    names = [s.party.name for s in rule.shares]
    for share in rule.shares:
        ck.party(share.party)
        if share.written.endswith("/0"):
            ck.error(
                codes.INVALID_NUMBER,
                f"the share {share.written} divides by zero",
                share.span,
                "write a fraction like 1/3",
            )
        elif not 0 <= share.share <= 1:
            ck.error(
                codes.PERCENTAGE_OUT_OF_RANGE, f"{share.written} is more than the whole", share.span, None
            )
    for i, name in enumerate(names):
        if name in names[:i]:
            ck.error(
                codes.DUPLICATE_NAME,
                f"`{name}` has two shares in this split",
                rule.shares[i].party.span,
                "merge them",
            )
    if total != 1 and not rule.equally:
        notes = tuple(f"{s.party.span}: {s.party.name} {s.written}" for s in rule.shares)
        code = codes.SHARES_EXCEED_BASE if total > 1 else codes.MISPLACED_RULE
        ck.error(
            code,
            f"the shares of the split add up to {_written(total)}, not 100%",
            rule.span,
            "a split divides the whole: make the shares total 100%",
            notes,
        )
    if rule.residual is not None and rule.residual.name not in names:
        ck.error(
            codes.UNKNOWN_NAME,
            f"the residual goes to `{rule.residual.name}`, which has no share in the split",
            rule.residual.span,
            did_you_mean(rule.residual.name, names),
        )
    if not any(isinstance(r, ast.Charge) for c in product.clauses for r in c.rules):
        ck.error(
            codes.MISPLACED_RULE,
            f"product {product.name.name} charges no customer; there is no net to split",
            rule.span,
            "add a clause with `charge customer ...`",
        )


def check_product_models(ck: Checker, product: ast.Product) -> None:
    """Deductions and bundle components."""
    ck.duplicates([(d.name.name, d.name.span) for d in product.deductions], "deduction")
    for deduction in product.deductions:
        kind = infer(deduction.amount, ck, product, False)
        if kind.currency is None:
            ck.error(
                codes.WRONG_KIND_OF_AMOUNT, "a deduction is an amount of money", deduction.amount.span, None
            )
        elif ck.currency and kind.currency != ck.currency:
            ck.error(
                codes.CURRENCY_MISMATCH,
                f"the deduction is in {kind.currency} but the contract settles in {ck.currency}",
                deduction.amount.span,
                f"state it in {ck.currency}",
            )
    ck.duplicates([(c.name, c.span) for c, _ in product.components], "component")
    for name, money in product.components:
        ck.check_money(money)
        if ck.currency and money.currency != ck.currency:
            ck.error(
                codes.CURRENCY_MISMATCH,
                f"component {name.name} is priced in {money.currency} but the contract settles in "
                f"{ck.currency}",
                money.span,
                f"state standalone prices in {ck.currency}",
            )
        if money.amount <= 0:
            ck.error(
                codes.INVALID_NUMBER,
                f"component {name.name} has no standalone price",
                money.span,
                "a bundle is allocated by standalone prices, which must be above zero",
            )
