"""What the parser would have accepted, in the writer's words: each terminal and
keyword described, the levels of a contract a statement belongs to, and repairs by
one missing token. Used by `syntax_errors` to say what was expected.
"""

from __future__ import annotations

import copy
import functools
import re

from lark import Token, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_interactive_parser import InteractiveParser

from clearline.grammar.lalr import lalr
from clearline.grammar.mistakes import KNOWN_MISTAKES, Mistake

# What each value terminal means, in the words a contract writer uses.
_TERMINAL_WORDS: dict[str, str] = {
    "CONTRACT_ID": "a contract id like SP-2026",
    "NAME": "a lower-case name like streamco",
    "CURRENCY": "a currency code like EUR",
    "COUNTRY": "a country code like PL",
    "LANG": "a language code like en",
    "TZ": "a time zone like Europe/Warsaw",
    "DATE": "a date like 2026-01-01",
    "PERCENT": "a percentage like 55%",
    "NUMBER": "a number like 39.00",
    "INT": "a whole number",
    "STRING": "a text in double quotes",
    "PERIOD_KIND": "daily, weekly, monthly or quarterly",
    "PERIOD_LABEL": "a period like 2026-03",
    "ROLE": "operator or partner",
    "FIELD_TYPE": "text, decimal, integer, date or timestamp",
    "ROUND_MODE": "half up, half even, half down, down or up",
    "TIER_MODE": "graduated or volume",
    "VAT_MODE": "included or reverse charge",
    "LINE_KIND": "invoice, payout or retained",
    "AGGREGATE": "maximum, minimum, sum or average",
    "BASE": "net or gross",
    "UNIT": "a unit like minute, second, month or MB",
    "COMPARE": "a comparison like = or >",
    "$END": "the end of the file",
}

# A stand-in value for each value terminal, to try a repair by one token.
_SAMPLES: dict[str, str] = {
    "CONTRACT_ID": "SP-2026",
    "NAME": "streamco",
    "CURRENCY": "EUR",
    "COUNTRY": "PL",
    "LANG": "en",
    "TZ": "Europe/Warsaw",
    "DATE": "2026-01-01",
    "PERCENT": "1%",
    "NUMBER": "1",
    "INT": "1",
    "STRING": '"x"',
}

# Arithmetic can follow any amount; listing it after every amount is noise.
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "TIMES"}

# The levels of a contract, by the text that opens them: a keyword that starts
# a statement at one of them "belongs" there (derived from the grammar, so new
# statements are known without a list to keep up to date).
_LEVELS = (
    ("", "at the start of the file", "to the start of the file"),
    ("contract A {", "in the contract, outside any product", "out of the product, into the contract"),
    (
        "contract A { product p {",
        "in a product, outside its clauses",
        "into the product, outside its clauses",
    ),
    ('contract A { product p { clause "1" {', "inside a clause", "into a clause"),
)


@functools.cache
def _known_mistakes() -> dict[tuple[int, str], Mistake]:
    """Known mistakes by (parser state, type of the unexpected token).

    Lark's own `match_examples` compares whole parser states, stack depth
    included, so an example only matches a contract with the same optional
    titles before the error; the state alone is what tells the mistake.
    """
    table: dict[tuple[int, str], Mistake] = {}
    for mistake in KNOWN_MISTAKES:
        for example in mistake.examples:
            try:
                lalr().parse(example)
            except UnexpectedToken as err:
                table.setdefault((err.state.position, err.token.type), mistake)
                if not mistake.exact:
                    table.setdefault((err.state.position, ""), mistake)
            except UnexpectedInput:  # pragma: no cover - every example fails on a token
                pass
    return table


@functools.cache
def _places() -> dict[str, tuple[str, str]]:
    """Keyword that starts a statement -> where it belongs, and where to move it."""
    places: dict[str, tuple[str, str]] = {}
    for opening, *place in _LEVELS:
        parser = lalr().parse_interactive(opening)
        parser.exhaust_lexer()
        for name in parser.accepts():  # type: ignore[no-untyped-call]  # lark lacks annotations here
            for word in _words_of(name):
                places.setdefault(word, (place[0], place[1]))
    return places


@functools.cache
def _terminals() -> dict[str, tuple[str, str]]:
    """Terminal name -> (pattern kind, pattern text)."""
    return {t.name: (t.pattern.type, t.pattern.value) for t in lalr().terminals}


