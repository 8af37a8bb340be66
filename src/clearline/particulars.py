"""A party's legal particulars: what an invoice must show of its seller and buyer.

Shared by the checker (a contract's `details of PARTY { ... }`), the customers
file reader and the documents. Input: the texts as written. Output: the reason
a text is not valid, or None; nothing here raises for bad input.

What Council Directive 2006/112/EC art. 226 asks of an invoice, as far as a
party is concerned: the full name and address of the supplier and of the
customer (points 5), the supplier's VAT identification number (point 3) and
the customer's where the customer is liable for the tax, i.e. under the
reverse charge (point 4). `REQUIRED` lists them per role; an IBAN is what
the payee needs so that it is paid.

VAT id formats (`VAT_FORMATS`): the structure each EU member state gives its
numbers, after the two-letter prefix (Greece's is EL, not GR), as the
European Commission's VIES documents them. Only the structure is checked
(and nothing is looked up): a valid-looking number may still be unassigned.

>>> iban_problem("PL61 1090 1014 0000 0712 1981 2874")
>>> iban_problem("PL61 1090 1014 0000 0712 1981 2875")
'the check digits do not match (mod 97 is 28, not 1)'
>>> vat_id_problem("PL5260250274"), vat_id_problem("DE12345678")
(None, 'not the form DE VAT ids take (DE and 9 digits)')
>>> country_problem("PL"), country_problem("XX")
(None, 'XX is not an ISO 3166 country code')
"""

from __future__ import annotations

import re

__all__ = [
    "COUNTRIES",
    "REQUIRED",
    "VAT_FORMATS",
    "bic_problem",
    "country_problem",
    "iban_problem",
    "normal_iban",
    "normal_vat_id",
    "vat_country",
    "vat_id_problem",
]

# prefix -> (the pattern after the prefix, how a person reads it)
VAT_FORMATS: dict[str, tuple[str, str]] = {
    "AT": (r"U[0-9]{8}", "U and 8 digits"),
    "BE": (r"[01][0-9]{9}", "10 digits, the first 0 or 1"),
    "BG": (r"[0-9]{9,10}", "9 or 10 digits"),
    "CY": (r"[0-9]{8}[A-Z]", "8 digits and a letter"),
    "CZ": (r"[0-9]{8,10}", "8 to 10 digits"),
    "DE": (r"[0-9]{9}", "9 digits"),
    "DK": (r"[0-9]{8}", "8 digits"),
    "EE": (r"[0-9]{9}", "9 digits"),
    "EL": (r"[0-9]{9}", "9 digits"),
    "ES": (r"[0-9A-Z][0-9]{7}[0-9A-Z]", "9 characters, digits between a letter or digit at each end"),
    "FI": (r"[0-9]{8}", "8 digits"),
    "FR": (r"[0-9A-HJ-NP-Z]{2}[0-9]{9}", "2 characters and 9 digits"),
    "HR": (r"[0-9]{11}", "11 digits"),
    "HU": (r"[0-9]{8}", "8 digits"),
    "IE": (r"[0-9][0-9A-Z+*][0-9]{5}[A-W][A-I]?", "7 digits and 1 or 2 letters"),
    "IT": (r"[0-9]{11}", "11 digits"),
    "LT": (r"[0-9]{9}|[0-9]{12}", "9 or 12 digits"),
    "LU": (r"[0-9]{8}", "8 digits"),
    "LV": (r"[0-9]{11}", "11 digits"),
    "MT": (r"[0-9]{8}", "8 digits"),
    "NL": (r"[0-9]{9}B[0-9]{2}", "9 digits, B and 2 digits"),
    "PL": (r"[0-9]{10}", "10 digits"),
    "PT": (r"[0-9]{9}", "9 digits"),
    "RO": (r"[0-9]{2,10}", "2 to 10 digits"),
    "SE": (r"[0-9]{10}01", "12 digits ending in 01"),
    "SI": (r"[0-9]{8}", "8 digits"),
    "SK": (r"[0-9]{10}", "10 digits"),
    "XI": (r"[0-9]{9}|[0-9]{12}|GD[0-9]{3}|HA[0-9]{3}", "9 or 12 digits (Northern Ireland)"),
}

