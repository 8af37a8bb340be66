"""Source files and spans, shared by every stage.

A `Span` is where a piece of contract text came from (file, 1-based line and
column, end line and column). Every AST and plan node carries one, so a trace
line can point back at the clause that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SourceFile", "Span"]


@dataclass(frozen=True, slots=True)
class Span:
    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "end_col": self.end_col,
        }

    @staticmethod
    def from_json(data: dict[str, object]) -> Span:
        return Span(
            str(data["file"]),
            int(str(data["line"])),
            int(str(data["col"])),
            int(str(data["end_line"])),
            int(str(data["end_col"])),
        )


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A contract file's name (as the user gave it) and its text."""

    name: str
    text: str

    @staticmethod
    def read(path: Path | str) -> SourceFile:
        path = Path(path)
        data = path.read_bytes()
        # Decoding errors are reported by the caller as a diagnostic.
        return SourceFile(str(path), data.decode("utf-8-sig"))

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        if 1 <= number <= len(lines):
            return lines[number - 1]
        return ""
