"""Legal document numbers (a shared module): a format per issuer and series -> the
number of the n-th document.

Input: a format such as `FV/{year}/{month}/{seq:05}` and a period label.
Output: the text of a number. A format holds literal text and the fields
`{year}`, `{month}`, `{period}`, `{issuer}` and `{seq}` (the document's place
in its series, 1, 2, ...; `{seq:05}` pads it with zeros to 5 digits). It must
hold `{seq}` exactly once, so two documents of one series never share a
number. A series counts on without a restart: the numbers of one issuer and
series are 1, 2, 3, ... over the ledger's whole life, never reused, never
skipped (`store.Ledger.close` assigns them inside the close's transaction).

>>> render("FV/{year}/{month}/{seq:05}", "2026-03", "telcopl", 12)
'FV/2026/03/00012'
>>> render("{issuer}-SB-{period}-{seq}", "2026-Q1", "telcopl", 7)
'telcopl-SB-2026-Q1-7'
>>> problem("INV/{year}")
'the format has no {seq}: two documents of the series would share a number'
>>> problem("INV/{yaer}/{seq}")
'unknown field {yaer}; the fields are {year}, {month}, {period}, {issuer}, {seq}'
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_FORMATS", "SERIES", "problem", "render"]

# the series, in the order a close numbers them
SERIES = ("invoice", "credit-note", "self-billing")

# the documented defaults, when a contract declares no format for its operator
DEFAULT_FORMATS = {
    "invoice": "INV/{year}/{month}/{seq:05}",
    "credit-note": "CN/{year}/{month}/{seq:05}",
    "self-billing": "SB/{year}/{month}/{seq:05}",
}

_FIELD = re.compile(r"\{([a-z]*)(?::(0[1-9]|0?1[0-2]))?\}")
_FIELDS = ("year", "month", "period", "issuer", "seq")


def problem(fmt: str) -> str | None:
    """What is wrong with a number format, or None."""
    names = [m[1] for m in _FIELD.finditer(fmt)]
    for name in names:
        if name not in _FIELDS:
            known = ", ".join(f"{{{f}}}" for f in _FIELDS)
            return f"unknown field {{{name}}}; the fields are {known}"
    rest = _FIELD.sub("", fmt)
    if "{" in rest or "}" in rest:
        return "a brace that does not start or end a field: write fields as {seq} or {seq:05}"
    if names.count("seq") != 1:
        if not names.count("seq"):
            return "the format has no {seq}: two documents of the series would share a number"
        return "the format has {seq} more than once"
    return None


def render(fmt: str, period: str, issuer: str, seq: int) -> str:
    """The number of document `seq` of a series numbered by `fmt`."""
    match = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2}|Q[1-4]|W[0-9]{2}))?.*", period)
    year = match[1] if match else ""
    month = match[2] if match and match[2] and match[2].isdigit() else ""

    def field(m: re.Match[str]) -> str:
        name, width = m[1], m[2]
        value = {"year": year, "month": month, "period": period, "issuer": issuer, "seq": str(seq)}[name]
        return value.zfill(int(width)) if width else value

    return _FIELD.sub(field, fmt)
