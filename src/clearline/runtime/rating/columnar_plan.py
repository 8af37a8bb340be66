"""Which rules and products the columnar engine rates by columns, and why not
(`clearline compile --paths`).
"""

from __future__ import annotations

from clearline.compiler import ir
from clearline.runtime.rating.closures import (
    _PURE_OPS,
    _RATE_FIELDS,
    _RULE_FIELDS,
    PRODUCT_FIELDS,
    at_defaults,
)

COLUMNAR = "columnar"
_COLUMNAR_OPS = _PURE_OPS | {"field", "agg"}  # `field`, `agg`: the key holds the fields' texts


def _ops(expr: ir.Expr) -> list[str]:
    found = [expr.op]
    for arg in expr.args:
        found += _ops(arg)
    return found


def columnar_reason(plan: ir.ChargePlan | ir.PayoutPlan) -> str | None:
    """None when the rule runs columnar, else why it is rated per record."""
    reasons = []
    if not at_defaults(plan, _RULE_FIELDS):
        reasons.append("the rule sets what the columnar engine does not know")
    if plan.rate.allowance_per is not None:
        reasons.append(f"an allowance for each {plan.rate.allowance_per} (kept per value)")
    elif not at_defaults(plan.rate, _RATE_FIELDS):
        reasons.append("its rate sets what the columnar engine does not know")
    other = sorted({op for op in _ops(plan.rate.expr) if op not in _COLUMNAR_OPS})
    if other:
        reasons.append("its amount uses " + ", ".join(f"`{op}`" for op in other))
    return "; ".join(reasons) or None


def product_reason(product: ir.ProductPlan) -> str | None:
    """None when the product's records can run columnar, else why not."""
    if product.bands is not None:  # a record's band is found, and its parts cut, per record
        return "its clauses follow time bands"
    if not at_defaults(product, PRODUCT_FIELDS):
        return "the product sets what the columnar engine does not know (refunds, say)"
    if product.kind == "subscription":
        if product.starts is None or product.ends is None:
            return "a subscription without both a start and an end event"
        return None  # its events by columns; its rules price each subscriber at the close
    rules: list[ir.ChargePlan | ir.PayoutPlan] = [*product.charges, *product.payouts]
    slow = [r.clause.label for r in rules if columnar_reason(r) is not None]
    if slow:
        return "rated per record by " + ", ".join(f'"{c}"' for c in slow)
    return None


def format_columnar(plan: ir.ContractPlan) -> str:
    """Per product and rule of the plan, whether `--engine columnar` rates its records
    by columns, or per record and why (`clearline compile --paths`)."""
    lines = [f"columnar engine of {plan.id} (--engine columnar; per record: the engine's record paths)"]
    for product in plan.products:
        why = product_reason(product)
        events = product.kind == "subscription"
        state = COLUMNAR + (" (its start and end events)" if events else "")
        lines.append(f"  product {product.name}: " + (state if why is None else f"per record: {why}"))
        for kind, rules in (("charge", product.charges), ("payout", product.payouts)):
            for rule in rules:
                if events:  # read no record: each subscriber's period, when the period closes
                    lines.append(f"    {kind} [{rule.clause.label}]: priced per subscriber at the close")
                    continue
                reason = columnar_reason(rule)
                state = COLUMNAR if reason is None else f"per record: {reason}"
                lines.append(f"    {kind} [{rule.clause.label}]: {state}")
    return "\n".join(lines) + "\n"
