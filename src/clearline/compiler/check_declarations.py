"""Checks of a contract's declarations: parties, usage fields and rate tables. A mixin of
`check._Checker`."""

from __future__ import annotations

from clearline import codes
from clearline.compiler import units
from clearline.compiler.checker import IMPLICIT_FIELDS, Checker
from clearline.source import Span

__all__: list[str] = []


class _DeclarationChecks(Checker):
    def check_parties(self) -> None:
        c = self.c
        self.duplicates([(p.name.name, p.name.span) for p in c.parties], "party")
        operators = [p for p in c.parties if p.role == "operator"]
        if not operators:
            self.error(
                codes.MISSING_DECLARATION,
                f"contract {c.id} has no operator",
                c.span,
                'add e.g. `operator telcopl "TelcoPL S.A." currency PLN country PL`',
            )
        for extra in operators[1:]:
            self.error(
                codes.DUPLICATE_NAME,
                "a contract has one operator",
                extra.span,
                f"`{operators[0].name.name}` is already the operator; make this one a partner",
            )
        for p in c.parties:
            if p.currency:
                self.known_currency(p.currency, p.span)

    def check_fields(self) -> None:
        self.duplicates([(f.name.name, f.name.span) for f in self.c.fields], "usage field")
        for f in self.c.fields:
            implicit = IMPLICIT_FIELDS.get(f.name.name)
            if implicit and implicit != f.type:
                self.error(
                    codes.WRONG_KIND_OF_AMOUNT,
                    f"`{f.name.name}` is always a {implicit} field",
                    f.span,
                    f"declare it as `{f.name.name} {implicit}` or leave it out",
                )
            self.fields[f.name.name] = f.type

    def check_tables(self) -> None:
        self.duplicates([(t.name.name, t.name.span) for t in self.c.tables], "rate table")
        for t in self.c.tables:
            self.field(t.field)
            seen: dict[str, Span] = {}
            what = "prefix" if t.key_kind == "prefix" else "value"
            for row in t.rows:
                # The key opens its row: point at it, quotes included.
                key_span = Span(
                    row.span.file, row.span.line, row.span.col, row.span.line, row.span.col + len(row.key) + 2
                )
                if row.key in seen:
                    self.error(
                        codes.DUPLICATE_RATE_KEY,
                        f'rate table {t.name.name} gives the {what} "{row.key}" a rate twice',
                        key_span,
                        f"the first rate for it is at {seen[row.key]}; keep one",
                    )
                seen.setdefault(row.key, row.span)
                if t.key_kind == "prefix" and not row.key:
                    self.error(
                        codes.DUPLICATE_RATE_KEY,
                        "an empty prefix would match every number",
                        key_span,
                        'write the digits the prefix starts with, e.g. "48"',
                    )
                self.check_money(row.price)
                assert row.price.per is not None
                unit = units.canonical(row.price.per, self.units_declared)
                if unit in units.PERIOD_UNITS:
                    self.error(
                        codes.UNIT_MISMATCH,
                        f"a rate-table price is per usage unit, not per {row.price.per}",
                        row.price.span,
                        "price per minute, second, MB, event, ...",
                    )
                if row.increments:
                    self.increments(row.increments)
                if row.connect_fee:
                    self.check_money(row.connect_fee.fee)
                    if row.connect_fee.fee.currency != row.price.currency:
                        self.error(
                            codes.CURRENCY_MISMATCH,
                            f"the connect fee is in {row.connect_fee.fee.currency} "
                            f"but the rate is in {row.price.currency}",
                            row.connect_fee.span,
                            "state both in the same currency",
                        )
