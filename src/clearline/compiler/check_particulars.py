"""Checks of the parties' legal particulars: `details of PARTY { ... }`.

Called by `check._Checker` (typed as its base, `checker.Checker`). Input: the
contract's parties and details blocks (AST, libraries merged in). Output:
diagnostics -- details of a party the contract does not declare, a
particular stated twice, an IBAN whose check digits fail, a VAT id not of
its country's form, an unknown country, payment terms out of range; and,
once a contract gives any particulars (it means its documents to be sent),
a warning per party that lacks what art. 226 asks its documents to show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearline import codes
from clearline.diagnostics import did_you_mean
from clearline.particulars import (
    REQUIRED,
    bic_problem,
    country_problem,
    iban_problem,
    vat_country,
    vat_id_problem,
)
from clearline.source import Span

if TYPE_CHECKING:
    from clearline.compiler.checker import Checker

__all__ = ["check_particulars"]

# Particulars that may be given more than once: each `address` is a line.
_REPEATABLE = {"address"}
_MAX_PAYMENT_DAYS = 365


def check_particulars(ck: Checker) -> None:
    c = ck.c
    # A library checked on its own (it has no version or settle line) may give the
    # details of a party its importing contract declares: that contract checks the name.
    library = not c.versions and not c.settle
    parties = {p.name.name: p for p in c.parties}
    for p in c.parties:
        if p.country and country_problem(p.country):
            ck.error(
                codes.UNKNOWN_COUNTRY,
                f"party {p.name.name}: {country_problem(p.country)}",
                p.span,
                "write the two-letter ISO 3166 code, e.g. `country PL`",
            )
    seen: dict[str, str] = {}
    for block in c.details:
        name = block.party.name
        if name not in parties and not library:
            ck.error(
                codes.UNKNOWN_DETAILS_PARTY,
                f"`details of {name}`: the contract declares no party {name}",
                block.party.span,
                did_you_mean(name, sorted(parties)) or "declare it with `operator` or `partner` first",
            )
            continue
        if name in seen:
            ck.error(
                codes.DUPLICATE_DETAIL,
                f"the details of {name} are stated twice",
                block.party.span,
                f"the first are at {seen[name]}; keep one block",
            )
            continue
        seen[name] = str(block.span)
        given: dict[str, str] = {}
        for item in block.items:
            if item.key in given and item.key not in _REPEATABLE:
                ck.error(
                    codes.DUPLICATE_DETAIL,
                    f"{name}'s {item.key} is stated twice",
                    item.span,
                    f"the first is {given[item.key]!r}; keep one",
                )
                continue
            given.setdefault(item.key, item.value)
            _check_item(ck, name, item.key, item.value, item.value_span)
        country = given.get("country") or (parties[name].country if name in parties else None)
        vat = given.get("vat id")
        if (
            vat
            and country
            and not country_problem(country)
            and not vat_id_problem(vat)
            and vat_country(vat) != country
        ):
            ck.error(
                codes.VAT_ID_OTHER_COUNTRY,
                f"{name}'s VAT id {vat} is of {vat_country(vat)}, its address in {country}",
                next(i.value_span for i in block.items if i.key == "vat id"),
                "a VAT id registered in another member state is valid; check that it is the one "
                "this party invoices under",
            )
    if not c.details or library:
        return  # no particulars at all: documents are drafts, and the report says what is missing
    blocks = {b.party.name: b for b in c.details if b.party.name in parties}
    for p in c.parties:
        found = blocks.get(p.name.name)
        have = {i.key for i in found.items} if found else set()
        if p.country:
            have.add("country")
        missing = [k for k in REQUIRED.get(p.role, ()) if k not in have]
        if missing:
            what = "invoices and statements" if p.role == "operator" else "self-billing statements"
            ck.error(
                codes.MISSING_PARTICULARS,
                f"{p.role} {p.name.name} has no {', '.join(missing)}: its {what} cannot show "
                "what art. 226 of the VAT Directive asks",
                found.span if found else p.span,
                f"add them to `details of {p.name.name} {{ ... }}`, e.g. "
                + ", ".join(
                    f'legal name "{p.title}"' if k == "legal name" else _EXAMPLES[k] for k in missing
                ),
            )


_EXAMPLES = {
    "legal name": 'legal name "TelcoPL S.A."',
    "address": 'address "ul. Marszałkowska 1"',
    "city": 'city "Warszawa"',
    "country": "country PL",
    "vat id": 'vat id "PL5260250274"',
    "iban": 'iban "PL61 1090 1014 0000 0712 1981 2874"',
}


def _check_item(ck: Checker, party: str, key: str, value: str, span: Span) -> None:
    if key == "country" and country_problem(value):
        ck.error(
            codes.UNKNOWN_COUNTRY,
            f"{party}'s country: {country_problem(value)}",
            span,
            "write the two-letter ISO 3166 code, e.g. `country DE`",
        )
    elif key == "vat id" and vat_id_problem(value):
        ck.error(
            codes.INVALID_VAT_ID,
            f"{party}'s VAT id {value!r}: {vat_id_problem(value)}",
            span,
            'write the number with its country prefix as VIES shows it, e.g. `vat id "PL5260250274"`',
        )
    elif key == "iban" and iban_problem(value):
        ck.error(
            codes.INVALID_IBAN,
            f"{party}'s IBAN {value!r}: {iban_problem(value)}",
            span,
            "copy the IBAN from the bank's statement; spaces between groups are allowed",
        )
    elif key == "bic" and bic_problem(value):
        ck.error(
            codes.INVALID_BIC,
            f"{party}'s BIC {value!r}: {bic_problem(value)}",
            span,
            'write 8 or 11 characters, e.g. `bic "BPKOPLPW"`',
        )
    elif key == "payment due" and not 0 < int(value) <= _MAX_PAYMENT_DAYS:
        ck.error(
            codes.INVALID_PAYMENT_TERMS,
            f"{party}'s payment is due {int(value)} days after issue",
            span,
            f"write between 1 and {_MAX_PAYMENT_DAYS} days, e.g. `payment due 30 days after issue`",
        )
    elif key in {"legal name", "address", "city", "postcode", "registration"} and not value.strip():
        ck.error(
            codes.MISSING_PARTICULARS,
            f"{party}'s {key} is empty",
            span,
            "write the text, or leave the particular out",
        )
