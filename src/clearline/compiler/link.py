"""Linking: parsed documents -> the contract versions to check and lower.

Input: contracts, amendments and libraries (ASTs). Output: for each contract
id, its versions as complete `ast.Contract`s with disjoint effective
intervals, imports merged in, and the diagnostics of anything that does not
fit (an import outside the contracts root, an amendment to a clause that does
not exist, overlapping or gapped versions).

An amendment is applied to the version before it: `amendment of SP-2026 from
2026-03-15` ends the previous version's interval on 2026-03-15 and starts a
new version, in force until the next amendment or the contract's end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path

from clearline import codes
from clearline.diagnostics import Diagnostic, did_you_mean
from clearline.grammar import ast
from clearline.source import Span

__all__ = ["apply_amendments", "check_versions", "resolve_imports"]

Reader = Callable[[Path], ast.Document]


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def resolve_imports(
    contract: ast.Contract, root: Path, read: Reader
) -> tuple[ast.Contract, list[Diagnostic]]:
    """Merge each imported library's definitions into the contract.

    Paths are relative to the importing file and may not leave `root`.
    Libraries cannot import, so import cycles cannot occur.
    """
    diags: list[Diagnostic] = []
    parties: list[ast.Party] = []
    fields: list[ast.FieldDecl] = []
    tables: list[ast.RateTable] = []
    tiers: list[ast.TierTable] = []
    details: list[ast.Details] = []
    for text, span in contract.imports:
        target = Path(contract.file).parent / text
        if not _inside(target, root):
            diags.append(
                Diagnostic(
                    codes.IMPORT_OUTSIDE_ROOT,
                    f"`{text}` is outside the contracts root {root}",
                    span,
                    "keep shared files inside the contracts folder and import them by a "
                    "path relative to this file",
                )
            )
            continue
        try:
            library = read(target)
        except FileNotFoundError:
            diags.append(
                Diagnostic(
                    codes.UNKNOWN_NAME,
                    f"there is no file `{text}` next to {contract.file}",
                    span,
                    "import paths are relative to the importing file",
                )
            )
            continue
        if not isinstance(library, ast.Library):
            diags.append(
                Diagnostic(
                    codes.NOT_A_LIBRARY,
                    f"`{text}` is not a library",
                    span,
                    "a contract imports files that start with `library NAME { ... }`",
                )
            )
            continue
        parties += library.parties
        fields += library.fields
        tables += library.tables
        tiers += library.tiers
        details += library.details
    # A field declared alike in a library and in the contract is one field, not a duplicate.
    declared = {(f.name.name, f.type) for f in contract.fields}
    unique: list[ast.FieldDecl] = []
    for f in fields:
        if (f.name.name, f.type) not in declared:
            declared.add((f.name.name, f.type))
            unique.append(f)
    merged = dataclasses.replace(
        contract,
        parties=(*parties, *contract.parties),
        fields=(*unique, *contract.fields),
        tables=(*tables, *contract.tables),
        tiers=(*tiers, *contract.tiers),
        details=(*details, *contract.details),
    )
    return merged, diags


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _clauses(contract: ast.Contract) -> dict[str, tuple[int, int]]:
    return {c.label: (pi, ci) for pi, p in enumerate(contract.products) for ci, c in enumerate(p.clauses)}


def _with_clauses(contract: ast.Contract, index: int, clauses: tuple[ast.Clause, ...]) -> ast.Contract:
    products = list(contract.products)
    products[index] = dataclasses.replace(products[index], clauses=clauses)
    return dataclasses.replace(contract, products=tuple(products))


def _apply(contract: ast.Contract, amendment: ast.Amendment, diags: list[Diagnostic]) -> ast.Contract:
    for change in amendment.changes:
        labels = _clauses(contract)
        if isinstance(change, ast.ReplaceClause | ast.RemoveClause):
            label = change.clause.label if isinstance(change, ast.ReplaceClause) else change.label
            if label not in labels:
                diags.append(
                    Diagnostic(
                        codes.AMENDMENT_DOES_NOT_APPLY,
                        f'contract {contract.id} has no clause "{label}"',
                        change.span,
                        did_you_mean(label, labels) or "amend a clause the contract has",
                    )
                )
                continue
            pi, ci = labels[label]
            clauses = list(contract.products[pi].clauses)
            if isinstance(change, ast.ReplaceClause):
                clauses[ci] = change.clause
            else:
                del clauses[ci]
            contract = _with_clauses(contract, pi, tuple(clauses))
        elif isinstance(change, ast.AddClause):
            names = [p.name.name for p in contract.products]
            if change.product.name not in names:
                diags.append(
                    Diagnostic(
                        codes.AMENDMENT_DOES_NOT_APPLY,
                        f"contract {contract.id} has no product `{change.product.name}`",
                        change.product.span,
                        did_you_mean(change.product.name, names),
                    )
                )
                continue
            if change.clause.label in labels:
                diags.append(
                    Diagnostic(
                        codes.DUPLICATE_NAME,
                        f'clause "{change.clause.label}" already exists',
                        change.span,
                        "use `replace clause` to change it",
                    )
                )
                continue
            pi = names.index(change.product.name)
            contract = _with_clauses(contract, pi, (*contract.products[pi].clauses, change.clause))
        else:
            names = [t.name.name for t in contract.tables]
            if change.table.name not in names:
                diags.append(
                    Diagnostic(
                        codes.AMENDMENT_DOES_NOT_APPLY,
                        f"contract {contract.id} has no rate table `{change.table.name}`",
                        change.table.span,
                        did_you_mean(change.table.name, names),
                    )
                )
                continue
            ti = names.index(change.table.name)
            table = contract.tables[ti]
            rows = {r.key: r for r in table.rows}
            rows.update({r.key: r for r in change.rows})
            tables = list(contract.tables)
            tables[ti] = dataclasses.replace(table, rows=tuple(rows.values()))
            contract = dataclasses.replace(contract, tables=tuple(tables))
    return contract


def apply_amendments(
    base: ast.Contract, amendments: list[ast.Amendment]
) -> tuple[list[ast.Contract], list[Diagnostic]]:
    """The contract's versions in date order, each a complete contract."""
    diags: list[Diagnostic] = []
    if not amendments or not base.effective or not base.versions:
        return [base], diags
    eff = base.effective[0]
    start, until = _date(eff.start), _date(eff.until)
    ordered = sorted(amendments, key=lambda a: (a.start, a.file, a.span.line))
    valid: list[ast.Amendment] = []
    seen: dict[str, ast.Amendment] = {}
    for amendment in ordered:
        day = _date(amendment.start)
        if day is None:
            diags.append(
                Diagnostic(
                    codes.INVALID_DATE,
                    f"{amendment.start} is not a date in the calendar",
                    amendment.start_span,
                    "write a real date as YYYY-MM-DD",
                )
            )
        elif amendment.start in seen:
            diags.append(
                Diagnostic(
                    codes.OVERLAPPING_OR_GAPPED_VERSIONS,
                    f"two amendments of {base.id} take effect on {amendment.start}",
                    amendment.start_span,
                    f"the other is at {seen[amendment.start].span}; merge them into one amendment",
                )
            )
        elif start and until and not start < day < until:
            diags.append(
                Diagnostic(
                    codes.OVERLAPPING_OR_GAPPED_VERSIONS,
                    f"the amendment takes effect on {amendment.start}, outside "
                    f"{base.id}'s effective interval {eff.start} until {eff.until}",
                    amendment.start_span,
                    "an amendment starts after the contract starts and before it ends",
                )
            )
        elif not amendment.versions:
            diags.append(
                Diagnostic(
                    codes.MISSING_DECLARATION,
                    "the amendment does not state its version",
                    amendment.span,
                    "add `version N` with N above the version it amends",
                )
            )
        else:
            seen[amendment.start] = amendment
            valid.append(amendment)
    versions = [base]
    current = base
    for i, amendment in enumerate(valid):
        number, vspan = amendment.versions[0]
        if number <= current.versions[0][0]:
            diags.append(
                Diagnostic(
                    codes.OVERLAPPING_OR_GAPPED_VERSIONS,
                    f"version {number} does not follow version {current.versions[0][0]}",
                    vspan,
                    f"number it {current.versions[0][0] + 1} or higher",
                )
            )
        end = valid[i + 1].start if i + 1 < len(valid) else eff.until
        end_span = valid[i + 1].start_span if i + 1 < len(valid) else eff.until_span
        previous = versions[-1]
        prev_eff = previous.effective[0]
        versions[-1] = dataclasses.replace(
            previous,
            effective=(
                dataclasses.replace(prev_eff, until=amendment.start, until_span=amendment.start_span),
            ),
        )
        amended = _apply(current, amendment, diags)
        effective = ast.Effective(amendment.start, end, amendment.start_span, end_span, amendment.span)
        current = dataclasses.replace(amended, versions=((number, vspan),), effective=(effective,))
        versions.append(current)
    return versions, diags


def check_versions(spans: dict[str, list[tuple[str, str, int, Span | None]]]) -> list[Diagnostic]:
    """Versions of one contract id from separate files must chain without gaps or overlaps.

    `spans` maps a contract id to (effective_from, effective_until, version, span) of each version.
    """
    diags: list[Diagnostic] = []
    for cid, versions in spans.items():
        ordered = sorted(versions)
        for (_, until, version, _), (start, _, nxt, span) in itertools.pairwise(ordered):
            if start < until:
                diags.append(
                    Diagnostic(
                        codes.OVERLAPPING_OR_GAPPED_VERSIONS,
                        f"versions {version} and {nxt} of {cid} overlap: "
                        f"{nxt} starts {start}, before {version} ends {until}",
                        span,
                        "make one end where the next begins, or write an amendment",
                    )
                )
            elif start > until:
                diags.append(
                    Diagnostic(
                        codes.OVERLAPPING_OR_GAPPED_VERSIONS,
                        f"versions {version} and {nxt} of {cid} leave a gap from {until} to {start}",
                        span,
                        "make one end where the next begins, or write an amendment",
                    )
                )
    return diags
