"""Loading contracts: a file read (bounded, UTF-8), parsed, checked, linked with
its imports and amendments, and lowered into plans, with every diagnostic.

The facade (`clearline`) exposes these functions as the first stages; this module
holds them so that the facade is the wiring of the stages, not their body.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from clearline import codes
from clearline.compiler import ir
from clearline.compiler.check import check_contract
from clearline.compiler.link import apply_amendments, check_versions, resolve_imports
from clearline.compiler.lower import lower_contract
from clearline.diagnostics import ClearlineError, Diagnostic, did_you_mean
from clearline.grammar import ast
from clearline.grammar.parser import parse_source
from clearline.source import SourceFile, Span

__all__ = ["MAX_CONTRACT_BYTES", "check", "load_plans", "parse", "plan", "read_source"]


MAX_CONTRACT_BYTES = 10_000_000  # a contract file larger than this is a diagnostic (E0110)


def _size(count: int) -> str:
    return f"{count // 1_000_000} MB" if count % 1_000_000 == 0 else f"{count:,} bytes"


def read_source(path: str | Path, max_bytes: int = MAX_CONTRACT_BYTES) -> SourceFile:
    """Read a contract file; an unreadable, non-UTF-8 or too large file (over
    `max_bytes`) is a diagnostic, and so is a device or a folder."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise ClearlineError(
                [
                    Diagnostic(
                        codes.UNREADABLE_FILE,
                        f"cannot read {path}: it is not a regular file",
                        None,
                        "give a contract file",
                        file=str(path),
                    )
                ]
            )
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ClearlineError(
                [
                    Diagnostic(
                        codes.CONTRACT_TOO_LARGE,
                        f"{path} is larger than {_size(max_bytes)}, the limit for a contract",
                        None,
                        "check that this is a contract; to read a larger one, raise the limit with "
                        "--max-contract-size (in MB)",
                        file=str(path),
                    )
                ]
            )
        return SourceFile(str(path), data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        # point at the first byte that is not UTF-8, on its line
        before = err.object[: err.start]
        line = before.count(b"\n") + 1
        col = err.start - (before.rfind(b"\n") + 1) + 1
        raise ClearlineError(
            [
                Diagnostic(
                    codes.UNREADABLE_FILE,
                    f"{path} is not UTF-8 text: byte 0x{err.object[err.start]:02x} is not valid UTF-8",
                    # file:line:col: like every diagnostic (the line itself cannot be shown)
                    Span(str(path), line, col, line, col + 1),
                    "save the contract as UTF-8 (most editors: File > Save with Encoding > UTF-8)",
                )
            ]
        ) from None
    except OSError as err:
        raise ClearlineError(
            [
                Diagnostic(
                    codes.UNREADABLE_FILE,
                    f"cannot read {path}: {err.strerror or err}",
                    None,
                    "check the path",
                    file=str(path),
                )
            ]
        ) from None


def parse(source: SourceFile) -> ast.Document:
    """Text -> AST (a contract, an amendment or a library). Raises ClearlineError on syntax errors."""
    return parse_source(source)


def check(document: ast.Document) -> list[Diagnostic]:
    """AST -> every error and warning (sorted by position).

    A library is checked as the definitions it holds; an amendment is checked
    when it is applied to its contract (see `load_plans`).
    """
    if isinstance(document, ast.Contract):
        found = check_contract(document)
    elif isinstance(document, ast.Library):
        found = [
            d for d in check_contract(_library_as_contract(document)) if d.code != codes.MISSING_DECLARATION
        ]
    else:
        found = []
    return sorted(found, key=Diagnostic.sort_key)


def _library_as_contract(library: ast.Library) -> ast.Contract:
    return ast.Contract(
        id=library.id,
        title=library.title,
        versions=(),
        effective=(),
        settle=(),
        time_zones=(),
        parties=library.parties,
        fields=library.fields,
        tables=library.tables,
        products=(),
        span=library.span,
        file=library.file,
        tiers=library.tiers,
        details=library.details,
    )


def plan(source: SourceFile, root: str | Path | None = None) -> ir.ContractPlan:
    """Parse, check and lower one contract file (imports resolved; amendments are
    applied by `load_plans`). Raises ClearlineError on errors."""
    plans, _ = load_plans([source.name], root=root, sources={source.name: source})
    if len(plans) != 1:
        raise ClearlineError(
            [
                Diagnostic(
                    codes.MISSING_DECLARATION,
                    f"{source.name} is not a contract",
                    None,
                    "compile a file that starts with `contract`",
                )
            ]
        )
    return plans[0]


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[object, ...]] = set()
    out = []
    for d in diagnostics:
        key = (d.code, d.message, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return sorted(out, key=Diagnostic.sort_key)


def load_plans(
    paths: Sequence[str | Path],
    root: str | Path | None = None,
    sources: dict[str, SourceFile] | None = None,
    max_contract_bytes: int = MAX_CONTRACT_BYTES,
) -> tuple[list[ir.ContractPlan], list[Diagnostic]]:
    """Plans for contract files, amendments and saved JSON plans, with all diagnostics.

    Imports resolve relative to the importing file and may not leave `root`
    (default: the deepest folder that holds every file given). Each
    amendment becomes a version of its contract. A file larger than
    `max_contract_bytes` is an error (E0110). Raises ClearlineError if any
    file has errors (warnings are returned).
    """
    sources = dict(sources or {})
    cache: dict[str, ast.Document] = {}

    def read(path: Path) -> ast.Document:
        key = str(path)
        if key not in cache:
            if key not in sources:
                if not path.is_file():
                    raise FileNotFoundError(key)
                sources[key] = read_source(path, max_contract_bytes)
            cache[key] = parse(sources[key])
        return cache[key]

    given = [Path(p) for p in paths]
    base = Path(root) if root is not None else _common_folder(given)
    plans: list[ir.ContractPlan] = []
    diagnostics: list[Diagnostic] = []
    contracts: list[ast.Contract] = []
    amendments: dict[str, list[ast.Amendment]] = {}
    for path in given:
        if path.suffix == ".json":
            plans.append(_load_plan_json(path))
            continue
        try:
            document = read(path)
        except FileNotFoundError:
            diagnostics.append(
                Diagnostic(
                    codes.UNREADABLE_FILE,
                    f"cannot read {path}: no such file",
                    None,
                    "check the path",
                    file=str(path),
                )
            )
            continue
        except ClearlineError as err:
            diagnostics += err.diagnostics
            continue
        if isinstance(document, ast.Contract):
            contracts.append(document)
        elif isinstance(document, ast.Amendment):
            amendments.setdefault(document.contract_id, []).append(document)
        else:
            diagnostics += check(document)
    known = {c.id for c in contracts}
    for cid, items in sorted(amendments.items()):
        if cid not in known:
            for a in items:
                diagnostics.append(
                    Diagnostic(
                        codes.AMENDMENT_DOES_NOT_APPLY,
                        f"no contract {cid} to amend among the files given",
                        a.span,
                        did_you_mean(cid, known) or "pass the contract file together with its amendments",
                    )
                )
    versions: dict[str, list[tuple[str, str, int, Span | None]]] = {}
    spans: dict[int, Span] = {}
    for contract in contracts:
        try:
            linked, found = resolve_imports(contract, base, read)
        except ClearlineError as err:
            diagnostics += err.diagnostics
            continue
        diagnostics += found
        chain, found = apply_amendments(linked, amendments.get(contract.id, []))
        diagnostics += found
        for version in chain:
            found = check_contract(version)
            diagnostics += found
            if any(d.is_error for d in found) or any(d.is_error for d in diagnostics):
                continue
            plans.append(lower_contract(version, sources))
            # a version from a file points at its `effective` line (E0409 names it)
            where = version.effective[0].span if version.effective else version.span
            spans[id(plans[-1])] = where
    for p in plans:
        versions.setdefault(p.id, []).append(
            (p.effective_from, p.effective_until, p.version, spans.get(id(p)))
        )
    diagnostics += check_versions(versions)
    diagnostics = _dedupe(diagnostics)
    if any(d.is_error for d in diagnostics):
        raise ClearlineError(diagnostics)
    return plans, diagnostics


def _common_folder(paths: list[Path]) -> Path:
    folders = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths] or [Path.cwd()]
    return Path(os.path.commonpath([str(f) for f in folders]))


def _load_plan_json(path: Path) -> ir.ContractPlan:
    """A plan written by `clearline compile --json`: runs without the grammar."""
    try:
        return ir.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError, TypeError) as err:
        raise ClearlineError(
            [
                Diagnostic(
                    codes.UNREADABLE_FILE,
                    f"cannot load the plan {path}: {err}",
                    None,
                    "write it with `clearline compile CONTRACT --json > FILE.json`",
                    file=str(path),
                )
            ]
        ) from None
