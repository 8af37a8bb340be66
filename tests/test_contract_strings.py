"""Contract text is data, never code.

Names (the contract's, the parties' and the product's titles), clause labels
and clause texts full of quotes, line breaks, template syntax, HTML, Python,
rich markup and non-Latin scripts flow unchanged into every output: the line
files (CSV and JSON Lines, parsed back), trace.jsonl, `clearline explain`,
`clearline compile` (text and JSON) and the rendered documents, where HTML
escapes them (the page has exactly the markup it has for plain names) and
Markdown backslash-escapes them (a line break shows as a space).

Then a scan of the source: no module calls eval, exec, compile or
__import__, loads pickles (nor lets Lark load its cache from the shared
temporary folder) or runs commands, and the only code generation (jinja2
compiling the report templates) reads the packaged templates only.
"""

from __future__ import annotations

import ast
import csv
import html.parser
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.grammar.lalr import lalr
from clearline.reports.render import md_escape

SRC = Path(clearline.__file__).resolve().parent

PAYLOADS = {
    "quotes": "say \"hello\" and 'bye'",
    "newline": "first line\nsecond line",
    "template": "{{ 7*7 }} {{ config }} {% if true %}X{% endif %} {# hidden #}",
    "html": '<script>alert(1)</script> <b>bold</b> " onmouseover="alert(1)" &amp;',
    "python": "__import__('os').system('x') eval('1+1') ${HOME} $(id) %s {0}",
    "scripts": "Zażółć gęślą jaźń 東京 עברית مرحبا",
    "markup": "[red]x[/red] [/] *em* _u_ | ```code``` # h C:\\path\\n",
    "all": '"q"\n{{ 7*7 }}{% if 1 %}X{% endif %}<script>alert(1)</script>'
    "__import__('os') [/] Zażółć 東京 עברית",
}
PLAIN = "plain"


