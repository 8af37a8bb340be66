"""`clearline lsp`: a real LSP client (pygls's) talks to the server process over stdio.

The session opens a contract with a misspelt party, receives the diagnostic
`validate` gives (code, span, hint), asks for code actions, applies the
did-you-mean fix, and receives no diagnostics any more; then hover,
definition, references, completion and formatting on the fixed text.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from clearline.authoring.formatter import format_text
from clearline.source import SourceFile
from conftest import CONTRACTS

lsp = pytest.importorskip("lsprotocol.types", reason="the lsp extra (pygls) is not installed")
client_module = pytest.importorskip("pygls.lsp.client")
uris = pytest.importorskip("pygls.uris")

TIMEOUT = 20


def apply(text: str, edits: list[Any]) -> str:
    """Apply LSP text edits (0-based line/character ranges) to a text, last first."""
    lines = text.split("\n")

    def offset(pos: Any) -> int:
        return sum(len(line) + 1 for line in lines[: pos.line]) + pos.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
        lines = text.split("\n")
    return text


async def session(path: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    client = client_module.LanguageClient("clearline-test", "1")
    published: asyncio.Queue[Any] = asyncio.Queue()

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: Any) -> None:
        published.put_nowait(params)

    await client.start_io(sys.executable, "-m", "clearline.cli", "lsp")
    try:
        await client.initialize_async(
            lsp.InitializeParams(
                capabilities=lsp.ClientCapabilities(), root_uri=uris.from_fs_path(str(path.parent))
            )
        )
        client.initialized(lsp.InitializedParams())
        uri = uris.from_fs_path(str(path))
        text = path.read_text(encoding="utf-8")
        client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(uri=uri, language_id="clearline", version=1, text=text)
            )
        )
        first = await asyncio.wait_for(published.get(), TIMEOUT)
        seen["diagnostics"] = first.diagnostics
        actions = await client.text_document_code_action_async(
            lsp.CodeActionParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri),
                range=first.diagnostics[0].range,
                context=lsp.CodeActionContext(diagnostics=first.diagnostics),
            )
        )
        seen["actions"] = actions
        fixed = apply(text, actions[0].edit.changes[uri])
        seen["fixed"] = fixed
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=fixed)],
            )
        )
        seen["after"] = (await asyncio.wait_for(published.get(), TIMEOUT)).diagnostics
        line = fixed.split("\n").index(
            "      pay streamco the larger of 55% of net and 18.00 PLN per subscriber-month, "
            "prorated by active days"
        )
        doc = lsp.TextDocumentIdentifier(uri=uri)
        at = lsp.Position(line=line, character=12)
        seen["hover"] = await client.text_document_hover_async(
            lsp.HoverParams(text_document=doc, position=at)
        )
        seen["definition"] = await client.text_document_definition_async(
            lsp.DefinitionParams(text_document=doc, position=at)
        )
        seen["references"] = await client.text_document_references_async(
            lsp.ReferenceParams(
                text_document=doc, position=at, context=lsp.ReferenceContext(include_declaration=True)
            )
        )
        clause_line = fixed.split("\n").index('    clause "4.2 Revenue share"')
        seen["clause_hover"] = await client.text_document_hover_async(
            lsp.HoverParams(text_document=doc, position=lsp.Position(line=clause_line, character=14))
        )
        round_line = fixed.split("\n").index("      round the period total half up to 0.01")
        seen["rule_hover"] = await client.text_document_hover_async(
            lsp.HoverParams(text_document=doc, position=lsp.Position(line=round_line, character=12))
        )
        settle_line = fixed.split("\n").index("  settle monthly in PLN, time zone Europe/Warsaw")
        seen["completion"] = await client.text_document_completion_async(
            lsp.CompletionParams(text_document=doc, position=lsp.Position(line=settle_line, character=9))
        )
        seen["currencies"] = await client.text_document_completion_async(
            lsp.CompletionParams(text_document=doc, position=lsp.Position(line=settle_line, character=20))
        )
        seen["formatting"] = await client.text_document_formatting_async(
            lsp.DocumentFormattingParams(
                text_document=doc, options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)
            )
        )
        await asyncio.wait_for(client.shutdown_async(None), TIMEOUT)
        client.exit(None)
    except BaseException:
        process = getattr(client, "_server", None)  # the server process pygls started
        if process is not None and process.returncode is None:
            process.kill()  # a failed step: do not wait for an exit that was never asked
        raise
    finally:
        await asyncio.wait_for(client.stop(), TIMEOUT)
    return seen


def test_open_diagnose_fix_by_code_action_then_clean(tmp_path: Path) -> None:
    path = tmp_path / "sp.contract"
    text = (CONTRACTS / "streamplus.contract").read_text(encoding="utf-8")
    # a misspelt party in 4.2 (line 27, column 11) and a messy party line for formatting
    text = text.replace("pay streamco the larger", "pay stremco the larger")
    path.write_text(
        text.replace('operator telcopl  "TelcoPL', 'operator   telcopl "TelcoPL'), encoding="utf-8"
    )
    seen = asyncio.run(session(path))

    (diagnostic,) = seen["diagnostics"]
    assert diagnostic.code == "E0401"
    assert diagnostic.severity == lsp.DiagnosticSeverity.Error
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (26, 10)
    assert (diagnostic.range.end.line, diagnostic.range.end.character) == (26, 17)
    assert "did you mean `streamco`?" in diagnostic.message
    (action,) = seen["actions"]
    assert action.title == "Replace with `streamco`"
    assert "pay streamco the larger of 55%" in seen["fixed"]
    assert list(seen["after"]) == []

    assert "**partner streamco**" in seen["hover"].contents.value
    assert "currency EUR, country IE, language en" in seen["hover"].contents.value
    assert (seen["definition"].range.start.line, seen["definition"].range.start.character) == (7, 11)
    # the declaration, 4.2's pay, 6.1's conversion and its `details of streamco`
    assert sorted(r.range.start.line for r in seen["references"]) == [7, 26, 31, 61]
    clause = seen["clause_hover"].contents.value
    assert "StreamCo receives 55% of net revenue" in clause
    assert "amount    max(55% × net, 18.00 PLN per month × active days / period days)" in clause

    assert seen["rule_hover"].contents.value == clause  # a rule of 4.2: the clause's rules

    words = {item.label for item in seen["completion"].items}
    assert words == {"daily", "weekly", "monthly", "quarterly"}
    currencies = {item.label for item in seen["currencies"].items}
    assert {"PLN", "EUR"} <= currencies and "monthly" not in currencies

    (edit,) = seen["formatting"]
    formatted = format_text(SourceFile(str(path), seen["fixed"]))
    assert edit.new_text == formatted
    assert '  operator telcopl  "TelcoPL S.A."  currency PLN' in formatted


def test_names_from_an_imported_library_resolve_into_it(tmp_path: Path) -> None:
    """The analysis behind definition/references (the protocol is tested above): the operator
    and the rate table of nordcarrier live in a library the contract imports."""
    from clearline.lsp.analysis import analyse, completions
    from test_amendments import LIBRARY, importing

    (tmp_path / "shared").mkdir()
    library = tmp_path / "shared" / "telcopl.contract"
    library.write_text(LIBRARY, encoding="utf-8")
    path = tmp_path / "nc.contract"
    text = importing("shared/telcopl.contract")
    path.write_text(text, encoding="utf-8")
    result = analyse(str(path), text)
    assert result.diagnostics == []
    table = result.symbols[("rate table", "termination")]
    assert (table.file, table.range[0]) == (str(library.resolve()), 5)  # line 6 of the library
    assert result.symbols[("party", "telcopl")].file == str(library.resolve())
    (use,) = [o for o in result.references("rate table", "termination") if not o.definition]
    assert text.split("\n")[use.range[0]].strip() == "pay nordcarrier the rate from table termination"
    (imported,) = [o for o in result.occurrences if o.kind == "import"]
    assert imported.name == str(library.resolve())
    assert '"4860"  0.0150 EUR per minute' in table.hover
    offset = text.index("pay nordcarrier") + len("pay ")
    assert ("nordcarrier", "party") in completions(result, offset)
    assert ("telcopl", "party") in completions(result, offset)
