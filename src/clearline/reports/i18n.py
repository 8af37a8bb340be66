"""Languages of the documents: the message catalogs and locale formatting.

Input: a party's language code (``pl``, ``de-DE``, ``en``, ``sv``...).
Output: a `Language` that holds the gettext translations loaded from
``locale/<lang>.po`` (read with Babel's ``read_po`` at run time, so no
compiled catalog is committed) and a `Formatter` that turns decimals, dates
and quantities into text for the locale with Babel's CLDR data.

Money never leaves `decimal.Decimal`: a formatted amount shows at least the
currency's ISO 4217 minor units (`money.MINOR_UNITS`: JPY none, BHD three)
and every further digit the amount carries, so presentation never rounds.
"""

from __future__ import annotations

import copy
import datetime as dt
import gettext
import io
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Literal

from babel import Locale
from babel.dates import format_date, format_interval
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberPattern, get_currency_symbol
from babel.units import format_compound_unit, format_unit

from clearline.compiler import units
from clearline.money import MINOR_UNITS

__all__ = [
    "DEFAULT_LANGUAGE",
    "N_",
    "SUPPORTED_LANGUAGES",
    "Formatter",
    "Language",
    "catalog_path",
    "language_for",
    "load_translations",
]

# One catalog per language in locale/; adding a language is adding a file.
SUPPORTED_LANGUAGES = ("en", "pl", "de")
DEFAULT_LANGUAGE = "en"

# CLDR measurement units for the units a line file names; `long` where the
# word reads better than the abbreviation ("31 dni", not "31 d").
_CLDR_UNITS: dict[str, tuple[str, Literal["short", "long"]]] = {
    "second": ("duration-second", "short"),
    "minute": ("duration-minute", "short"),
    "hour": ("duration-hour", "short"),
    "day": ("duration-day", "long"),
    "month": ("duration-month", "long"),
    "KB": ("digital-kilobyte", "short"),
    "MB": ("digital-megabyte", "short"),
    "GB": ("digital-gigabyte", "short"),
}


def N_(message: str) -> str:
    """Mark a label for extraction; it is translated where it is shown."""
    return message


def catalog_path(language: str) -> resources.abc.Traversable:
    return resources.files("clearline.reports") / "locale" / f"{language}.po"


def load_translations(language: str) -> gettext.GNUTranslations:
    """The catalog of `language`, read from its .po file with Babel.

    Fuzzy and untranslated entries count as missing (gettext then shows the
    English message id); tests/test_reports.py checks none are.
    """
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def language_for(code: str | None) -> tuple[str, bool]:
    """(supported language, whether it fell back to English) for a party's code.

    >>> language_for("de-AT"), language_for("sv"), language_for(None)
    (('de', False), ('en', True), ('en', True))
    """
    primary = re.split(r"[-_]", (code or "").strip(), maxsplit=1)[0].lower()
    if primary in SUPPORTED_LANGUAGES:
        return primary, False
    return DEFAULT_LANGUAGE, True


@dataclass(frozen=True, slots=True)
class Language:
    """A document's language: its code, catalog and formatter."""

    code: str
    translations: gettext.GNUTranslations
    fmt: Formatter

    @classmethod
    def load(cls, code: str) -> Language:
        translations = load_translations(code)
        return cls(code, translations, Formatter(Locale.parse(code), translations))

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)


