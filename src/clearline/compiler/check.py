"""Checking: AST -> diagnostics (names, values, money types, shares, roundings).

Input: one `ast.Contract`. Output: every problem found, as diagnostics; an
empty error list means `lower` may build a plan from the AST. Checks never
stop at the first problem: a writer fixes a contract in one pass.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal
from fractions import Fraction

from clearline import codes
from clearline.compiler.bands import check_time_bands
from clearline.compiler.check_currency import check_conversions, check_priced_in_unit, check_units_of_account
from clearline.compiler.check_declarations import _DeclarationChecks
from clearline.compiler.check_examples import _ExampleChecks
from clearline.compiler.check_labels import check_field_labels
from clearline.compiler.check_ledger import check_ledger_terms
from clearline.compiler.check_models import (
    check_allowance,
    check_commit,
    check_discount,
    check_distribute,
    check_product_models,
    check_split,
    check_tier_tables,
    check_withhold,
    percent_text,
)
from clearline.compiler.check_particulars import check_particulars
from clearline.compiler.check_refs import _ReferenceChecks
from clearline.compiler.check_units import check_own_units, check_split_changes
from clearline.compiler.checker import IMPLICIT_FIELDS, Checker, MoneyType, walk_exprs, walk_preds
from clearline.compiler.infer import infer
from clearline.diagnostics import Diagnostic, did_you_mean
from clearline.grammar import ast
from clearline.money import MINOR_UNITS, minor_unit
from clearline.source import Span

__all__ = ["IMPLICIT_FIELDS", "MoneyType", "check_contract", "infer"]


def max_share(
    expr: ast.Expr,
    base: str,
    parts: dict[str, Fraction] | None = None,
    after: dict[str, Fraction] | None = None,
) -> Fraction:
    """The largest percentage of `base` that `expr` can pay (for the 100% check), exactly.

    `parts`: a bundle's components as fractions of the whole (a share of the
    allocated net of a component is that fraction of the share).
    """
    if isinstance(expr, ast.Share):
        if expr.base != base:
            return Fraction(0)
        if expr.component is not None:
            return Fraction(expr.percent) * (parts or {}).get(expr.component.name, Fraction(1))
        return Fraction(expr.percent)
    if isinstance(expr, ast.BaseAmount):
        if expr.base != base:
            return Fraction(0)
        return Fraction(100) * ((parts or {}).get(expr.component.name, Fraction(1)) if expr.component else 1)
    if isinstance(expr, ast.RemainderAfter):
        return (after or {}).get(expr.label, Fraction(0)) if base == "net" else Fraction(0)
    if isinstance(expr, ast.ShareOf):
        return Fraction(expr.percent) * max_share(expr.amount, base, parts, after) / 100
    if isinstance(expr, ast.Larger):
        return max(max_share(expr.left, base, parts, after), max_share(expr.right, base, parts, after))
    if isinstance(expr, ast.Add) and expr.op == "+":
        return max_share(expr.left, base, parts, after) + max_share(expr.right, base, parts, after)
    if isinstance(expr, ast.Add):
        return max_share(expr.left, base, parts, after)
    return Fraction(0)


def min_share(expr: ast.Expr) -> Fraction:
    """The smallest percentage of the net `expr` surely pays (for `the remainder after`)."""
    if isinstance(expr, ast.Share):
        return Fraction(expr.percent) if expr.base == "net" and expr.component is None else Fraction(0)
    if isinstance(expr, ast.BaseAmount):
        return Fraction(100) if expr.base == "net" and expr.component is None else Fraction(0)
    if isinstance(expr, ast.ShareOf):
        return Fraction(expr.percent) * min_share(expr.amount) / 100
    if isinstance(expr, ast.Larger) and expr.larger:
        return max(min_share(expr.left), min_share(expr.right))
    if isinstance(expr, ast.Larger):
        return min(min_share(expr.left), min_share(expr.right))
    if isinstance(expr, ast.Add) and expr.op == "+":
        return min_share(expr.left) + min_share(expr.right)
    return Fraction(0)


class _Checker(_ReferenceChecks, _DeclarationChecks, _ExampleChecks, Checker):
    # header -----------------------------------------------------------------------

    def check_header(self) -> None:
        c = self.c
        self.one(c.versions, "version", "version 1")
        self.one(c.effective, "effective interval", "effective 2026-01-01 until 2027-01-01")
        self.one(c.settle, "settlement terms", "settle monthly in EUR, time zone Europe/Warsaw")
        for items, what in (
            (c.versions, "version"),
            (c.effective, "effective interval"),
            (c.settle, "settlement terms"),
        ):
            for item in items[1:]:
                span = item[1] if isinstance(item, tuple) else item.span
                self.error(
                    codes.DUPLICATE_NAME,
                    f"the contract states its {what} twice",
                    span,
                    "keep one; amendments belong in their own file",
                )
        for eff in c.effective:
            start = self.date(eff.start, eff.start_span)
            until = self.date(eff.until, eff.until_span)
            if start and until and until <= start:
                self.error(
                    codes.EMPTY_INTERVAL,
                    f"the contract ends ({eff.until}) before it starts ({eff.start})"
                    if until < start
                    else f"the contract starts and ends on {eff.start}, so it covers no day",
                    eff.span,
                    f"put the start first: `effective {eff.until} until {eff.start}`"
                    if until < start
                    else "the `until` date is the first day no longer covered: write a later one",
                )
        zones = [s.time_zone for s in c.settle if s.time_zone] + list(c.time_zones)
        if c.settle and not zones:
            self.error(
                codes.MISSING_DECLARATION,
                f"contract {c.id} has no time zone",
                c.settle[0].span,
                "add `, time zone Europe/Warsaw` to the settle line",
            )
        for _, span in zones[1:]:
            self.error(codes.DUPLICATE_NAME, "the time zone is stated twice", span, "keep one")
        for name, span in zones[:1]:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self.error(
                    codes.UNKNOWN_TIME_ZONE,
                    f"`{name}` is not a time zone",
                    span,
                    did_you_mean(name, sorted(zoneinfo.available_timezones()))
                    or "use an IANA name like Europe/Warsaw",
                )
        for s in c.settle:
            self.known_currency(s.currency, s.currency_span)

    # declarations ----------------------------------------------------------------
    # predicates ------------------------------------------------------------------
    def check_pred(self, pred: ast.Pred) -> None:
        for p in walk_preds(pred):
            if isinstance(p, ast.Compare | ast.OneOf | ast.StartsWith):
                ftype = self.field(p.field)
                values = (
                    (p.value,)
                    if isinstance(p, ast.Compare)
                    else (p.values if isinstance(p, ast.OneOf) else (p.prefix,))
                )
                numeric = ftype in {"decimal", "integer"}
                if ftype is None:
                    continue
                if isinstance(p, ast.StartsWith) and numeric:
                    self.error(
                        codes.WRONG_KIND_OF_AMOUNT,
                        f"`{p.field.name}` is a number; `starts with` reads text",
                        p.span,
                        "compare numbers with =, <, >, ...",
                    )
                elif not isinstance(p, ast.StartsWith) and any(
                    isinstance(v, Decimal) != numeric for v in values
                ):
                    want = "a number" if numeric else "a quoted text"
                    self.error(
                        codes.WRONG_KIND_OF_AMOUNT,
                        f"`{p.field.name}` is a {ftype} field; compare it with {want}",
                        p.span,
                        None,
                    )
                elif isinstance(p, ast.Compare) and p.op in {"<", "<=", ">", ">="} and not numeric:
                    self.error(
                        codes.WRONG_KIND_OF_AMOUNT,
                        f"`{p.field.name}` is text; only = and != apply",
                        p.span,
                        None,
                    )

    # amounts -----------------------------------------------------------------------
    def check_expr(self, expr: ast.Expr, product: ast.Product, is_charge: bool) -> MoneyType:
        line_level = any(isinstance(e, ast.TierRef | ast.Aggregate) for e in walk_exprs(expr))
        if product.subscription:
            for e in walk_exprs(expr):
                if isinstance(e, ast.FieldValue):
                    self.error(
                        codes.MISPLACED_RULE,
                        f"`the value of {e.field.name}` is a usage record's; a subscription is priced "
                        "per subscriber and period, from its start and end events",
                        e.span,
                        "price the subscription per month or per day, or read the value in a usage product",
                    )
        elif line_level:
            self.per_line_reads(expr, "it uses tiers or an aggregate")
        return infer(expr, self, product, is_charge, line_level)

    def per_line_reads(self, expr: ast.Expr, why: str) -> None:
        """A rule priced once per line, from its totals, reads no one record's value or row."""
        for e in walk_exprs(expr):
            if isinstance(e, ast.FieldValue):
                self.error(
                    codes.MISPLACED_RULE,
                    f"`the value of {e.field.name}` is one record's; this rule is priced once per "
                    f"line from its totals ({why})",
                    e.span,
                    f"use `the sum of {e.field.name}` for the line's total, or price the record's "
                    "value in a rule of its own",
                )
            elif isinstance(e, ast.TableRate):
                self.error(
                    codes.MISPLACED_RULE,
                    "a rate table prices each record by its row; this rule is priced once per line "
                    f"from its totals ({why})",
                    e.span,
                    "price the table's rate in a rule of its own",
                )

    def check_products(self) -> None:
        self.duplicates([(p.name.name, p.name.span) for p in self.c.products], "product")
        labels: list[tuple[str, Span]] = []
        for product in self.c.products:
            self.check_product(product)
            labels += [(cl.label, cl.span) for cl in product.clauses]
        self.duplicates(labels, "clause")

    def check_product(self, product: ast.Product) -> None:
        name = product.name.name
        check_product_models(self, product)
        if not product.matches:
            self.error(
                codes.MISSING_DECLARATION,
                f"product {name} does not say which records it matches",
                product.span,
                'add e.g. `matches service = "voice-out"`',
            )
        for extra, what in (
            (product.matches[1:], "matches"),
            (product.measured[1:], "measured in"),
            (product.subscription[1:], "subscription"),
            (product.answered[1:], "answered when"),
        ):
            for item in extra:
                span = item[1] if isinstance(item, tuple) else item.span
                self.error(codes.DUPLICATE_NAME, f"product {name} states `{what}` twice", span, "keep one")
        for pred in product.matches + product.answered:
            self.check_pred(pred)
        for sub in product.subscription:
            self.check_pred(sub.starts)
            self.check_pred(sub.ends)
        if product.subscription and product.measured:
            self.error(
                codes.MISPLACED_RULE,
                f"product {name} is a subscription; it is not measured in usage units",
                product.measured[0][1],
                "remove `measured in` or the subscription line",
            )
        if product.subscription and product.answered:
            self.error(
                codes.MISPLACED_RULE,
                "`answered when` applies to usage products, not subscriptions",
                product.answered[0].span,
                None,
            )
        if not product.clauses:
            self.error(
                codes.MISSING_DECLARATION,
                f"product {name} has no clause",
                product.span,
                'add e.g. `clause "3.1 Retail price" { charge customer ... }`',
            )
        shares: dict[str, list[tuple[Fraction, ast.Pay]]] = {"net": [], "gross": []}
        whole = sum((Fraction(m.amount) for _, m in product.components), Fraction(0))
        parts = {n.name: Fraction(m.amount) / whole for n, m in product.components} if whole > 0 else {}
        after: dict[str, Fraction] = {}  # clause -> at most what is left of the net after it
        paid = Fraction(0)
        for clause in product.clauses:
            self.check_clause(clause, product)
            for rule in clause.rules:
                if isinstance(rule, ast.Pay):
                    for base in shares:
                        pct = max_share(rule.amount, base, parts, after)
                        if pct:
                            shares[base].append((pct, rule))
                    paid += min_share(rule.amount)
            after[clause.label] = max(Fraction(100) - paid, Fraction(0))
        for base, rules in shares.items():
            total = sum((p for p, _ in rules), Fraction(0))
            # A single share above 100% is reported as such (E0303), not again here.
            too_large = any(
                isinstance(e, ast.Share) and e.percent > 100 for _, r in rules for e in walk_exprs(r.amount)
            )
            if total > 100 and not too_large:
                notes = tuple(
                    f"{rule.span}: pays {rule.party.name} up to {percent_text(pct)} of {base}"
                    for pct, rule in rules
                )
                self.error(
                    codes.SHARES_EXCEED_BASE,
                    f"the shares of {base} paid in product {name} add up to {percent_text(total)}, "
                    "more than all of it",
                    rules[-1][1].span,
                    "lower the percentages so that they total at most 100%",
                    notes,
                )

    def check_clause(self, clause: ast.Clause, product: ast.Product) -> None:
        kind = "subscription" if product.subscription else "usage"
        amounts = [r for r in clause.rules if isinstance(r, ast.Charge | ast.Pay)]
        rounds: dict[str | None, ast.Round] = {}
        for rule in clause.rules:
            if isinstance(rule, ast.Round):
                if rule.point in rounds:
                    self.error(
                        codes.DUPLICATE_NAME,
                        "this clause already rounds at that point",
                        rule.span,
                        f"the first rounding is at {rounds[rule.point].span}",
                    )
                rounds.setdefault(rule.point, rule)
                self.rounding(rule, rule.point or "line", amounts)
            elif isinstance(rule, ast.Charge | ast.Pay):
                is_charge = isinstance(rule, ast.Charge)
                if isinstance(rule, ast.Pay):
                    party = self.party(rule.party)
                    if party and party.role == "operator":
                        self.error(
                            codes.MISPLACED_RULE,
                            f"`{party.name.name}` is the operator; it keeps what is not paid out",
                            rule.party.span,
                            "pay a partner; the operator's part is the retained line",
                        )
                mtype = self.check_expr(rule.amount, product, is_charge)
                self.billed_share(rule)
                self.payout_refs(rule, product)
                self.remainder_refs(rule, product, clause)
                tiered = any(isinstance(e, ast.TierRef | ast.Aggregate) for e in walk_exprs(rule.amount))
                if any(isinstance(m, ast.Allowance) for m in rule.modifiers) and not tiered:
                    self.per_line_reads(rule.amount, "it has free units")
                if mtype.currency is None:
                    number = rule.amount.value if isinstance(rule.amount, ast.Number) else Decimal("0.05")
                    self.error(
                        codes.WRONG_KIND_OF_AMOUNT,
                        f"this rule {'charges' if is_charge else 'pays'} a plain number, "
                        "not an amount of money",
                        rule.amount.span,
                        f"add the currency after the number, e.g. `{number} {self.currency or 'EUR'}`",
                    )
                elif mtype.currency in self.units:
                    check_priced_in_unit(self, rule.amount, mtype.currency)
                elif self.currency and mtype.currency != self.currency:
                    if isinstance(rule, ast.Pay):
                        who = rule.party.name
                        hint = (
                            f"state it in {self.currency}; to pay {who} in {mtype.currency}, add "
                            f"`pay {who} in {mtype.currency} at the rate of the period end`"
                        )
                    else:
                        hint = f"state the price in {self.currency}, the currency the contract settles in"
                    self.error(
                        codes.CURRENCY_MISMATCH,
                        f"this amount is in {mtype.currency} but the contract settles in {self.currency}",
                        rule.amount.span,
                        hint,
                    )
                for mod in rule.modifiers:
                    self.modifier(mod, kind, rule)
                check_allowance(self, rule, product)
            elif isinstance(rule, ast.Vat):
                if not 0 <= rule.percent <= 100:
                    self.error(
                        codes.PERCENTAGE_OUT_OF_RANGE,
                        f"VAT of {rule.percent}% is more than 100%",
                        rule.span,
                        "write a rate between 0% and 100%",
                    )
                if rule.reverse_charge and rule.percent != 0:
                    self.error(
                        codes.MISPLACED_RULE,
                        "reverse charge means the customer accounts for VAT: "
                        f"the rate is 0%, not {rule.percent}%",
                        rule.span,
                        "write `vat 0% reverse charge`",
                    )
                if not any(isinstance(r, ast.Charge | ast.Commit) for r in clause.rules):
                    self.error(
                        codes.MISPLACED_RULE,
                        "VAT applies to customer charges; this clause charges nothing",
                        rule.span,
                        "move `vat` into the clause with `charge customer`",
                    )
                elif rule.included and not any(
                    isinstance(r, ast.Round) and r.point == "record" for r in clause.rules
                ):
                    self.error(
                        codes.VAT_EXTRACTED_FROM_LINE,
                        f"prices include {rule.percent}% VAT and no record rounding is declared: "
                        "the net is extracted from each line's total, then rounded with the line",
                        rule.span,
                        "to extract and round each record's net, add `round each record half up to 0.01`",
                    )
            elif isinstance(rule, ast.Convert):
                self.party(rule.party)
                self.known_currency(rule.currency, rule.span)
                if rule.rounding:
                    self.rounding(rule.rounding, "line", [], currency=rule.currency)
            elif isinstance(rule, ast.Commit):
                check_commit(self, rule, product)
            elif isinstance(rule, ast.Distribute):
                check_distribute(self, rule, product)
            elif isinstance(rule, ast.Withhold):
                check_withhold(self, rule)
            elif isinstance(rule, ast.Discount):
                check_discount(self, rule, product)
            elif isinstance(rule, ast.Split):
                check_split(self, rule, product)
            elif isinstance(rule, ast.LinePer):
                key = rule.key.name
                if key == "prefix":
                    if not any(
                        isinstance(r, ast.Charge | ast.Pay)
                        and any(isinstance(e, ast.TableRate) for e in walk_exprs(r.amount))
                        for r in clause.rules
                    ):
                        self.error(
                            codes.MISPLACED_RULE,
                            "`one line per prefix` needs a rule priced from a rate table",
                            rule.span,
                            "use `the rate from table NAME` in this clause",
                        )
                else:
                    self.field(rule.key)

    def warnings(self) -> None:
        for product in self.c.products:
            for clause in product.clauses:
                has_amount = any(isinstance(r, ast.Charge | ast.Pay) for r in clause.rules)
                line_round = any(isinstance(r, ast.Round) and r.point in {None, "line"} for r in clause.rules)
                if has_amount and not line_round and self.currency in MINOR_UNITS:
                    self.error(
                        codes.DEFAULT_ROUNDING,
                        f'clause "{clause.label}" declares no line rounding; lines are '
                        f"rounded half up to {minor_unit(self.currency or 'EUR')} {self.currency}",
                        clause.span,
                        "state it in the clause: "
                        f"`round each line half up to {minor_unit(self.currency or 'EUR')}`",
                    )
            uses_connect = False
            for cl in product.clauses:
                for r in cl.rules:
                    if not isinstance(r, ast.Charge | ast.Pay):
                        continue
                    if any(isinstance(m, ast.ConnectFee) for m in r.modifiers):
                        uses_connect = True
                    for e in walk_exprs(r.amount):
                        table = self.tables.get(e.table.name) if isinstance(e, ast.TableRate) else None
                        if table and any(row.connect_fee for row in table.rows):
                            uses_connect = True
            if uses_connect and not product.answered and not product.subscription:
                self.error(
                    codes.DEFAULT_ANSWERED_RULE,
                    f"product {product.name.name} charges connect fees but does not say "
                    "when an event is answered; events with quantity > 0 count as answered",
                    product.span,
                    "state it: `answered when quantity > 0`",
                )

    # worked examples -------------------------------------------------------------------
    def run(self) -> list[Diagnostic]:
        check_own_units(self)  # first: a unit it reports unknown is no unit mismatch later
        self.check_header()
        self.check_parties()
        self.check_fields()
        self.check_tables()
        check_tier_tables(self)
        check_ledger_terms(self)
        check_particulars(self)
        self.check_products()
        check_conversions(self)
        check_units_of_account(self)
        check_split_changes(self)
        check_time_bands(self)
        check_field_labels(self)
        self.check_examples()
        self.warnings()
        return self.diags


def check_contract(contract: ast.Contract) -> list[Diagnostic]:
    """All diagnostics (errors and warnings) for one contract."""
    return _Checker(contract).run()
