"""Checks of a contract's ledger terms: document number formats and the late-usage window.

Called by `check._Checker`; reports through the checker's `error`. Input: the
contract's `numbering` and `late_usage` (AST). Output: diagnostics -- a
format the ledger cannot number with (no `{seq}`, an unknown field), a
series or a window stated twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearline import codes, numbering

if TYPE_CHECKING:
    from clearline.compiler.check import _Checker

__all__ = ["DEFAULT_LATE_PERIODS", "check_ledger_terms"]

DEFAULT_LATE_PERIODS = 1  # the documented default of `accept late usage for N periods`


def check_ledger_terms(ck: _Checker) -> None:
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
    for _, span in ck.c.late_usage[1:]:
        ck.error(
            codes.DUPLICATE_NAME,
            "the late-usage window is stated twice",
            span,
            "keep one `accept late usage for N periods`",
        )
