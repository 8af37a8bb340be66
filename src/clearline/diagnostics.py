"""Diagnostics: the error-code registry, the `Diagnostic` record and its one
text renderer.

Every problem Clearline reports about a contract or an input is a
`Diagnostic` with a stable code from `CODES`. Codes are never renumbered;
`docs/errors.md` is generated from this registry.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from clearline.codes import CODES, Code
from clearline.source import SourceFile, Span

__all__ = [
    "CODES",
    "ClearlineError",
    "Code",
    "Diagnostic",
    "did_you_mean",
    "render",
    "render_all",
]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())
    # the file a diagnostic without a position is about (unreadable, missing, empty folder)
    file: str | None = None

    @property
    def where(self) -> str:
        """`file:line:col`, or the file alone when no position applies, or ""."""
        if self.span is not None:
            return str(self.span)
        return self.file or ""

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[str, int, int, str]:
        if self.span is None:
            return (self.file or "", 0, 0, self.code)
        return (self.span.file, self.span.line, self.span.col, self.code)


class ClearlineError(Exception):
    """Raised by the facade when a stage cannot go on; carries diagnostics."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("; ".join(d.message for d in self.diagnostics))


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None.

    >>> did_you_mean("stremco", ["streamco", "telcopl"])
    'did you mean `streamco`?'
    """
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


EXCERPT_SIDE = 100  # characters of a long source line shown either side of the caret
EXCERPT_CARET = 100  # the most carets under a long line


def _clip(text: str, col: int, width: int) -> tuple[str, int, int]:
    """A long line cut to the text around the caret, `...` where it was cut; the
    caret's column and width in the cut line.

    >>> _clip("a" * 500 + "!" + "b" * 500, 501, 1)[0].count("a"), _clip("a" * 500 + "!", 501, 1)[1]
    (100, 104)
    """
    width = min(width, EXCERPT_CARET)
    start = max(0, col - 1 - EXCERPT_SIDE)
    end = min(len(text), col - 1 + width + EXCERPT_SIDE)
    head = "..." if start > 0 else ""
    tail = "..." if end < len(text) else ""
    return head + text[start:end] + tail, col - start + len(head), width


def render(diag: Diagnostic, sources: dict[str, SourceFile] | None = None) -> str:
    """Render one diagnostic the way the CLI prints it.

    ```
    file:line:col: error[E0301]: cannot add EUR to PLN
       |
    14 |   pay streamco 55% of net + fee
       |                           ^^^
       = hint: ...
    ```
    """
    head = f"{diag.severity}[{diag.code}]: {diag.message}"
    if diag.span is None:
        lines = [f"{diag.file}: {head}" if diag.file else head]
    else:
        lines = [f"{diag.span}: {head}"]
        source = (sources or {}).get(diag.span.file)
        text = source.line(diag.span.line) if source else ""
        if text:
            num = str(diag.span.line)
            pad = " " * len(num)
            width = (
                diag.span.end_col - diag.span.col
                if diag.span.end_line == diag.span.line
                else len(text.rstrip()) - diag.span.col + 1
            )
            width = max(1, width)
            col = diag.span.col
            if len(text) > 2 * EXCERPT_SIDE + EXCERPT_CARET:
                text, col, width = _clip(text, col, width)
            # Tabs stay tabs under the text, so the caret lines up however they are shown.
            indent = "".join(c if c == "\t" else " " for c in text[: col - 1])
            indent += " " * (col - 1 - len(indent))
            lines.append(f"{pad} |")
            lines.append(f"{num} | {text}")
            lines.append(f"{pad} | {indent}{'^' * width}")
    for note in diag.notes:
        lines.append(f"   = note: {note}")
    if diag.hint:
        lines.append(f"   = hint: {diag.hint}")
    return "\n".join(lines)


def render_all(
    diagnostics: Iterable[Diagnostic],
    sources: dict[str, SourceFile] | None = None,
    limit: int = 50,
) -> str:
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    parts = [render(d, sources) for d in ordered[:limit]]
    if len(ordered) > limit:
        parts.append(f"... and {len(ordered) - limit} more")
    return "\n\n".join(parts)
