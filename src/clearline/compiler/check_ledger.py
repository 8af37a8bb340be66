"""Checks of a contract's ledger terms: document number formats, the late-usage window
and refunds.

Called by `check._Checker` (typed as its base, `checker.Checker`); reports
through the checker's `error`. Input: the
contract's `numbering` and `late_usage` (AST). Output: diagnostics -- a
format the ledger cannot number with (no `{seq}`, an unknown field), a
series or a window stated twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearline import codes, numbering

if TYPE_CHECKING:
    from clearline.compiler.checker import Checker

__all__ = ["DEFAULT_LATE_PERIODS", "check_ledger_terms"]

DEFAULT_LATE_PERIODS = 1  # the documented default of `accept late usage for N periods`


def check_ledger_terms(ck: Checker) -> None:
    seen: dict[str, str] = {}
    for fmt in ck.c.numbering:
        if fmt.series in seen:
            ck.error(
                codes.DUPLICATE_NAME,
                f"the {fmt.series} number format is stated twice",
                fmt.span,
                f"the first is at {seen[fmt.series]}; keep one",
            )
            continue
        seen[fmt.series] = str(fmt.span)
        problem = numbering.problem(fmt.format)
        if problem:
            ck.error(
                codes.INVALID_NUMBER_FORMAT,
                f"{fmt.series} numbers {fmt.format!r}: {problem}",
                fmt.span,
                'e.g. `invoice numbers "FV/{year}/{month}/{seq:05}"`',
            )
    fields = {f.name.name: f.type for f in ck.c.fields}
    for product in ck.c.products:
        for extra in product.refunds[1:]:
            ck.error(codes.DUPLICATE_NAME, "`accepts refunds` is stated twice", extra.span, "keep one")
        for refunds in product.refunds[:1]:
            if product.subscription:
                ck.error(
                    codes.MISPLACED_RULE,
                    f"subscription {product.name.name} cannot accept refunds",
                    refunds.span,
                    "a subscription's amount comes from its active days; refund a usage product",
                )
            if refunds.field is not None and fields.get(refunds.field.name) != "text":
                ck.error(
                    codes.UNKNOWN_NAME,
                    f"`accepts refunds of {refunds.field.name}`: {refunds.field.name} is not a text "
                    "usage field",
                    refunds.field.span,
                    f"declare it in `usage fields {{ {refunds.field.name} text }}`",
                )
    over = {t.name.name for t in ck.c.tiers if t.over}
    for product in ck.c.products:
        for clause in product.clauses:
            for rule in clause.rules:
                for step in getattr(rule, "steps", ()):
                    if step.tiers is not None and step.tiers.name in over:
                        ck.error(
                            codes.MISPLACED_RULE,
                            f"tiers {step.tiers.name} run over more than one period, which a "
                            "waterfall step does not take",
                            step.tiers.span,
                            "use a period's tiers in a waterfall, or the tiers in a `pay` rule",
                        )
    for _, span in ck.c.late_usage[1:]:
        ck.error(
            codes.DUPLICATE_NAME,
            "the late-usage window is stated twice",
            span,
            "keep one `accept late usage for N periods`",
        )
