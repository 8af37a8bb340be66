"""Claiming a run folder and writing files into it safely.

Input: the `--out` folder of a run. Output: a `Claim` holding the folder's
lock for the run, and temporary files opened so that nothing planted in the
folder can redirect a write.

- A folder is taken only when it is empty, or a Clearline run folder (it
  holds the marker `.clearline-run` or a `manifest.json`), or when `force`
  says so: files of the user's named like outputs are not overwritten.
- The marker is locked (`fcntl.flock`, exclusive, non-blocking) for the
  whole run: a second run into the same folder stops at once.
- A temporary file has an unpredictable name and is created with `O_EXCL`
  and `O_NOFOLLOW`: a symlink planted under any name is never followed, and
  renaming the file into place replaces a symlink, not its target.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import IO

__all__ = ["MARKER", "Claim", "FolderInUse", "FolderNotARun", "create_exclusive"]

MARKER = ".clearline-run"
_MARKER_TEXT = b"A Clearline run folder: `clearline simulate --out` writes here, and removes what it wrote.\n"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks here
    fcntl = None  # type: ignore[assignment]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class FolderInUse(Exception):
    """Another run holds the folder's lock."""


class FolderNotARun(Exception):
    """The folder holds files that no Clearline run wrote."""

    def __init__(self, folder: Path, names: list[str]) -> None:
        super().__init__(f"{folder} holds files that are not a Clearline run's: {', '.join(names[:5])}")
        self.folder = folder
        self.names = names


def temporary_name(path: Path) -> Path:
    """`path`'s temporary sibling: hidden, with 64 random bits in the name."""
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")


def create_exclusive(path: Path) -> IO[bytes]:
    """A new file at `path`, which must not exist (not even as a symlink)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    return os.fdopen(fd, "wb")


def _is_run(folder: Path) -> bool:
    return (folder / MARKER).is_file() or (folder / "manifest.json").is_file()


class Claim:
    """The lock on a run folder, held from the start of a run to its end."""

    def __init__(self, folder: Path, force: bool = False) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        if not force and not _is_run(folder):
            names = sorted(p.name for p in folder.iterdir())
            if names:
                raise FolderNotARun(folder, names)
        flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        self._fd: int | None = os.open(folder / MARKER, flags, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._fd)
                self._fd = None
                raise FolderInUse(f"another run is writing {folder} (it holds {folder / MARKER})") from None
        if os.fstat(self._fd).st_size == 0:
            os.write(self._fd, _MARKER_TEXT)

    def clear_stale(self) -> None:
        """What an earlier run left that a new one does not overwrite file by file:
        its documents (they show the other run's figures) and packed inputs."""
        for name in ("documents", "inputs"):
            stale = self.folder / name
            if stale.is_symlink() or stale.is_file():
                stale.unlink()
            elif stale.is_dir():
                shutil.rmtree(stale)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