@functools.cache
def _keywords() -> frozenset[str]:
    """Every word the language uses, keywords and word values alike."""
    return frozenset(w for name in _terminals() for w in _words_of(name))


def _words_of(name: str) -> list[str]:
    """The words a terminal stands for: `pay` for a keyword, `net`, `gross` for BASE."""
    kind, value = _terminals().get(name, ("", ""))
    if kind == "str":
        return [value] if re.fullmatch(r"[a-z][a-z']*", value) else []
    match = re.match(r"\(([a-z |\-?]+)\)\(\?!", value)
    if not match:
        return []
    words: list[str] = []
    for alt in match.group(1).split("|"):
        words += [alt[:-2], alt[:-1]] if alt.endswith("s?") else [alt]
    return words


def _describe(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    kind, value = _terminals().get(name, ("", name.lower()))
    return f"`{value}`" if kind == "str" else value


def _one_of(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


# The statements writers use most, to list first.
_COMMON = ["charge", "pay", "vat", "round", "clause", "matches", "product", "partner", "operator", "usage"]


def _expected(accepts: set[str]) -> str:
    """What would have been valid, in words: values and keywords, then new lines, `}` last."""
    names = accepts - _OPERATORS if accepts - _OPERATORS else set(accepts)
    starters: list[str] = []
    values: list[str] = []
    keywords: list[str] = []
    for name in sorted(names - {"RBRACE"}):
        words = _words_of(name)
        if words and all(w in _places() for w in words):
            starters += words
        elif name in _TERMINAL_WORDS and (name == "UNIT" or not words):
            values.append(_TERMINAL_WORDS[name])
        else:
            keywords += [f"`{w}`" for w in words] or [_describe(name)]
    starters.sort(key=lambda w: (_COMMON.index(w) if w in _COMMON else len(_COMMON), w))
    shown = values + sorted(keywords)
    if len(shown) > 6:
        shown = [*shown[:5], "..."]
    if len(starters) == 1:
        shown.append(f"`{starters[0]}`")
    elif starters:
        lead = [f"`{w}`" for w in starters[:4]] + (["..."] if len(starters) > 4 else [])
        shown.append(f"a new line starting with {', '.join(lead)}")
    if "RBRACE" in names:
        shown.append("`}` to close the block")
    return _one_of(shown)


def _fits(token: Token, accepts: set[str]) -> bool:
    """Whether the text of `token` would be read as one of the accepted terminals.

    A keyword of the language fits only as itself: `vat` could be a field's
    name, but a writer who wrote `vat` meant the rule.
    """
    if token.type == "$END":
        return "$END" in accepts
    keyword = token.value in _keywords()
    for name in accepts:
        kind, value = _terminals().get(name, ("", ""))
        if kind == "str" and token.value == value:
            return True
        if kind == "re" and re.fullmatch(value, token.value) and (not keyword or _words_of(name)):
            return True
    return False


def _repair(parser: InteractiveParser, token: Token, accepts: set[str]) -> str | None:
    """The terminal that, inserted before `token`, lets the parse go on; None if none does.

    `}` and `,` first, then keywords, then values. A keyword that starts a
    statement is a repair only when it is the one that works: otherwise the
    text reads as a new rule, not as a missing word.
    """

    def works(name: str) -> bool:
        trial = parser.copy(deepcopy_values=False)  # type: ignore[no-untyped-call]  # lark lacks annotations here
        conf = copy.copy(trial.parser_state.parse_conf)
        conf.callbacks = {}  # build no trees while trying
        trial.parser_state.parse_conf = conf
        kind, value = _terminals().get(name, ("", ""))
        try:
            trial.feed_token(Token(name, value if kind == "str" else _SAMPLES.get(name, "x")))
            return _fits(token, trial.accepts())
        except UnexpectedInput:
            return False

    keywords = sorted(n for n in accepts if _terminals().get(n, ("", ""))[0] == "str")
    starters = [n for n in keywords if _describe(n).strip("`") in _places()]
    order = ["RBRACE", "COMMA"] + [n for n in keywords if n not in starters]
    order += sorted(n for n in accepts if n in _SAMPLES)
    found = next((n for n in order if n in accepts and works(n)), None)
    if found is None:
        fitting = [n for n in starters if works(n)]
        found = fitting[0] if len(fitting) == 1 else None
    return found
