"""Checks of what a rule refers to beyond its own amount: shares of the billed net, the
payout to a party and the remainder after a clause (each to earlier pay rules of the
same unit), and the modifiers of a price. A mixin of `check._Checker`."""

from __future__ import annotations

from clearline import codes
from clearline.compiler.check_models import (
    check_limit,
)
from clearline.compiler.checker import Checker, walk_exprs
from clearline.diagnostics import did_you_mean
from clearline.grammar import ast

__all__: list[str] = []


class _ReferenceChecks(Checker):
    def billed_share(self, rule: ast.Charge | ast.Pay) -> None:
        """`N% of billed net` is priced once for the period, after the product's discounts:
        a pay rule that reads it may add, multiply and compare it only with amounts fixed
        for the period (`the larger of 15% of billed net and 100.00 EUR`), never with what
        is read per record, and takes no modifiers. A charge cannot read it: it is what the
        charges come to."""
        billed = [e for e in walk_exprs(rule.amount) if isinstance(e, ast.Share) and e.billed]
        if not billed:
            return
        if isinstance(rule, ast.Charge):
            self.error(
                codes.MISPLACED_RULE,
                f"a share of the billed {billed[0].base} is what the charges come to after the "
                "discounts; a charge cannot read it",
                billed[0].span,
                f"pay a partner `{billed[0].percent}% of billed {billed[0].base}`",
            )
            return
        for node in walk_exprs(rule.amount):
            if not _fixed_for_the_period(node) and not isinstance(node, ast.RemainderAfter | ast.PayoutTo):
                self.error(  # (`the remainder after` and `the payout to` say so themselves)
                    codes.MISPLACED_RULE,
                    "a rule that reads the billed net is priced once for the period; this amount "
                    "is read per record or subscriber",
                    node.span,
                    "use only amounts fixed for the period beside it (`the larger of 15% of billed "
                    "net and 100.00 EUR`), or pay the other part in a rule of its own",
                )
        if rule.modifiers:
            self.error(
                codes.MISPLACED_RULE,
                f"a share of the billed {billed[0].base} is priced once for the period; "
                "it takes no modifiers",
                rule.modifiers[0].span,
                "remove the modifier, or pay a share of `net`, priced per record",
            )

    def payout_refs(self, rule: ast.Charge | ast.Pay, product: ast.Product) -> None:
        """`the payout to P` reads what the product's earlier pay rules, priced per rating
        unit, pay P for the same unit: such a rule must come before, and the rule reading
        it is priced per unit too."""
        refs = [e for e in walk_exprs(rule.amount) if isinstance(e, ast.PayoutTo)]
        if not refs or isinstance(rule, ast.Charge):
            return  # a charge's is reported where the amount is typed

        def per_unit(r: ast.Pay) -> bool:
            billed = any(isinstance(e, ast.Share) and e.billed for e in walk_exprs(r.amount))
            priced_once = any(isinstance(e, ast.TierRef | ast.Aggregate) for e in walk_exprs(r.amount))
            return not billed and not priced_once

        earlier: set[str] = set()
        rules = [r for clause in product.clauses for r in clause.rules]
        for r in rules[: next(i for i, r in enumerate(rules) if r is rule)]:
            if isinstance(r, ast.Pay) and per_unit(r):
                earlier.add(r.party.name)
        billed = any(isinstance(e, ast.Share) and e.billed for e in walk_exprs(rule.amount))
        for ref in refs:
            if not per_unit(rule):
                self.error(
                    codes.MISPLACED_RULE,
                    "`the payout to` is read per rating unit; this rule is priced once per "
                    + ("period" if billed else "line"),
                    ref.span,
                    "use it in a pay rule priced per record or subscriber",
                )
            elif ref.party.name not in earlier:
                self.error(
                    codes.UNKNOWN_NAME,
                    f"no pay rule before this one pays {ref.party.name} per rating unit",
                    ref.span,
                    f"`the payout to {ref.party.name}` reads the product's earlier pay rules "
                    f"for the same record: put `pay {ref.party.name} ...` first",
                )

    def remainder_refs(self, rule: ast.Charge | ast.Pay, product: ast.Product, clause: ast.Clause) -> None:
        """`the remainder after "CLAUSE"` reads what the product's pay rules up to and including
        that clause, priced per rating unit, pay for the same unit: the clause comes before this
        rule's, pays per unit, and the rule reading it is priced per unit too."""
        refs = [e for e in walk_exprs(rule.amount) if isinstance(e, ast.RemainderAfter)]
        if not refs or isinstance(rule, ast.Charge):
            return  # a charge's is reported where the amount is typed
        earlier = product.clauses[: product.clauses.index(clause)]

        def per_unit(r: ast.Pay) -> bool:
            kinds = (ast.TierRef, ast.Aggregate)
            once = any(
                isinstance(e, kinds) or (isinstance(e, ast.Share) and e.billed) for e in walk_exprs(r.amount)
            )
            return not once

        pays = {c.label: [r for r in c.rules if isinstance(r, ast.Pay)] for c in earlier}
        labels = [label for label, rules in pays.items() if rules and all(map(per_unit, rules))]
        priced_once = any(isinstance(e, ast.TierRef | ast.Aggregate) for e in walk_exprs(rule.amount))
        billed = any(isinstance(e, ast.Share) and e.billed for e in walk_exprs(rule.amount))
        for ref in refs:
            if priced_once or billed:
                self.error(
                    codes.MISPLACED_RULE,
                    "`the remainder after` is read per rating unit; this rule is priced once per "
                    + ("period" if billed else "line"),
                    ref.span,
                    "use it in a pay rule priced per record or subscriber",
                )
            elif ref.label in pays and pays[ref.label] and ref.label not in labels:
                self.error(
                    codes.MISPLACED_RULE,
                    f'"{ref.label}" pays once per line or period, not per rating unit: what is left '
                    "of each unit after it is not known",
                    ref.label_span,
                    "read the remainder after a clause whose pay rules are priced per record",
                )
            elif ref.label not in labels:
                self.error(
                    codes.UNKNOWN_NAME,
                    f'no clause before this one in product {product.name.name} is "{ref.label}" '
                    "with a pay rule",
                    ref.label_span,
                    did_you_mean(ref.label, labels) or "name an earlier clause of the product that pays",
                )

    def modifier(self, mod: ast.Modifier, kind: str, rule: ast.Charge | ast.Pay) -> None:
        if isinstance(mod, ast.Limit):
            check_limit(self, mod, kind, isinstance(rule, ast.Charge))
        if isinstance(mod, ast.Prorated) and kind != "subscription":
            self.error(
                codes.MISPLACED_RULE,
                "only subscriptions are prorated by active days",
                mod.span,
                "remove `prorated by active days`, or make the product a subscription",
            )
        if isinstance(mod, ast.Increments):
            self.increments(mod)
            if kind == "subscription":
                self.error(
                    codes.MISPLACED_RULE,
                    "rating increments apply to usage, not subscriptions",
                    mod.span,
                    None,
                )
        if isinstance(mod, ast.ConnectFee):
            self.check_money(mod.fee)
            if self.currency and mod.fee.currency != self.currency:
                self.error(
                    codes.CURRENCY_MISMATCH,
                    f"the connect fee is in {mod.fee.currency} but the contract settles in {self.currency}",
                    mod.fee.span,
                    f"state the connect fee in {self.currency}",
                )
            if kind == "subscription":
                self.error(
                    codes.MISPLACED_RULE,
                    "a connect fee applies to usage events, not subscriptions",
                    mod.span,
                    None,
                )


def _fixed_for_the_period(node: ast.Expr) -> bool:
    """Whether an amount is the same for every record of the period: a share of the billed
    net, money not priced per unit, a number, or arithmetic and comparisons of them."""
    if isinstance(node, ast.Share):
        return node.billed
    if isinstance(node, ast.Money):
        return node.per is None
    return isinstance(node, ast.Number | ast.Add | ast.Mul | ast.Larger | ast.ShareOf)
