"""Rules of the code base that a test can hold: no float near money, Lark
trees stay in grammar/, rich and jinja2 stay in the CLI, and the facade
exposes every stage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import clearline

SRC = Path(clearline.__file__).resolve().parent
MONEY_CODE = [
    SRC / "money.py",
    SRC / "periods.py",
    SRC / "tiers.py",
    *sorted((SRC / "compiler").glob("*.py")),
    *sorted((SRC / "runtime").rglob("*.py")),
]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


@pytest.mark.parametrize("path", MONEY_CODE, ids=lambda p: str(p.relative_to(SRC)))
def test_no_float_in_money_code(path: Path) -> None:
    offences = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            offences.append(f"float literal {node.value!r} at line {node.lineno}")
        if isinstance(node, ast.Name) and node.id == "float":
            offences.append(f"`float` at line {node.lineno}")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            module = getattr(node, "module", None) or ""
            if "math" in names or module == "math":
                offences.append(f"import of math at line {node.lineno}")
            # The checker proves share sums exactly with fractions (1/3 + 1/3 + 1/3 is 100%);
            # no amount is ever computed with them, so the runtime and money.py stay Decimal.
            checker = path.parent.name == "compiler" and path.name.startswith("check")
            if ("fractions" in names or module == "fractions") and not checker:
                offences.append(f"import of fractions at line {node.lineno}")
    assert offences == []


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_lark_stays_in_grammar() -> None:
    users = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if "lark" in _imports(p)}
    assert users and all(u.startswith("grammar/") for u in users), users


def test_rich_and_jinja_stay_in_cli_and_reports() -> None:
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("cli/", "reports/")):
            continue
        assert not {"rich", "jinja2", "typer"} & _imports(path), rel


def test_runtime_does_not_import_grammar_or_checker() -> None:
    for path in (SRC / "runtime").rglob("*.py"):
        tree = _tree(path)
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(m.startswith("clearline.grammar") for m in modules), path.name
        assert "clearline.compiler.check" not in modules, path.name
        assert "clearline.compiler.lower" not in modules, path.name


def test_facade_exposes_every_stage() -> None:
    assert set(clearline.__all__) >= {"read_source", "parse", "check", "plan", "load_plans", "run"}
    for name in clearline.__all__:
        assert hasattr(clearline, name), name


def test_each_stage_can_stop_there() -> None:
    source = clearline.read_source(SRC.parent.parent / "contracts" / "nordcarrier.contract")
    contract = clearline.parse(source)
    assert contract.id == "NC-2026"
    assert [d for d in clearline.check(contract) if d.is_error] == []
    plan = clearline.plan(source)
    assert [p.name for p in plan.products] == ["voice"]
    assert plan.products[0].tables[0].rows[0].key == "4860"


def test_error_codes_are_named_constants() -> None:
    """A code is written `codes.CURRENCY_MISMATCH`, never "E0301": a typo is an import error."""
    import re

    literal = re.compile(r"^[EW][0-9]{4}$")
    offences = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in {"codes.py", "errors_doc.py"}:
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and literal.match(node.value):
                offences.append(f"{rel}:{node.lineno}: {node.value}")
    assert offences == []


def test_every_code_has_one_name() -> None:
    from clearline import codes

    named = {v: k for k, v in vars(codes).items() if k.isupper() and isinstance(v, str)}
    assert set(named) == set(codes.CODES)


def test_compiler_modules_import_each_other_one_way() -> None:
    """No cycle among compiler modules, counting imports inside functions and under
    TYPE_CHECKING: each checker module can be read alone (checker <- infer <-
    check_models, check_currency <- check)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((SRC / "compiler").glob("*.py")):
        mods = {n.module for n in ast.walk(_tree(path)) if isinstance(n, ast.ImportFrom) and n.module}
        graph[path.stem] = {m.rsplit(".", 1)[1] for m in mods if m.startswith("clearline.compiler.")}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = ["clearline", *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _clearline_imports(path: Path) -> set[str]:
    """Every clearline module `path` imports, at the top, in a function or for type
    checking only (`from clearline.x import y` counts as clearline.x.y when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("clearline")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clearline"):
            submodules = {f"{node.module}.{a.name}" for a in node.names} & MODULES
            found |= submodules
            if len(submodules) < len(node.names):  # a name defined in the module itself
                found.add(node.module)
    return found


MODULES = {_module_name(p) for p in SRC.rglob("*.py")}

# Import cycles still open, each with the issue that dissolves it. The list may only shrink.
KNOWN_CYCLES: set[frozenset[str]] = set()  # none left; the list may only shrink


def test_no_two_modules_import_each_other() -> None:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {name: _clearline_imports(path) & modules.keys() for name, path in modules.items()}
    cycles = {
        frozenset({a, b}) for a, deps in graph.items() for b in deps if a != b and a in graph.get(b, ())
    }
    assert cycles <= KNOWN_CYCLES, sorted(map(sorted, cycles - KNOWN_CYCLES))


def test_reports_render_without_runtime_code() -> None:
    """reports/ renders from the run folder: it imports no runtime module, so nothing is
    recomputed or re-read by the engine's code at render time.
    Nor does it price tiers again (clearline.tiers): a tiered line's bands are in its
    trace. Period bounds come from the neutral clearline/periods.py."""
    for path in (SRC / "reports").rglob("*.py"):
        name = _module_name(path)
        imported = {
            m for m in _clearline_imports(path) if m.startswith(("clearline.runtime", "clearline.tiers"))
        }
        assert not imported, (name, sorted(imported))


def test_the_run_folder_store_does_not_import_reports_or_cli() -> None:
    for path in (SRC / "runtime").rglob("*.py"):
        imported = _clearline_imports(path)
        assert not any(m.startswith(("clearline.reports", "clearline.cli")) for m in imported), path.name


def test_the_command_line_goes_through_the_facade() -> None:
    """cli/ is a thin layer over the facade: it imports no runtime module (engine,
    readers, cluster, run folder), so the runtime's modules can move without the
    commands noticing; what a command needs of the runtime is a facade function."""
    for path in (SRC / "cli").rglob("*.py"):
        imported = _clearline_imports(path)
        runtime = sorted(m for m in imported if m.startswith("clearline.runtime"))
        assert not runtime, (path.name, runtime)


def test_the_command_line_modules_stay_small() -> None:
    """Each command module stays under 500 lines: a command group is its own module."""
    for path in (SRC / "cli").rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 500, (path.name, lines)


def test_reports_modules_stay_small_and_the_document_model_is_plain_data() -> None:
    """reports/ is split along its seams (documents.py the values, doclines.py what a line
    shows, invoices/statements/audit the builders): each under ~500 lines, and the
    document values import neither the plan nor a builder, so a template or the
    e-invoice writer reads them without pulling the rest in."""
    for path in (SRC / "reports").glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 520, path.name
    imported = _clearline_imports(SRC / "reports" / "documents.py")
    assert not any(m.startswith("clearline.compiler") for m in imported), sorted(imported)
    builders = {f"clearline.reports.{m}" for m in ("doclines", "invoices", "statements", "audit")}
    assert not imported & builders, sorted(imported)
