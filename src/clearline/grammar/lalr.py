"""The Lark LALR parser of the contract language, built once per process.

It holds no state between parses, so caching it is safe; the grammar lives
in `clearline.lark` beside this module.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib import resources
from pathlib import Path

import lark
from lark import Lark

__all__ = ["lalr"]


def _cache_file(grammar: str) -> str | bool:
    """Where Lark keeps the built LALR tables (a pickle, keyed inside by the grammar's hash and
    Lark's version, rebuilt when either changes): the user's own cache folder, never the shared
    temporary folder, where another user could plant a pickle under the predictable name that
    Lark's `cache=True` uses. False (no cache) when no private folder can be had.

    The file's name carries the grammar's and Lark's hash too: two installations of Clearline
    (two versions, two checkouts) then keep a file each, instead of rebuilding the tables, half
    a second, at every start after the other one ran."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "clearline"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return False
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        return False
    key = hashlib.sha256(f"{lark.__version__}\n{grammar}".encode()).hexdigest()[:16]
    return str(folder / f"lalr-tables-{key}.cache")


@functools.cache
def lalr() -> Lark:
    grammar = resources.files("clearline.grammar").joinpath("clearline.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=_cache_file(grammar),
    )