def quoted(text: str) -> str:
    """A contract text literal: backslash, quote and line break escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class Names:
    contract: str
    operator: str
    partner: str
    product: str
    charge_label: str
    charge_text: str
    share_label: str
    share_text: str
    customer: str

    @staticmethod
    def of(payload: str) -> Names:
        return Names(
            contract=f"Contract {payload}",
            operator=f"Operator {payload}",
            partner=f"Partner {payload}",
            product=f"Product {payload}",
            charge_label=f"1.1 Charge {payload}",
            charge_text=f"Charge text {payload}",
            share_label=f"2.1 Share {payload}",
            share_text=f"Share text {payload}",
            customer=f"Customer {payload}",
        )

    def contract_strings(self) -> list[str]:
        return [
            self.contract,
            self.operator,
            self.partner,
            self.product,
            self.charge_label,
            self.charge_text,
            self.share_label,
            self.share_text,
        ]


def contract_text(n: Names) -> str:
    return f"""contract STR-1 {quoted(n.contract)} {{
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone Europe/Warsaw

  operator telcopl {quoted(n.operator)} currency EUR country PL language pl
  partner  acme    {quoted(n.partner)} currency EUR country DE language de

  usage fields {{
    service text
  }}

  product voice {quoted(n.product)} {{
    matches service = "voice"
    measured in seconds

    clause {quoted(n.charge_label)} {quoted(n.charge_text)} {{
      charge customer 0.0200 EUR per minute
      vat 23%
      round each line half up to 0.01
    }}

    clause {quoted(n.share_label)}
      {quoted(n.share_text)} {{
      pay acme 50% of net
      round each line half up to 0.01
    }}
  }}
}}
"""


USAGE = (
    "record_id,timestamp,customer_id,service,quantity,unit\n"
    "R-1,2026-03-01T10:00:00+01:00,C-1,voice,60,s\n"
    "R-2,2026-03-02T10:00:00+01:00,C-1,voice,120,s\n"
)


@dataclass
class Outputs:
    names: Names
    run: Path
    compile_text: str
    compile_json: Any
    explain: dict[str, str] = field(default_factory=dict)  # line id -> output
    documents: dict[str, str] = field(default_factory=dict)  # file name -> text


def invoke(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def settle_and_render(folder: Path, payload: str) -> Outputs:
    names = Names.of(payload)
    folder.mkdir(parents=True, exist_ok=True)
    contract = folder / "strings.contract"
    contract.write_text(contract_text(names), encoding="utf-8")
    (folder / "usage.csv").write_text(USAGE, encoding="utf-8")
    with (folder / "customers.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["customer_id", "name", "country", "language", "currency"])
        writer.writerow(["C-1", names.customer, "PL", "en", "EUR"])
    run = folder / "run"
    invoke(
        [
            "simulate",
            str(contract),
            "--usage",
            str(folder / "usage.csv"),
            "--customers",
            str(folder / "customers.csv"),
            "--period",
            "2026-03",
            "--out",
            str(run),
        ]
    )
    outputs = Outputs(
        names=names,
        run=run,
        compile_text=invoke(["compile", str(contract)]),
        compile_json=json.loads(invoke(["compile", str(contract), "--json"])),
    )
    for stem in ("invoice_lines", "payout_lines", "retained_lines"):
        for row in read_csv(run / f"{stem}.csv"):
            outputs.explain[row["line_id"]] = invoke(["explain", str(run), row["line_id"]])
    invoke(["report", str(run)])
    for path in sorted((run / "documents").iterdir()):
        outputs.documents[path.name] = path.read_text(encoding="utf-8")
    return outputs


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    # split at "\n" only: a text may hold U+2028, which splitlines() would cut
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    return settle_and_render(tmp_path_factory.mktemp("plain"), PLAIN)


@pytest.fixture(scope="module", params=sorted(PAYLOADS), ids=str)
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    return settle_and_render(tmp_path_factory.mktemp(request.param), PAYLOADS[request.param])


# --- line files, rated records, traces --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_line_files_carry_the_names_and_labels_unchanged(hostile: Outputs, fmt: str) -> None:
    n = hostile.names

    def rows(stem: str) -> list[dict[str, Any]]:
        path = hostile.run / f"{stem}.{fmt}"
        return read_csv(path) if fmt == "csv" else read_jsonl(path)

    (invoice,) = rows("invoice_lines")
    (payout,) = rows("payout_lines")
    (retained,) = rows("retained_lines")
    assert invoice["party_name"] == n.customer
    assert invoice["clause"] == n.charge_label
    assert payout["party_name"] == n.partner
    assert payout["clause"] == n.share_label
    assert retained["party_name"] == n.operator
    for row in (invoice, payout, retained):
        assert row["description"].startswith(n.product), row["description"]
        assert row["contract_id"] == "STR-1"
    clauses = {r["clause"] for r in rows("rated_records")}
    assert clauses == {n.charge_label, n.share_label}


def test_traces_carry_labels_and_texts_unchanged(hostile: Outputs) -> None:
    n = hostile.names
    traces = {t["kind"]: t for t in read_jsonl(hostile.run / "trace.jsonl")}
    assert traces["invoice"]["clause"]["label"] == n.charge_label
    assert traces["invoice"]["clause"]["text"] == n.charge_text
    assert traces["payout"]["clause"]["label"] == n.share_label
    assert traces["payout"]["clause"]["text"] == n.share_text
    # the excerpt is the contract's own source text, escapes and all
    assert quoted(n.charge_label) in traces["invoice"]["clause"]["excerpt"]
    assert quoted(n.share_text) in traces["payout"]["clause"]["excerpt"]


def test_manifest_and_counts_are_unaffected(hostile: Outputs) -> None:
    manifest = json.loads((hostile.run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["read"] == manifest["counts"]["rated"] == 2
    assert manifest["conservation"]["ok"] is True


# --- explain and compile ---------------------------------------------------------------------


def test_explain_shows_labels_and_texts_as_written(hostile: Outputs) -> None:
    n = hostile.names
    by_kind = {line_id[0]: text for line_id, text in hostile.explain.items()}
    for kind, label, text in (("I", n.charge_label, n.charge_text), ("P", n.share_label, n.share_text)):
        shown = by_kind[kind]
        # a line break in a label continues on the tree's next line, under its guide
        for part in (*label.split("\n"), *text.split("\n")):
            assert part in shown, (part, shown)
        assert quoted(label) in shown  # the source excerpt


def test_compile_prints_names_and_labels_as_written(hostile: Outputs) -> None:
    n = hostile.names
    # the readable plan names clauses by label; their prose is in the JSON form
    for text in (n.contract, n.operator, n.partner, n.product, n.charge_label, n.share_label):
        assert text in hostile.compile_text, text


def test_compile_json_holds_every_string_exactly(hostile: Outputs) -> None:
    strings = set(_strings(hostile.compile_json))
    for text in hostile.names.contract_strings():
        assert text in strings, text
    plan = hostile.compile_json
    assert plan["title"] == hostile.names.contract
    assert {p["name"]: p["title"] for p in plan["parties"]} == {
        "telcopl": hostile.names.operator,
        "acme": hostile.names.partner,
    }


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


# --- documents ----------------------------------------------------------------------------------


class _Page(html.parser.HTMLParser):
    """The tags, attributes and text of an HTML page, entities decoded."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(f"/{tag}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _html(outputs: Outputs) -> dict[str, _Page]:
    return {name: _Page(text) for name, text in outputs.documents.items() if name.endswith(".html")}