# What each role's documents must show of it (art. 226 points 3, 4 and 5; the
# payee's bank account so that it can be paid). Field names as in `details`.
REQUIRED: dict[str, tuple[str, ...]] = {
    # the operator issues invoices and self-billing statements: the seller on the
    # first, the customer who issues on the supplier's behalf on the second
    "operator": ("legal name", "address", "city", "country", "vat id"),
    # a partner is the supplier on its self-billing statement, and is paid
    "partner": ("legal name", "address", "city", "country", "vat id", "iban"),
}


def normal_iban(text: str) -> str:
    """An IBAN without its spaces, in upper case (`PL61 1090 ...` -> `PL611090...`)."""
    return re.sub(r"\s+", "", text).upper()


def normal_vat_id(text: str) -> str:
    """A VAT id without spaces, dots or dashes, in upper case (`pl 526-025-02-74` -> `PL5260250274`)."""
    return re.sub(r"[\s.-]+", "", text).upper()


def iban_problem(text: str) -> str | None:
    """Why `text` is not an IBAN (ISO 13616: country, 2 check digits, mod 97 == 1), or None."""
    iban = normal_iban(text)
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return "not the form of an IBAN (2 letters, 2 check digits, 11 to 30 letters or digits)"
    if country_problem(iban[:2]):
        return f"{iban[:2]} is not a country code"
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    rest = int(digits) % 97
    if rest != 1:
        return f"the check digits do not match (mod 97 is {rest}, not 1)"
    return None


def bic_problem(text: str) -> str | None:
    """Why `text` is not a BIC (ISO 9362: 8 or 11 characters), or None.

    >>> bic_problem("BPKOPLPW"), bic_problem("BPKO")
    (None, 'not the form of a BIC (4 letters, a country, 2 characters, optionally 3 more)')
    """
    if not re.fullmatch(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?", text):
        return "not the form of a BIC (4 letters, a country, 2 characters, optionally 3 more)"
    if country_problem(text[4:6]):
        return f"{text[4:6]} is not a country code"
    return None


def vat_country(vat_id: str) -> str:
    """The country a VAT id's prefix names (EL is Greece: GR; XI is GB)."""
    prefix = vat_id[:2].upper()
    return {"EL": "GR", "XI": "GB"}.get(prefix, prefix)


def vat_id_problem(text: str) -> str | None:
    """Why `text` is not an EU VAT id of the form its prefix's country gives, or None.

    A prefix outside the EU (`GB`, `NO`, `CH`) is accepted as any 2 to 13 letters
    and digits after it: the table covers the member states only.
    """
    vat = normal_vat_id(text)
    if not re.fullmatch(r"[A-Z]{2}[0-9A-Z+*]{2,13}", vat):
        return "not the form of a VAT id (a 2-letter country prefix and 2 to 13 letters or digits)"
    prefix, rest = vat[:2], vat[2:]
    if prefix == "GR":
        return "a Greek VAT id starts with EL, not GR"
    found = VAT_FORMATS.get(prefix)
    if found is None:
        return None if not country_problem(prefix) else f"{prefix} is not a country code"
    pattern, shown = found
    if not re.fullmatch(pattern, rest):
        return f"not the form {prefix} VAT ids take ({prefix} and {shown})"
    return None


# ISO 3166-1 alpha-2: the 249 officially assigned codes. A table here, not Babel's CLDR
# territories, so that `validate` loads no Babel; tests/test_particulars.py checks it
# against CLDR (which adds regions, EU, and exceptionally reserved codes such as XK, AC).
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRIES = frozenset(_COUNTRY_CODES.split())


def country_problem(code: str) -> str | None:
    """Why `code` is not an ISO 3166-1 alpha-2 country code, or None."""
    if code in COUNTRIES:
        return None
    return f"{code} is not an ISO 3166 country code"
