"""The `clearline` command line (typer + rich): a thin layer over the facade.

Exit codes: 0 clean; 1 errors in contracts, inputs or options (nothing
settled); 2 wrong usage of the command; 3 the run completed but rejected or
left unmatched some records; 4 the conservation check failed (a bug: please
report it); 70 an internal error (also a bug).
"""

from __future__ import annotations

import os
import sys

from clearline.cli.base import (
    EXIT_CONSERVATION,
    EXIT_ERRORS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTS,
    app,
)

# The commands register themselves on `app` when imported, in the order `--help` lists them.
# isort: off
from clearline.cli import check as _check  # noqa: F401  (validate, test, verify, compile)
from clearline.cli import simulate as _simulate  # noqa: F401  (simulate)
from clearline.cli import explain as _explain  # noqa: F401  (explain, report)
from clearline.cli import authoring as _authoring  # noqa: F401  (fmt, diff, lsp)
from clearline.cli import ledger as _ledger  # noqa: F401  (close, ledger ...)
from clearline.cli import new as _new  # noqa: F401  (new)
from clearline.cli import serve as _serve  # noqa: F401  (serve)
# isort: on

__all__ = [
    "EXIT_CONSERVATION",
    "EXIT_ERRORS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTS",
    "app",
    "main",
]


def main() -> None:
    """Entry point: no Python traceback reaches a user."""
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # a bug: say so plainly, keep the details for the report
        if os.environ.get("CLEARLINE_DEBUG"):
            raise
        print(
            f"internal error: {type(error).__name__}: {error}\n"
            "This is a bug in Clearline. Rerun with CLEARLINE_DEBUG=1 for details and report it.",
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
