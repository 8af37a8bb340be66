"""Waterfalls (B2B2X chains): a period's amount distributed step by step.

Each step takes a percentage of the waterfall's base, of what remains, or of
an earlier step's amount, a fixed amount, or a tiered share of what remains;
it is rounded as the contract says and subtracted from the remainder. The
last step takes the rest. Money is conserved at every step: the step amounts
always sum to the base exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from clearline.money import CONTEXT, Rounding, round_money
from clearline.tiers import Band, BandUse, apply_tiers

__all__ = ["Step", "StepResult", "run_waterfall"]


@dataclass(frozen=True, slots=True)
class Step:
    label: str
    party: str
    kind: str  # "base", "remainder", "step", "fixed", "tiers", "rest"
    value: Decimal | None = None  # fraction, or fixed amount
    of_step: str | None = None  # label of the earlier step for kind "step"
    bands: tuple[Band, ...] = ()
    mode: str = "graduated"
    rounding: Rounding | None = None


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    basis: Decimal  # what the percentage was taken of (the remainder before, for "rest")
    exact: Decimal
    amount: Decimal  # rounded, and never more than what remained
    remainder: Decimal  # after this step
    bands: tuple[BandUse, ...] = ()
    capped: bool = False


def run_waterfall(base: Decimal, steps: Sequence[Step]) -> list[StepResult]:
    """Distribute `base`; the results' amounts sum to `base` exactly.

    >>> from decimal import Decimal as D
    >>> r = run_waterfall(D("29500.00"), [
    ...     Step("allowance", "telcopl", "base", D("0.03"), rounding=Rounding("half up", D("0.01"))),
    ...     Step("payhub", "payhub", "remainder", D("0.08"), rounding=Rounding("half up", D("0.01"))),
    ...     Step("studio", "gamestudio", "tiers", bands=(Band(D(0), D(10000), D("0.70")),
    ...          Band(D(10000), None, D("0.80"))), rounding=Rounding("half up", D("0.01"))),
    ...     Step("rest", "telcopl", "rest")])
    >>> [str(x.amount) for x in r]
    ['885.00', '2289.20', '20060.64', '6265.16']
    """
    remainder = base
    done: dict[str, Decimal] = {}
    results: list[StepResult] = []
    for step in steps:
        uses: tuple[BandUse, ...] = ()
        if step.kind == "rest":
            basis = exact = remainder
        elif step.kind == "fixed":
            assert step.value is not None
            basis, exact = remainder, step.value
        elif step.kind == "tiers":
            basis = remainder
            exact, used = apply_tiers(remainder, step.bands, step.mode)
            uses = tuple(used)
        else:
            assert step.value is not None
            if step.kind == "base":
                basis = base
            elif step.kind == "remainder":
                basis = remainder
            else:
                assert step.of_step is not None
                basis = done[step.of_step]
            exact = CONTEXT.multiply(step.value, basis)
        amount = round_money(exact, step.rounding) if step.rounding and step.kind != "rest" else exact
        capped = False
        if amount > remainder and step.kind != "rest":
            amount, capped = max(remainder, Decimal(0)), True
        remainder -= amount
        done[step.label] = amount
        results.append(StepResult(step, basis, exact, amount, remainder, uses, capped))
    return results
