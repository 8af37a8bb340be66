"""Source text -> concrete syntax tree: every token, keywords and punctuation included.

The AST drops what the writer typed to say it (keywords, braces, commas) and the
parser drops comments; the authoring tools (formatter, language server) need all
of it. This module parses with the same grammar, keeping every token, and hands
back plain frozen dataclasses (Lark trees never leave grammar/). Comments are not
tokens: they are what lies between two tokens besides whitespace (`gaps`).

It only parses; a file with syntax errors raises ClearlineError with the same
diagnostics `parse_source` gives, so callers report them as `validate` does.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree, UnexpectedInput
from lark.exceptions import LarkError

from clearline.grammar.lalr import _cache_file, lalr
from clearline.grammar.parser import parse_source
from clearline.source import SourceFile

__all__ = ["Comment", "Node", "Tok", "comments", "concrete_tree", "next_words", "tokens"]


@dataclass(frozen=True, slots=True)
class Tok:
    """One token: its terminal name (`PAY`, `LBRACE`, `STRING`...), text and place
    (1-based line and column; `start`/`end` are offsets into the text)."""

    type: str
    value: str
    line: int
    col: int
    end_line: int
    end_col: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Node:
    """A grammar rule (after aliases: `pay`, `rate_row`, `party`...) and its children in order."""

    rule: str
    children: tuple[Node | Tok, ...]


@dataclass(frozen=True, slots=True)
class Comment:
    """A `# ...` comment, its text without the newline and its place."""

    text: str
    line: int
    col: int
    start: int
    end: int


@functools.cache
def _parser() -> Lark:
    grammar = resources.files("clearline.grammar").joinpath("clearline.lark").read_text("utf-8")
    cache = _cache_file()
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        keep_all_tokens=True,
        # its own table file: one file per option set, or each parser would rebuild the other's
        cache=str(Path(cache).with_name("lalr-tables-concrete.cache")) if isinstance(cache, str) else False,
    )


def _convert(tree: Tree[Token]) -> Node:
    """Iteratively (trees may be MAX_DEPTH deep), children in source order."""
    done: dict[int, Node] = {}
    stack: list[tuple[Tree[Token], bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            stack.append((node, True))
            stack += [(c, False) for c in node.children if isinstance(c, Tree)]
            continue
        children: list[Node | Tok] = []
        for c in node.children:
            if isinstance(c, Tree):
                children.append(done.pop(id(c)))
            else:
                children.append(
                    Tok(
                        c.type,
                        str(c),
                        c.line or 1,
                        c.column or 1,
                        c.end_line or 1,
                        c.end_column or 1,
                        c.start_pos or 0,
                        c.end_pos or 0,
                    )
                )
        done[id(node)] = Node(str(node.data), tuple(children))
    return done[id(tree)]


def concrete_tree(source: SourceFile) -> Node:
    """The concrete tree of a file; ClearlineError with the parser's diagnostics if it does not parse."""
    parse_source(source)  # the diagnostics of `validate` for bad input (and its depth limits)
    try:
        tree = _parser().parse(source.text)
    except Exception as err:  # parse_source accepted the text; the same grammar must too
        raise AssertionError(f"the concrete parser disagrees with the parser: {err}") from None
    return _convert(tree)


def tokens(node: Node) -> list[Tok]:
    """Every token under `node`, in source order."""
    out: list[Tok] = []
    stack: list[Node | Tok] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Tok):
            out.append(item)
        else:
            stack += reversed(item.children)
    return out


def comments(text: str, toks: list[Tok]) -> list[Comment]:
    """The comments of a file: whatever is not whitespace in the gaps between tokens."""
    found: list[Comment] = []
    edges = [0, *(x for t in toks for x in (t.start, t.end)), len(text)]
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        gap = text[a:b]
        offset = 0
        while (i := gap.find("#", offset)) >= 0:
            end = gap.find("\n", i)
            end = len(gap) if end < 0 else end
            start = a + i
            line = text.count("\n", 0, start) + 1
            col = start - (text.rfind("\n", 0, start) + 1) + 1
            found.append(Comment(gap[i:end].rstrip(), line, col, start, a + end))
            offset = end
    return found


def _words_of(pattern: str) -> list[str]:
    """The words a keyword-like terminal's regex spells, `(daily|weekly)(?!...)` -> daily, weekly;
    a plural written `seconds?` gives both forms. Empty for other regexes (names, numbers)."""
    body = re.sub(r"\(\?![^)]*\)$", "", pattern)
    match = re.fullmatch(r"\(((?:[A-Za-z' \-]+\??\|?)+)\)", body)
    if not match:
        return []
    out: list[str] = []
    for word in match.group(1).split("|"):
        out += [word[:-2], word[:-1]] if word.endswith("s?") else [word]
    return out


def next_words(prefix: str) -> tuple[set[str], set[str]] | None:
    """What the grammar accepts after `prefix`: (keywords and fixed words such as `monthly` or
    `half up`, the kinds of free token: NAME, CURRENCY, STRING...); None if the prefix does not parse."""
    parser = lalr()
    try:
        interactive = parser.parse_interactive(prefix)
        interactive.exhaust_lexer()
        accepted: set[str] = interactive.accepts()  # type: ignore[no-untyped-call]
    except (UnexpectedInput, LarkError):
        return None
    patterns = {t.name: t.pattern for t in parser.terminals}
    words: set[str] = set()
    kinds: set[str] = set()
    for name in accepted:
        pattern = patterns.get(name)
        if pattern is None:
            continue
        if pattern.type == "str":
            words.add(pattern.value)
        elif spelled := _words_of(pattern.value):
            words.update(spelled)
            kinds.add(name)
        else:
            kinds.add(name)
    return words, kinds
