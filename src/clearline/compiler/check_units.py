"""Checks of units: the contract's own (`unit seat`) and the words that name units, and
`split records at rate changes`, which splits records measured in time.

Called by `check._Checker` once per contract. Output: diagnostics through the checker.
"""

from __future__ import annotations

import dataclasses

from clearline import codes
from clearline.compiler import units
from clearline.compiler.checker import Checker
from clearline.diagnostics import did_you_mean
from clearline.grammar import ast
from clearline.source import Span

__all__ = ["check_own_units", "check_split_changes"]


def _unit_words(node: object) -> list[tuple[str, Span]]:
    """Every unit word the contract writes, with where: prices per unit, `measured in`,
    free units, tier bands."""
    found: list[tuple[str, Span]] = []
    if isinstance(node, ast.Money) and node.per is not None:
        found.append((node.per, node.span))
    elif isinstance(node, ast.Allowance | ast.TierBand) and node.unit is not None:
        found.append((node.unit, node.span))
    elif isinstance(node, ast.Product):
        found += [(word, span) for word, span in node.measured]
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                if dataclasses.is_dataclass(item) or isinstance(item, tuple):
                    found += _unit_words(item)
    elif isinstance(node, tuple):
        for item in node:
            found += _unit_words(item)
    return found


def check_own_units(ck: Checker) -> None:
    """A unit word is a built-in unit's or one the contract declares (`unit seat`); a
    declared unit is neither a built-in word nor declared twice."""
    names = [u.name for u in ck.c.units]
    for unit in ck.c.units:
        if units.builtin(unit.name) or units.builtin(unit.name + "s"):
            ck.error(codes.DUPLICATE_NAME, f"`{unit.name}` is a built-in unit", unit.span,
                     f"use the built-in `{unit.name}`, or name your unit otherwise")  # fmt: skip
        elif names.count(unit.name) > 1:
            ck.error(codes.DUPLICATE_NAME, f"the unit `{unit.name}` is declared twice", unit.span,
                     "keep one declaration")  # fmt: skip
    known = sorted({*units.BUILTIN_WORDS, *ck.units_declared})
    seen: set[tuple[str, Span]] = set()
    for word, span in _unit_words(ck.c.products) + _unit_words(ck.c.tiers) + _unit_words(ck.c.tables):
        if units.builtin(word) or word in ck.units_declared or (word, span) in seen:
            continue
        seen.add((word, span))
        ck.unknown_units.add(span)
        stem = word.removesuffix("s")
        ck.error(
            codes.UNKNOWN_NAME,
            f"unknown unit `{word}`",
            span,
            did_you_mean(word, known)
            or f"declare it with `unit {stem}` (then per {stem}, measured in {stem}s), or use a built-in",
        )


def check_split_changes(ck: Checker) -> None:
    """`split records at rate changes` splits records measured in time: said once, of a
    contract with such a product (anything else would be a declaration with no effect)."""
    for span in ck.c.split_changes[1:]:
        ck.error(codes.DUPLICATE_NAME, "`split records at rate changes` is said twice", span, "keep one")
    timed = [
        p
        for p in ck.c.products
        if not p.subscription
        and p.measured
        and units.dimension(units.canonical(p.measured[0][0], ck.units_declared)) == "time"
    ]
    if ck.c.split_changes and not timed:
        ck.error(
            codes.MISPLACED_RULE,
            "`split records at rate changes` has no effect: no product is measured in time",
            ck.c.split_changes[0],
            "remove it, or measure the usage product in seconds, minutes or hours",
        )