class Formatter:
    """Locale formatting for templates: money, numbers, percentages, dates."""

    def __init__(self, locale: Locale, translations: gettext.GNUTranslations) -> None:
        self.locale = locale
        self._t = translations

    def money(self, amount: Decimal | int | None, currency: str) -> str:
        """`1 234,56 zł` (pl), `€1,234.56` (en), `1.234,56 €` (de); never rounds."""
        if amount is None:
            return ""
        amount = Decimal(amount)
        digits = max(MINOR_UNITS.get(currency, 2), _decimals(amount))
        # The pattern's own fraction digits are the locale's default; the
        # currency's minor units (our ISO 4217 table) and the amount's own
        # digits decide instead, so 0.0150 EUR stays 0.0150 and nothing rounds.
        pattern = _with_digits(self.locale.currency_formats["standard"], digits)
        text = str(pattern.apply(amount, self.locale, currency=currency, currency_digits=False))
        # CLDR's currency spacing, which Babel leaves out: a symbol that ends
        # (or starts) with a letter is kept apart from the digits: PLN 1.00.
        symbol = get_currency_symbol(currency, self.locale)
        if symbol and not unicodedata.category(symbol[-1]).startswith("S"):
            text = re.sub(re.escape(symbol) + r"(?=\d)", symbol + "\xa0", text)
        if symbol and not unicodedata.category(symbol[0]).startswith("S"):
            text = re.sub(r"(?<=\d)" + re.escape(symbol), "\xa0" + symbol, text)
        return text

    def number(self, value: Decimal | int | None) -> str:
        if value is None:
            return ""
        pattern = self.locale.decimal_formats[None]
        return str(_with_digits(pattern, _decimals(Decimal(value))).apply(value, self.locale))

    def percent(self, fraction: Decimal | None) -> str:
        """0.23 -> `23%` (en, pl), `23 %` (de); keeps every digit (0.055 -> 5.5%)."""
        if fraction is None:
            return ""
        digits = _decimals((fraction * 100).normalize())
        return str(_with_digits(self.locale.percent_formats[None], digits).apply(fraction, self.locale))

    def country(self, code: str) -> str:
        """`PL` -> `Polska` (pl), `Poland` (en), `Polen` (de); an unknown code as written."""
        return str(self.locale.territories.get(code.upper(), code))

    def date(self, value: dt.date | str | None, length: Literal["short", "medium", "long"] = "long") -> str:
        if not value:
            return ""
        day = dt.date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(day, length, locale=self.locale)

    def interval(self, first: dt.date, last: dt.date) -> str:
        """Both days included: `1–31 marca 2026`, `March 1 – 31, 2026`."""
        if first == last:
            return self.date(first)
        return format_interval(first, last, "yMMMMd", locale=self.locale)

    def quantity(self, value: Decimal | None, unit: str) -> str:
        """`96 sec`, `31 dni`, `5 subscribers`: CLDR units, else the catalog."""
        if value is None:
            return ""
        found = _CLDR_UNITS.get(_canonical(unit))
        if found is not None:
            return format_unit(value, found[0], length=found[1], locale=self.locale)
        count = int(value) if value == value.to_integral_value() else 2
        number = self.number(value)
        if _canonical(unit) == "event":
            return self._t.ngettext("%(num)s event", "%(num)s events", count) % {"num": number}
        if unit in {"subscriber", "subscribers"}:
            return self._t.ngettext("%(num)s subscriber", "%(num)s subscribers", count) % {"num": number}
        if unit in {"record", "records"}:
            return self._t.ngettext("%(num)s record", "%(num)s records", count) % {"num": number}
        return f"{number} {unit}".strip()

    def unit_price(
        self,
        price: Decimal | None,
        currency: str,
        per: str | None,
        length: Literal["short", "long"] = "long",
    ) -> str:
        """`39,00 zł na miesiąc`, `€0.0150 per minute` (`€0.0040/MB` short); the bare price without a unit."""
        if price is None:
            return ""
        text = self.money(price, currency)
        if per and per.startswith("block:"):  # a package price: `0,50 zł za pakiet 100 MB`
            _, size, unit = per.split(":", 2)
            block = self.quantity(Decimal(size), unit)
            return self._t.gettext("%(price)s per block of %(size)s") % {"price": text, "size": block}
        found = _CLDR_UNITS.get(_canonical(per or ""))
        if found is None and per and not units.builtin(per):
            return f"{text}/{per}"  # a unit of the contract's own, by its name: `12.50 zł/seat`
        if found is None:
            return text
        return (
            format_compound_unit(text, denominator_unit=found[0], length=length, locale=self.locale) or text
        )


def _with_digits(pattern: NumberPattern, digits: int) -> NumberPattern:
    copied = copy.copy(pattern)
    copied.frac_prec = (digits, digits)
    return copied


def _canonical(unit: str) -> str:
    try:
        return units.canonical(unit)
    except KeyError:
        return unit


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
