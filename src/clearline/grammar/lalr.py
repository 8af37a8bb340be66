"""The Lark LALR parser of the contract language, built once per process.

It holds no state between parses, so caching it is safe; the grammar lives
in `clearline.lark` beside this module.
"""

from __future__ import annotations

import functools
from importlib import resources

from lark import Lark

__all__ = ["lalr"]


@functools.cache
def lalr() -> Lark:
    grammar = resources.files("clearline.grammar").joinpath("clearline.lark").read_text("utf-8")
    # cache=True: Lark keeps the built LALR tables in a file of the temporary folder, keyed by
    # the grammar's hash and Lark's version, and rebuilds them when either changes
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,
    )
