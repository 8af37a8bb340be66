"""The ledger's failures as diagnostics: `LedgerError` carries one, with its code.

Input: what went wrong. Output: a `ClearlineError` the CLI renders like any
other (code, message, hint), never a traceback.
"""

from __future__ import annotations

from clearline.diagnostics import ClearlineError, Diagnostic

__all__ = ["LedgerError"]


class LedgerError(ClearlineError):
    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__([Diagnostic(code, message, None, hint)])
        self.code = code