def test_html_documents_have_the_markup_of_plain_names(hostile: Outputs, plain: Outputs) -> None:
    pages, plain_pages = _html(hostile), _html(plain)
    assert sorted(pages) == sorted(plain_pages) and pages
    for name, page in pages.items():
        assert "<script" not in hostile.documents[name].lower(), name
        assert page.tags == plain_pages[name].tags, name
        assert sorted(set(page.attributes)) == sorted(set(plain_pages[name].attributes)), name
        assert not [a for a in page.attributes if a.startswith("on")], name


def test_html_documents_show_the_strings_as_written(hostile: Outputs) -> None:
    n = hostile.names
    text = {name: "".join(page.text) for name, page in _html(hostile).items()}
    (invoice,) = (t for name, t in text.items() if name.startswith("invoice-"))
    (statement,) = (t for name, t in text.items() if name.startswith("self-billing-"))
    (audit,) = (t for name, t in text.items() if name.startswith("audit-"))
    for shown in (n.operator, n.customer, n.product, n.charge_label):
        assert shown in invoice, shown
    for shown in (n.operator, n.partner, n.product, n.share_label):
        assert shown in statement, shown
    for shown in (n.operator, n.partner, n.product, n.charge_label, n.charge_text, n.share_text):
        assert shown in audit, shown


