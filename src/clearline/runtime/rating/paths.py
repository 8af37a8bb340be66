"""Which path of the engine rates each rule, and why: the plan -> a report.

Input: a contract plan. Output: per product and rule, whether its records
take the engine's fast paths (prices shared by records that rate alike,
runs of records a column at a time; runtime.rating.fast) or go record by
record through the reference path, with the reason, in the terms of the
same tests the engine makes (`closures.pure`, `_ProductRT.fast`). `clearline
compile --paths` prints it: the rules that make a run slow, named.

A product takes the fast paths only when all its rules do (a record is rated
by every rule of the product it matches, on one path).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

from clearline.compiler import ir
from clearline.runtime.rating.closures import _PURE_OPS, _RATE_FIELDS, _RULE_FIELDS, PRODUCT_FIELDS

__all__ = ["FAST", "PER_RECORD", "ProductPath", "RulePath", "engine_paths", "format_paths"]

FAST = "fast"  # prices shared by records alike, runs of records a column at a time
PER_RECORD = "per record"  # every record through every check of the reference path


@dataclass(frozen=True, slots=True)
class RulePath:
    kind: str  # "charge" or "payout"
    clause: str
    path: str  # FAST or PER_RECORD
    why: str


@dataclass(frozen=True, slots=True)
class ProductPath:
    product: str
    path: str
    why: str
    rules: tuple[RulePath, ...]


def _changed(node: object, known: set[str]) -> list[str]:
    """The fields of a plan node outside `known` that are not at their defaults (what
    `closures.at_defaults` tests, named)."""
    changed = []
    for f in fields(node):  # type: ignore[arg-type]  # plan nodes are dataclasses
        if f.name in known:
            continue
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            changed.append(f.name)
            continue
        if getattr(node, f.name) != default:
            changed.append(f.name)
    return changed


def _impure(expr: ir.Expr) -> list[str]:
    """What an amount expression reads besides the quantity, table row and answered flag."""
    found: list[str] = []
    if expr.op not in _PURE_OPS:
        if expr.op == "field":
            found.append(f"reads the field {expr.field} of each record")
        elif expr.op == "agg":
            found.append(f"reads the {expr.func} of {expr.field} over the line's records")
        else:
            found.append(f"uses `{expr.op}`, which the fast paths do not price")
    for arg in expr.args:
        found += [f for f in _impure(arg) if f not in found]
    return found


def _rule_path(kind: str, plan: ir.ChargePlan | ir.PayoutPlan) -> RulePath:
    reasons = [f"sets {name}" for name in _changed(plan, _RULE_FIELDS)]
    reasons += [f"sets {name}" for name in _changed(plan.rate, _RATE_FIELDS)]
    reasons += _impure(plan.rate.expr)
    if reasons:
        return RulePath(kind, plan.clause.label, PER_RECORD, "; ".join(reasons))
    return RulePath(kind, plan.clause.label, FAST, "its price reads the quantity, answered, table row only")


def engine_paths(plan: ir.ContractPlan) -> list[ProductPath]:
    """Per product of the plan, its path and its rules' (see the module)."""
    out = []
    for product in plan.products:
        rules = tuple(
            [_rule_path("charge", c) for c in product.charges]
            + [_rule_path("payout", p) for p in product.payouts]
        )
        # time bands without splitting: the record's band joins the fast paths' memo key
        changed = _changed(product, PRODUCT_FIELDS | ({"bands"} if not product.split_at_changes else set()))
        if changed:
            said = {"bands": "time bands (each record's band, and its parts, found per record)",
                    "split_at_changes": "split records at rate changes"}  # fmt: skip
            path, why = PER_RECORD, "the product sets " + ", ".join(said.get(c, c) for c in changed)
            rules = tuple(RulePath(r.kind, r.clause, PER_RECORD, "with its product") for r in rules)
        elif product.kind == "subscription":
            closing = "priced per subscriber when the period closes"
            rules = tuple(RulePath(r.kind, r.clause, FAST, closing) for r in rules)
            if product.starts is not None and product.ends is not None:
                path, why = FAST, "its events record by record with the common checks, never by columns"
            else:
                path, why = PER_RECORD, "a subscription without both a start and an end event"
        else:
            slow = [r.clause for r in rules if r.path == PER_RECORD]
            if slow:
                path, why = PER_RECORD, "rated per record by " + ", ".join(f'"{c}"' for c in slow)
            elif product.bands is not None:
                path, why = FAST, "record by record, never by columns: each record's band joins the memo key"
            else:
                path, why = FAST, "every rule's price is shared by records alike"
        out.append(ProductPath(product.name, path, why, rules))
    return out


def format_paths(plan: ir.ContractPlan) -> str:
    """The report as `clearline compile --paths` prints it."""
    lines = [
        f"engine paths of {plan.id} (fast: prices shared by records alike; per record: the reference path)"
    ]
    for product in engine_paths(plan):
        lines.append(f"  product {product.product}: {product.path} ({product.why})")
        for rule in product.rules:
            lines.append(f"    {rule.kind} [{rule.clause}]: {rule.path} ({rule.why})")
    return "\n".join(lines) + "\n"
