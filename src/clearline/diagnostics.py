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
class Code:
    code: str
    title: str
    explanation: str


_REGISTRY = [
    # E01xx: syntax
    Code("E0101", "syntax error", "The text is not written the way Clearline reads contracts."),
    Code("E0102", "unterminated text", "A quoted text is missing its closing quote."),
    Code("E0103", "unexpected character", "A character that no part of the language uses."),
    Code("E0104", "unreadable file", "The file cannot be read or is not UTF-8 text."),
    Code("E0105", "nesting too deep", "Expressions are nested deeper than Clearline accepts."),
    # E02xx: values
    Code("E0201", "invalid date", "A date that does not exist in the calendar."),
    Code("E0202", "empty interval", "An effective interval whose end is not after its start."),
    Code("E0203", "unknown time zone", "A time zone that is not in the IANA database."),
    Code("E0204", "unknown currency", "A currency code that is not in ISO 4217."),
    Code("E0205", "invalid rounding quantum", "A rounding quantum that is not a power of ten."),
    Code("E0206", "invalid increments", "Rating increments that are zero or negative."),
    Code("E0207", "invalid number", "A number outside the range Clearline accepts."),
    # E03xx: money and types
    Code("E0301", "currency mismatch", "Two amounts in different currencies are combined."),
    Code("E0302", "money times money", "Two amounts of money are multiplied or divided."),
    Code("E0303", "percentage out of range", "A percentage below 0% or above 100%."),
    Code("E0304", "shares exceed the base", "Shares of one base sum to more than 100%."),
    Code(
        "E0305",
        "line rounding finer than the currency",
        "A line amount is rounded to a quantum smaller than the currency's minor unit.",
    ),
    Code("E0306", "wrong kind of amount", "An amount of the wrong kind for where it is used."),
    Code("E0307", "unit mismatch", "A price per unit that cannot apply to the product's measure."),
    # E04xx: names and structure
    Code("E0401", "unknown name", "A name that is not declared."),
    Code("E0402", "duplicate name", "A name declared twice."),
    Code("E0403", "missing declaration", "A declaration the contract needs is missing."),
    Code("E0404", "duplicate rate key", "A rate-table key (e.g. a prefix) defined twice."),
    Code("E0405", "misplaced rule", "A rule that has no meaning where it stands."),
    Code("E0406", "duplicate contract", "Two contract files declare the same contract id."),
    Code("E0407", "import outside the contracts root", "An import that leaves the contracts root folder."),
    Code("E0408", "not a library", "An import of a file that is not a `library`."),
    Code("E0409", "overlapping or gapped versions", "Versions of one contract that overlap or leave a gap."),
    Code(
        "E0410", "amendment does not apply", "An amendment that changes something its contract does not have."
    ),
    Code(
        "E0411",
        "tier bands out of order",
        "Tier bands with a gap, an overlap, unsorted, or no open-ended last band.",
    ),
    Code("E0412", "example failed", "A worked example whose lines differ from what the contract produces."),
    # W01xx: warnings about documented defaults
    Code("W0101", "default rounding", "No rounding declared: the documented default applies."),
    Code(
        "W0102",
        "default answered rule",
        "No `answered when` rule: calls with quantity > 0 count as answered.",
    ),
    # R-codes: run-time problems with inputs (not the contract)
    Code("E0501", "unreadable input", "An input file cannot be read."),
    Code("E0502", "missing column", "An input file lacks a column the contracts read."),
    Code("E0503", "missing reference data", "A rate or reference the settlement needs is missing."),
    Code("E0504", "conservation violated", "Payouts and retained do not add up to net revenue."),
    Code("E0505", "bad option", "A command-line option with an invalid value."),
    Code("E0506", "input changed", "An input of a run differs from what the run's manifest recorded."),
    Code("E0507", "output not reproduced", "Settling a run again does not give the same output."),
]

CODES: dict[str, Code] = {c.code: c for c in _REGISTRY}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[str, int, int, str]:
        if self.span is None:
            return ("", 0, 0, self.code)
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
        lines = [head]
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
            # Tabs stay tabs under the text, so the caret lines up however they are shown.
            indent = "".join(c if c == "\t" else " " for c in text[: diag.span.col - 1])
            indent += " " * (diag.span.col - 1 - len(indent))
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
