"""The ledger's failures as diagnostics: `LedgerError` carries one, with its code.

Input: what went wrong. Output: a `ClearlineError` the CLI renders like any
other (code, message, hint), never a traceback.
"""

from __future__ import annotations

from clearline.diagnostics import ClearlineError, Diagnostic

__all__ = ["LedgerError", "first_line"]


class LedgerError(ClearlineError):
    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__([Diagnostic(code, message, None, hint)])
        self.code = code


def first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__
