"""Syntax errors in the writer's words: a raw Lark error -> one Diagnostic.

A raw Lark error is turned into a message about what the writer meant,
never about the grammar: in order, a character no part of the language uses,
an unclosed `{`, a misspelled word (did-you-mean among the words valid at
that point), a table of known mistakes, a repair by one missing token (`}`,
`,`, `until`, ...), a keyword out of place, and last what would have been
valid there (`interactive_parser.accepts()`), in words.
"""

from __future__ import annotations

import copy
import functools
import re
import unicodedata

from lark import Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_interactive_parser import InteractiveParser

from clearline import codes
from clearline.diagnostics import Diagnostic, did_you_mean
from clearline.grammar.lalr import lalr
from clearline.grammar.mistakes import KNOWN_MISTAKES, Mistake
from clearline.source import SourceFile, Span

__all__ = ["code_chars", "position", "span_at", "syntax_diagnostic"]

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


# Text scanning, aware of quoted texts and comments ---------------------------------


def code_chars(text: str) -> list[tuple[int, str]]:
    """(offset, char) of every character outside texts and comments."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        out.append((i, ch))
        i += 1
    return out


def position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _indent(text: str, offset: int) -> int:
    start = text.rfind("\n", 0, offset) + 1
    line = text[start:]
    return len(line) - len(line.lstrip(" \t"))


def _block_name(text: str, offset: int) -> str:
    """What the `{` at `offset` opens, as the writer would name it: `clause "3.1 Retail price"`."""
    lines = text[:offset].split("\n")
    i = len(lines) - 1
    # A clause's prose may stand on its own line between the label and the `{`.
    while i > 0 and lines[i].lstrip().startswith('"'):
        i -= 1
    head = lines[i].strip()
    match = re.match(
        r"(contract|library|amendment of|product|clause|example|tiers|rate table|change table"
        r'|usage fields|usage|distribute|split)\b\s*("[^"]*"|[\w.\-]+)?',
        head,
    )
    if not match:
        return "the block"
    keyword, name = match.group(1), match.group(2)
    if keyword in {"usage fields", "usage", "distribute", "split"} or not name:
        return f"the `{keyword}` block"
    return f"{keyword} {name}"


def _open_braces(text: str, end: int) -> list[int]:
    """Offsets of the `{` still open at `end`, outermost first."""
    stack: list[int] = []
    for offset, ch in code_chars(text[:end]):
        if ch == "{":
            stack.append(offset)
        elif ch == "}" and stack:
            stack.pop()
    return stack


def _unclosed_brace(text: str) -> int | None:
    """The `{` most likely missing its `}` at the end of the file.

    Braces pair up innermost first, so one forgotten `}` leaves the outermost
    `{` open; the block really missing it is the first whose `}` sits at
    another indentation than the line that opened it.
    """
    stack: list[int] = []
    for offset, ch in code_chars(text):
        if ch == "{":
            stack.append(offset)
        elif ch == "}" and stack:
            opened = stack.pop()
            line_start = text.rfind("\n", 0, offset) + 1
            own_line = not text[line_start:offset].strip()
            if own_line and _indent(text, offset) != _indent(text, opened):
                return opened
    return stack[-1] if stack else None


def _previous_token(text: str, offset: int) -> Token | None:
    """The last token before `offset`, as the parser read it."""
    parser = lalr().parse_interactive(text)
    previous = None
    try:
        for token in parser.iter_parse():
            if (token.start_pos or 0) >= offset:
                break
            previous = token
    except UnexpectedInput:
        pass
    return previous


# Syntax diagnostics ------------------------------------------------------------------


def span_at(file: str, line: int, col: int, width: int = 1) -> Span:
    return Span(file, line, col, line, col + width)


def _token_span(file: str, token: Token) -> Span:
    line, col = token.line or 1, token.column or 1
    return Span(file, line, col, token.end_line or line, token.end_column or col + 1)


def _shown(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    text = token.value if len(token.value) <= 30 else token.value[:27] + "..."
    return f"`{text}`"


def _char_diagnostic(err: UnexpectedCharacters, source: SourceFile) -> Diagnostic:
    pos = err.pos_in_stream or 0
    text = source.text
    char = text[pos] if pos < len(text) else ""
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end < 0 else line_end
    if char == '"':
        width = max(1, len(text[pos:line_end].rstrip()))
        return Diagnostic(
            codes.UNTERMINATED_TEXT,
            "this text has no closing quote on its line",
            span_at(source.name, err.line, err.column, width),
            'end the text with `"` on the same line; write \\" for a quote inside a text',
        )
    hints = {
        ";": "remove it: a rule ends at the end of its line, without `;`",
        "“": 'use straight double quotes: "like this"',
        "”": 'use straight double quotes: "like this"',
        "'": 'texts are written in double quotes: "like this"',
        ":": "remove it: Clearline needs no `:` here",
    }
    if char.isprintable() and not char.isspace():
        shown = f"`{char}`"
    else:
        shown = f"an invisible character (U+{ord(char):04X} {unicodedata.name(char, 'UNKNOWN')})"
    if char == "." and pos > 0 and text[pos - 1].isdigit():
        return Diagnostic(
            codes.SYNTAX_ERROR,
            "a whole number is needed here, without decimals",
            span_at(source.name, err.line, err.column),
            "write e.g. `60`",
        )
    symbols = {"€": "EUR", "$": "USD", "£": "GBP"}
    if char in symbols:
        number = re.match(r"\s*(\d+(?:\.\d+)?)", text[pos + 1 :]) or re.search(
            r"(\d+(?:\.\d+)?)\s*$", text[:pos]
        )
        return Diagnostic(
            codes.UNEXPECTED_CHARACTER,
            f"`{char}` is not part of the contract language",
            span_at(source.name, err.line, err.column),
            f"write the currency code after the amount, e.g. `{number.group(1) if number else '39.00'} "
            f"{symbols[char]}`",
        )
    if char == "%":
        return Diagnostic(
            codes.UNEXPECTED_CHARACTER,
            "a percentage is written without a space before `%`",
            span_at(source.name, err.line, err.column),
            "write e.g. `55%`",
        )
    hint = hints.get(char)
    if hint is None and char.isalpha():
        hint = "names use only lower-case letters a-z, digits and _; other letters belong inside quotes"
    return Diagnostic(
        codes.UNEXPECTED_CHARACTER,
        f"{shown} is not part of the contract language",
        span_at(source.name, err.line, err.column),
        hint or "remove it, or put it inside a text in quotes",
    )


def _contract_facts(text: str) -> dict[str, str]:
    party = re.search(r"^\s*partner\s+([a-z_][a-z0-9_]*)", text, re.MULTILINE)
    currency = re.search(r"\bsettle\s+\w+\s+in\s+([A-Z]{3})\b", text)
    return {
        "party": party.group(1) if party else "streamco",
        "currency": currency.group(1) if currency else "EUR",
    }


def _fill(template: str, facts: dict[str, str]) -> str:
    # Not str.format: the templates quote contract text, braces included.
    for key, value in facts.items():
        template = template.replace("{" + key + "}", value)
    return template


class _TokenError:
    """Explains an unexpected token (or end of file); each step tries one explanation."""

    def __init__(self, err: UnexpectedToken, source: SourceFile) -> None:
        self.file, self.text = source.name, source.text
        self.token: Token = err.token
        self.position: int = err.state.position
        self.parser: InteractiveParser = err.interactive_parser
        self.accepts: set[str] = set(err.accepts or err.expected)
        self.at_end = self.token.type == "$END"
        self.offset = len(self.text) if self.at_end else (self.token.start_pos or 0)
        self.previous = _previous_token(self.text, self.offset)
        self.opened = _open_braces(self.text, self.offset)
        # Whether the text before could end there: a new statement or a `}` may follow.
        self.complete = "RBRACE" in self.accepts or any(
            w in _places() for n in self.accepts for w in _words_of(n)
        )
        self.new_line = self.previous is not None and (self.token.line or 0) > (self.previous.end_line or 0)

    def diagnostic(self) -> Diagnostic:
        steps = (
            self.unclosed,
            self.written_otherwise,
            self.misspelled,
            self.known,
            self.missing,
            self.misplaced,
        )
        for step in steps:
            found = step()
            if found is not None:
                return found
        return self.unexpected()

    # where to point --------------------------------------------------------------
    def here(self) -> Span:
        if self.at_end:
            lines = self.text.splitlines() or [""]
            return span_at(self.file, len(lines), len(lines[-1]) + 1)
        return _token_span(self.file, self.token)

    def there(self) -> Span:
        return _token_span(self.file, self.previous) if self.previous is not None else self.here()

    def auto(self) -> Span:
        # Something is missing at the end of a line: point at what came before.
        return self.there() if self.at_end or self.new_line else self.here()

    def expected(self) -> str:
        return f"expected {_expected(self.accepts)}"

    # explanations ----------------------------------------------------------------
    def unclosed(self) -> Diagnostic | None:
        """A `{` never closed before the file ends."""
        opened = _unclosed_brace(self.text) if self.at_end and "RBRACE" in self.accepts else None
        if opened is None:
            return None
        line, col = position(self.text, opened)
        block = _block_name(self.text, opened)
        return Diagnostic(
            codes.SYNTAX_ERROR,
            f"{block} is never closed: the file ends before its `}}`",
            span_at(self.file, line, col),
            f"add `}}` where {block} ends",
        )

    def written_otherwise(self) -> Diagnostic | None:
        """A number, date, percentage or amount written the way office documents write them."""
        text, offset = self.text, self.offset
        # 39,00 or 1,039.00: a decimal comma or thousands separators.
        for match in re.finditer(r"\d+(?:,\d+)+(?:\.\d+)?", text[max(0, offset - 40) : offset + 40]):
            start = max(0, offset - 40) + match.start()
            in_code = any(o == start for o, _ in code_chars(text[: start + 1]))
            covers = start <= offset <= start + len(match.group())
            if covers and in_code and text[start - 1 : start] not in "0123456789":
                number = match.group()
                groups = number.split(",")
                decimal = "." not in number and len(groups) == 2 and (len(groups[1]) != 3 or groups[0] == "0")
                fixed = number.replace(",", ".") if decimal else number.replace(",", "")
                line, col = position(text, start)
                return Diagnostic(
                    codes.SYNTAX_ERROR,
                    "numbers are written with a decimal point and no thousands separators",
                    span_at(self.file, line, col, len(number)),
                    f"write `{fixed}`",
                )
        # 01.01.2026: a date written day first.
        date = re.match(r"(\d{1,2})([./])(\d{1,2})\2(\d{4})", text[offset:])
        if date and "DATE" in self.accepts:
            day, _, month, year = date.groups()
            line, col = position(text, offset)
            return Diagnostic(
                codes.SYNTAX_ERROR,
                "dates are written year first, as year-month-day",
                span_at(self.file, line, col, len(date.group())),
                f"write `{year}-{int(month):02}-{int(day):02}`"
                if date.group(2) == "."
                else "write it as year-month-day, e.g. `2026-01-31`",
            )
        # 55 percent: a percentage in words.
        if self.token.value.lower() in {"percent", "per cent", "pct"} and self.previous is not None:
            return Diagnostic(
                codes.SYNTAX_ERROR,
                "a percentage is written with `%`",
                self.here(),
                f"write `{self.previous.value}%`",
            )
        # PLN 39.00: the currency before the amount.
        after = re.match(r"[A-Z]{3}\s+(\d+(?:\.\d+)?)", text[offset:])
        if after and "NUMBER" in self.accepts and self.token.value == text[offset : offset + 3]:
            return Diagnostic(
                codes.SYNTAX_ERROR,
                "the currency code comes after the amount",
                self.here(),
                f"write `{after.group(1)} {self.token.value}`",
            )
        return None

    def misspelled(self) -> Diagnostic | None:
        """A word that is not the language's, close to one that fits here."""
        word = self.token.value
        if self.at_end or not re.fullmatch(r"[A-Za-z][A-Za-z'\-]*", word) or word in _keywords():
            return None
        for name, what in (("CURRENCY", "currency"), ("COUNTRY", "country")):
            upper = word.upper()
            if name in self.accepts and word != upper and _fits(Token(name, upper), {name}):
                return Diagnostic(
                    codes.SYNTAX_ERROR,
                    f"{what} codes are written in capital letters",
                    self.here(),
                    f"write `{upper}`",
                )
        candidates = [w for name in self.accepts for w in _words_of(name)]
        # Two-word keywords (`half up`) are tried against this word and the next.
        rest = re.match(r"[ \t]+([A-Za-z]+)", self.text[self.token.end_pos or self.offset :])
        phrase = f"{word} {rest.group(1)}" if rest else word
        suggestion = did_you_mean(word, candidates) or did_you_mean(
            phrase, [c for c in candidates if " " in c]
        )
        if suggestion is None:
            return None
        return Diagnostic(codes.SYNTAX_ERROR, f"unknown word {_shown(self.token)}", self.here(), suggestion)

    def known(self) -> Diagnostic | None:
        """A mistake from the table of known mistakes."""
        table = _known_mistakes()
        mistake = table.get((self.position, self.token.type)) or table.get((self.position, ""))
        previous = self.previous.value if self.previous is not None else ""
        if mistake is None or (mistake.previous is not None and previous != mistake.previous):
            return None
        facts = {
            **_contract_facts(self.text),
            "token": self.token.value,
            "previous": previous,
            "lower": re.sub(r"[^a-z0-9_]", "_", self.token.value.lower()),
        }
        return Diagnostic(
            codes.SYNTAX_ERROR,
            _fill(mistake.message, facts),
            {"token": self.here, "auto": self.auto}.get(mistake.at, self.there)(),
            _fill(mistake.hint, facts),
        )

    def missing(self) -> Diagnostic | None:
        """One missing token: a `}`, a `,`, a keyword or a value."""
        missing = None if self.at_end else _repair(self.parser, self.token, self.accepts)
        if missing is None:
            return None
        if missing == "RBRACE":
            line_start = self.text.rfind("\n", 0, self.offset) + 1
            # A `}` is missing before a statement that starts its own line, no deeper than the block.
            if (
                not self.opened
                or self.text[line_start : self.offset].strip()
                or _indent(self.text, self.offset) > _indent(self.text, self.opened[-1])
            ):
                return None
            block = _block_name(self.text, self.opened[-1])
            line = position(self.text, self.opened[-1])[0]
            return Diagnostic(
                codes.SYNTAX_ERROR,
                f"{block} (line {line}) is not closed before {_shown(self.token)}",
                self.here(),
                f"add `}}` to close {block} before this line",
            )
        what = _describe(missing)
        if self.previous is None or (self.new_line and self.complete):
            hint = f"start the line with {what}" if self.new_line else None
            return Diagnostic(
                codes.SYNTAX_ERROR, f"expected {what} before {_shown(self.token)}", self.here(), hint
            )
        if self.new_line:
            # The caret stands where the unfinished line stops, where the missing word goes.
            end, col = self.previous.end_line or 1, self.previous.end_column or 1
            return Diagnostic(
                codes.SYNTAX_ERROR,
                f"expected {what} after {_shown(self.previous)} at the end of line {end}",
                span_at(self.file, end, col),
                f"add {what} at the end of line {end}",
            )
        hint = f"insert {what} between {_shown(self.previous)} and {_shown(self.token)}"
        return Diagnostic(
            codes.SYNTAX_ERROR, f"expected {what} after {_shown(self.previous)}", self.here(), hint
        )

    def misplaced(self) -> Diagnostic | None:
        """A `}` with nothing to close, or a statement out of place."""
        if self.token.type == "RBRACE" and not self.opened:
            return Diagnostic(
                codes.SYNTAX_ERROR,
                "this `}` closes nothing",
                self.here(),
                "remove it, or add the `{` it closes",
            )
        word = self.token.value
        if word in _places() and self.new_line:
            return Diagnostic(
                codes.SYNTAX_ERROR,
                f"{_shown(self.token)} cannot stand here: it belongs {_places()[word][0]}",
                self.here(),
                # a file holds one contract, library or amendment: another opens its own file
                "an amendment is its own file: move it to a new `.contract` file"
                if word == "amendment"
                else f"move this line {_places()[word][1]}",
            )
        return None

    def unexpected(self) -> Diagnostic:
        """What would have been valid here."""
        previous = self.previous
        if self.at_end:
            after = f" after {_shown(previous)}" if previous is not None else ""
            return Diagnostic(
                codes.SYNTAX_ERROR, f"the file ends too early{after}", self.auto(), self.expected()
            )
        if previous is not None and self.new_line and not self.complete:
            # point where the unfinished line stops, not at the next line's first word
            line, col = previous.end_line or 1, previous.end_column or 1
            return Diagnostic(
                codes.SYNTAX_ERROR,
                f"line {line} ends too early, after {_shown(previous)}",
                span_at(self.file, line, col),
                self.expected(),
            )
        return Diagnostic(
            codes.SYNTAX_ERROR, f"unexpected {_shown(self.token)} here", self.here(), self.expected()
        )


def syntax_diagnostic(err: UnexpectedInput, source: SourceFile) -> Diagnostic:
    if isinstance(err, UnexpectedCharacters):
        return _char_diagnostic(err, source)
    if isinstance(err, UnexpectedToken):
        return _TokenError(err, source).diagnostic()
    # An unexpected end the parser did not attach to a token (not raised by LALR).
    lines = source.text.splitlines() or [""]
    return Diagnostic(
        codes.SYNTAX_ERROR,
        "the file ends too early",
        span_at(source.name, len(lines), len(lines[-1]) + 1),
        None,
    )
