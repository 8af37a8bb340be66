"""`clearline lsp`: the language server, over stdio, on pygls (lsprotocol types).

Input: LSP messages from an editor. Output: diagnostics on open and change (the
codes, spans and hints of `validate`), hover, definition, references,
completion, document formatting (`clearline fmt`'s formatter) and code actions
that apply a did-you-mean hint. The work is done by `lsp.analysis` and
`authoring.formatter`; this module only speaks the protocol.
"""

from __future__ import annotations

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

import clearline
from clearline.authoring.formatter import format_text
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.lsp.analysis import Analysis, Range, analyse, completions, suggestion
from clearline.source import SourceFile

__all__ = ["serve", "server"]

server = LanguageServer(
    "clearline", clearline.__version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full
)
_cache: dict[str, tuple[int | None, Analysis]] = {}


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _uri(path: str) -> str:
    return from_fs_path(path) or path


def _analysis(ls: LanguageServer, uri: str) -> Analysis:
    document = ls.workspace.get_text_document(uri)
    cached = _cache.get(uri)
    if cached is not None and cached[0] == document.version and cached[1].text == document.source:
        return cached[1]
    result = analyse(_path(uri), document.source)
    _cache[uri] = (document.version, result)
    return result


def _lsp_range(r: Range) -> lsp.Range:
    return lsp.Range(lsp.Position(r[0], r[1]), lsp.Position(r[2], r[3]))


def _diagnostic(d: Diagnostic, path: str) -> lsp.Diagnostic:
    here = d.span is not None and d.span.file == path
    if d.span is not None and here:
        where: Range = (d.span.line - 1, d.span.col - 1, d.span.end_line - 1, d.span.end_col - 1)
        message = d.message
    else:  # a problem in another file (an import) or of no place: shown at the top
        where = (0, 0, 0, 0)
        message = f"{d.span}: {d.message}" if d.span else d.message
    return lsp.Diagnostic(
        range=_lsp_range(where),
        message=message + (f"\nhint: {d.hint}" if d.hint else ""),
        severity=lsp.DiagnosticSeverity.Error if d.is_error else lsp.DiagnosticSeverity.Warning,
        code=d.code,
        source="clearline",
        data={"hint": d.hint} if d.hint else None,
    )


def _publish(ls: LanguageServer, uri: str) -> None:
    result = _analysis(ls, uri)
    diagnostics = [_diagnostic(d, result.path) for d in result.diagnostics]
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    _publish(ls, params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: LanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
    _publish(ls, params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: LanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
    _publish(ls, params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: LanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
    _cache.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(
        lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
    )


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
    result = _analysis(ls, params.text_document.uri)
    line, col = params.position.line, params.position.character
    occ = result.at(line, col)
    if occ is None:  # inside a clause's rules: the clause, its rules in plain words
        clause = result.clause_at(line, col)
        return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, clause.hover)) if clause else None
    if occ.kind == "import":
        text = f"**import** `{occ.name}`"
    else:
        symbol = result.symbols.get((occ.kind, occ.name))
        if symbol is None:
            return None
        text = symbol.hover
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), _lsp_range(occ.range))


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: LanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    result = _analysis(ls, params.text_document.uri)
    occ = result.at(params.position.line, params.position.character)
    if occ is None:
        return None
    if occ.kind == "import":
        return lsp.Location(_uri(occ.name), _lsp_range((0, 0, 0, 0)))
    symbol = result.symbols.get((occ.kind, occ.name))
    return lsp.Location(_uri(symbol.file), _lsp_range(symbol.range)) if symbol else None


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def references(ls: LanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    uri = params.text_document.uri
    result = _analysis(ls, uri)
    occ = result.at(params.position.line, params.position.character)
    if occ is None:
        return []
    found = result.references(occ.kind, occ.name)
    if not params.context.include_declaration:
        found = [o for o in found if not o.definition]
    return [lsp.Location(uri, _lsp_range(o.range)) for o in found]


_KINDS = {
    "keyword": lsp.CompletionItemKind.Keyword,
    "currency": lsp.CompletionItemKind.Unit,
    "clause": lsp.CompletionItemKind.Reference,
    "party": lsp.CompletionItemKind.Variable,
    "usage field": lsp.CompletionItemKind.Field,
}


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" "]))
def completion(ls: LanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    document = ls.workspace.get_text_document(params.text_document.uri)
    offset = document.offset_at_position(params.position)
    items = [
        lsp.CompletionItem(label=word, kind=_KINDS.get(what, lsp.CompletionItemKind.Reference), detail=what)
        for word, what in completions(_analysis(ls, params.text_document.uri), offset)
    ]
    return lsp.CompletionList(is_incomplete=False, items=items)


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: LanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    try:
        formatted = format_text(SourceFile(_path(params.text_document.uri), document.source))
    except ClearlineError:
        return None  # a file that does not parse is left as it is; its diagnostics say why
    if formatted == document.source:
        return []
    lines = document.source.split("\n")
    end = lsp.Position(len(lines) - 1, len(lines[-1]))
    return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), formatted)]


@server.feature(
    lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix])
)
def code_action(ls: LanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    actions = []
    for diagnostic in params.context.diagnostics:
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        word = suggestion(data.get("hint"))
        if word is None:
            continue
        edit = lsp.WorkspaceEdit(changes={params.text_document.uri: [lsp.TextEdit(diagnostic.range, word)]})
        actions.append(
            lsp.CodeAction(
                title=f"Replace with `{word}`",
                kind=lsp.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                edit=edit,
                is_preferred=True,
            )
        )
    return actions


def serve() -> None:
    """Speak LSP over stdin and stdout until the editor says exit."""
    server.start_io()
