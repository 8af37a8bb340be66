"""Syntax errors in the writer's words: a raw Lark error -> one Diagnostic.

A raw Lark error is turned into a message about what the writer meant,
never about the grammar: in order, a character no part of the language uses,
an unclosed `{`, a misspelled word (did-you-mean among the words valid at
that point), a table of known mistakes, a repair by one missing token (`}`,
`,`, `until`, ...), a keyword out of place, and last what would have been
valid there (`interactive_parser.accepts()`), in words.
"""

from __future__ import annotations

import re
import unicodedata

from lark import Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_interactive_parser import InteractiveParser

from clearline import codes
from clearline.diagnostics import Diagnostic, did_you_mean
from clearline.grammar.expected import (
    _describe,
    _expected,
    _fits,
    _keywords,
    _known_mistakes,
    _places,
    _repair,
    _words_of,
)
from clearline.grammar.text_scan import (
    _block_name,
    _indent,
    _open_braces,
    _previous_token,
    _unclosed_brace,
    code_chars,
    position,
)
from clearline.source import SourceFile, Span

__all__ = ["span_at", "syntax_diagnostic"]

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
