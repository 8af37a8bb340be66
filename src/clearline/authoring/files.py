"""Atomic file replacement for tools that rewrite contracts (the formatter).

Input: a path and its new text. Output: the file holds either its old bytes or
all of the new ones, never a half-written contract: the text goes to a
temporary file in the same folder (same file system), is flushed to disk, keeps
the original's permission bits, and replaces the original in one rename.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8); raises OSError, leaving the file as it was."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
