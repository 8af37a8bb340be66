"""Render documents with jinja2 templates: HTML (self-contained) and Markdown.

Input: the document values of `documents.py` and a `Language`. Output: text.
HTML templates autoescape; Markdown output escapes every value with
backslashes (CommonMark), so a name like `<script>` or `*x*` shows as
written in both. Labels come from the language's catalog through the
jinja2 i18n extension (`_()`, `ngettext()`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import jinja2
from markupsafe import Markup

from clearline.reports.i18n import Language

__all__ = ["FORMATS", "Renderer", "md_escape"]

FORMATS = ("html", "md")

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<#|~&])")


def md_escape(value: Any) -> str:
    """Backslash-escape CommonMark punctuation; a line break becomes a space.

    >>> md_escape('<script>alert("x")</script> | *Łódź*')
    '\\\\<script>alert("x")\\\\</script> \\\\| \\\\*Łódź\\\\*'
    """
    if value is None:
        return ""
    if hasattr(value, "__html__"):
        return str(value)
    text = " ".join(str(value).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_finalize(value: Any) -> Markup:
    # The Markdown environment autoescapes too, so that macro results come
    # back marked as safe; values are escaped here, for Markdown, and marked
    # so that the HTML escaping that follows leaves them alone.
    return Markup(md_escape(value))


def _md_code(value: Any, indent: int = 0) -> Markup:
    """A fenced code block (source excerpts): its text shows as is, unescaped."""
    text = str(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    pad = " " * indent
    body = "\n".join(pad + line for line in text.splitlines())
    return Markup(f"{pad}{fence}\n{body}\n{pad}{fence}")


def _dec(value: Any) -> str:
    """A decimal as the line files write it (never in exponent form)."""
    return format(Decimal(value), "f")


def _iban(value: Any) -> str:
    """An IBAN in groups of four, as printed (`PL60 1020 1026 ...`)."""
    text = str(value)
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _html_id(value: Any) -> str:
    """A fragment id safe in an attribute and a URL: `trace-I-8c171ced71`."""
    return re.sub(r"[^A-Za-z0-9-]", "-", str(value))


class Renderer:
    """One jinja2 environment per format; a language is installed per document."""

    def __init__(self) -> None:
        loader = jinja2.PackageLoader("clearline.reports", "templates")
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        }
        self.envs = {
            "html": jinja2.Environment(autoescape=True, **common),
            "md": jinja2.Environment(autoescape=True, finalize=_md_finalize, **common),
        }
        for env in self.envs.values():
            env.filters["html_id"] = _html_id
            env.filters["dec"] = _dec
            env.filters["iban"] = _iban
        self.envs["md"].filters["code_block"] = _md_code

    def render(self, template: str, fmt: str, language: Language, **context: Any) -> str:
        env = self.envs[fmt]
        t = env.get_template(f"{template}.{fmt}")
        translations = language.translations
        return t.render(
            _=translations.gettext,
            gettext=translations.gettext,
            ngettext=translations.ngettext,
            fmt=language.fmt,
            lang=language.code,
            field_label=lambda d: _field_label(d, language.code),
            **context,
        )


def _field_label(line: Any, lang: str) -> str:
    """How a document in `lang` names the usage field of an aggregate line: the contract's
    label in that language, else its English one, else the field's name ("active sims")."""
    labels = dict(line.field_labels)
    return str(labels.get(lang) or labels.get("") or line.aggregate_field)
