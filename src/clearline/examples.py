"""Worked examples inside contracts: `example` blocks run like doctests.

Input: contract files (with their amendments and libraries). Output: one
`ExampleResult` per example: the lines the example expects against the lines
the contract produces for the example's records, and a diff when they differ.

Lines are compared per (kind, party, clause): the amounts of every line with
that key are summed (a clause with `one line per prefix` is checked as its
total). Every invoice and payout line the example produces must be expected;
retained lines are compared when the example states one. A record the
example's data gets rejected or unmatched fails the example.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import clearline
from clearline import codes
from clearline.compiler.ir import ContractPlan
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.grammar import ast
from clearline.runtime.settlement.settle import Line
from clearline.source import Span

__all__ = ["ExampleResult", "failures_as_diagnostics", "run_examples"]

Key = tuple[str, str, str | None]


@dataclass(slots=True)
class ExampleResult:
    contract_id: str
    label: str
    span: Span
    diff: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.diff and not self.problems


def _fmt(amount: Decimal, currency: str) -> str:
    return f"{format(amount, 'f')} {currency}"


def _describe(key: Key) -> str:
    kind, party, clause = key
    return f'{kind} "{party}"' + (f' for "{clause}"' if clause else "")


def _compare(example: ast.Example, lines: list[Line]) -> list[str]:
    expected: dict[Key, ast.Expect] = {(e.kind, e.party, e.clause): e for e in example.expects}
    actual: dict[Key, tuple[Decimal, str, Decimal | None, str]] = {}

    def add(key: Key, line: Line) -> None:
        amount, currency, paid, paid_cur = actual.get(key, (Decimal(0), line.currency, None, ""))
        if line.paid_amount is not None:
            paid = (paid or Decimal(0)) + line.paid_amount
            paid_cur = line.paid_currency
        actual[key] = (amount + line.amount, currency, paid, paid_cur)

    for line in lines:
        if line.kind == "withholding":
            continue
        with_clause = (line.kind, line.party, line.clause)
        without = (line.kind, line.party, None)
        if with_clause in expected or (line.kind in {"invoice", "payout"} and without not in expected):
            add(with_clause, line)
        if without in expected:
            add(without, line)
    diff: list[str] = []
    for key in sorted(set(expected) | set(actual), key=lambda k: (k[0], k[1], k[2] or "")):
        exp = expected.get(key)
        got = actual.get(key)
        if exp is None:
            if key[0] != "retained" and got is not None:
                diff.append(f"+ {_describe(key)} {_fmt(got[0], got[1])}   (produced, not expected)")
            continue
        want = _fmt(exp.amount.amount, exp.amount.currency)
        if got is None:
            diff.append(f"- {_describe(key)} {want}   (expected, not produced)")
            continue
        have = _fmt(got[0], got[1])
        if (got[0], got[1]) != (exp.amount.amount, exp.amount.currency):
            diff.append(f"- {_describe(key)} {want}")
            diff.append(f"+ {_describe(key)} {have}")
        if exp.paid is not None:
            want_paid = _fmt(exp.paid.amount, exp.paid.currency)
            have_paid = _fmt(got[2], got[3]) if got[2] is not None else "nothing"
            if got[2] != exp.paid.amount or got[3] != exp.paid.currency:
                diff.append(f"- {_describe(key)} paid {want_paid}")
                diff.append(f"+ {_describe(key)} paid {have_paid}")
    return diff


def _run_one(
    contract: ast.Contract, example: ast.Example, plans: list[ContractPlan], workdir: Path
) -> ExampleResult:
    result = ExampleResult(contract.id, example.label, example.span)
    if example.period is None:
        result.problems.append("the example does not say which period it settles: add `period 2026-03`")
        return result
    if not example.usage:
        result.problems.append('the example has no usage: add `usage { "header" "record" ... }`')
        return result
    usage = workdir / "usage.csv"
    usage.write_text("\n".join(line for line, _ in example.usage) + "\n", encoding="utf-8")
    fx = None
    if example.fx:
        fx = workdir / "fx.csv"
        rows = [f"{day},{source},{target},{rate}" for source, target, rate, day in example.fx]
        fx.write_text("date,from,to,rate\n" + "\n".join(rows) + "\n", encoding="utf-8")
    mine = [p for p in plans if p.id == contract.id]
    try:
        settled = clearline.run(mine, [usage], example.period[0], fx=fx)
    except ClearlineError as err:
        result.problems += [d.message for d in err.diagnostics]
        return result
    for reject in settled.rejects:
        result.problems.append(
            f"record {reject.record_id or '(line ' + str(reject.line) + ')'} was rejected: {reject.reason}"
        )
    for unmatched in settled.unmatched:
        result.problems.append(f"record {unmatched.record_id} matched no product")
    result.diff = _compare(example, [ln for ln in settled.lines if ln.contract_id == contract.id])
    return result


def run_examples(paths: Sequence[str | Path]) -> list[ExampleResult]:
    """Run every example of the contracts among `paths` (amendments and libraries included)."""
    plans, _ = clearline.load_plans(paths)
    results: list[ExampleResult] = []
    with tempfile.TemporaryDirectory(prefix="clearline-examples-") as tmp:
        for i, path in enumerate(paths):
            if str(path).endswith(".json"):
                continue
            document = clearline.parse(clearline.read_source(path))
            if not isinstance(document, ast.Contract):
                continue
            for j, example in enumerate(document.examples):
                workdir = Path(tmp) / f"{i}-{j}"
                workdir.mkdir()
                results.append(_run_one(document, example, plans, workdir))
    return results


def failures_as_diagnostics(results: list[ExampleResult]) -> list[Diagnostic]:
    return [
        Diagnostic(
            codes.EXAMPLE_FAILED,
            f'example "{r.label}" of {r.contract_id} failed',
            r.span,
            "compare the expected lines with what the contract produces",
            tuple(r.problems + r.diff),
        )
        for r in results
        if not r.passed
    ]
