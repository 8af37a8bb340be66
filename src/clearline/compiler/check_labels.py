"""Checks of field labels: `active_sims integer "active SIMs", de "aktiven SIM-Karten"`
says how documents name a usage field (an aggregate line's quantity: "maximum of active
SIMs"), so that no identifier shows on an invoice.

Called by `check._Checker` once per contract. Output: diagnostics through the checker:
a label in a language no document is written in, a language labelled twice (errors),
and a field an amount aggregates that has no label (a warning: documents would show its
name, `active sims`, in every language).
"""

from __future__ import annotations

from clearline import codes
from clearline.compiler.checker import Checker, walk_exprs
from clearline.grammar import ast

__all__ = ["DOCUMENT_LANGUAGES", "check_field_labels"]

# the languages documents are written in (reports/i18n.py's, which the compiler does not import)
DOCUMENT_LANGUAGES = ("en", "pl", "de")


def check_field_labels(ck: Checker) -> None:
    for f in ck.c.fields:
        seen: set[str] = set()
        for lang, _, span in f.labels:
            if lang and lang not in DOCUMENT_LANGUAGES:
                ck.error(codes.UNKNOWN_NAME, f"documents are not written in `{lang}`", span,
                         f"label the field in {', '.join(DOCUMENT_LANGUAGES)}")  # fmt: skip
            elif lang in seen or (lang == "en" and "" in seen):
                ck.error(codes.DUPLICATE_NAME, f"the field `{f.name.name}` is labelled twice in "
                         f"{lang or 'English'}", span, "keep one label per language (the first, "
                         "without a language, is the English one)")  # fmt: skip
            seen.add(lang)
    declared = {f.name.name: f for f in ck.c.fields}
    warned: set[str] = set()
    for product in ck.c.products:
        for clause in product.clauses:
            for rule in clause.rules:
                if not isinstance(rule, ast.Charge | ast.Pay):
                    continue
                for e in walk_exprs(rule.amount):
                    if not isinstance(e, ast.Aggregate) or e.field.name in warned:
                        continue
                    decl = declared.get(e.field.name)
                    if decl is not None and not decl.labels:
                        warned.add(e.field.name)
                        readable = e.field.name.replace("_", " ")
                        ck.error(codes.FIELD_WITHOUT_LABEL, f"invoices show the {e.func} of "
                                 f"`{e.field.name}` by the field's name, \"{readable}\", in every "
                                 "language", decl.span, f"label it: `{e.field.name} {decl.type} "
                                 f'"{readable}", de "...", pl "..."`')  # fmt: skip