def _outside_code(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks."""
    lines: list[str] = []
    fence = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence) and set(stripped) == {"`"}:
                fence = ""
            continue
        match = re.match(r"(`{3,})", stripped)
        if match:
            fence = match.group(1)
            continue
        lines.append(line)
    return lines


def _md_shape(text: str) -> list[tuple[int, str]]:
    """Per line outside code: the number of unescaped table pipes, and how it starts."""
    shape = []
    for line in _outside_code(text):
        pipes = len(re.findall(r"(?<!\\)\|", line))
        start = re.match(r"\s*([#>*+-]|\d+\.|\||<a |)", line)
        shape.append((pipes, start.group(1) if start else ""))
    return shape


def test_markdown_documents_escape_the_strings(hostile: Outputs, plain: Outputs) -> None:
    n = hostile.names
    md = {name: text for name, text in hostile.documents.items() if name.endswith(".md")}
    plain_md = {name: text for name, text in plain.documents.items() if name.endswith(".md")}
    assert sorted(md) == sorted(plain_md) and md
    for name, text in md.items():
        assert _md_shape(text) == _md_shape(plain_md[name]), name
        for line in _outside_code(text):
            raw = re.sub(r'<a id="trace-[A-Za-z0-9-]+"></a>', "", line)
            assert not re.search(r"(?<!\\)<", raw), (name, line)
    everything = "\n".join(md.values())
    for shown in (n.operator, n.partner, n.customer, n.product, n.charge_label, n.share_label, n.charge_text):
        assert md_escape(shown) in everything, shown


# --- no code from text ---------------------------------------------------------------------------

FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint"}
FORBIDDEN_MODULES = {
    "pickle",
    "marshal",
    "shelve",
    "dill",
    "code",
    "codeop",
    "runpy",
    "subprocess",
}
ALLOWED_FROM_IMPORTLIB = {"resources"}  # packaged data files, never modules
FORBIDDEN_ATTRIBUTES = {
    ("os", "system"),
    ("os", "popen"),
    ("os", "execv"),
    ("os", "execvp"),
    ("os", "spawnv"),
    ("types", "FunctionType"),
    ("types", "CodeType"),
    ("jinja2", "Template"),
}
JINJA_LOADERS = {"PackageLoader"}
MODULES = sorted(SRC.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _field_loop_names(tree: ast.Module) -> set[str]:
    """Names bound by `for f in fields(...)` (loops and comprehensions): dataclass fields."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.comprehension):
            source = node.iter
            if (
                isinstance(source, ast.Call)
                and isinstance(source.func, ast.Name | ast.Attribute)
                and (getattr(source.func, "id", None) or getattr(source.func, "attr", None)) == "fields"
                and isinstance(node.target, ast.Name)
            ):
                names.add(node.target.id)
    return names


def _offences(path: Path, root: Path = SRC) -> list[str]:
    tree = _tree(path)
    fields_of = _field_loop_names(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                modules = [f"{node.module}.{a.name}" for a in node.names] if node.module else []
            for module in modules:
                parts = module.split(".")
                if parts[0] in FORBIDDEN_MODULES or (
                    parts[0] == "importlib" and parts[1:2] != [] and parts[1] not in ALLOWED_FROM_IMPORTLIB
                ):
                    found.append(f"{where}: imports {module}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                found.append(f"{where}: calls {func.id}()")
            if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_CALLS - {"compile"}:
                found.append(f"{where}: calls .{func.attr}()")
            for keyword in node.keywords:
                if keyword.arg == "cache" and isinstance(keyword.value, ast.Constant) and keyword.value.value:
                    found.append(f"{where}: cache=True (Lark unpickles it from the shared temporary folder)")
            if isinstance(func, ast.Attribute) and func.attr == "import_module":
                found.append(f"{where}: imports a module by name")
            if isinstance(func, ast.Attribute) and func.attr == "from_string":
                found.append(f"{where}: compiles a template from a string")
            if isinstance(func, ast.Name) and func.id in {"getattr", "setattr", "delattr", "hasattr"}:
                # a dynamic attribute name: only a literal, or a dataclass field's own name
                name = node.args[1] if len(node.args) > 1 else None
                literal = isinstance(name, ast.Constant) and isinstance(name.value, str)
                field_name = (
                    isinstance(name, ast.Attribute)
                    and name.attr == "name"
                    and isinstance(name.value, ast.Name)
                    and name.value.id in fields_of
                )
                if not (literal or field_name):
                    found.append(f"{where}: {func.id}() with a computed attribute name")
            if isinstance(func, ast.Attribute) and func.attr == "Environment":
                keywords = {k.arg: k.value for k in node.keywords}
                autoescape = keywords.get("autoescape")
                if not (isinstance(autoescape, ast.Constant) and autoescape.value is True):
                    found.append(f"{where}: a jinja2 Environment without autoescape=True")
            if (
                isinstance(func, ast.Attribute)
                and func.attr.endswith("Loader")
                and func.attr not in JINJA_LOADERS
            ):
                found.append(f"{where}: templates from a {func.attr}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in FORBIDDEN_ATTRIBUTES:
                found.append(f"{where}: uses {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Name) and node.id in {"eval", "exec", "__import__", "__builtins__"}:
            found.append(f"{where}: refers to {node.id}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_turns_text_into_code(path: Path) -> None:
    assert _offences(path) == []


def test_the_scan_catches_what_it_looks_for(tmp_path: Path) -> None:
    """The scan itself, on a module that does everything it forbids."""
    text = (
        "import pickle\nimport importlib.util\nfrom subprocess import run\nimport os, jinja2\n"
        "from importlib import resources, import_module\nimportlib.import_module('x')\n"
        "eval('1')\nexec('x = 1')\ncompile('1', 'f', 'eval')\n__import__('os')\nos.system('x')\n"
        "getattr(object, 'x' + 'y')\nsetattr(object, name, 1)\n"
        "jinja2.Environment(loader=jinja2.DictLoader({}))\njinja2.Environment(autoescape=False)\n"
        "env.from_string('{{ x }}')\nf = eval\n"
        "for f in fields(x):\n    getattr(x, f.name)\n"
        "Lark(grammar, parser='lalr', cache=True)\n"
        "re.compile('x')\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(text, encoding="utf-8")
    offences = _offences(probe, tmp_path)
    kinds = "\n".join(offences)
    for expected in (
        "imports pickle",
        "imports importlib.util",
        "imports subprocess.run",
        "imports importlib.import_module",
        "imports a module by name",
        "calls eval()",
        "calls exec()",
        "calls compile()",
        "calls __import__()",
        "uses os.system",
        "getattr() with a computed attribute name",
        "setattr() with a computed attribute name",
        "templates from a DictLoader",
        "without autoescape=True",
        "compiles a template from a string",
        "refers to eval",
        "cache=True (Lark unpickles it",
    ):
        assert expected in kinds, expected
    assert len([o for o in offences if "getattr()" in o]) == 1  # the field loop is fine
    assert "re.compile" not in kinds and "importlib.resources" not in kinds
    allowed = [n for n, line in enumerate(text.splitlines(), 1) if "f.name" in line or "re.compile" in line]
    assert not [o for o in offences if int(o.split(":")[1]) in allowed]  # a field's name, a regex


def test_the_parser_tables_are_never_unpickled_from_a_shared_folder() -> None:
    """Lark's cache is a pickle: with `cache=True` it is read from the shared temporary folder
    under a predictable name, where another user could plant one that runs code when any
    `clearline` command starts. Clearline caches in a folder only its user can write, or not."""
    cache = lalr().options.cache
    if cache is False:
        return
    assert isinstance(cache, str), cache
    folder = Path(cache).parent
    assert folder.resolve() != Path(tempfile.gettempdir()).resolve()
    info = folder.stat()
    assert info.st_uid == os.getuid()
    assert not info.st_mode & 0o022, oct(info.st_mode)
