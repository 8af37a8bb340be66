"""Known syntax mistakes: what contract writers get wrong, and what to say.

Each entry is a small example of the mistake; `syntax_errors` parses the
examples once, remembers the parser state and the unexpected token each
one fails on, and gives a real error in the same state the entry's message
and hint (with the writer's own names filled in).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KNOWN_MISTAKES", "Mistake"]


@dataclass(frozen=True, slots=True)
class Mistake:
    """A known mistake, recognised by the parser state where `examples` fail.

    `message` and `hint` may name `{token}` (what was found), `{lower}` (it
    in lower case), `{previous}` (what came before it), `{party}` and
    `{currency}` (from the contract). `at`: "token" points at what was
    found; "previous" at what came before it; "auto" at what came before it
    only when the line ended early (the caret then sits under the
    incomplete text, not under the next line).
    """

    message: str
    hint: str
    examples: tuple[str, ...]
    at: str = "auto"
    previous: str | None = None  # only when the text before the error is this
    exact: bool = False  # only for the kinds of text the examples fail on


_C = 'contract A { product p { clause "1" { '
KNOWN_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "a contract file starts with `contract`, its id and its title",
        'write e.g. `contract SP-2026 "StreamPlus Premium" {` on the first line',
        ("version 1", 'partner x "X"', "{", 'product p "P" { }'),
        at="token",
    ),
    Mistake(
        "the contract needs its id before its title",
        'write e.g. `contract SP-2026 "StreamPlus Premium" {`',
        ('contract "A" {', "contract {"),
        at="token",
        exact=True,
    ),
    Mistake(
        "`pay` needs the party it pays, before the amount",
        "name a declared party after `pay`, e.g. `pay {party} 55% of net`",
        (_C + "pay 55% of net } } }", _C + "pay 1.00 EUR } } }", _C + "pay ( 1.00 EUR ) } } }"),
        at="token",
    ),
    Mistake(
        "`pay` needs the party it pays, before the amount",
        "name a declared party after `pay`, e.g. `pay {party} the larger of ...`",
        (_C + "pay the larger of 1.00 EUR and 2.00 EUR } } }", _C + "pay the smaller of 1 and 2 } } }"),
        at="token",
        previous="the",
    ),
    Mistake(
        "a party's short name is written in lower case",
        "write e.g. `{lower}`; the full name goes in quotes after it",
        ('contract A { partner StreamCo "S" }', _C + "pay StreamCo 1.00 EUR } } }"),
        at="token",
        exact=True,
    ),
    Mistake(
        "a party needs its full name in quotes after its short name",
        'write e.g. `{previous} "Full Name Ltd"`',
        ("contract A { partner x currency EUR }", "contract A { operator x }"),
        exact=True,
    ),
    Mistake(
        "a percentage needs the base it is a share of",
        "write `{previous} of net` or `{previous} of gross`",
        (
            _C + "pay x 55% } } }",
            _C + "pay x 55% net } } }",
            _C + "pay x 1.00 EUR + 55% } } }",
            _C + "pay x the larger of 55% and 1.00 EUR } } }",
            _C + "pay x (55%) } } }",
        ),
        at="previous",
    ),
    Mistake(
        "VAT is written as a percentage",
        "write `vat {token}%`",
        (_C + "vat 23 } } }",),
        at="token",
        exact=True,
    ),
    Mistake(
        "a share of a base is written as a percentage",
        "write `{previous}% of ...`, e.g. `pay {party} {previous}% of net`",
        (
            _C + "pay x 30 of net } } }",
            _C + "pay x 1.00 EUR + 30 of net } } }",
            _C + "pay x the larger of 30 of net and 1.00 EUR } } }",
        ),
        at="previous",
        exact=True,
    ),
    Mistake(
        "an amount of money needs its currency",
        "write the currency code after the number, e.g. `{previous} {currency}`",
        (
            _C + "charge customer 39.00 per month } } }",
            _C + "pay x 0.05 per minute } } }",
            _C + "pay x the larger of 1.00 per month and 1 } } }",
            _C + "charge customer 1.00 EUR, connect fee 0.01 } } }",
            _C + "charge customer 1.00 EUR, at least 0.01 } } }",
            _C + "charge customer 1.00 EUR, capped at 100 per period } } }",
            'contract A { rate table t by value of f { "1" 0.01 per minute } }',
        ),
        at="previous",
    ),
    Mistake(
        "a clause needs its label in quotes, as in the paper contract",
        'write e.g. `clause "4.2 Revenue share" {`',
        ("contract A { product p { clause { } } }", "contract A { product p { clause x { } } }"),
        at="token",
    ),
    Mistake(
        "a rounding needs its mode: half up, half even, half down, down or up",
        "write e.g. `round each line half up to 0.01`",
        (_C + "round each line to 0.01 } } }", _C + "round to 0.01 } } }"),
        at="token",
    ),
    Mistake(
        "increments are two whole numbers of at least 1, like 60/60",
        "write e.g. `increments 60/60`: the first block, then each next block",
        (
            _C + "charge customer 1.00 EUR per minute, increments -1/60 } } }",
            'contract A { rate table t by value of f { "1" 0.01 EUR per minute, increments -1/1 } }',
        ),
        at="token",
    ),
    Mistake(
        "the time zone is written `time zone` and its name",
        "write `, time zone {token}`",
        ("contract A { settle monthly in PLN, Europe/Warsaw }",),
        at="token",
        exact=True,
    ),
    Mistake(
        "the effective interval is written with `until` between its two dates",
        "write e.g. `effective 2026-01-01 until 2027-01-01`; "
        "the second date is the first day no longer covered",
        (
            "contract A { effective 2026-01-01 to 2027-01-01 }",
            "contract A { effective 2026-01-01 - 2027-01-01 }",
            "contract A { effective 2026-01-01 2027-01-01 }",
            "contract A { effective 2026-01-01 }",
        ),
    ),
)
