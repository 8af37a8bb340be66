"""Clearline: a contract language and compiler for telecom partner settlement.

The facade exposes every stage, so a test or a user can stop after any one:

    source = read_source("contracts/streamplus.contract")
    contract = parse(source)             # text -> AST (syntax diagnostics)
    diagnostics = check(contract)        # AST -> errors and warnings
    contract_plan = plan(source)         # parse + check + lower -> ContractPlan
    result = run([contract_plan], ["usage.csv"], "2026-03", out="out/")

Every function raises `ClearlineError` (carrying diagnostics) for bad input;
nothing else escapes for a problem with a contract or an input file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from decimal import localcontext
from pathlib import Path

from clearline.compiler import ir
from clearline.compiler.check import check_contract
from clearline.compiler.lower import lower_contract
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.grammar import ast
from clearline.grammar.parser import parse_source
from clearline.money import CONTEXT
from clearline.runtime.engine import Engine
from clearline.runtime.periods import period_bounds
from clearline.runtime.readers import BATCH_SIZE, InputError, read_customers, read_fx, read_usage
from clearline.runtime.settle import Settlement, finish
from clearline.runtime.store import RunWriter
from clearline.source import SourceFile

__all__ = [
    "ClearlineError",
    "Diagnostic",
    "Settlement",
    "check",
    "load_plans",
    "parse",
    "plan",
    "plans_hash",
    "read_source",
    "run",
]

__version__ = "0.1.0"


def read_source(path: str | Path) -> SourceFile:
    """Read a contract file; an unreadable or non-UTF-8 file is a diagnostic."""
    try:
        return SourceFile.read(path)
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ClearlineError(
            [Diagnostic("E0104", f"cannot read {path}: {reason}", None, "contracts are UTF-8 text files")]
        ) from None


def parse(source: SourceFile) -> ast.Contract:
    """Text -> AST. Raises ClearlineError with syntax diagnostics."""
    return parse_source(source)


def check(contract: ast.Contract) -> list[Diagnostic]:
    """AST -> every error and warning (sorted by position)."""
    return sorted(check_contract(contract), key=Diagnostic.sort_key)


def plan(source: SourceFile) -> ir.ContractPlan:
    """Parse, check and lower one contract. Raises ClearlineError on errors."""
    contract = parse(source)
    diagnostics = check(contract)
    if any(d.is_error for d in diagnostics):
        raise ClearlineError(diagnostics)
    return lower_contract(contract, source)


def load_plans(paths: Sequence[str | Path]) -> tuple[list[ir.ContractPlan], list[Diagnostic]]:
    """Plans for several contract files, with all diagnostics of all files.

    Raises ClearlineError if any file has errors (warnings are returned).
    """
    plans: list[ir.ContractPlan] = []
    diagnostics: list[Diagnostic] = []
    for path in paths:
        if str(path).endswith(".json"):
            plans.append(_load_plan_json(Path(path)))
            continue
        try:
            source = read_source(path)
            contract = parse(source)
        except ClearlineError as err:
            diagnostics += err.diagnostics
            continue
        found = check(contract)
        diagnostics += found
        if not any(d.is_error for d in found):
            plans.append(lower_contract(contract, source))
    seen: dict[str, ir.ContractPlan] = {}
    for p in plans:
        if p.id in seen:
            diagnostics.append(
                Diagnostic(
                    "E0406",
                    f"contract {p.id} is declared in {seen[p.id].file} and in {p.file}",
                    None,
                    "give each contract its own id",
                )
            )
        seen.setdefault(p.id, p)
    if any(d.is_error for d in diagnostics):
        raise ClearlineError(diagnostics)
    return plans, sorted(diagnostics, key=Diagnostic.sort_key)


def _load_plan_json(path: Path) -> ir.ContractPlan:
    """A plan written by `clearline compile --json`: runs without the grammar."""
    try:
        return ir.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError, TypeError) as err:
        raise ClearlineError(
            [
                Diagnostic(
                    "E0104",
                    f"cannot load the plan {path}: {err}",
                    None,
                    "write it with `clearline compile CONTRACT --json > FILE.json`",
                )
            ]
        ) from None


def plans_hash(plans: Sequence[ir.ContractPlan]) -> str:
    data = [ir.to_json(p) for p in sorted(plans, key=lambda p: p.id)]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _input_error(err: InputError) -> ClearlineError:
    return ClearlineError([Diagnostic("E0501", err.message, None, err.hint)])


def run(
    plans: Sequence[ir.ContractPlan],
    usage: Sequence[str | Path],
    period: str,
    *,
    fx: str | Path | None = None,
    customers: str | Path | None = None,
    out: str | Path | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Settlement:
    """Settle `period` over the usage files; write the run folder if `out`.

    `progress` is called with the number of records read after each batch.
    """
    plan_list = list(plans)
    for p in plan_list:
        try:
            period_bounds(period, p.period, p.time_zone)
        except ValueError as err:
            raise ClearlineError(
                [
                    Diagnostic(
                        "E0505",
                        f"contract {p.id}: {err}",
                        None,
                        "pass --period in the contract's period form",
                    )
                ]
            ) from None
    try:
        fx_table = read_fx(Path(fx)) if fx else None
        customer_table = read_customers(Path(customers)) if customers else None
    except InputError as err:
        raise _input_error(err) from None
    # A plan loaded from JSON may come without its contract file; the manifest
    # still names the contract and its hash from the plan.
    inputs = [("contract", Path(p.file)) for p in plan_list if Path(p.file).is_file()]
    inputs += [("usage", Path(u)) for u in usage]
    inputs += [("fx", Path(fx))] if fx else []
    inputs += [("customers", Path(customers))] if customers else []
    writer = RunWriter(Path(out)) if out is not None else None
    try:
        with localcontext(CONTEXT):
            engine = Engine(plan_list, period, customer_table)
            for path in usage:
                try:
                    usage_file = read_usage(Path(path), batch_size)
                    for batch in usage_file.batches:
                        rows = engine.feed(str(path), usage_file.columns, batch)
                        if writer is not None:
                            writer.rated(rows)
                        if progress is not None:
                            progress(engine.acc.read)
                except InputError as err:
                    raise _input_error(err) from None
            result = finish(engine, fx_table)
            if writer is not None:
                writer.finish(result, inputs, plans_hash(plan_list))
                writer = None
            return result
    finally:
        if writer is not None:
            writer.abort()
