"""Checks of a contract's worked examples (`example "..." { ... }`): dates, periods,
currencies and the names an example's lines refer to. A mixin of `check._Checker`."""

from __future__ import annotations

import datetime as dt
import re

from clearline import codes
from clearline.compiler.checker import Checker
from clearline.diagnostics import did_you_mean
from clearline.source import Span

__all__: list[str] = []


class _ExampleChecks(Checker):
    def check_examples(self) -> None:
        """Dates, periods, currencies and the names an example's lines refer to.

        Running the example is `clearline test`'s job; what the text itself
        gets wrong is reported here, with the rest of the contract.
        """
        labels = [cl.label for p in self.c.products for cl in p.clauses]
        kind = self.c.settle[0].period if self.c.settle else None
        for example in self.c.examples:
            if example.period is not None and kind is not None:
                self.example_period(example.period[0], example.period[1], kind)
            for source, target, _, day in example.fx:
                self.known_currency(source, example.span)
                self.known_currency(target, example.span)
                try:
                    dt.date.fromisoformat(day)
                except ValueError:
                    self.error(
                        codes.INVALID_DATE,
                        f"the example's {source}/{target} rate is dated {day}, "
                        "which is not a date in the calendar",
                        example.span,
                        "write a real date as YYYY-MM-DD",
                    )
            for expect in example.expects:
                for money in (expect.amount, expect.paid):
                    if money is not None:
                        self.check_money(money)
                if expect.clause is not None and expect.clause not in labels:
                    self.error(
                        codes.UNKNOWN_NAME,
                        f'the example expects a line for clause "{expect.clause}", which the contract lacks',
                        expect.span,
                        did_you_mean(expect.clause, labels)
                        or "name a clause label as the contract writes it",
                    )
                if expect.kind == "invoice":
                    continue  # invoices go to customers, named in the usage
                party = self.parties.get(expect.party)
                role = "operator" if expect.kind == "retained" else "partner"
                if party is None:
                    self.error(
                        codes.UNKNOWN_NAME,
                        f'the example expects a {expect.kind} line for "{expect.party}", '
                        "which is not a party of the contract",
                        expect.span,
                        did_you_mean(expect.party, self.parties) or f"name the {role} by its short name",
                    )
                elif party.role != role:
                    right = "retained" if party.role == "operator" else "payout"
                    what = (
                        "is the operator: what it keeps is a retained line, not a payout"
                        if party.role == "operator"
                        else "is a partner: what it gets is a payout; only the operator retains"
                    )
                    self.error(
                        codes.MISPLACED_RULE,
                        f"`{expect.party}` {what}",
                        expect.span,
                        f'write `expect {right} "{expect.party}" ...`',
                    )

    def example_period(self, label: str, span: Span, kind: str) -> None:
        forms = {"monthly": "2026-03", "quarterly": "2026-Q1", "weekly": "2026-W10", "daily": "2026-03-05"}
        patterns = {
            "monthly": r"\d{4}-\d{2}",
            "quarterly": r"\d{4}-Q[1-4]",
            "weekly": r"\d{4}-W\d{2}",
            "daily": r"\d{4}-\d{2}-\d{2}",
        }
        if kind not in forms:
            return
        if not re.fullmatch(patterns[kind], label):
            self.error(
                codes.MISPLACED_RULE,
                f"the contract settles {kind}; `{label}` is not a {kind} period",
                span,
                f"write the example's period like {forms[kind]}",
            )
            return
        try:
            if kind == "monthly":
                dt.date.fromisoformat(f"{label}-01")
            elif kind == "weekly":
                dt.date.fromisocalendar(int(label[:4]), int(label[6:]), 1)
            elif kind == "daily":
                dt.date.fromisoformat(label)
        except ValueError:
            self.error(
                codes.INVALID_DATE,
                f"{label} is not a period in the calendar",
                span,
                f"write a real {kind} period, like {forms[kind]}",
            )
