"""The error-code registry: every code Clearline reports, as a named constant.

Call sites write `codes.CURRENCY_MISMATCH`, never the string "E0301": a typo
is an import error, not a silent new code. Codes are never renumbered;
`docs/errors.md` is generated from this registry (with the longer texts in
`errors_doc.py`).

>>> CURRENCY_MISMATCH
'E0301'
>>> CODES[CURRENCY_MISMATCH].title
'currency mismatch'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CODES", "Code"]


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    title: str
    explanation: str


_REGISTRY: list[Code] = []


def _code(code: str, title: str, explanation: str) -> str:
    _REGISTRY.append(Code(code, title, explanation))
    return code


# E01xx: syntax
SYNTAX_ERROR: Final = _code(
    "E0101", "syntax error", "The text is not written the way Clearline reads contracts."
)
UNTERMINATED_TEXT: Final = _code("E0102", "unterminated text", "A quoted text is missing its closing quote.")
UNEXPECTED_CHARACTER: Final = _code(
    "E0103", "unexpected character", "A character that no part of the language uses."
)
UNREADABLE_FILE: Final = _code("E0104", "unreadable file", "The file cannot be read or is not UTF-8 text.")
CONTRACT_TOO_LARGE: Final = _code(
    "E0110", "contract too large", "A contract file is larger than the limit Clearline reads."
)
NESTING_TOO_DEEP: Final = _code(
    "E0105", "nesting too deep", "Expressions are nested deeper than Clearline accepts."
)
# E02xx: values
INVALID_DATE: Final = _code("E0201", "invalid date", "A date that does not exist in the calendar.")
EMPTY_INTERVAL: Final = _code(
    "E0202", "empty interval", "An effective interval whose end is not after its start."
)
UNKNOWN_TIME_ZONE: Final = _code(
    "E0203", "unknown time zone", "A time zone that is not in the IANA database."
)
UNKNOWN_CURRENCY: Final = _code("E0204", "unknown currency", "A currency code that is not in ISO 4217.")
INVALID_ROUNDING_QUANTUM: Final = _code(
    "E0205", "invalid rounding quantum", "A rounding quantum that is not a power of ten."
)
INVALID_INCREMENTS: Final = _code(
    "E0206", "invalid increments", "Rating increments that are zero or negative."
)
INVALID_NUMBER: Final = _code("E0207", "invalid number", "A number outside the range Clearline accepts.")
# E03xx: money and types
CURRENCY_MISMATCH: Final = _code(
    "E0301", "currency mismatch", "Two amounts in different currencies are combined."
)
MONEY_TIMES_MONEY: Final = _code(
    "E0302", "money times money", "Two amounts of money are multiplied or divided."
)
PERCENTAGE_OUT_OF_RANGE: Final = _code(
    "E0303", "percentage out of range", "A percentage below 0% or above 100%."
)
SHARES_EXCEED_BASE: Final = _code(
    "E0304", "shares exceed the base", "Shares of one base sum to more than 100%."
)
ROUNDING_FINER_THAN_CURRENCY: Final = _code(
    "E0305",
    "line rounding finer than the currency",
    "A line amount is rounded to a quantum smaller than the currency's minor unit.",
)
WRONG_KIND_OF_AMOUNT: Final = _code(
    "E0306", "wrong kind of amount", "An amount of the wrong kind for where it is used."
)
UNIT_MISMATCH: Final = _code(
    "E0307", "unit mismatch", "A price per unit that cannot apply to the product's measure."
)
# E04xx: names and structure
UNKNOWN_NAME: Final = _code("E0401", "unknown name", "A name that is not declared.")
DUPLICATE_NAME: Final = _code("E0402", "duplicate name", "A name declared twice.")
MISSING_DECLARATION: Final = _code(
    "E0403", "missing declaration", "A declaration the contract needs is missing."
)
DUPLICATE_RATE_KEY: Final = _code(
    "E0404", "duplicate rate key", "A rate-table key (e.g. a prefix) defined twice."
)
UNIT_OF_ACCOUNT: Final = _code(
    "E0420",
    "unit of account misused",
    "A unit of account declared wrongly, or an amount in one where it is not converted.",
)
TIME_BANDS: Final = _code(
    "E0414",
    "time bands do not divide the week",
    "Time bands whose hours are not clock times, overlap, or leave hours of the week in no band.",
)
MISPLACED_RULE: Final = _code("E0405", "misplaced rule", "A rule that has no meaning where it stands.")
DUPLICATE_CONTRACT: Final = _code(
    "E0406", "duplicate contract", "Two contract files declare the same contract id."
)
IMPORT_OUTSIDE_ROOT: Final = _code(
    "E0407", "import outside the contracts root", "An import that leaves the contracts root folder."
)
NOT_A_LIBRARY: Final = _code("E0408", "not a library", "An import of a file that is not a `library`.")
OVERLAPPING_OR_GAPPED_VERSIONS: Final = _code(
    "E0409", "overlapping or gapped versions", "Versions of one contract that overlap or leave a gap."
)
AMENDMENT_DOES_NOT_APPLY: Final = _code(
    "E0410", "amendment does not apply", "An amendment that changes something its contract does not have."
)
TIER_BANDS_OUT_OF_ORDER: Final = _code(
    "E0411",
    "tier bands out of order",
    "Tier bands with a gap, an overlap, unsorted, or no open-ended last band.",
)
EXAMPLE_FAILED: Final = _code(
    "E0412", "example failed", "A worked example whose lines differ from what the contract produces."
)
CONVERSION_WITHOUT_EFFECT: Final = _code(
    "E0413",
    "conversion without effect",
    "A `pay PARTY in CUR at the rate of ...` that converts no line of the contract.",
)
# W01xx: warnings about documented defaults
DEFAULT_ROUNDING: Final = _code(
    "W0101", "default rounding", "No rounding declared: the documented default applies."
)
DEFAULT_ANSWERED_RULE: Final = _code(
    "W0102",
    "default answered rule",
    "No `answered when` rule: calls with quantity > 0 count as answered.",
)
PAID_IN_ANOTHER_CURRENCY: Final = _code(
    "W0103",
    "paid in another currency",
    "A party declares its own currency but is paid in the settlement currency: no conversion says so.",
)
VAT_EXTRACTED_FROM_LINE: Final = _code(
    "W0104",
    "VAT extracted from the line",
    "Prices include VAT and no record rounding is declared: the net is extracted from the line's total.",
)
FIELD_WITHOUT_LABEL: Final = _code(
    "W0105",
    "field without a label",
    "A usage field whose aggregate documents show has no label: its name shows in every language.",
)
# R-codes: run-time problems with inputs (not the contract)
UNREADABLE_INPUT: Final = _code("E0501", "unreadable input", "An input file cannot be read.")
MISSING_COLUMN: Final = _code("E0502", "missing column", "An input file lacks a column the contracts read.")
MISSING_REFERENCE_DATA: Final = _code(
    "E0503", "missing reference data", "A rate or reference the settlement needs is missing."
)
CONSERVATION_VIOLATED: Final = _code(
    "E0504", "conservation violated", "Payouts and retained do not add up to net revenue."
)
BAD_OPTION: Final = _code("E0505", "bad option", "A command-line option with an invalid value.")
INPUT_CHANGED: Final = _code(
    "E0506", "input changed", "An input of a run differs from what the run's manifest recorded."
)
OUTPUT_NOT_REPRODUCED: Final = _code(
    "E0507", "output not reproduced", "Settling a run again does not give the same output."
)
# the run folder: who may write it, and what verify finds in it
RUN_FOLDER_IN_USE: Final = _code("E0520", "run folder in use", "Another run is writing the same run folder.")
NOT_A_RUN_FOLDER: Final = _code(
    "E0521", "not a run folder", "The --out folder holds files that no Clearline run wrote."
)
MANIFEST_CLAIM_WRONG: Final = _code(
    "E0522", "manifest claim wrong", "A figure manifest.json states is not what the run folder holds."
)
DOCUMENT_NOT_OF_RUN: Final = _code(
    "E0523", "document not of this run", "A document in documents/ was not rendered from this run."
)
# E07xx: the settlement ledger
NOT_A_LEDGER: Final = _code(
    "E0701", "not a Clearline ledger", "The ledger URL names a file or database that is not a ledger."
)
LEDGER_TOO_NEW: Final = _code(
    "E0702", "ledger schema too new", "The ledger was written by a newer Clearline than this one."
)
PERIOD_ALREADY_CLOSED: Final = _code(
    "E0703", "period already closed", "A close of a period that another run already closed."
)
RUN_NOT_VERIFIED: Final = _code(
    "E0704", "run does not verify", "A close of a run folder that `clearline verify` does not reproduce."
)
LEDGER_HISTORY_CHANGED: Final = _code(
    "E0705", "ledger history changed", "A closed period's rows no longer match the ledger's hash chain."
)
CONTRACT_CHANGED_IN_PLACE: Final = _code(
    "E0706",
    "contract changed in place",
    "A contract whose id and version were closed with another plan: an amendment must be a new version.",
)
INVALID_NUMBER_FORMAT: Final = _code(
    "E0707", "invalid document number format", "A document number format the ledger cannot number with."
)
LEDGER_UNREACHABLE: Final = _code(
    "E0708", "ledger unreachable", "The ledger's database cannot be opened or reached."
)
RECORD_ALREADY_SETTLED: Final = _code(
    "E0709", "record already settled", "A close of records that an earlier close already settled."
)
UNKNOWN_DOCUMENT: Final = _code("E0710", "unknown document", "A document number the ledger never issued.")
RERATE_NEEDED: Final = _code(
    "E0712",
    "re-rating needed",
    "A new version takes effect inside a closed period: it is settled again only with --rerate.",
)
LATE_USAGE_TOO_LATE: Final = _code(
    "E0711", "late usage too late", "Records of a closed period older than the contract's late-usage window."
)
CLUSTER_UNAVAILABLE: Final = _code(
    "E0508", "cluster unavailable", "The Dask cluster of --engine dask cannot be reached or used."
)
CLUSTER_WORKER_UNFIT: Final = _code(
    "E0509", "cluster worker unfit", "A Dask worker lacks clearline, or runs another version of it."
)
INPUT_NOT_ON_WORKERS: Final = _code(
    "E0510", "input not on the workers", "A usage file cannot be read from a worker of the cluster."
)
# E08xx: why a record is rejected or unmatched (rejects.csv's `code`, the service's answers)
REJECT_NO_RECORD_ID: Final = _code("E0801", "record without an id", "A usage record has no `record_id`.")
REJECT_NO_TIMESTAMP: Final = _code(
    "E0802", "record without a timestamp", "A usage record has no `timestamp`."
)
REJECT_BAD_TIMESTAMP: Final = _code(
    "E0803", "timestamp not a date and time", "A record's `timestamp` is not an ISO 8601 date and time."
)
REJECT_TIMESTAMP_NO_OFFSET: Final = _code(
    "E0804",
    "timestamp without UTC offset",
    "A record's `timestamp` has no UTC offset: its instant is unknown.",
)
REJECT_DUPLICATE: Final = _code(
    "E0805", "duplicate record id", "A record id read before in the run, or settled by the ledger already."
)
REJECT_UNREADABLE: Final = _code(
    "E0806", "unreadable record", "A line or value of a usage file that cannot be read as a record."
)
REJECT_NO_CUSTOMER: Final = _code(
    "E0807", "record without a customer", "A rated record has no `customer_id`."
)
REJECT_UNKNOWN_CUSTOMER: Final = _code(
    "E0808", "unknown customer", "A record's `customer_id` is not in the customers file."
)
REJECT_TOO_LARGE: Final = _code(
    "E0809", "amount too large", "A record's amounts cannot be computed exactly within the run's precision."
)
REJECT_NOT_A_NUMBER: Final = _code(
    "E0810", "field not a number", "A field a product reads as a number is not one."
)
REJECT_EMPTY_FIELD: Final = _code("E0811", "field empty", "A field a product or rate table reads is empty.")
REJECT_NEGATIVE: Final = _code(
    "E0812", "negative value", "A negative quantity or value of a product that does not accept refunds."
)
REJECT_NOT_WHOLE: Final = _code("E0813", "not a whole number", "An integer field holds a fraction.")
REJECT_OUT_OF_PERIOD: Final = _code(
    "E0814", "outside the settled period", "A record whose timestamp is outside the period being settled."
)
REJECT_NO_RATE: Final = _code("E0815", "no rate for the key", "A rate table has no row for the record's key.")
REJECT_NOT_AN_EVENT: Final = _code(
    "E0816", "not a subscription event", "A record of a subscription that is neither its start nor its end."
)
REJECT_REFUND: Final = _code(
    "E0817", "refund not settled", "A refund naming a record the ledger did not settle, or refunded already."
)
UNMATCHED_NO_PRODUCT: Final = _code(
    "E0818", "no product matches", "A record that no product of any contract matches (unmatched.csv)."
)
REJECT_PAST_LATE_WINDOW: Final = _code(
    "E0839",
    "past the late-usage window",
    "A record of a closed period older than its contract's late-usage window"
    " (`accept late usage for N periods`).",
)
REJECT_NUL_FIELD: Final = _code(
    "E0840", "field holds NUL", "A record sent to `clearline serve` with a NUL character in a field."
)
# E09xx: documents: a party's legal particulars, issuing invoices and statements
UNKNOWN_DETAILS_PARTY: Final = _code(
    "E0901", "details of an unknown party", "A `details of PARTY` block names no party of the contract."
)
DUPLICATE_DETAIL: Final = _code(
    "E0902", "particular stated twice", "A party's particular (or its whole details block) is stated twice."
)
INVALID_IBAN: Final = _code("E0903", "invalid IBAN", "An IBAN whose form or mod-97 check digits are wrong.")
INVALID_VAT_ID: Final = _code(
    "E0904", "invalid VAT id", "A VAT identification number not of the form its country prefix gives."
)
UNKNOWN_COUNTRY: Final = _code(
    "E0905", "unknown country", "A country code that is not in ISO 3166-1 (alpha-2)."
)
INVALID_BIC: Final = _code("E0906", "invalid BIC", "A BIC (SWIFT code) not of the form ISO 9362 gives.")
INVALID_PAYMENT_TERMS: Final = _code(
    "E0907", "invalid payment terms", "Payment terms of 0 days, or of more than 365."
)
REVERSE_CHARGE_WITHOUT_VAT_ID: Final = _code(
    "E0908",
    "reverse charge without VAT id",
    "A reverse-charged invoice to a customer whose VAT identification number is not known.",
)
BAD_CUSTOMER_PARTICULAR: Final = _code(
    "E0909",
    "bad customer particular",
    "A particular in the customers file (VAT id, country) that is not valid.",
)
FORMAT_UNAVAILABLE: Final = _code(
    "E0910",
    "document format unavailable",
    "A document format whose packages (WeasyPrint and Pango for pdf, factur-x for en16931) are missing.",
)
EINVOICE_WITHOUT_ISSUE_DATE: Final = _code(
    "E0911",
    "e-invoice without issue date",
    "An EN 16931 e-invoice asked for a document that has no issue date yet.",
)
EINVOICE_NOT_VALID: Final = _code(
    "E0912",
    "e-invoice not schema-valid",
    "An e-invoice Clearline built fails the Factur-X EN 16931 XSD: a bug in Clearline.",
)
MISSING_PARTICULARS: Final = _code(
    "W0130",
    "missing particulars",
    "A party that receives or issues documents lacks a particular that art. 226 of the VAT "
    "Directive asks its invoices to show.",
)
VAT_ID_OTHER_COUNTRY: Final = _code(
    "W0131",
    "VAT id of another country",
    "A VAT id whose prefix names another country than the party's address.",
)
COLUMNAR_UNAVAILABLE: Final = _code(
    "E0530", "columnar engine unavailable", "--engine columnar needs polars, which is not installed."
)

CODES: dict[str, Code] = {c.code: c for c in _REGISTRY}
