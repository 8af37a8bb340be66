"""Checks of payment currencies: conversions and the parties they pay, and units of
account.

Called by `check._Checker` once per contract (a conversion is the contract's:
it applies to every payout of its party, in any product). Input: the AST.
Output: diagnostics through the checker's `error`.
"""

from __future__ import annotations

from clearline import codes
from clearline.compiler.checker import Checker
from clearline.grammar import ast
from clearline.money import MINOR_UNITS
from clearline.source import Span

__all__ = [
    "check_conversions",
    "check_priced_in_unit",
    "check_units_of_account",
    "payers",
]


def payers(contract: ast.Contract) -> dict[str, list[tuple[str, str, ast.Product]]]:
    """Party -> every (how, clause label, product) that pays it: `pay` rules, split shares
    and waterfall steps."""
    found: dict[str, list[tuple[str, str, ast.Product]]] = {}
    for product in contract.products:
        for clause in product.clauses:
            for rule in clause.rules:
                if isinstance(rule, ast.Pay):
                    found.setdefault(rule.party.name, []).append(("pay", clause.label, product))
                elif isinstance(rule, ast.Split):
                    for share in rule.shares:
                        found.setdefault(share.party.name, []).append(("split", clause.label, product))
                elif isinstance(rule, ast.Distribute):
                    for step in rule.steps:
                        if not step.keeps:
                            found.setdefault(step.party.name, []).append(("step", clause.label, product))
    return found


def _labels(paid: list[tuple[str, str, ast.Product]]) -> str:
    seen = list(dict.fromkeys(label for _, label, _ in paid))
    return ("clause " if len(seen) == 1 else "clauses ") + ", ".join(f'"{label}"' for label in seen)


def check_conversions(ck: Checker) -> None:
    """Each conversion converts something; a party with its own currency is converted."""
    paid = payers(ck.c)
    # a rule that pays a misspelt party is reported there; what it leaves unpaid is not news
    misspelt = any(name not in ck.parties for name in paid)
    conversions: dict[str, tuple[ast.Convert, Span]] = {}
    for product in ck.c.products:
        for clause in product.clauses:
            for rule in clause.rules:
                if isinstance(rule, ast.Convert):
                    _conversion(ck, rule, paid.get(rule.party.name, []), conversions, misspelt)
    names = [p.name.name for p in ck.c.parties]
    for party in ck.c.parties:
        name = party.name.name
        if party.role != "partner" or not party.currency or party.currency == ck.currency:
            continue
        if name in conversions or not paid.get(name) or names.count(name) > 1:
            continue  # a party declared twice is reported as such
        if ck.currency not in MINOR_UNITS or party.currency not in MINOR_UNITS:
            continue  # an unknown currency is reported once, where it is written
        ck.error(
            codes.PAID_IN_ANOTHER_CURRENCY,
            f"`{name}` declares currency {party.currency} but is paid in {ck.currency} by "
            f"{_labels(paid[name])}, and no clause converts its payouts",
            party.name.span,
            f"to pay it in {party.currency}, add `pay {name} in {party.currency} at the rate of the "
            f"period end` to a clause; to pay it in {ck.currency}, declare `currency {ck.currency}`",
        )


def _conversion(
    ck: Checker,
    rule: ast.Convert,
    paid: list[tuple[str, str, ast.Product]],
    seen: dict[str, tuple[ast.Convert, Span]],
    misspelt: bool,
) -> None:
    name = rule.party.name
    if name in seen:
        ck.error(
            codes.DUPLICATE_NAME,
            f"`{name}` is already paid in {seen[name][0].currency} by the conversion at {seen[name][1]}",
            rule.span,
            "a party's payouts are converted once, by one clause of the contract: keep one",
        )
        return
    seen[name] = (rule, rule.span)
    party = ck.parties.get(name)
    if party is None:
        return  # the unknown name is reported with the clause
    if party.role == "operator":
        why = f"`{name}` is the operator, which is never paid"
    elif rule.currency == ck.currency:
        why = f"the contract already settles in {rule.currency}"
    elif not paid and misspelt:
        return
    elif not paid:
        why = f"no clause of the contract pays `{name}`"
    else:
        why = ""
    if why:
        ck.error(
            codes.CONVERSION_WITHOUT_EFFECT,
            f"this conversion has no effect: {why}",
            rule.span,
            "remove it, or pay the party in a clause (`pay PARTY ...`, a split share, a waterfall step)",
        )
        return
    if rule.fixing != "record date":
        return
    for how, label, product in paid:
        if how in ("split", "step") or product.subscription:
            what = {
                "split": "a split share",
                "step": "a waterfall step",
                "pay": "a subscription payout",
            }[how if how != "pay" else "pay"]
            ck.error(
                codes.MISPLACED_RULE,
                f'`{name}` is paid by {what} in clause "{label}", a period total with no record date '
                "to fix a rate on",
                rule.span,
                "use `at the rate of the period end`",
            )
            return


def check_units_of_account(ck: Checker) -> None:
    """A unit of account is a code of its own, or an ISO currency with its own digits,
    converted at the period end; declared once."""
    seen: set[str] = set()
    for unit in ck.c.units_of_account:
        if unit.code in seen:
            ck.error(codes.DUPLICATE_NAME, f"the unit of account {unit.code} is declared twice", unit.span,
                     "keep one declaration")  # fmt: skip
        seen.add(unit.code)
        if unit.code == ck.currency:
            ck.error(
                codes.UNIT_OF_ACCOUNT,
                f"{unit.code} is the currency the contract settles in, not a unit of account",
                unit.span,
                "remove the declaration: prices in the settlement currency need no conversion",
            )
        elif unit.code in MINOR_UNITS and unit.digits < MINOR_UNITS[unit.code]:
            ck.error(
                codes.UNIT_OF_ACCOUNT,
                f"{unit.code} has {MINOR_UNITS[unit.code]} minor digits in ISO 4217; "
                f"the declaration gives it {unit.digits}",
                unit.span,
                f"declare {unit.code} with at least {MINOR_UNITS[unit.code]} digits",
            )
        if unit.fixing != "period end":
            ck.error(
                codes.UNIT_OF_ACCOUNT,
                "prices in a unit of account are converted at the rate of the period end",
                unit.span,
                "write `converted at the rate of the period end`",
            )


def check_priced_in_unit(ck: Checker, amount: ast.Expr, code: str) -> None:
    """An amount in a unit of account is converted where it is a price (a literal, a
    price per unit, a rate table's rows, a record's value): tier bands are not."""
    for node in _nodes(amount):
        if isinstance(node, ast.TierRef):
            ck.error(
                codes.UNIT_OF_ACCOUNT,
                f"tier bands in the unit of account {code} are not converted",
                node.span,
                f"state the tiers' prices in {ck.currency}",
            )


def _nodes(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, (ast.Add, ast.Mul, ast.Larger)):
        return [expr, *_nodes(expr.left), *_nodes(expr.right)]
    if isinstance(expr, ast.ShareOf):
        return [expr, *_nodes(expr.amount)]
    return [expr]
