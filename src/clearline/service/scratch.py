"""The service's scratch folder: where it writes the run folders of its previews.

A server that is stopped removes its folder; one killed (kill -9, a crash, the
machine's power) cannot, so each folder is named by its server's process id and the
next server to start removes the folders of servers no longer running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["PREFIX", "scratch_folder"]

PREFIX = "clearline-serve-"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def _sweep(root: Path) -> None:
    """Remove the scratch folders of servers that are not running any more."""
    for folder in root.glob(f"{PREFIX}*"):
        pid = folder.name.removeprefix(PREFIX).partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def scratch_folder() -> Path:
    """A new scratch folder for this server (`clearline-serve-PID-XXXX` in the temp
    folder), after removing those that servers killed earlier left behind."""
    root = Path(tempfile.gettempdir())
    _sweep(root)
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root))
