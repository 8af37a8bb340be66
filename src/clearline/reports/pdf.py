"""HTML documents -> PDF, with WeasyPrint.

Input: a document's HTML as `render.Renderer` writes it (self-contained: the
style sheet inline, nothing to fetch). Output: the PDF's bytes, A4 (the
style sheet's `@page`), with the fonts it uses embedded as subsets: DejaVu
Sans and DejaVu Sans Mono, which cover Polish and German (ą ć ę ł ń ó ś ź ż,
ä ö ü ß) and the currency signs. WeasyPrint finds them through fontconfig
(Debian: fonts-dejavu-core); without them it falls back to another font
that has the characters (`pdffonts` lists what a PDF embeds).

`variant="pdf/a-3b"` writes PDF/A-3b, the container a Factur-X invoice
needs (`einvoice.py` embeds the XML in it). Needs the `pdf` extra
(`pip install 'clearline[pdf]'`) and Pango.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PdfUnavailable", "html_to_pdf"]


class PdfUnavailable(Exception):
    """WeasyPrint (or the Pango library under it) cannot be loaded."""


def _refuse(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    # A document fetches nothing: its style sheet is inline and it has no images. A URL
    # in a document (there should be none: every value is escaped) is refused, not fetched.
    raise ValueError(f"documents fetch nothing ({url[:80]})")


def html_to_pdf(html: str, variant: str | None = None) -> bytes:
    """The PDF of `html`; `variant` e.g. "pdf/a-3b". Raises `PdfUnavailable`."""
    try:
        import weasyprint
    except (ImportError, OSError) as err:  # OSError: the Pango shared library is missing
        raise PdfUnavailable(
            f"PDF needs WeasyPrint and Pango ({err}): pip install 'clearline[pdf]'; "
            "on Debian, apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
        ) from None
    document = weasyprint.HTML(string=html, url_fetcher=_refuse)
    options: dict[str, Any] = {"pdf_variant": variant} if variant else {}
    pdf = document.write_pdf(**options)
    assert isinstance(pdf, bytes)
    return pdf
