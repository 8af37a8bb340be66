"""Pieces of lowering that need no lowerer: the sub-expressions of an amount, a split's
weights (exact, over the shares' common denominator) and a party's particulars as the
plan carries them. Used by `lower`.
"""

from __future__ import annotations

from decimal import Decimal

from clearline.compiler import ir
from clearline.grammar import ast
from clearline.particulars import normal_iban, normal_vat_id

__all__ = ["_details", "_exprs", "_split_weights"]


def _exprs(e: ast.Expr) -> list[ast.Expr]:
    out: list[ast.Expr] = [e]
    if isinstance(e, ast.Add | ast.Mul | ast.Larger):
        out += _exprs(e.left) + _exprs(e.right)
    elif isinstance(e, ast.ShareOf):
        out += _exprs(e.amount)
    return out


def _split_weights(rule: ast.Split) -> tuple[tuple[str, Decimal], ...]:
    """Each party's weight in the split. Percentages give their fraction of the whole as
    written (33.34% -> 0.3334); once a share is a fraction (1/3, or `equally`), every
    weight is a whole number over the shares' common denominator (1/3, 2/3 -> 1, 2), so
    the engine divides once, exactly, and the cents go by the declared residual rule."""
    if all(share.written.endswith("%") for share in rule.shares):
        return tuple((s.party.name, Decimal(s.written[:-1]) / 100) for s in rule.shares)
    common = 1
    for share in rule.shares:
        den = share.share.denominator
        a, b = common, den
        while b:
            a, b = b, a % b
        common = common * den // a
    return tuple(
        (s.party.name, Decimal(s.share.numerator * (common // s.share.denominator))) for s in rule.shares
    )


def _details(c: ast.Contract, party: ast.Party) -> ir.PartyDetails | None:
    """The party's `details { ... }` block as the plan carries it (None without one)."""
    block = next((b for b in c.details if b.party.name == party.name.name), None)
    if block is None:
        return None
    given: dict[str, str] = {}
    for item in block.items:
        given.setdefault(item.key, item.value)
    days = given.get("payment due")
    return ir.PartyDetails(
        legal_name=given.get("legal name", ""),
        address=tuple(i.value for i in block.items if i.key == "address"),
        postcode=given.get("postcode", ""),
        city=given.get("city", ""),
        country=given.get("country") or party.country or "",
        vat_id=normal_vat_id(given.get("vat id", "")),
        registration=given.get("registration", ""),
        iban=normal_iban(given.get("iban", "")),
        bic=given.get("bic", ""),
        payment_days=int(days) if days is not None else None,
    )
