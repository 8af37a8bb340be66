"""Scanning a contract's text for syntax errors, aware of quoted texts and comments:
code characters, positions, open braces and the block a brace opens, the token
before an offset.
"""

from __future__ import annotations

import re

from lark import Token, UnexpectedInput

from clearline.grammar.lalr import lalr


def code_chars(text: str) -> list[tuple[int, str]]:
    """(offset, char) of every character outside texts and comments."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        out.append((i, ch))
        i += 1
    return out


def position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _indent(text: str, offset: int) -> int:
    start = text.rfind("\n", 0, offset) + 1
    line = text[start:]
    return len(line) - len(line.lstrip(" \t"))


def _block_name(text: str, offset: int) -> str:
    """What the `{` at `offset` opens, as the writer would name it: `clause "3.1 Retail price"`."""
    lines = text[:offset].split("\n")
    i = len(lines) - 1
    # A clause's prose may stand on its own line between the label and the `{`.
    while i > 0 and lines[i].lstrip().startswith('"'):
        i -= 1
    head = lines[i].strip()
    match = re.match(
        r"(contract|library|amendment of|product|clause|example|tiers|rate table|change table"
        r'|usage fields|usage|distribute|split)\b\s*("[^"]*"|[\w.\-]+)?',
        head,
    )
    if not match:
        return "the block"
    keyword, name = match.group(1), match.group(2)
    if keyword in {"usage fields", "usage", "distribute", "split"} or not name:
        return f"the `{keyword}` block"
    return f"{keyword} {name}"


def _open_braces(text: str, end: int) -> list[int]:
    """Offsets of the `{` still open at `end`, outermost first."""
    stack: list[int] = []
    for offset, ch in code_chars(text[:end]):
        if ch == "{":
            stack.append(offset)
        elif ch == "}" and stack:
            stack.pop()
    return stack


def _unclosed_brace(text: str) -> int | None:
    """The `{` most likely missing its `}` at the end of the file.

    Braces pair up innermost first, so one forgotten `}` leaves the outermost
    `{` open; the block really missing it is the first whose `}` sits at
    another indentation than the line that opened it.
    """
    stack: list[int] = []
    for offset, ch in code_chars(text):
        if ch == "{":
            stack.append(offset)
        elif ch == "}" and stack:
            opened = stack.pop()
            line_start = text.rfind("\n", 0, offset) + 1
            own_line = not text[line_start:offset].strip()
            if own_line and _indent(text, offset) != _indent(text, opened):
                return opened
    return stack[-1] if stack else None


def _previous_token(text: str, offset: int) -> Token | None:
    """The last token before `offset`, as the parser read it."""
    parser = lalr().parse_interactive(text)
    previous = None
    try:
        for token in parser.iter_parse():
            if (token.start_pos or 0) >= offset:
                break
            previous = token
    except UnexpectedInput:
        pass
    return previous
