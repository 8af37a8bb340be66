"""An open contract's text -> what an editor shows: diagnostics, symbols, hovers, completions.

Input: a file's path and its (possibly unsaved) text. Output: an `Analysis`
holding the diagnostics `validate` gives for it (the same codes, spans and
hints: it runs the same `load_plans`), the declarations and references of
parties, rate tables, tier tables, products, usage fields, clauses and imports
(with those of imported libraries), hover texts, and the words the grammar
accepts at a cursor. It has no editor protocol in it (ranges are 0-based
(line, column) pairs); `lsp.server` translates to LSP.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import clearline
from clearline import codes
from clearline.compiler import ir
from clearline.compiler.printer import format_plan
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.grammar.concrete import Node, Tok, concrete_tree, next_words, tokens
from clearline.money import MINOR_UNITS
from clearline.source import SourceFile

__all__ = ["Analysis", "Occurrence", "Range", "Symbol", "analyse", "completions", "suggestion"]

Range = tuple[int, int, int, int]  # 0-based line, column, end line, end column (exclusive)

# declaring rule -> the kind of thing it declares (its name is its first NAME, a clause's its label)
_DECLARES = {
    "party": "party",
    "rate_table": "rate table",
    "tier_table": "tier table",
    "product": "product",
    "field_decl": "usage field",
    "clause": "clause",
}
_NAME_KINDS = ("party", "rate table", "tier table", "product", "usage field")
# rules whose text names a clause by its label
_CLAUSE_REFS = {"commit", "commit_clause", "clause_list", "remove_clause", "example_expect", "of_step"}
_HINT = re.compile(r"did you mean `([^`]+)`\?")


@dataclass(frozen=True, slots=True)
class Symbol:
    kind: str
    name: str
    file: str
    range: Range
    hover: str


@dataclass(frozen=True, slots=True)
class Occurrence:
    kind: str
    name: str
    range: Range
    definition: bool


@dataclass(slots=True)
class Analysis:
    path: str
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    symbols: dict[tuple[str, str], Symbol] = field(default_factory=dict)
    occurrences: list[Occurrence] = field(default_factory=list)
    imports: dict[Range, str] = field(default_factory=dict)  # the import's text -> the file it names
    clauses: list[tuple[Range, str]] = field(default_factory=list)  # where each clause is written

    def clause_at(self, line: int, col: int) -> Symbol | None:
        """The clause written around a position (hovering a rule shows its clause's rules)."""
        for (a, b, c, d), label in self.clauses:
            if (a, b) <= (line, col) <= (c, d):
                return self.symbols.get(("clause", label))
        return None

    def at(self, line: int, col: int) -> Occurrence | None:
        for occ in self.occurrences:
            a, b, c, d = occ.range
            if (a, b) <= (line, col) <= (c, d):
                return occ
        return None

    def references(self, kind: str, name: str) -> list[Occurrence]:
        return [o for o in self.occurrences if (o.kind, o.name) == (kind, name)]


def _range(first: Tok, last: Tok | None = None) -> Range:
    last = last or first
    return first.line - 1, first.col - 1, last.end_line - 1, last.end_col - 1


def _label(tok: Tok) -> str:
    try:
        return str(json.loads(tok.value))
    except ValueError:
        return tok.value.strip('"')


def _clause_words(plan: ir.ContractPlan | None, label: str) -> list[str]:
    """What `compile` prints for the clause's rules: its lines of the plan and those under them."""
    if plan is None:
        return []
    out: list[str] = []
    inside = 0
    for line in format_plan(plan).splitlines():
        depth = len(line) - len(line.lstrip())
        if f"[{label}]" in line and depth == 4:
            out.append(line.strip())
            inside = depth
        elif inside and depth > inside:
            out.append(line.strip())
        else:
            inside = 0
    return out


def _hover(kind: str, node: Node, text: str, plan: ir.ContractPlan | None) -> str:
    toks = tokens(node)
    written = text[toks[0].start : toks[-1].end]
    if kind == "clause":
        strings = [c for c in node.children if isinstance(c, Tok) and c.type == "STRING"]
        label = _label(strings[0])
        prose = _label(strings[1]) if len(strings) > 1 else ""
        words = _clause_words(plan, label)
        body = f"**clause {json.dumps(label, ensure_ascii=False)}**"
        body += f"\n\n{prose}" if prose else ""
        if words:
            body += "\n\nAs the engine applies it (`clearline compile`):\n```\n" + "\n".join(words) + "\n```"
        return body
    if kind == "party":
        role, name, title, *attrs = (t.value for t in toks)
        pairs = ", ".join(f"{a} {b}" for a, b in zip(attrs[::2], attrs[1::2], strict=False))
        return f"**{role} {name}** {title}\n\n{pairs}"
    return f"**{kind}**\n```clearline\n{written}\n```"


def _walk(node: Node, visit: list[Node]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        visit.append(item)
        stack += [c for c in reversed(item.children) if isinstance(c, Node)]


def _declarations(
    root: Node, path: str, text: str, plan: ir.ContractPlan | None
) -> tuple[list[Symbol], list[Occurrence], list[tuple[Tok, str]]]:
    """The declarations of a file, their occurrences, and its imports (token, path as written)."""
    nodes: list[Node] = []
    _walk(root, nodes)
    symbols: list[Symbol] = []
    imports: list[tuple[Tok, str]] = []
    for node in nodes:
        kind = _DECLARES.get(node.rule)
        if node.rule == "import_file":
            tok = next(c for c in node.children if isinstance(c, Tok) and c.type == "STRING")
            imports.append((tok, _label(tok)))
        if kind is None:
            continue
        wanted = "STRING" if kind == "clause" else "NAME"
        head = next((c for c in node.children if isinstance(c, Tok) and c.type == wanted), None)
        if head is None:
            continue
        name = _label(head) if kind == "clause" else head.value
        symbols.append(Symbol(kind, name, path, _range(head), _hover(kind, node, text, plan)))
    occurrences = [Occurrence(s.kind, s.name, s.range, True) for s in symbols]
    return symbols, occurrences, imports


def _library_symbols(target: Path) -> list[Symbol]:
    try:
        source = clearline.read_source(target)
        root = concrete_tree(source)
    except ClearlineError:
        return []  # its own diagnostics come through load_plans
    return _declarations(root, str(target), source.text, None)[0]


def _plan(path: str, text: str) -> tuple[ir.ContractPlan | None, list[Diagnostic]]:
    """The plan and diagnostics `validate` gives for the file (with this text)."""
    try:
        plans, warnings = clearline.load_plans([path], sources={path: SourceFile(path, text)})
    except ClearlineError as err:
        return None, err.diagnostics
    except (OSError, ValueError) as err:  # an import that cannot be read, a folder for a file
        return None, [Diagnostic(codes.UNREADABLE_FILE, str(err), None, None)]
    return (max(plans, key=lambda p: p.version) if plans else None), warnings


def analyse(path: str, text: str) -> Analysis:
    """Everything the editor shows for one file."""
    result = Analysis(path, text)
    plan, result.diagnostics = _plan(path, text)
    try:
        root = concrete_tree(SourceFile(path, text))
    except ClearlineError:
        return result  # a syntax error: the diagnostics say where
    symbols, result.occurrences, imports = _declarations(root, path, text, plan)
    for tok, written in imports:
        target = (Path(path).parent / written).resolve()
        result.imports[_range(tok)] = str(target)
        result.occurrences.append(Occurrence("import", str(target), _range(tok), False))
        symbols += _library_symbols(target)
    for symbol in symbols:
        result.symbols.setdefault((symbol.kind, symbol.name), symbol)
    result.clauses = _clause_ranges(root)
    names = {name: kind for kind in reversed(_NAME_KINDS) for (k, name) in result.symbols if k == kind}
    declared = {o.range for o in result.occurrences}
    nodes: list[Node] = []
    _walk(root, nodes)
    for node in nodes:
        for child in node.children:
            if not isinstance(child, Tok) or _range(child) in declared:
                continue
            if child.type == "NAME" and child.value in names:
                result.occurrences.append(Occurrence(names[child.value], child.value, _range(child), False))
            elif (
                child.type == "STRING"
                and node.rule in _CLAUSE_REFS
                and ("clause", _label(child)) in result.symbols
            ):
                result.occurrences.append(Occurrence("clause", _label(child), _range(child), False))
    result.occurrences.sort(key=lambda o: o.range)
    return result


def _clause_ranges(root: Node) -> list[tuple[Range, str]]:
    nodes: list[Node] = []
    _walk(root, nodes)
    out = []
    for node in nodes:
        if node.rule == "clause":
            toks = tokens(node)
            label = next(t for t in node.children if isinstance(t, Tok) and t.type == "STRING")
            out.append((_range(toks[0], toks[-1]), _label(label)))
    return out


def completions(analysis: Analysis, offset: int) -> list[tuple[str, str]]:
    """(word, what it is) the grammar accepts at `offset`: keywords in context, then the names,
    currencies and clause labels where the grammar takes one."""
    start = offset
    while start > 0 and (analysis.text[start - 1].isalnum() or analysis.text[start - 1] in "_-'"):
        start -= 1
    found = next_words(analysis.text[:start])
    if found is None:
        words: set[str] = set()
        kinds = {"NAME", "CURRENCY"}
    else:
        words, kinds = found
    out = [(w, "keyword") for w in sorted(words) if w.isascii() and (w[:1].isalpha())]
    if "NAME" in kinds:
        out += sorted((name, kind) for kind, name in analysis.symbols if kind in _NAME_KINDS)
    if "CURRENCY" in kinds:
        out += [(c, "currency") for c in sorted(MINOR_UNITS)]
    if "STRING" in kinds:
        out += sorted(
            (json.dumps(n, ensure_ascii=False), "clause") for k, n in analysis.symbols if k == "clause"
        )
    return out


def suggestion(hint: str | None) -> str | None:
    """The word a did-you-mean hint proposes."""
    match = _HINT.search(hint or "")
    return match.group(1) if match else None
