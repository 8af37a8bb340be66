"""Documents from a run folder: invoices, self-billing statements, the audit report.

Input: a complete run folder (see `rundata.read_run`). Output: one file per
document and format in the output folder:

    invoice-<period>-<customer>.<fmt>       one per end customer and period
    self-billing-<period>-<partner>.<fmt>   one per partner and period
    audit-<period>.<fmt>                    the run's audit report

    documents.json                          the manifest's SHA-256, each document's

Each document is in its party's language (English when that language has no
catalog, and the document says so), or in `lang` for all of them. Files are
written under temporary names and renamed, so a crash never leaves half a
document. `documents.json` ties the documents to the manifest they were
rendered from: `clearline verify` fails on a document of another run.

    result = render_reports(Path("out/2026-03"))
    result.files, result.notes
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clearline import codes
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.reports import carried, einvoice
from clearline.reports.audit import DocumentEntry, build_audit
from clearline.reports.corrections import Correction, build_corrections
from clearline.reports.documents import Document
from clearline.reports.einvoice import facturx_pdf
from clearline.reports.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, Language
from clearline.reports.invoices import build_invoices
from clearline.reports.legal import Issue, apply_issue, ledger_numbers, reverse_charge_errors
from clearline.reports.pdf import PdfUnavailable, html_to_pdf
from clearline.reports.render import FORMATS, Renderer
from clearline.reports.rundata import RunData, RunFolderError, read_run, sha256_file
from clearline.reports.statements import build_statements

# every format `render_reports` writes; FORMATS (html, md) is the default
ALL_FORMATS = (*FORMATS, "pdf", "en16931")
EXTENSIONS = {"en16931": "xml"}  # a format's file name extension, where it is not the format's name

__all__ = [
    "ALL_FORMATS",
    "DEFAULT_LANGUAGE",
    "FORMATS",
    "SUPPORTED_LANGUAGES",
    "ReportResult",
    "RunFolderError",
    "file_stem",
    "read_run",
    "render_reports",
]

_PREFIXES = ("invoice-", "self-billing-", "audit-", "credit-note-", "supplementary-")


@dataclass(slots=True)
class ReportResult:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def file_stem(kind: str, period: str, party: str = "") -> str:
    """A safe file name: ids outside [A-Za-z0-9._-] are replaced and hashed.

    >>> file_stem("invoice", "2026-03", "C-1001"), file_stem("invoice", "2026-03", "a/b")
    ('invoice-2026-03-C-1001', 'invoice-2026-03-a_b-dc27572e')
    """
    parts = [kind, period] + ([party] if party else [])
    stem = "-".join(parts)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".")
    if safe != stem:
        safe += "-" + hashlib.sha256(stem.encode()).hexdigest()[:8]
    return safe


def _write(path: Path, content: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    data = content.encode("utf-8") if isinstance(content, str) else content
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def render_reports(
    run_dir: Path,
    out_dir: Path | None = None,
    formats: Sequence[str] = FORMATS,
    lang: str | None = None,
    run_name: str | None = None,
    issue_date: dt.date | None = None,
    ledger: str | None = None,
) -> ReportResult:
    """Render every document of the run in `run_dir` into `out_dir`.

    `out_dir` defaults to `run_dir/documents`; `run_name` is how documents
    name the run folder (default: the folder's own name, so that a run copied
    elsewhere renders the same bytes). Documents this
    function wrote earlier for another run are removed. `issue_date` is the
    documents' issue date; `ledger` (a URL) gives each document of a closed
    period its legal number (and, without `issue_date`, the close's day);
    a document without one is a draft. Raises `RunFolderError` when `run_dir`
    is not a complete run, `ClearlineError` when a document cannot be issued
    (nothing is written then) or the ledger cannot be read.
    """
    if lang is not None and lang not in SUPPORTED_LANGUAGES:
        raise ValueError(f"no catalog for {lang!r}; languages: {', '.join(SUPPORTED_LANGUAGES)}")
    unknown = [f for f in formats if f not in ALL_FORMATS]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; formats: {', '.join(ALL_FORMATS)}")
    if "pdf" in formats:
        _can_pdf()
    run = read_run(run_dir)
    out = out_dir if out_dir is not None else run_dir / "documents"
    out.mkdir(parents=True, exist_ok=True)
    name = run_name if run_name is not None else run_dir.resolve().name
    renderer = Renderer()
    languages: dict[str, Language] = {}

    def language(code: str) -> Language:
        if code not in languages:
            languages[code] = Language.load(code)
        return languages[code]

    result = ReportResult(notes=list(run.notes))
    entries: list[DocumentEntry] = []
    written: list[Path] = []
    jobs: list[tuple[str, str, str, object]] = []
    invoices, statements = build_invoices(run, lang), build_statements(run, lang)
    corrections = build_corrections(run, lang)
    if run.adjustments:  # a closed period settled again: what is issued is its corrections
        invoices, statements = [], []
        result.notes.append(
            f"the run settles the closed period {run.period} again: its documents are the corrections "
            "of what was issued (credit notes, supplementary invoices, self-billing adjustments)"
        )
    errors = reverse_charge_errors(invoices)
    if errors:
        raise ClearlineError(errors)
    run_id = sha256_file(run_dir / "manifest.json")
    issue = Issue(issue_date, ledger_numbers(ledger, run, run_id) if ledger else {}, ledger or "")
    if ledger and run.adjustments:
        corrections = _issued_partner_corrections(corrections, issue, result.notes)
    elif ledger:
        numbers = {number for number, _ in issue.numbers.values()}  # of this run's close, if closed
        carried.attach(run, statements, carried.load(ledger, run, numbers), lang)
    for invoice in invoices:
        apply_issue(invoice, "invoice", [d.line.line_id for d in invoice.lines], issue, result.notes)
    for statement in statements:
        ids = [c.row.line_id for c in statement.adjustments]
        ids += [s.doc.line.line_id for s in statement.lines]
        ids += [w.doc.line.line_id for s in statement.lines for w in s.withholding]
        ids += [w.doc.line.line_id for w in statement.withholding]
        apply_issue(statement, "statement", ids, issue, result.notes)
        if statement.owed:  # the partner pays the issuer: into the operator's account
            statement.payee = statement.issuers[0] if statement.issuers else None
    for correction in corrections:
        kind = "statement" if correction.statement else "invoice"
        apply_issue(correction, kind, [c.adjustment.line_id for c in correction.rows], issue, result.notes)
        if correction.kind == "credit-note":
            correction.payee = None  # the operator pays the customer back: no account to pay into
    for issued in [*invoices, *statements, *corrections]:
        if issued.missing:
            result.notes.append(
                f"{issued.shown_number} lacks particulars art. 226 asks: "
                + "; ".join(f"{who} has no {', '.join(keys)}" for who, keys in issued.missing)
            )
    for invoice in invoices:
        stem = file_stem("invoice", invoice.period, invoice.party.id)
        jobs.append(("invoice", stem, invoice.language, invoice))
        entries.append(
            DocumentEntry(
                "invoice", invoice.shown_number, invoice.party, invoice.language, invoice.fallback, stem
            )
        )
    for statement in statements:
        stem = file_stem("self-billing", statement.period, statement.party.id)
        jobs.append(("statement", stem, statement.language, statement))
        entries.append(
            DocumentEntry(
                "statement",
                statement.shown_number,
                statement.party,
                statement.language,
                statement.fallback,
                stem,
            )
        )
    per_party: dict[str, int] = {}
    for correction in corrections:
        per_party[correction.stem_kind + correction.party.id] = (
            per_party.get(correction.stem_kind + correction.party.id, 0) + 1
        )
    for correction in corrections:
        several = per_party[correction.stem_kind + correction.party.id] > 1
        party_part = (
            f"{correction.party.id}-{correction.totals[0].currency}" if several else correction.party.id
        )
        stem = file_stem(correction.stem_kind, correction.period, party_part)
        jobs.append(("correction", stem, correction.language, correction))
        entries.append(
            DocumentEntry(
                "statement" if correction.statement else "invoice",
                correction.shown_number,
                correction.party,
                correction.language,
                correction.fallback,
                stem,
            )
        )
    for entry in entries:
        if entry.fallback:
            why = (
                f"no catalog for its language {entry.party.language!r}"
                if entry.party.language
                else "its language is unknown"
            )
            result.notes.append(f"{entry.party.name or entry.party.id}: {why}, {entry.kind} in English")
    audit = build_audit(run, name, lang)

    # every e-invoice is built and validated before any file is written
    xmls = _einvoices(jobs, result.notes) if "en16931" in formats else {}

    def render(template: str, fmt: str, code: str, stem: str = "", **context: object) -> str | bytes:
        if fmt == "pdf":
            html = renderer.render(template, "html", language(code), **context)
            if stem in xmls:  # Factur-X: the PDF/A-3 carries the XML
                return facturx_pdf(html_to_pdf(html, "pdf/a-3b"), xmls[stem], code)
            return html_to_pdf(html)
        return renderer.render(template, fmt, language(code), **context)

    for fmt in formats:
        if fmt == "en16931":
            for stem, xml in xmls.items():
                path = out / f"{stem}.xml"
                _write(path, xml)
                written.append(path)
            continue
        for template, stem, code, doc in jobs:
            path = out / f"{stem}.{fmt}"
            _write(path, render(template, fmt, code, stem, doc=doc, run=run))
            written.append(path)
        documents = [
            DocumentEntry(e.kind, e.number, e.party, e.language, e.fallback, f"{e.file}.{fmt}")
            for e in entries
        ]
        path = out / f"{file_stem('audit', run.period)}.{fmt}"
        _write(
            path, render("audit", fmt, audit.language, doc=audit, run=run, run_name=name, documents=documents)
        )
        written.append(path)
    _remove_stale(out, written, [EXTENSIONS.get(f, f) for f in formats])
    _write_index(out, run_dir, written)
    result.files = written
    return result


def _issued_partner_corrections(
    corrections: list[Correction], issue: Issue, notes: list[str]
) -> list[Correction]:
    """A re-settlement's partner adjustments are issued on the partner's next statement:
    only those the ledger issued on a statement of their own (`close --issue-adjustments`,
    `ledger issue-adjustments`) are documents of this run."""
    kept = []
    for c in corrections:
        ids = [r.adjustment.line_id for r in c.rows]
        if c.statement and not all(i in issue.numbers for i in ids):
            total = ", ".join(f"{t.net:+,f} {t.currency}" for t in c.totals)
            notes.append(
                f"{c.party.id}'s adjustment for {c.period} ({total}) is not a document of its own: "
                "it goes on the partner's next self-billing statement (`clearline ledger URL documents` "
                "lists it while pending)"
            )
            continue
        kept.append(c)
    return kept


def _einvoices(jobs: list[tuple[str, str, str, object]], notes: list[str]) -> dict[str, bytes]:
    """Each invoice's and statement's CII XML, validated against the Factur-X XSD, by file stem."""
    out: dict[str, bytes] = {}
    errors: list[Diagnostic] = []
    for _, stem, _, doc in jobs:
        assert isinstance(doc, Document)
        try:
            xml = einvoice.cii_xml(doc)
            einvoice.validate(xml)
        except einvoice.EinvoiceUnavailable as err:
            raise ClearlineError(
                [Diagnostic(codes.FORMAT_UNAVAILABLE, str(err), None, "pip install 'clearline[einvoice]'")]
            ) from None
        except einvoice.Unsupported as err:
            if doc.issue_date is None:
                errors.append(
                    Diagnostic(
                        codes.EINVOICE_WITHOUT_ISSUE_DATE,
                        f"{doc.shown_number}: {err}",
                        None,
                        "add --issue-date YYYY-MM-DD, or --ledger URL once the period is closed",
                    )
                )
                continue
            notes.append(f"{doc.shown_number}: no EN 16931 e-invoice: {err}")
            continue
        except ValueError as err:  # a bug: the XML Clearline built is not schema-valid
            errors.append(
                Diagnostic(
                    codes.EINVOICE_NOT_VALID,
                    f"{doc.shown_number}: the e-invoice fails the Factur-X EN 16931 schema: {err}",
                    None,
                    "this is a bug in Clearline; please report it with the run folder",
                )
            )
            continue
        out[stem] = xml
    if errors:
        raise ClearlineError(errors[:1] if errors[0].code == codes.EINVOICE_WITHOUT_ISSUE_DATE else errors)
    return out


def _can_pdf() -> None:
    try:
        html_to_pdf("<p>x</p>")
    except PdfUnavailable as err:
        raise ClearlineError(
            [Diagnostic(codes.FORMAT_UNAVAILABLE, str(err), None, "see docs/reports.md#pdf")]
        ) from None


INDEX = "documents.json"


def _write_index(out: Path, run_dir: Path, written: list[Path]) -> None:
    """documents.json: the manifest's SHA-256 and every document's (those of earlier
    renderings in other formats kept, when rendered from the same manifest)."""
    manifest = hashlib.sha256((run_dir / "manifest.json").read_bytes()).hexdigest()
    documents: dict[str, str] = {}
    try:
        old = json.loads((out / INDEX).read_text(encoding="utf-8"))
        if old.get("manifest_sha256") == manifest:
            documents = {k: v for k, v in old["documents"].items() if (out / k).is_file()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass
    for path in written:
        documents[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    index = {"schema": 1, "manifest_sha256": manifest, "documents": dict(sorted(documents.items()))}
    _write(out / INDEX, json.dumps(index, indent=2, sort_keys=True) + "\n")


def _remove_stale(out: Path, written: list[Path], formats: Sequence[str]) -> None:
    """Documents of an earlier rendering, in the formats just written, that this run did not produce."""
    keep = {p.name for p in written}
    for path in out.iterdir():
        if (
            path.is_file()
            and path.name.startswith(_PREFIXES)
            and path.suffix.lstrip(".") in formats
            and path.name not in keep
        ):
            path.unlink()


def load_run(run_dir: Path) -> RunData:
    """The run folder as the documents read it (for tests and tools)."""
    return read_run(run_dir)
